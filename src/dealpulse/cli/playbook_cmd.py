"""`dealpulse playbook show|check`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from dealpulse.cli.app import DbOption, FormatOption, Format, Lang, LangOption, app, emit, guarded, lang_of, note, open_store, store_target, t
from dealpulse.playbook import load_playbook, parse_playbook, playbook_text_for_store
from dealpulse.playbook.durations import format_duration

playbook_app = typer.Typer(help="Show or check a playbook (the digitized deal cycle). / Показать или проверить плейбук.", no_args_is_help=True)
app.add_typer(playbook_app, name="playbook")


@playbook_app.command("check")
def check(path: Optional[Path] = typer.Argument(None, help="The playbook YAML file to check; default: the one saved in the store, else the built-in."),
          db: Optional[str] = DbOption, lang: Optional[Lang] = LangOption) -> None:
    """Check a playbook file and list every problem with its line; with a store, also what its data has
    that the playbook does not name (stages) and the steps no task of the data fulfils."""
    def run() -> None:
        l = lang_of(lang)
        store = _existing_store(db, lang=l)
        try:
            text, source = playbook_text_for_store(store, path)
            pb = parse_playbook(text, source)
            note(t("playbook.ok", l, path=str(path or source), stages=len(pb.stages), steps=len(pb.steps)))
            if store is not None:
                for line in _against_data(store, pb, l):
                    note(f"[yellow]![/] {line}")
        finally:
            if store is not None:
                store.close()
    guarded(run)


def _existing_store(db: Optional[str], *, lang: str) -> Any:
    """The store at --db (or DEALPULSE_DB, or ./dealpulse.duckdb) if there is one; --db given and missing is an error."""
    target = store_target(db, lang=lang)
    if "://" in target or Path(target).exists():
        return open_store(target, lang=lang)
    if db:
        return open_store(db, lang=lang)  # raises NoData naming the path
    return None


def _against_data(store: Any, pb: Any, lang: str) -> list[str]:
    """Stages the store's deals went through that the playbook lacks; step task types no task has."""
    from dealpulse.playbook.model import TERMINAL_STAGES

    seen_stages = [r[0] for r in store.query("SELECT DISTINCT stage FROM stage_history ORDER BY 1") if r[0] is not None]
    seen_types = {r[0] for r in store.query("SELECT DISTINCT type FROM tasks") if r[0] is not None}
    lines = []
    unknown = [s for s in seen_stages if s not in pb.stages and s not in TERMINAL_STAGES]
    if unknown:
        lines.append(t("playbook.check.unknown_stages", lang, db=store.url, n=len(unknown), stages=", ".join(unknown[:12])))
    unused = [s.name for s in pb.steps if s.task_type not in seen_types]
    if unused and seen_types:
        lines.append(t("playbook.check.no_tasks", lang, db=store.url, steps=", ".join(unused)))
    return lines


@playbook_app.command("show")
def show(path: Optional[Path] = typer.Argument(None, help="A playbook file; default: the one saved in the store, else the built-in."),
         db: Optional[str] = DbOption, fmt: Format = FormatOption, lang: Optional[Lang] = LangOption,
         raw: bool = typer.Option(False, "--yaml", help="Print the YAML text (the built-in one is a good start for your own).")) -> None:
    """Show the stages and steps with their deadlines per segment."""
    def run() -> None:
        store = None
        if path is None:
            store = _existing_store(db, lang=lang_of(lang))
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
        if fmt == Format.table:  # what a person reads: labels, durations in words, the columns named
            from dealpulse.labels import label, playbook_source_text
            from dealpulse.report import fmt as nf

            shown = [{"step": label(s.name, l, pb), "stage": label(s.stage, l, pb), "from": label(s.anchor, l, pb),
                      "within": nf.duration(s.within, l),
                      **{f"within_{seg}": nf.duration(s.within_for(seg), l) for seg in segs}} for s in pb.steps]
            heads = {c: t(f"playbook.col.{c}", l) for c in ("step", "stage", "from", "within")}
            heads.update({f"within_{seg}": t("playbook.col.within_segment", l, segment=seg) for seg in segs})
            emit(shown, fmt, title=t("playbook.title", l, source=playbook_source_text(pb.source, l, "playbook.builtin"),
                                     stages=" → ".join(label(x, l, pb) for x in pb.stages)),
                 columns=list(heads), headers=heads)
            if pb.lost_after:
                note(t("playbook.lost_after", l, after=nf.duration(pb.lost_after, l)))
            return
        emit(rows, fmt, title=t("playbook.title", l, source=pb.source, stages=" → ".join(pb.stages)),
             document={"source": pb.source, "stages": list(pb.stages), "segments": segs,
                       "client_card": {"fields": list(pb.card_fields), "complete_by": pb.card_complete_by},
                       "stale_after": {"default": format_duration(pb.stale_after),
                                       "by_segment": {k: format_duration(v) for k, v in pb.stale_by_segment.items()}},
                       "lost_after": format_duration(pb.lost_after) if pb.lost_after else None})
    guarded(run)
