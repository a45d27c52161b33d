"""`dealpulse digest`: what changed, open alerts and deals to save, to each user within their scope and in
their language, by e-mail, Telegram or a webhook (docs/digests.md). `dealpulse user contact` sets where a
user's digest goes."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, err, guarded,
                               lang_of, note, open_store, out, t)
from dealpulse.cli.funnel_cmd import PlaybookOption


class Channel(str, Enum):
    email = "email"
    telegram = "telegram"
    webhook = "webhook"


class Role(str, Enum):
    head = "head"
    lead = "lead"
    manager = "manager"
    qc = "qc"


COLUMNS = ("login", "role", "channel", "address", "status", "attempts", "error")


@app.command("digest")
def digest_cmd(
    who: Optional[str] = typer.Option(None, "--for", help="Only this user (login)."),
    role: Optional[Role] = typer.Option(None, "--role", help="Only the users of this role."),
    since: str = typer.Option("7d", "--since", help="The period: a span before as_of (7d, 1d, 2w) or a date in the export's zone."),
    channel: Optional[Channel] = typer.Option(None, "--channel", help="Only this channel (default: every channel a user has an address for)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Send nothing: print what would be sent, to whom."),
    api_url: Optional[str] = typer.Option(None, "--api-url", envvar="DEALPULSE_TELEGRAM_API",
                                          help="Telegram Bot API base URL (default https://api.telegram.org; a local fake in tests)."),
    retries: int = typer.Option(3, "--attempts", min=1, max=10, help="Attempts per delivery (with back-off 1 s, 2 s, 4 s …)."),
    as_of: Optional[str] = AsOfOption,
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """Send each user their digest: what changed, open alerts, deals to save (within their scope, in their language)."""

    def run() -> int:
        from dealpulse.digest.deliver import run_digests
        from dealpulse.timefmt import local_text

        l = lang_of(lang)
        store = open_store(db, lang=l)
        try:
            done = run_digests(store, login=who, role=role.value if role else None, since=since,
                               channel=channel.value if channel else None, as_of=as_of, playbook=playbook, lang=l,
                               forced_lang=lang.value if lang is not None else None, dry_run=dry_run,
                               telegram_api=api_url, attempts=retries,
                               on_computing=err.status(t("common.computing", l, what=t("digest.computing", l))))
        finally:
            store.close()
        if done is None:
            note(t("digest.none", l, role=role.value if role else "—"))
            return 1 if who else 0
        outcomes, jobs, digests, start, end, tz = done.outcomes, done.jobs, done.digests, done.start, done.as_of, done.tz
        failed = done.failed(strict=bool(who))
        rows = [o.as_dict() for o in outcomes]
        if fmt == Format.json:
            doc = {**moment_head(start, end, tz), "dry_run": dry_run, "deliveries": rows, "failed": len(failed)}
            if dry_run:
                doc["digests"] = [d.document() for d in digests.values()]
            emit(rows, Format.json, document=doc)
        else:
            if dry_run:
                _print_dry_run(jobs, outcomes, l)
            shown = [{**r, "status": t(f"digest.status.{r['status']}", l), "error": r["error"] or ""} for r in rows]
            title = t("digest.dry_run.title", l, n=len(rows)) if dry_run else t(
                "digest.title", l, start=local_text(start, tz), end=local_text(end, tz), zone=str(tz), n=len(rows))
            emit(shown, Format.table if fmt == Format.table else fmt, title=title, columns=COLUMNS,
                 headers={c: t(f"digest.col.{c}", l) for c in COLUMNS}, keep=("login", "status", "error"))
        if failed:
            for o in failed:
                note(f"[red]✗[/] {o.login} · {o.channel} · {o.address}: {o.error}")
            note(t("digest.error.failed", l, n=len(failed)))
            return 1
        return 0

    def moment_head(start, end, tz) -> dict:  # noqa: ANN001
        from dealpulse.timefmt import moment_json

        return {"start": moment_json(start, tz), "as_of": moment_json(end, tz), "zone": str(tz)}

    code = guarded(run)
    if code:
        raise typer.Exit(code)


def _print_dry_run(jobs: list, outcomes: list, l: str) -> None:
    """Each recipient's digest once (as plain text), under the channels and addresses it would go to."""
    from dealpulse.digest.deliver import Rendered

    shown: dict[str, tuple[object, list]] = {}
    for job, o in zip(jobs, outcomes):
        if o.status == "dry_run":
            shown.setdefault(o.login, (job.digest, []))[1].append(o)
    for login, (digest, outs) in shown.items():
        r = Rendered.of(digest)
        out.print(t("digest.dry_run.message", l, login=login, channel=", ".join(o.channel for o in outs),
                    address=", ".join(o.address for o in outs)), highlight=False, markup=False)
        out.print(f"{r.subject}\n", highlight=False, markup=False)
        out.print(r.text, highlight=False, markup=False, soft_wrap=True)
    sys.stdout.flush()


try:  # `dealpulse user contact`: on the web app's `user` command group
    from dealpulse.cli.user_cmd import user_app
except ImportError:  # pragma: no cover - a build without the web app's users
    user_app = None

if user_app is not None:

    @user_app.command("contact")
    def user_contact(
        login: str = typer.Argument(..., help="The login name."),
        email: Optional[str] = typer.Option(None, "--email", help="E-mail address for digests ('' clears it)."),
        telegram: Optional[str] = typer.Option(None, "--telegram-chat", help="Telegram chat id for digests ('' clears it)."),
        webhook: Optional[str] = typer.Option(None, "--webhook", help="Webhook URL (POST JSON) for digests ('' clears it)."),
        db: Optional[str] = DbOption,
        lang: Optional[Lang] = LangOption,
    ) -> None:
        """Where a user's digest goes (dealpulse digest): e-mail, Telegram chat, webhook."""

        def run() -> None:
            from dealpulse.digest.people import masked, set_contact

            l = lang_of(lang)
            store = open_store(db, lang=l)
            try:
                r = set_contact(store, login, email=email, telegram_chat_id=telegram, webhook_url=webhook, lang=l)
            finally:
                store.close()
            note(t("digest.contact.done", l, login=r.login, email=r.email or "—", telegram=r.telegram_chat_id or "—",
                   webhook=masked("webhook", r.webhook_url)))

        guarded(run)


__all__ = ["digest_cmd"]
