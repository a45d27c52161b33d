"""The web app: `create_app(store)` is a FastAPI application (served by `dealpulse serve`).

Pages are rendered on the server (Jinja2, `templates/`), with a little vanilla JS (`static/app.js`) and
Plotly served from the installed plotly package: no front-end build, no CDN, works with no internet.

Security: a login form (argon2 hashes), a session cookie (HttpOnly, SameSite=Lax, Secure behind HTTPS)
naming a server-side session, a CSRF token in every POST form (checked against the session's), failed
logins limited per login and client address, `Authorization: Bearer <token>` for the JSON API. What a user
sees is decided in `dealpulse.web.scope`; a deal outside the scope answers 404.

Every page and API call takes `?as_of=` as the CLI's `--as-of` does (default: the latest event in the
data). The store is used by one request at a time (a DuckDB connection is not shared between threads);
analyses are kept per moment (`dealpulse.web.data`), so a page asked again answers at once.
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from jinja2 import Environment, PackageLoader, select_autoescape

from dealpulse.app import Moment, Session
from dealpulse.errors import DealpulseError, InputError, NotFound
from dealpulse.i18n import LANGS, t
from dealpulse.web import data as D
from dealpulse.web import users as U
from dealpulse.web.scope import Scope, scope_of

SESSION_COOKIE = "dp_session"
LOGIN_CSRF_COOKIE = "dp_login_csrf"
MOMENTS_KEPT = 4  # moments (as_of values) whose analyses stay in memory


class Forbidden(DealpulseError):
    exit_code = 1
    status = 403


class Unauthorized(DealpulseError):
    exit_code = 1
    status = 401


@dataclass
class Ctx:
    """One request's user, scope, language and moment."""

    web: "Web"
    request: Request
    user: U.User
    scope: Scope
    csrf: str
    lang: str
    as_of_param: str | None
    via: str  # "cookie" | "bearer"
    _moment: Moment | None = field(default=None, repr=False)

    @property
    def moment(self) -> Moment:
        if self._moment is None:
            self._moment = self.web.moment(self.as_of_param)
        return self._moment

    def url(self, path: str, **params: Any) -> str:
        """A link inside the app that keeps the page's as_of."""
        if self.as_of_param and "as_of" not in params:
            params["as_of"] = self.as_of_param
        query = urlencode({k: v for k, v in params.items() if v not in (None, "", False)})
        return f"{path}?{query}" if query else path


