"""`dealpulse alerts`: which manager, stage or channel got significantly worse than its own baseline,
since when, by how much — with false-discovery control over everything tested (docs/alerts.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from dealpulse.cli.app import (AsOfOption, DbOption, Format, FormatOption, Lang, LangOption, app, emit, err, guarded,
                               lang_of, note, open_store, t)
from dealpulse.cli.funnel_cmd import PlaybookOption

CSV_COLUMNS = ("kind", "subject", "since", "severity", "message", "recent_value", "baseline_value", "recent_n",
               "baseline_n", "effect", "p_value", "q_value", "recent_from", "recent_to", "baseline_from", "baseline_to")


def _subject_text(subject: dict[str, Any]) -> str:
    return " · ".join(f"{v}" for v in subject.values())


@app.command("alerts")
def alerts(
    as_of: Optional[str] = AsOfOption,
    playbook: Optional[Path] = PlaybookOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
) -> None:
    """Drift alarms: a manager's steps, a stage's conversion or dwell in a segment, a channel's inflow or quality got worse."""

    def run() -> None:
        from dealpulse.alerts.detect import Settings
        from dealpulse.alerts.explain import evaluate
        from dealpulse.alerts.facts import extract
        from dealpulse.metrics.asof import snapshot
        from dealpulse.playbook import playbook_for_store

        l = lang_of(lang)
        settings = Settings()
        store = open_store(db, lang=l)
        try:
            pb = playbook_for_store(store, playbook)
            snap = snapshot(store, as_of, pb)
            try:
                with err.status(t("common.computing", l, what=t("alerts.what", l))):
                    rows, tested = evaluate(extract(snap), lang=l, settings=settings)
            finally:
                snap.release()
        finally:
            store.close()
        as_of_text = snap.as_of.isoformat(sep=" ", timespec="minutes")
        method = t("alerts.method", l, recent=settings.recent.days // 7, cohort=settings.recent_cohort.days // 7,
                   baseline=settings.baseline.days // 7, tested=tested, fdr=f"{100 * settings.fdr:g}")
        if fmt == Format.json:
            doc = {"as_of": snap.as_of, "lang": l, "tested": tested, "method": method,
                   "settings": {"recent_days": settings.recent.days, "recent_cohort_days": settings.recent_cohort.days,
                                "baseline_days": settings.baseline.days, "fdr": settings.fdr}}
            emit(rows, fmt, document=doc)
            return
        if fmt == Format.csv:
            flat = [{**{k: r[k] for k in ("kind", "since", "severity", "message")}, "subject": r["subject"],
                     **{k: r["evidence"].get(k) for k in CSV_COLUMNS if k in r["evidence"]}} for r in rows]
            emit(flat, fmt, columns=CSV_COLUMNS)
            return
        if not rows:
            note(t("alerts.none", l, as_of=as_of_text, tested=tested))
            return
        table = [{"severity": t(f"alerts.severity.{r['severity']}", l), "kind": t(f"alerts.kind.{r['kind']}", l),
                  "subject": _subject_text(r["subject"]), "since": r["since"], "message": r["message"],
                  "q": f"{r['evidence']['q_value']:.1g}" if r["evidence"]["q_value"] >= 0.001 else "<0.001"} for r in rows]
        cols = ["severity", "kind", "subject", "since", "message", "q"]
        emit(table, fmt, title=t("alerts.title", l, as_of=as_of_text, count=len(rows)), columns=cols,
             headers={c: t(f"alerts.col.{c}", l) for c in cols}, caption=method)

    guarded(run)


__all__ = ["alerts"]
