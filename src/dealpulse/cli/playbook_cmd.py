"""`dealpulse playbook show|check`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from dealpulse.cli.app import DbOption, FormatOption, Format, Lang, LangOption, app, emit, guarded, lang_of, note, open_store, t
from dealpulse.playbook import load_playbook, parse_playbook, playbook_text_for_store
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
        store = None
        if path is None:
            from dealpulse.store import default_db_url

            target = db or default_db_url()
            if "://" in target or Path(target).exists():
                store = open_store(target)
        try:
            text, source = playbook_text_for_store(store, path)
        finally:
            if store is not None:
                store.close()
        if raw:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            return
        pb = parse_playbook(text, source)
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
