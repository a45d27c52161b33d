"""`dealpulse serve`: the web app (FastAPI + uvicorn) on a store, for every role (dealpulse.web)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dealpulse.cli.app import DbOption, Lang, LangOption, app, guarded, lang_of, note, open_store, t
from dealpulse.cli.funnel_cmd import PlaybookOption


@app.command("serve")
def serve(
    db: Optional[str] = DbOption,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface; put HTTPS in front)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    playbook: Optional[Path] = PlaybookOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """The web app: pages for every role (login with `dealpulse user add`) and the JSON API (/api/v1, docs at /docs)."""

    def run() -> None:
        from dealpulse.errors import InputError

        l = lang_of(lang)
        try:
            import uvicorn

            from dealpulse.web.app import create_app
        except ModuleNotFoundError as exc:  # pragma: no cover - both are dependencies
            raise InputError(t("serve.no_web", l, error=str(exc))) from None
        store = open_store(db, lang=l)
        n_users = store.query("SELECT count(*) FROM users")[0][0]
        if not n_users:
            note("[yellow]![/] " + t("serve.no_users", l))
        web = create_app(store, playbook=playbook, default_lang=l)
        note(t("serve.starting", l, host=host, port=port, db=store.url))
        try:
            uvicorn.run(web, host=host, port=port, log_level="warning")
        finally:
            store.close()

    guarded(run)


__all__ = ["serve"]
