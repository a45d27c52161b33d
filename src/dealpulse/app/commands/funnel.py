"""`funnel`: entered, advanced, lost and still-in per stage; censoring-aware conversions and dwell."""

from __future__ import annotations

from typing import Any

from dealpulse.app.documents import Result
from dealpulse.app.options import at_least, one_of
from dealpulse.app.session import Moment, moment_doc

BY = ("segment", "channel", "manager", "cohort")


def funnel(m: Moment, *, lang: str = "en", by: str | None = None, since: Any = None, min_deals: int = 20) -> Result:
    """The funnel at the moment (optionally per `by`, only deals created since `since`). `data`: the
    metrics.funnel result; `warnings`: [{code, message}]."""
    from dealpulse.i18n import t
    from dealpulse.labels import person
    from dealpulse.metrics.funnel import ROW_FIELDS, compute_funnel

    by = one_of(by, BY, lang, option="by") if by else None
    min_deals = at_least(min_deals, 1, lang, option="min_deals")
    res = compute_funnel(m.snapshot, by=by, since=since, min_deals=min_deals)
    warnings = [{"code": n.code, "message": t(f"funnel.warn.{n.code}", lang, **n.params)} for n in res.notices]
    head = res.document()
    head.update(method_note=t("funnel.method", lang), lang=lang, warnings=warnings, as_of=moment_doc(res.as_of, m.tz),
                zone=str(m.tz))
    cols = ([res.by] if res.by else []) + list(ROW_FIELDS)
    if res.by == "manager":  # the id stays under "manager", the name beside it
        cols.insert(1, "manager_name")
    people = m.session.people
    rows = [{**{c: r.get(c) for c in cols},
             **({"manager_name": person(r.get("manager"), people)} if res.by == "manager" else {})} for r in res.rows]
    return Result("funnel", head, rows, columns=cols, warnings=warnings, data=res)


__all__ = ["funnel", "BY"]