class Web:
    """The app's state: the store, the application session, the login limiter and the templates."""

    def __init__(self, store: Any, playbook: Any = None, default_lang: str = "en", limiter: U.LoginLimiter | None = None):
        self.store = store
        self.session = Session(store, playbook)
        self.default_lang = default_lang if default_lang in LANGS else "en"
        self.limiter = limiter or U.LoginLimiter()
        self.lock = threading.RLock()
        self.env = Environment(loader=PackageLoader("dealpulse.web", "templates"),
                               autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(money=_money, pct=_pct, num=_num)
        self._recent: list[datetime] = []
        self._version: str | None = None
        self._plotly: bytes | None = None

    # -- moments --------------------------------------------------------------------------------
    def fresh(self) -> None:
        """Forget every moment's analyses when the data changed (an import or a sync committed since): the
        next page computes on the new data. An import commits all at once, so a page never sees half of it."""
        from dealpulse.app.models import data_version

        version = data_version(self.store)
        if version != self._version:
            for old in list(self.session._moments.values()):  # noqa: SLF001 - the session has no reset yet
                old.release()
            self.session._moments.clear()  # noqa: SLF001
            self.session._people = None  # noqa: SLF001 - names may have changed too
            self._recent.clear()
            self._version = version

    def moment(self, as_of: str | None) -> Moment:
        self.fresh()
        m = self.session.at(as_of or None)
        if m.as_of in self._recent:
            self._recent.remove(m.as_of)
        self._recent.append(m.as_of)
        while len(self._recent) > MOMENTS_KEPT:  # forget the analyses of the oldest moment asked
            old = self._recent.pop(0)
            gone = self.session._moments.pop(old, None)  # noqa: SLF001 - the session has no eviction yet
            if gone is not None:
                gone.release()
        return m

    # -- who is asking --------------------------------------------------------------------------
    def context(self, request: Request, as_of: str | None = None, lang: str | None = None,
                api: bool = False) -> Ctx | None:
        user, csrf, via = None, "", "cookie"
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            user = U.user_of_token(self.store, header[7:].strip())
            via = "bearer"
            if user is None:
                raise Unauthorized(t("web.error.bad_token", self.default_lang))
        else:
            found = U.session_user(self.store, request.cookies.get(SESSION_COOKIE))
            if found is not None:
                user, csrf = found
        if user is None:
            if api:
                raise Unauthorized(t("web.error.login_needed", self.default_lang))
            return None
        chosen = lang if lang in LANGS else (user.lang if user.lang in LANGS else self.default_lang)
        return Ctx(web=self, request=request, user=user, scope=scope_of(user, self.store), csrf=csrf, lang=chosen,
                   as_of_param=(as_of or "").strip() or None, via=via)

    # -- pages ----------------------------------------------------------------------------------
    def render(self, name: str, ctx: Ctx | None, *, status: int = 200, lang: str | None = None, **values: Any) -> HTMLResponse:
        lang = lang or (ctx.lang if ctx else self.default_lang)
        m = ctx._moment if ctx else None  # noqa: SLF001 - shown only if the page computed one
        as_of_text = None
        if m is not None:
            from dealpulse.timefmt import show_moment

            as_of_text = show_moment(m.as_of, m.tz, lang)
        from dealpulse.labels import label as _label
        from dealpulse.labels import metric_label as _metric_label
        from dealpulse.timefmt import show_moment

        playbook = m.playbook if m is not None else None
        tz = m.tz if m is not None else self.session.tz
        html = self.env.get_template(name).render(
            _=lambda key, **kw: t(key, lang, **kw), lang=lang, ctx=ctx,
            label=lambda v: "—" if v is None else _label(v, lang, playbook),
            metric=lambda v: "—" if v is None else _metric_label(v, lang, playbook),
            when=lambda v: "—" if v in (None, "") else show_moment(v, tz, lang), user=ctx.user if ctx else None,
            scope=ctx.scope if ctx else None, csrf=ctx.csrf if ctx else "", url=ctx.url if ctx else (lambda p, **k: p),
            as_of_text=as_of_text, as_of_value=ctx.as_of_param if ctx else None, page=name.rsplit(".", 1)[0],
            **values)
        return HTMLResponse(html, status_code=status)

    def later(self, name: str, ctx: Ctx | None, **values: Any) -> Callable[[], Response]:
        """`render` deferred: the page is rendered after the store's lock is released (rendering needs only
        the documents already computed), so other requests read the store meanwhile."""
        return lambda: self.render(name, ctx, **values)

    def plotly_js(self) -> bytes:
        if self._plotly is None:
            from plotly.offline import get_plotlyjs

            self._plotly = get_plotlyjs().encode("utf-8")
        return self._plotly


# -- formatting for the templates -------------------------------------------------------------------
def _num(x: Any, lang: str = "en", digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and x != x):
        return "—"
    text = f"{float(x):,.{digits}f}"
    return text.replace(",", "\u00a0").replace(".", ",") if lang == "ru" else text


def _money(x: Any, lang: str = "en") -> str:
    return _num(x, lang, 0)


def _pct(p: Any, lang: str = "en") -> str:
    if p is None:
        return "—"
    return f"{100 * float(p):.0f}%"


def _safe_next(target: str | None) -> str:
    """Only a path inside this app (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _check_csrf(ctx: Ctx, token: Any) -> None:
    if ctx.via != "cookie" or not ctx.csrf or not isinstance(token, str) or not secrets.compare_digest(token, ctx.csrf):
        raise Forbidden(t("web.error.csrf", ctx.lang), suggestion=t("web.error.csrf.suggestion", ctx.lang))


def _figure(fig: Any) -> str:
    return fig.to_json()


# -- the application ----------------------------------------------------------------------------------
def create_app(store: Any, *, playbook: Any = None, default_lang: str = "en",
               limiter: U.LoginLimiter | None = None) -> FastAPI:
    """The web app on an open store (the caller closes it)."""
    web = Web(store, playbook, default_lang, limiter)
    api = FastAPI(title="dealpulse", version=_version(), docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                  description="The JSON API of dealpulse: the documents the CLI prints with --format json, filtered "
                              "to the caller's scope. Authenticate with `Authorization: Bearer <token>` "
                              "(`dealpulse token create LOGIN`) or a login session.")
    api.state.web = web
    api.mount("/static", StaticFiles(packages=[("dealpulse.web", "static")]), name="static")

    @api.middleware("http")
    async def headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.headers.get("content-type", "").startswith("text/html"):
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                "form-action 'self'; frame-ancestors 'none'")
        return response

    def guard(request: Request, fn: Callable[[], Response], *, api_call: bool = False) -> Response:
        """Run a handler with the store to itself; errors become an error page (or JSON for the API)."""
        try:
            with web.lock:
                result = fn()
            return result if isinstance(result, Response) else result()  # else a deferred page or API document
        except DealpulseError as exc:
            status = getattr(exc, "status", 500)
            if api_call:
                headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
                return JSONResponse({"error": exc.message, "problems": exc.problems, "suggestion": exc.suggestion},
                                    status_code=status, headers=headers)
            with web.lock:
                ctx = None
                try:
                    ctx = web.context(request)
                except DealpulseError:
                    pass
            return web.render("error.html", ctx, status=status, message=exc.message, problems=exc.problems,
                              suggestion=exc.suggestion)

    def page(request: Request, as_of: str | None, body: Callable[[Ctx], Response]) -> Response:
        def run() -> Response:
            ctx = web.context(request, as_of)
            if ctx is None:
                return RedirectResponse("/login?" + urlencode({"next": _path_with_query(request)}), status_code=303)
            return body(ctx)

        return guard(request, run)

    def api_call(request: Request, as_of: str | None, lang: str | None, body: Callable[[Ctx], Any]) -> Response:
        def run() -> Callable[[], Response]:
            ctx = web.context(request, as_of, lang, api=True)
            doc = body(ctx)
            return lambda: JSONResponse(D.jsonable(doc))

        return guard(request, run, api_call=True)

    async def form_of(request: Request) -> dict[str, Any]:
        form = await request.form()
        return {k: v for k, v in form.items()}

    # -- login, logout, language --------------------------------------------------------------------
    @api.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_form(request: Request, next: str = "/", failed: int = 0) -> Response:  # noqa: A002
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
        lang = request.query_params.get("lang") if request.query_params.get("lang") in LANGS else web.default_lang
        resp = web.render("login.html", None, lang=lang, login_csrf=token, next=_safe_next(next), error=None)
        resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        max_age=3600)
        return resp

    @api.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await form_of(request)
        login_name = str(form.get("login", "")).strip()
        password = str(form.get("password", ""))
        target = _safe_next(str(form.get("next", "/")))
        lang = web.default_lang
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
        token = str(form.get("csrf", ""))

        def again(status: int, key: str, **kw: Any) -> Response:
            new_token = cookie or secrets.token_urlsafe(24)
            resp = web.render("login.html", None, status=status, lang=lang, login_csrf=new_token, next=target,
                              error=t(key, lang, **kw), login_name=login_name)
            resp.set_cookie(LOGIN_CSRF_COOKIE, new_token, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", max_age=3600)
            return resp

        if not cookie or not token or not secrets.compare_digest(cookie, token):
            return again(403, "web.error.csrf")
        address = request.client.host if request.client else "-"
        wait = web.limiter.blocked(login_name, address)
        if wait:
            resp = again(429, "web.error.too_many", minutes=max(1, round(wait / 60)))
            resp.headers["Retry-After"] = str(int(wait) + 1)
            return resp
        def check() -> str | None:
            with web.lock:
                user = U.authenticate(web.store, login_name, password)
                if user is None:
                    web.limiter.failed(login_name, address)
                    return None
                web.limiter.succeeded(login_name, address)
                return U.start_session(web.store, user.login)[0]

        sid = await run_in_threadpool(check)
        if sid is None:
            return again(401, "web.error.bad_login")
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="lax", secure=request.url.scheme == "https",
                        max_age=int(U.SESSION_TTL.total_seconds()), path="/")
        resp.delete_cookie(LOGIN_CSRF_COOKIE)
        return resp

    @api.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        form = await form_of(request)

        def run() -> Response:
            ctx = web.context(request)
            if ctx is None:
                return RedirectResponse("/login", status_code=303)
            _check_csrf(ctx, form.get("csrf"))
            U.end_session(web.store, request.cookies.get(SESSION_COOKIE))
            resp = RedirectResponse("/login", status_code=303)
            resp.delete_cookie(SESSION_COOKIE, path="/")
            return resp

        return await run_in_threadpool(guard, request, run)

    @api.post("/lang", include_in_schema=False)
    async def switch_lang(request: Request) -> Response:
        form = await form_of(request)

        def run() -> Response:
            ctx = web.context(request)
            if ctx is None:
                return RedirectResponse("/login", status_code=303)
            _check_csrf(ctx, form.get("csrf"))
            lang = str(form.get("lang", ""))
            if lang not in LANGS:
                raise InputError(t("web.error.lang", ctx.lang, lang=lang))
            U.set_lang(web.store, ctx.user.login, lang)
            return RedirectResponse(_safe_next(str(form.get("next", "/"))), status_code=303)

        return await run_in_threadpool(guard, request, run)

    # -- pages ------------------------------------------------------------------------------------
    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request, as_of: str | None = None) -> Response:
        def body(ctx: Ctx) -> Response:
            m = ctx.moment
            alerts = _scoped_alerts(ctx, D.alerts_document(m, ctx.lang))
            open_alerts = [a for a in alerts if a["status"] == "open" and not (a["handled"] or {}).get("active")]
            score = D.score_document(m, ctx.lang)
            mine = ctx.scope.deals(score["rows"])
            figures = _figures(web, ctx, score["rows"])
            changes = ctx.scope.document(D.command_document(m, "changes", ctx.lang), m.session.people)
            review = None
            if ctx.user.role in ("qc", "head", "lead"):
                rdoc = D.review_document(m, ctx.lang)
                review = ctx.scope.deals(rdoc["rows"])[:5]
            return web.later("home.html", ctx, alerts=open_alerts[:8], n_alerts=len(open_alerts),
                              deals=mine[:10], n_deals=len(mine), figures=figures, review=review, changes=changes,
                              people=ctx.scope.people(m.session.people), playbook=m.playbook)

        return page(request, as_of, body)

    @api.get("/deals", response_class=HTMLResponse, include_in_schema=False)
    def deals_at_risk(request: Request, as_of: str | None = None, sort: str = "value", limit: int = 100) -> Response:
        def body(ctx: Ctx) -> Response:
            m = ctx.moment
            doc = D.score_document(m, ctx.lang, sort=sort)
            rows = ctx.scope.deals(doc["rows"])
            return web.later("deals.html", ctx, rows=rows[:max(1, limit)], n=len(rows), model=doc["model"],
                              notices=doc["notices"], sort=sort if sort in D.SORTS else "value", sorts=D.SORTS,
                              chart=_risk_chart(rows, ctx, m), playbook=m.playbook)

        return page(request, as_of, body)

    @api.get("/deals/{deal_id}", response_class=HTMLResponse, include_in_schema=False)
    def deal_page(request: Request, deal_id: str, as_of: str | None = None) -> Response:
        def body(ctx: Ctx) -> Response:
            m = ctx.moment
            doc = _deal_in_scope(ctx, deal_id)
            scored = next((r for r in D.score_document(m, ctx.lang)["rows"] if r["deal_id"] == deal_id), None)
            path = [] if scored is not None and scored.get("p_win") is None else D.p_win_path(m, doc["deal"])
            return web.later("deal.html", ctx, doc=doc, deal=doc["deal"], scored=scored,
                              chart=_stage_chart(doc, ctx, m), p_chart=_p_win_chart(path, ctx), playbook=m.playbook,
                              owner_name=m.session.people.get(str(doc["deal"]["owner"]), doc["deal"]["owner"]))

        return page(request, as_of, body)

    @api.get("/metrics", response_class=HTMLResponse, include_in_schema=False)
    def metrics_page(request: Request, as_of: str | None = None, window: str = "28d") -> Response:
        def body(ctx: Ctx) -> Response:
            m = ctx.moment
            hm = D.step_heatmap(m, ctx.lang, window=window)
            people = m.session.people
            rows = []
            for mid in sorted(hm["managers"], key=lambda k: people.get(k, k)):
                if ctx.scope.sees_manager(mid):
                    rows.append({"label": people.get(mid, mid), "kind": "manager", "param": {"manager": mid},
                                 "cells": hm["managers"][mid]})
            teams = sorted(hm["teams"]) if ctx.scope.everything else [x for x in [ctx.scope.team] if x in hm["teams"]]
            for team in teams:
                rows.append({"label": t("web.figures.team", ctx.lang, team=team), "kind": "team",
                             "param": {"team": team}, "cells": hm["teams"][team]})
            rows.append({"label": t("web.figures.department", ctx.lang), "kind": "department", "param": {},
                         "cells": hm["department"]})
            return web.later("metrics.html", ctx, hm=hm, rows=rows, window=window, min_n=5, playbook=m.playbook)

        return page(request, as_of, body)

    @api.get("/metrics/cell", response_class=HTMLResponse, include_in_schema=False)
    def metrics_cell(request: Request, step: str, as_of: str | None = None, window: str = "28d",
                     manager: str | None = None, team: str | None = None) -> Response:
        def body(ctx: Ctx) -> Response:
            from dealpulse.web.scope import team_managers

            m = ctx.moment
            if manager:
                if not ctx.scope.sees_manager(manager):
                    raise NotFound(t("web.error.no_cell", ctx.lang))
                owners, who = {manager}, m.session.people.get(manager, manager)
            elif team:
                owners = set(team_managers(web.store, team))
                if not owners or not all(ctx.scope.sees_manager(x) for x in owners):
                    raise NotFound(t("web.error.no_cell", ctx.lang))
                who = t("web.figures.team", ctx.lang, team=team)
            else:
                if not ctx.scope.everything:
                    raise NotFound(t("web.error.no_cell", ctx.lang))
                owners, who = None, t("web.figures.department", ctx.lang)
            rows = D.step_cell(m, step, window=window, owners=owners)
            return web.later("cell.html", ctx, rows=rows, step=step, who=who, window=window,
                              people=ctx.scope.people(m.session.people), playbook=m.playbook)

        return page(request, as_of, body)

    @api.get("/funnel", response_class=HTMLResponse, include_in_schema=False)
    def funnel_page(request: Request, as_of: str | None = None) -> Response:
        def body(ctx: Ctx) -> Response:
            m = ctx.moment
            doc = D.command_document(m, "funnel", ctx.lang)  # the department's stages: no names in it
            return web.later("funnel.html", ctx, doc=doc, chart=_funnel_chart(doc, ctx, m), playbook=m.playbook)

        return page(request, as_of, body)

    @api.get("/optimism", response_class=HTMLResponse, include_in_schema=False)
    def optimism_page(request: Request, as_of: str | None = None) -> Response:
        def body(ctx: Ctx) -> Response:
            m = ctx.moment
            doc = ctx.scope.document(D.command_document(m, "optimism", ctx.lang), m.session.people)
            return web.later("optimism.html", ctx, doc=doc, playbook=m.playbook)

        return page(request, as_of, body)

    @api.get("/dynamics", response_class=HTMLResponse, include_in_schema=False)
    def dynamics_page(request: Request, as_of: str | None = None, significant: bool = False) -> Response:
        def body(ctx: Ctx) -> Response:
            m = ctx.moment
            doc = ctx.scope.document(D.command_document(m, "dynamics", ctx.lang), m.session.people)
            rows = [r for r in doc["rows"] if r.get("significant") or not significant]
            return web.later("dynamics.html", ctx, doc=doc, rows=rows, significant=significant, playbook=m.playbook)

        return page(request, as_of, body)

    @api.get("/leading", response_class=HTMLResponse, include_in_schema=False)
    def leading_page(request: Request, as_of: str | None = None) -> Response:
        def body(ctx: Ctx) -> Response:
            m = ctx.moment
            doc = ctx.scope.document(D.command_document(m, "validate-metrics", ctx.lang), m.session.people)
            return web.later("leading.html", ctx, doc=doc, playbook=m.playbook)

        return page(request, as_of, body)

    @api.get("/playbook", response_class=HTMLResponse, include_in_schema=False)
    def playbook_page(request: Request, as_of: str | None = None) -> Response:
        def body(ctx: Ctx) -> Response:
            pb = web.session.playbook
            segments = [s.name for s in pb.segments]
            steps = [{"name": st.name, "stage": st.stage, "anchor": st.anchor, "task_type": st.task_type,
                      "within": _days(st.within), "by_segment": {g: _days(st.within_for(g)) for g in segments}}
                     for st in pb.steps]
            return web.later("playbook.html", ctx, pb=pb, steps=steps, segments=segments,
                              rules={s.name: s.rule.text for s in pb.segments}, stale=_days(pb.stale_after),
                              lost_after=_days(pb.lost_after) if pb.lost_after else None, source=web.session.playbook_source)

        return page(request, as_of, body)

    @api.get("/import", response_class=HTMLResponse, include_in_schema=False)
    def import_page(request: Request, as_of: str | None = None) -> Response:
        def body(ctx: Ctx) -> Response:
            if ctx.user.role != "head":
                raise Forbidden(t("web.error.head_only", ctx.lang))
            return web.later("import.html", ctx, imports=D.imports(web.store), quarantine=D.quarantine(web.store),
                              report=None)

        return page(request, as_of, body)

    @api.post("/import", include_in_schema=False)
    async def import_upload(request: Request) -> Response:
        form = await request.form()
        uploads = [(f.filename or "", await f.read()) for f in form.getlist("files") if hasattr(f, "read")]
        token = form.get("csrf")

        def body(ctx: Ctx) -> Response:
            _check_csrf(ctx, token)
            if ctx.user.role != "head":
                raise Forbidden(t("web.error.head_only", ctx.lang))
            report = D.import_upload(web.store, uploads, lang=ctx.lang)
            web.fresh()
            return web.later("import.html", ctx, imports=D.imports(web.store), quarantine=D.quarantine(web.store),
                              report=report)

        return await run_in_threadpool(page, request, None, body)

    @api.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
    def alerts_page(request: Request, as_of: str | None = None, all: bool = False) -> Response:  # noqa: A002
        def body(ctx: Ctx) -> Response:
            m = ctx.moment
            doc = D.alerts_document(m, ctx.lang, include_resolved=all)
            rows = _scoped_alerts(ctx, doc)
            return web.later("alerts.html", ctx, rows=rows, doc=doc, show_all=all, playbook=m.playbook,
                              people=ctx.scope.people(m.session.people))

        return page(request, as_of, body)

    @api.post("/alerts/{key}", include_in_schema=False)
    async def alert_action(request: Request, key: str) -> Response:
        form = await form_of(request)
        as_of = str(form.get("as_of") or "") or None

        def body(ctx: Ctx) -> Response:
            _check_csrf(ctx, form.get("csrf"))
            m = ctx.moment
            row = next((r for r in D.alerts_document(m, ctx.lang, include_resolved=True)["rows"] if r["key"] == key), None)
            if row is None or not ctx.scope.sees_alert(row):
                raise NotFound(t("web.error.no_alert", ctx.lang, key=key))
            if not ctx.scope.can_act_on_alert(row):
                raise Forbidden(t("web.error.cannot_act", ctx.lang))
            action = str(form.get("action", ""))
            reason = str(form.get("reason", "")).strip()
            if action not in D.ACTIONS:
                raise InputError(t("web.error.action", ctx.lang, action=action))
            if not reason:
                raise InputError(t("web.error.no_reason", ctx.lang))
            until = None
            if action == "snooze":
                try:
                    days = int(str(form.get("days", "7")))
                except ValueError:
                    days = -1
                if not 1 <= days <= 365:
                    raise InputError(t("web.error.days", ctx.lang, days=form.get("days")))
                until = m.as_of + timedelta(days=days)
            D.act_on_alert(web.store, row, action, reason, login=ctx.user.login, at=m.as_of, until=until)
            return RedirectResponse(ctx.url("/alerts"), status_code=303)

        return await run_in_threadpool(page, request, as_of, body)

    @api.get("/review", response_class=HTMLResponse, include_in_schema=False)
    def review_page(request: Request, as_of: str | None = None, all: bool = False) -> Response:  # noqa: A002
        def body(ctx: Ctx) -> Response:
            m = ctx.moment
            doc = D.review_document(m, ctx.lang, include_reviewed=all)
            rows = ctx.scope.deals(doc["rows"])
            return web.later("review.html", ctx, rows=rows, doc=doc, show_all=all, playbook=m.playbook)

        return page(request, as_of, body)

    @api.post("/review/{deal_id}", include_in_schema=False)
    async def review_mark(request: Request, deal_id: str) -> Response:
        form = await form_of(request)
        as_of = str(form.get("as_of") or "") or None

        def body(ctx: Ctx) -> Response:
            _check_csrf(ctx, form.get("csrf"))
            doc = _deal_in_scope(ctx, deal_id)
            if not ctx.scope.can_mark_review(doc["deal"]["owner"]):
                raise Forbidden(t("web.error.cannot_mark", ctx.lang))
            D.mark_review(ctx.moment, deal_id, str(form.get("comment", "")), reviewer=ctx.user.login, lang=ctx.lang)
            return RedirectResponse(ctx.url("/review"), status_code=303)

        return await run_in_threadpool(page, request, as_of, body)

    # -- static: Plotly from the installed package, the API's docs ------------------------------------
    @api.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> Response:
        return Response(web.plotly_js(), media_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    @api.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs(request: Request) -> Response:
        with web.lock:
            ctx = None
            try:
                ctx = web.context(request)
            except DealpulseError:
                pass
        return web.render("docs.html", ctx, spec=api.openapi())

    # -- the JSON API ---------------------------------------------------------------------------------
    LangQ = Query(None, description="Language of the texts: ru or en (default: the user's).")
    AsOfQ = Query(None, description="Compute as of this moment, as the CLI's --as-of (default: the latest event).")

    @api.get("/api/v1/me", tags=["api"], summary="Who the caller is and what they may see")
    def api_me(request: Request) -> Response:
        return api_call(request, None, None, lambda ctx: {"user": ctx.user.as_dict(), "scope": ctx.scope.as_dict()})

    @api.get("/api/v1/score", tags=["api"], summary="dealpulse score --format json, within the caller's scope")
    def api_score(request: Request, as_of: str | None = AsOfQ, lang: str | None = LangQ,
                  sort: str = Query("value", description="value, p_win, amount or close (as --sort)."),
                  limit: int | None = Query(None, ge=1, description="The first N deals (as --limit)."),
                  owner: str | None = Query(None, description="Only this manager's deals (id or name, as --owner).")) -> Response:
        def body(ctx: Ctx) -> Any:
            if sort not in D.SORTS:
                raise InputError(t("score.bad_sort", ctx.lang, got=sort, choices=", ".join(D.SORTS)))
            doc = D.score_document(ctx.moment, ctx.lang, sort=sort)
            rows = ctx.scope.deals(doc["rows"])
            if owner:
                rows = [r for r in rows if owner in (r["owner"], r.get("manager_name"))]
            return {**doc, "scope": ctx.scope.as_dict(), "rows": rows[:limit] if limit else rows}

        return api_call(request, as_of, lang, body)

    @api.get("/api/v1/alerts", tags=["api"], summary="dealpulse alerts --format json, within the caller's scope")
    def api_alerts(request: Request, as_of: str | None = AsOfQ, lang: str | None = LangQ,
                   all: bool = Query(False, description="Also the alerts resolved in the last 12 weeks (as --all).")) -> Response:  # noqa: A002
        def body(ctx: Ctx) -> Any:
            doc = D.alerts_document(ctx.moment, ctx.lang, include_resolved=all)
            return {**doc, "scope": ctx.scope.as_dict(), "rows": _scoped_alerts(ctx, doc)}

        return api_call(request, as_of, lang, body)

    @api.get("/api/v1/review", tags=["api"], summary="dealpulse review --format json, within the caller's scope")
    def api_review(request: Request, as_of: str | None = AsOfQ, lang: str | None = LangQ,
                   limit: int | None = Query(None, ge=0, description="At most N deals (as --limit)."),
                   all: bool = Query(False, description="Reviewed deals too (as --all)."),  # noqa: A002
                   closed_days: int | None = Query(None, ge=0, description="Also deals closed in the last N days."),
                   rare: float = Query(0.5, gt=0, lt=100, description="Rarity line in percent (as --rare).")) -> Response:
        def body(ctx: Ctx) -> Any:
            doc = D.review_document(ctx.moment, ctx.lang, include_reviewed=all, rare=rare, closed_days=closed_days)
            rows = ctx.scope.deals(doc["rows"])
            rows = rows[:limit] if limit is not None else rows
            return {**doc, "scope": ctx.scope.as_dict(), "n_rows": len(rows), "rows": rows}

        return api_call(request, as_of, lang, body)

    def command_route(name: str) -> None:
        from dealpulse.app.commands import COMMANDS

        options = COMMANDS[name].options
        summary = (f"dealpulse {name} --format json, within the caller's scope; options as query parameters: "
                   + ", ".join(f"{o} ({k})" for o, k in options.items()))

        def endpoint(request: Request, as_of: str | None = AsOfQ, lang: str | None = LangQ) -> Response:
            given = {k: v for k, v in request.query_params.items() if k not in ("as_of", "lang")}

            def body(ctx: Ctx) -> Any:
                doc = D.command_document(ctx.moment, name, ctx.lang, **given)
                return {**ctx.scope.document(doc, ctx.moment.session.people), "scope": ctx.scope.as_dict()}

            return api_call(request, as_of, lang, body)

        api.add_api_route(f"/api/v1/{name}", endpoint, methods=["GET"], tags=["api"], summary=summary,
                          name=f"api_{name.replace('-', '_')}")

    for _name in D.OTHER_COMMANDS:
        command_route(_name)

    @api.get("/api/v1/deals/{deal_id}", tags=["api"], summary="One deal as known at as_of: card, stages, tasks, field changes")
    def api_deal(request: Request, deal_id: str, as_of: str | None = AsOfQ) -> Response:
        return api_call(request, as_of, None, lambda ctx: _deal_in_scope(ctx, deal_id))

    return api


# -- helpers of the pages -----------------------------------------------------------------------------
def _version() -> str:
    from dealpulse import __version__

    return __version__


def _days(delta: timedelta) -> float:
    return round(delta.total_seconds() / 86400, 2)


def _path_with_query(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _deal_in_scope(ctx: Ctx, deal_id: str) -> dict[str, Any]:
    """The deal's document, or 404 when it is unknown at the moment or outside the user's scope."""
    doc = D.deal_document(ctx.moment, deal_id)
    if doc is None or not ctx.scope.sees_deal(doc["deal"].get("owner")):
        raise NotFound(t("web.error.no_deal", ctx.lang, deal=deal_id))
    return doc


def _scoped_alerts(ctx: Ctx, doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The alert rows the user may see, each with `handled` (the latest action as of the moment) and `can_act`."""
    actions = D.alert_actions(ctx.web.store, ctx.moment.as_of)
    out = []
    for r in ctx.scope.alerts(doc["rows"]):
        r = dict(r)
        r["handled"] = D.jsonable(actions.get(r["key"]))
        r["can_act"] = ctx.scope.can_act_on_alert(r)
        out.append(r)
    return out


def _figures(web: Web, ctx: Ctx, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Summary figures of the open deals: the user's own, their team's and (head, qc) the department's,
    counts and sums only - no other manager's name."""
    teams = dict(web.store.query("SELECT manager_id, team FROM managers"))

    def summary(key: str, chosen: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
        p = [r["p_win"] for r in chosen if r["p_win"] is not None]
        return {"label": t(key, ctx.lang, **kw), "deals": len(chosen),
                "amount": sum(r["amount"] or 0 for r in chosen),
                "at_risk": sum(r["value_at_risk"] or 0 for r in chosen),
                "p_win": sum(p) / len(p) if p else None}

    out = []
    s = ctx.scope
    if s.manager_id:
        out.append(summary("web.figures.mine", [r for r in rows if r["owner"] == s.manager_id]))
    team = s.team or teams.get(s.manager_id or "")
    if team:
        out.append(summary("web.figures.team", [r for r in rows if teams.get(r["owner"]) == team], team=team))
    out.append(summary("web.figures.department", rows))
    return out


def _risk_chart(rows: list[dict[str, Any]], ctx: Ctx, m: Moment) -> str | None:
    """Value at risk by stage (the user's deals), a Plotly bar chart as JSON."""
    if not rows:
        return None
    import plotly.graph_objects as go

    from dealpulse.labels import label

    order = list(m.playbook.stages)
    sums: dict[str, float] = {}
    for r in rows:
        sums[r["stage"]] = sums.get(r["stage"], 0.0) + float(r["value_at_risk"] or 0)
    stages = [s for s in order if s in sums] + [s for s in sums if s not in order]
    fig = go.Figure(go.Bar(x=[label(s, ctx.lang, m.playbook) for s in stages], y=[sums[s] for s in stages],
                           marker_color="#c0392b"))
    fig.update_layout(title=t("web.chart.risk_by_stage", ctx.lang), height=320, margin=dict(l=50, r=20, t=50, b=60),
                      yaxis_title=t("web.col.value_at_risk", ctx.lang))
    return _figure(fig)


def _funnel_chart(doc: dict[str, Any], ctx: Ctx, m: Moment) -> str | None:
    """Conversion to the next stage and the median dwell per stage (the department)."""
    rows = doc.get("rows") or []
    if not rows:
        return None
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from dealpulse.labels import label

    names = [label(r["stage"], ctx.lang, m.playbook) for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=(t("web.funnel.conv_next", ctx.lang), t("web.funnel.dwell", ctx.lang)))
    fig.add_trace(go.Bar(x=names, y=[r.get("conv_next") for r in rows], marker_color="#2563a8", showlegend=False), 1, 1)
    fig.add_trace(go.Bar(x=names, y=[r.get("dwell_median_days") for r in rows], marker_color="#d68910", showlegend=False), 1, 2)
    fig.update_yaxes(tickformat=".0%", range=[0, 1], row=1, col=1)
    fig.update_layout(height=340, margin=dict(l=50, r=20, t=50, b=60))
    return _figure(fig)


def _p_win_chart(path: list[dict[str, Any]], ctx: Ctx) -> str | None:
    """The deal's chance to win over time (the moment's model on what was known at each moment)."""
    if not path:
        return None
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[p["at"] for p in path], y=[p["p_win"] for p in path], mode="lines+markers",
                               line_color="#c0392b"))
    fig.update_layout(title=t("web.chart.p_win", ctx.lang), height=300, margin=dict(l=60, r=20, t=50, b=40),
                      yaxis=dict(range=[0, 1], tickformat=".0%"))
    return _figure(fig)


def _stage_chart(doc: dict[str, Any], ctx: Ctx, m: Moment) -> str | None:
    """The deal's way through the stages over time (a step line)."""
    stages = doc["stages"]
    if not stages:
        return None
    import plotly.graph_objects as go

    from dealpulse.labels import label

    names = [label(s["stage"], ctx.lang, m.playbook) for s in stages]
    xs = [s["entered_at"] for s in stages] + [m.as_of.isoformat()]
    fig = go.Figure(go.Scatter(x=xs, y=names + names[-1:], mode="lines+markers", line_shape="hv"))
    fig.update_layout(title=t("web.chart.stages", ctx.lang), height=300, margin=dict(l=140, r=20, t=50, b=40))
    return _figure(fig)


__all__ = ["create_app", "Web", "Ctx"]
