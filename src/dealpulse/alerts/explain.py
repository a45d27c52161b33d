"""From tested subjects to alerts: the change date, the severity, the evidence and a message (ru/en)."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from dealpulse.alerts.changepoint import estimate
from dealpulse.alerts.detect import Candidate, Settings, firing, severity, test_all
from dealpulse.alerts.facts import Facts, extract
from dealpulse.i18n import t
from dealpulse.metrics.asof import Snapshot

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def _plain(value: Any) -> Any:
    """JSON-able: datetimes as ISO text, no NaN or infinity, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return None if not math.isfinite(value) else float(f"{value:.6g}")
    return value


def _pct(x: float | None, lang: str = "en") -> str:
    from dealpulse.report import fmt

    return "—" if x is None else fmt.number(100 * x, lang, 0)


def _num(x: float | None, lang: str = "en") -> str:
    if x is None or not math.isfinite(x):
        return "—"
    from dealpulse.report import fmt

    return fmt.number(x, lang, 1 if abs(x) < 10 else 0)


def _days_text(value: float | None, floor: float, lang: str) -> str:
    """A median in days, or "more than N" when the curve has not reached one half yet."""
    if value is not None:
        return _num(value, lang)
    return t("alerts.more_than", lang, days=_num(floor, lang))


def subject_words(subject: dict[str, Any], lang: str, people: dict[str, str] | None = None,
                  playbook: Any = None) -> dict[str, Any]:
    """The subject as a person reads it: a manager's name, a step's or stage's label."""
    from dealpulse.labels import label, person

    return {k: person(v, people) if k in ("manager", "owner") else label(v, lang, playbook) if k in ("step", "stage")
            else v for k, v in subject.items()}


def _q(q: float, lang: str) -> str:
    from babel.numbers import format_decimal

    return format_decimal(float(f"{q:.2g}"), format="0.####", locale=lang)


def message(c: Candidate, since: date | None, lang: str, people: dict[str, str] | None = None,
            playbook: Any = None) -> str:
    ev = c.evidence
    subj = subject_words(c.subject, lang, people, playbook)
    params: dict[str, Any] = {
        "since": since.isoformat() if since else "—",
        "recent_from": ev["recent_from"].date().isoformat(),
        "recent_n": ev.get("recent_n"), "baseline_n": ev.get("baseline_n"),
        "q": _q(ev['q_value'], lang) if ev.get("q_value") is not None else "—",
        **subj,
    }
    if ev["unit"] == "share":
        params.update(recent=_pct(ev["recent_value"], lang), baseline=_pct(ev["baseline_value"], lang),
                      recent_k=ev["recent_k"], baseline_k=ev["baseline_k"])
    elif ev["unit"] == "days":
        floor = ev.get("recent_followup_days") or 0.0
        params.update(recent=_days_text(ev["recent_value"], floor, lang),
                      baseline=_days_text(ev["baseline_value"], 0.0, lang),
                      slowdown=_num(c.effect, lang) if math.isfinite(c.effect) else "∞")
    else:
        params.update(recent=_num(ev["recent_value"], lang), baseline=_num(ev["baseline_value"], lang),
                      recent_share=_pct(ev["recent_share"], lang), baseline_share=_pct(ev["baseline_share"], lang))
    return t(f"alerts.msg.{c.kind}", lang, **params)


def alert_row(c: Candidate, settings: Settings, lang: str, since_at: datetime | None = None,
              people: dict[str, str] | None = None, playbook: Any = None) -> dict[str, Any]:
    """The alert of a candidate: kind, subject, since (the change date: `since_at`, else estimated from
    the candidate's cases), severity, evidence, message. Not yet JSON-plain (`_plain`)."""
    if since_at is None:
        since_at = estimate(c.series)
    since = since_at.date() if since_at else None
    if c.evidence["unit"] == "days":
        # how long the recent cases have been followed at most (the "more than" of a median not reached)
        c.evidence["recent_followup_days"] = _recent_followup(c)
    ev = dict(c.evidence)
    ev["since_at"] = since_at
    return {
        "kind": c.kind,
        "subject": dict(c.subject),
        "since": since,
        "severity": severity(c, settings),
        "evidence": ev,
        "message": message(c, since, lang, people, playbook),
    }


def _alert(c: Candidate, settings: Settings, lang: str) -> dict[str, Any]:
    return alert_row(c, settings, lang)


def _recent_followup(c: Candidate) -> float:
    import numpy as np

    if not c.series:
        return 0.0
    _, times, durations, _observed = c.series
    recent_from = np.datetime64(c.evidence["recent_from"], "us")
    mask = times > recent_from
    return float(np.max(durations[mask])) if mask.any() else 0.0


def evaluate(facts: Facts, *, lang: str = "en", settings: Settings | None = None) -> tuple[list[dict[str, Any]], int]:
    """(the alerts at `facts.as_of`, most severe first; how many subject tests were run)."""
    s = settings or Settings()
    tested = test_all(facts, s)
    alerts = [_alert(c, s, lang) for c in firing(tested, s)]
    alerts.sort(key=lambda a: (SEVERITY_ORDER[a["severity"]], a["evidence"]["q_value"], a["kind"],
                               sorted(a["subject"].items())))
    return [_plain(a) for a in alerts], len(tested)


def alerts_from_facts(facts: Facts, *, lang: str = "en", settings: Settings | None = None) -> list[dict[str, Any]]:
    """The alerts at `facts.as_of`, most severe first (see `detect` for how they decide)."""
    return evaluate(facts, lang=lang, settings=settings)[0]


def compute_alerts(snap: Snapshot, *, lang: str = "en", settings: Settings | None = None) -> list[dict[str, Any]]:
    """The alerts as of `snap.as_of`: every subject's recent window against its own baseline, weighted
    Benjamini–Hochberg over everything tested, a minimum effect; each alert is
    {"kind", "subject", "since", "severity", "evidence", "message"} (JSON-able)."""
    return alerts_from_facts(extract(snap), lang=lang, settings=settings)


__all__ = ["compute_alerts", "alerts_from_facts", "evaluate", "message", "alert_row"]
