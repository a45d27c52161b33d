"""`alerts`: subjects that got significantly worse than their own baseline, replayed week by week."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Callable

from dealpulse.app.documents import Result
from dealpulse.app.session import Moment, moment_doc

CSV_COLUMNS = ("kind", "subject", "status", "opened", "resolved", "since", "severity", "message", "recent_value", "baseline_value", "recent_n",
               "baseline_n", "effect", "p_value", "q_value", "recent_from", "recent_to", "baseline_from", "baseline_to")


def alerts(m: Moment, *, lang: str = "en", all: bool = False,  # noqa: A002 - the CLI's --all
           progress: Callable[[int, int], Any] | None = None) -> Result:
    """The alerts open at the moment (with `all`, also those resolved in the last 12 weeks); rows carry
    `manager_name` beside a manager subject. `progress(done, total)`: the replay's steps. `data`:
    {tracker, dates, settings}."""
    from dealpulse.alerts.detect import Settings
    from dealpulse.alerts.facts import extract
    from dealpulse.alerts.lifecycle import HISTORY, WEEKLY, grid, rows as lifecycle_rows, track
    from dealpulse.i18n import t

    def replay() -> tuple[Any, list, Any]:
        settings = Settings()
        facts = extract(m.snapshot)
        return track(facts, settings=settings, progress=progress), grid(facts, HISTORY, settings), settings

    tracker, dates, settings = m.memo(("alerts", "replay"), replay)  # once per moment, whatever the language
    people = m.session.people
    after = m.as_of - timedelta(weeks=12) if all else None
    rows = lifecycle_rows(tracker, lang=lang, include_resolved_after=after, people=people, playbook=m.playbook)
    for r in rows:  # the id stays in the subject, the name beside it
        if "manager" in r["subject"]:
            r["manager_name"] = people.get(str(r["subject"]["manager"]), r["subject"]["manager"])
    tested = tracker.tested  # the subject tests of the last replay date, as_of itself
    method = t("alerts.method", lang, recent=settings.recent.days // 7, cohort=settings.recent_cohort.days // 7,
               baseline=settings.baseline.days // 7, tested=tested, fdr=100 * settings.fdr)
    head = {"as_of": moment_doc(m.as_of, m.tz), "zone": str(m.tz), "lang": lang, "tested": tested,
            "method": method, "lifecycle": t("alerts.lifecycle", lang, weeks=WEEKLY.days // 7, dates=len(dates)),
            "includes_resolved": bool(all),
            "replay": {"dates": len(dates), "first": dates[0], "last": dates[-1]},
            "settings": {"recent_days": settings.recent.days, "recent_cohort_days": settings.recent_cohort.days,
                         "baseline_days": settings.baseline.days, "fdr": settings.fdr}}
    flat = [{**{k: r[k] for k in ("kind", "status", "opened", "resolved", "since", "severity", "message")},
             "subject": r["subject"],
             **{k: r["evidence"].get(k) for k in CSV_COLUMNS if k in r["evidence"]}} for r in rows]
    return Result("alerts", head, rows, columns=list(CSV_COLUMNS), csv_rows=flat,
                  data={"tracker": tracker, "dates": dates, "settings": settings})


__all__ = ["alerts", "CSV_COLUMNS"]
