"""`dealpulse playbook show|check`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer

from dealpulse.cli.app import DbOption, FormatOption, Format, Lang, LangOption, app, emit, guarded, lang_of, note, t
from dealpulse.playbook import default_playbook_text, load_playbook, playbook_for_store
from dealpulse.playbook.durations import format_duration

playbook_app = typer.Typer(help="Show or check a playbook (the digitized deal cycle). / Показать или проверить плейбук.", no_args_is_help=True)
app.add_typer(playbook_app, name="playbook")


@playbook_app.command("check")
def check(path: Path = typer.Argument(..., help="The playbook YAML file to check."),
          lang: Optional[Lang] = LangOption) -> None:
    """Check a playbook file and list every problem with its line."""
    def run() -> None:
        pb = load_playbook(path)
        note(t("playbook.ok", lang_of(lang), path=str(path), stages=len(pb.stages), steps=len(pb.steps)))
    guarded(run)


@playbook_app.command("show")
def show(path: Optional[Path] = typer.Argument(None, help="A playbook file; default: the one saved in the store, else the built-in."),
         db: Optional[str] = DbOption, fmt: Format = FormatOption, lang: Optional[Lang] = LangOption,
         raw: bool = typer.Option(False, "--yaml", help="Print the YAML text (the built-in one is a good start for your own).")) -> None:
    """Show the stages and steps with their deadlines per segment."""
    def run() -> None:
        if raw and path is None and db is None:
            sys.stdout.write(default_playbook_text())
            return
        store = None
        if path is None:
            from dealpulse.store import connect

            target = db or os.environ.get("DEALPULSE_DB") or "dealpulse.duckdb"
            store = connect(target) if Path(target).exists() or "://" in target else None
        pb = playbook_for_store(store, path)
        if raw:
            if path is not None:
                text = Path(path).read_text(encoding="utf-8-sig")
            else:
                text = (store.get_meta("playbook_yaml") if store is not None else None) or default_playbook_text()
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            return
        segs = list(pb.segment_names)
        rows = []
        for s in pb.steps:
            row = {"step": s.name, "stage": s.stage, "from": s.anchor, "within": format_duration(s.within)}
            for seg in segs:
                row[f"within_{seg}"] = format_duration(s.within_for(seg))
            rows.append(row)
        l = lang_of(lang)
        emit(rows, fmt, title=t("playbook.title", l, source=pb.source, stages=" → ".join(pb.stages)),
             document={"source": pb.source, "stages": list(pb.stages), "segments": segs,
                       "client_card": {"fields": list(pb.card_fields), "complete_by": pb.card_complete_by},
                       "stale_after": {"default": format_duration(pb.stale_after),
                                       "by_segment": {k: format_duration(v) for k, v in pb.stale_by_segment.items()}}})
    guarded(run)
