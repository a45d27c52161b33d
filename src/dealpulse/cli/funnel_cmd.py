"""`dealpulse funnel`: entered, advanced, lost and still-in per stage; conversions and dwell times
with open deals right-censored (Kaplan–Meier, Aalen–Johansen), next to the naive shares."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from dealpulse.cli.app import (open_moment, err, AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit,
                               emit_result, guarded, lang_of, show_time, t, warn_all)


class By(str, Enum):
    segment = "segment"
    channel = "channel"
    manager = "manager"
    cohort = "cohort"


PlaybookOption = typer.Option(None, "--playbook", help="Playbook YAML (default: the one saved in the store at import, else the built-in).")
TABLE_COLUMNS = ("stage", "entered", "advanced", "lost", "in_stage", "conv_next", "conv_won", "dwell_median_days",
                 "dwell_p80_days")


def _pct(x: Any, lang: str = "en") -> str | None:
    from dealpulse.report import fmt

    return None if x is None else fmt.pct(x, lang)


def _days(x: Any, lang: str = "en") -> str | None:
    from dealpulse.report import fmt

    return None if x is None else fmt.number(x, lang, 1 if x < 10 else 0)


def table_rows(rows: list[dict], by: str | None, lang: str, people: dict | None = None, playbook: Any = None) -> list[dict]:
    from dealpulse.labels import label, person
    from dealpulse.metrics.funnel import UNDECIDED_MARK

    out = []
    for r in rows:
        d: dict[str, Any] = {}
        if by:
            d[by] = (person(r[by], people) if by == "manager" else r[by]) if r[by] is not None else t("funnel.none", lang)
        d.update(stage=label(r["stage"], lang, playbook), entered=f"{r['entered']}*" if r["few_deals"] else r["entered"],
                 advanced=r["advanced"], lost=r["lost"], in_stage=r["in_stage"])
        for c, undecided in (("conv_next", "undecided_next"), ("conv_won", "undecided_won")):
            # the censoring-aware estimate ("≥" when it is a lower bound), the naive share in brackets
            if r[c] is not None:
                bound = "≥" if (r[undecided] or 0) > UNDECIDED_MARK else ""
                d[c] = f"{bound}{_pct(r[c], lang)} ({_pct(r[c + '_naive'], lang)})"
            else:
                d[c] = None
        for c in ("dwell_median_days", "dwell_p80_days"):
            d[c] = _days(r[c], lang)
        out.append(d)
    return out


@app.command("funnel")
def funnel(
    by: Optional[By] = typer.Option(None, "--by", help="Split by segment, channel, manager (the deal's owner) or cohort (month created)."),
    as_of: Optional[str] = AsOfOption,
    since: Optional[str] = typer.Option(None, "--since", help="Only deals created at or after this date (a cohort funnel)."),
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    min_deals: int = typer.Option(20, "--min-deals", min=1, help="Mark figures resting on fewer deals than this."),
) -> None:
    """Funnel per stage: entered, advanced, lost, still in it; conversions and dwell (open deals censored)."""

    def run() -> None:
        from dealpulse.app.commands.funnel import funnel as compute
        from dealpulse.metrics.funnel import UNDECIDED_MARK

        l = lang_of(lang)
        with open_moment(db, playbook, as_of, l) as m:
            with err.status(t("common.computing", l, what=t("common.what.funnel", l))):
                result = compute(m, lang=l, by=by.value if by else None, since=since, min_deals=min_deals)
            tz, people, pb = m.tz, m.session.people, m.playbook
        res = result.data
        warn_all(result)
        if fmt != Format.table:
            emit_result(result, fmt)
            return
        as_of_text = show_time(res.as_of, tz, l)
        title = t("funnel.title.by", l, by=t(f"funnel.col.{res.by}", l), as_of=as_of_text) if res.by else t("funnel.title", l, as_of=as_of_text)
        if res.since is not None:
            title += " · " + t("funnel.title.since", l, since=res.since.date().isoformat())
        cols = ([res.by] if res.by else []) + list(TABLE_COLUMNS)
        caption = t("funnel.warn.snapshot", l, deals=res.n_deals) if res.is_snapshot else result.head["method_note"]
        if any(r["few_deals"] for r in res.rows):
            caption += "\n" + t("funnel.few_mark", l, min=res.min_deals)
        if any((r[u] or 0) > UNDECIDED_MARK for r in res.rows for u in ("undecided_next", "undecided_won")):
            caption += "\n" + t("funnel.bound_mark", l, share=round(100 * UNDECIDED_MARK))
        emit(table_rows(res.rows, res.by, l, people, pb), fmt, title=title, columns=cols,
             headers={c: t(f"funnel.col.{c}", l) for c in cols}, caption=caption)

    guarded(run)
