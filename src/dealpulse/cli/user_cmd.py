"""`dealpulse user add|list` and `dealpulse token create`: the web app's users, roles and API tokens."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from dealpulse.cli.app import DbOption, Format, FormatOption, Lang, LangOption, Typer, app, emit, guarded, lang_of, note, open_store, out, t

user_app = Typer(help="Users of the web app (dealpulse serve) and their roles. / Пользователи веб-приложения и их роли.",
                 no_args_is_help=True)
token_app = Typer(help="API tokens for the web app's JSON API (Authorization: Bearer). / API-токены.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


def _read_password(login: str, lang: str) -> str:
    """From the terminal (asked twice, not echoed) or the first line of stdin when it is not a terminal."""
    from dealpulse.errors import InputError

    stream = sys.stdin
    if stream is not None and stream.isatty():
        import getpass

        first = getpass.getpass(t("user.password.prompt", lang, login=login))
        if getpass.getpass(t("user.password.repeat", lang)) != first:
            raise InputError(t("user.password.mismatch", lang))
        return first
    line = stream.readline() if stream is not None else ""
    password = line.rstrip("\r\n")
    if not password:
        raise InputError(t("user.error.no_password", lang))
    return password


@user_app.command("add")
def user_add(
    login: str = typer.Argument(..., help="The login name."),
    role: str = typer.Option(..., "--role", help="head (everything), lead (a team), manager (own deals), qc (review queue, all deals read-only)."),
    manager: Optional[str] = typer.Option(None, "--manager", help="For a manager: their manager id in the data (whose deals they see)."),
    team: Optional[str] = typer.Option(None, "--team", help="For a lead: the team they lead (for a manager: taken from the data)."),
    user_lang: Optional[Lang] = typer.Option(None, "--user-lang", help="The user's language in the web app (ru or en; they can switch it there)."),
    replace: bool = typer.Option(False, "--replace", help="Replace an existing user's role and password."),
    db: Optional[str] = DbOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """Add a user of the web app. The password is read from stdin (asked twice on a terminal), hashed with argon2."""

    def run() -> None:
        from dealpulse.web.users import add_user

        l = lang_of(lang)
        password = _read_password(login, l)
        store = open_store(db, create=True, lang=l)
        try:
            u = add_user(store, login, role, password, manager_id=manager, team=team,
                         lang=user_lang.value if user_lang else None, msg_lang=l, replace=replace)
        finally:
            store.close()
        scope = ""
        if u.manager_id:
            scope += t("user.scope.manager", l, manager=u.manager_id)
        if u.team:
            scope += t("user.scope.team", l, team=u.team)
        note(t("user.added", l, login=u.login, role=u.role, scope=scope))

    guarded(run)


@user_app.command("list")
def user_list(db: Optional[str] = DbOption, fmt: Format = FormatOption, lang: Optional[Lang] = LangOption) -> None:
    """The users, their roles and scopes (never their passwords)."""

    def run() -> None:
        from dealpulse.web.users import list_users

        l = lang_of(lang)
        store = open_store(db, lang=l)
        try:
            users = [u.as_dict() for u in list_users(store)]
        finally:
            store.close()
        if fmt == Format.table and not users:
            note(t("user.list.empty", l))
            return
        cols = ["login", "role", "manager_id", "team", "lang", "active"]
        emit(users, fmt, columns=cols, title=t("user.list.title", l, n=len(users)),
             headers={c: t(f"user.col.{c}", l) for c in cols})

    guarded(run)


@user_app.command("remove")
def user_remove(
    login: str = typer.Argument(..., help="The user to remove."),
    db: Optional[str] = DbOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """Remove a user: their API tokens and login sessions end at once (their review marks and alert actions stay)."""

    def run() -> None:
        from dealpulse.web.users import remove_user

        l = lang_of(lang)
        store = open_store(db, lang=l)
        try:
            remove_user(store, login, lang=l)
        finally:
            store.close()
        note(t("user.removed", l, login=login))

    guarded(run)


@token_app.command("create")
def token_create(
    login: str = typer.Argument(..., help="Whose token: API calls with it see what this user sees."),
    label: Optional[str] = typer.Option(None, "--label", help="A note to tell tokens apart (e.g. where it is used)."),
    db: Optional[str] = DbOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """Make an API token for a user; it is printed once (stdout), only its hash is kept."""

    def run() -> None:
        from dealpulse.web.users import create_token

        l = lang_of(lang)
        store = open_store(db, lang=l)
        try:
            token = create_token(store, login, label=label, lang=l)
        finally:
            store.close()
        note(t("token.created", l, login=login))
        out.print(token, highlight=False, soft_wrap=True)

    guarded(run)


__all__ = ["user_app", "token_app"]
