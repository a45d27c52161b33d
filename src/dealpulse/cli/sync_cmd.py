"""`dealpulse sync amocrm|bitrix24`: pull a CRM through its API and import it like a dump folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dealpulse.cli.app import (DbOption, Format, FormatOption, Lang, LangOption, _jsonable, app, emit, err, guarded,
                               lang_of, note, open_store_for_import, t)

sync_app = typer.Typer(help="Pull a CRM through its API and import it (incremental after the first run). / "
                            "Загрузить CRM через API и импортировать (после первого раза — только изменения).",
                       no_args_is_help=True)
app.add_typer(sync_app, name="sync")

MappingOption = typer.Option(..., "--mapping", help="The account YAML (stages, steps, fields, values, tz), as for `import --source`.")
BaseUrlOption = typer.Option(None, "--base-url", help="The API's address if not the usual one (a proxy, a test server).")


def _run(kind: str, db: Optional[str], fmt: Format, lang: Optional[Lang], call: Callable[..., Any]) -> None:
    from dealpulse.errors import DealpulseError
    from dealpulse.sync.state import staging_root

    l = lang_of(lang)

    def run() -> None:
        store, discard = open_store_for_import(db, lang=l)
        root = staging_root(store.url)
        try:
            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[records]}"),
                          TimeElapsedColumn(), console=err, transient=True) as bar:
                tasks: dict[str, Any] = {}
                seen: dict[str, tuple[int, int, Optional[int]]] = {}

                def pulled(entity: str, pages: int, records: int, total: Optional[int]) -> None:
                    from dealpulse.sync.amocrm import chunk_label

                    seen[entity] = (pages, records, total)
                    label = chunk_label(entity)  # chunked jobs (events_history_c0003) add up under one bar
                    parts = [v for k, v in seen.items() if chunk_label(k) == label]
                    done, recs = sum(p[0] for p in parts), sum(p[1] for p in parts)
                    whole = sum(p[2] for p in parts) if all(p[2] is not None for p in parts) and len(parts) == 1 else None
                    if label not in tasks:
                        shown = t(f"sync.entity.{label}", l)
                        shown = label if shown == f"sync.entity.{label}" else shown
                        tasks[label] = bar.add_task(t("sync.progress.pull", l, entity=shown), total=whole, records="")
                    bar.update(tasks[label], completed=done, total=whole, records=f"{recs}")

                def imported(label: str, done: int, total: int) -> None:
                    if "import" not in tasks:
                        tasks["import"] = bar.add_task(t("sync.progress.import", l), total=total, records="")
                    kind_, _, name = label.partition(":")
                    text = t(f"ingest.progress.{kind_}", l, name=name)
                    bar.update(tasks["import"], completed=done, total=total,
                               description=text if not text.startswith("ingest.") else t("sync.progress.import", l))

                report = call(store, lang=l, progress=pulled, import_progress=imported)
        except BaseException as exc:
            discard()  # a store this run created is removed again (the fetched pages stay beside it)
            if isinstance(exc, (DealpulseError, KeyboardInterrupt)) and any(root.glob("*/pages/*.json")):
                note(t("sync.kept", l, path=str(root)))
            raise
        finally:
            store.close()
        _print(report, fmt, l)

    guarded(run)


def _print(report: Any, fmt: Format, lang: str) -> None:
    from dealpulse.cli.import_cmd import _print_report

    if fmt == Format.json:
        sys.stdout.write(json.dumps(_jsonable(report.to_dict()), ensure_ascii=False, indent=2) + "\n")
        return
    if fmt == Format.csv:  # one table on stdout: the import's, as `dealpulse import` prints it
        for w in report.warnings:
            note(w)
        if report.imported is not None:
            _print_report(report.imported, fmt, lang)
        return
    def label(name: str) -> str:
        text = t(f"sync.entity.{name}", lang)
        return name if text == f"sync.entity.{name}" else text

    rows = [{"entity": label(name), "records": n} for name, n in report.records.items()]
    cols = ["entity", "records"]
    title = t("sync.title", lang, source=report.source, account=report.account, mode=t(f"sync.mode.{report.mode}", lang),
              resumed=t("sync.resumed", lang) if report.resumed else "")
    emit(rows, fmt, columns=cols, title=title, headers={c: t(f"sync.col.{c}", lang) for c in cols})
    http = report.http
    note(t("sync.summary.http", lang, requests=http["requests"], retries=http["retries"], waited=http["waited_s"]))
    for w in report.warnings:
        note(w)
    if report.imported is not None:
        _print_report(report.imported, fmt, lang)


@sync_app.command("amocrm")
def amocrm(
    subdomain: str = typer.Option(..., "--subdomain", help="The account: mycompany for mycompany.amocrm.ru, or a full host (mycompany.kommo.com)."),
    token_env: str = typer.Option(..., "--token-env", help="The NAME of the environment variable holding the long-lived token (never the token itself)."),
    mapping: Path = MappingOption,
    base_url: Optional[str] = BaseUrlOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """Pull an amoCRM (Kommo) account through API v4 (within its limit of 7 requests a second) and import it."""
    from dealpulse.sync import sync_amocrm
    from dealpulse.sync.secrets import secret_from_env

    def call(store: Any, **kw: Any) -> Any:
        token = secret_from_env(token_env, kw["lang"], option="--token-env")
        return sync_amocrm(store, subdomain=subdomain, token=token, mapping_path=mapping, base_url=base_url, **kw)

    _run("amocrm", db, fmt, lang, call)


@sync_app.command("bitrix24")
def bitrix24(
    webhook_env: str = typer.Option(..., "--webhook-env", help="The NAME of the environment variable holding the inbound webhook URL (https://portal.bitrix24.ru/rest/1/…/)."),
    mapping: Path = MappingOption,
    base_url: Optional[str] = BaseUrlOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """Pull a Bitrix24 portal through REST (batches of 50, within the request budget) and import it."""
    from dealpulse.sync import sync_bitrix24
    from dealpulse.sync.secrets import secret_from_env

    def call(store: Any, **kw: Any) -> Any:
        webhook = secret_from_env(webhook_env, kw["lang"], option="--webhook-env")
        return sync_bitrix24(store, webhook=webhook, mapping_path=mapping, base_url=base_url, **kw)

    _run("bitrix24", db, fmt, lang, call)
