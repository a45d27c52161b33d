"""`score`: every open deal's calibrated chance of winning, expected close and reasons (the cached model)."""

from __future__ import annotations

from dealpulse.app.documents import Result
from dealpulse.app.options import at_least, one_of
from dealpulse.app.session import Moment

SORTS = ("value", "p_win", "amount", "close")


def sort_rows(rows: list[dict], by: str) -> list[dict]:
    if by == "p_win":
        return sorted(rows, key=lambda r: (r["p_win"] is None, r["p_win"] or 0.0))
    if by == "amount":
        return sorted(rows, key=lambda r: -(r["amount"] or 0))
    if by == "close":
        return sorted(rows, key=lambda r: r["expected_close"] or "9999")
    return sorted(rows, key=lambda r: -(r["value_at_risk"] or 0))


def score(m: Moment, *, lang: str = "en", sort: str = "value", limit: int | None = None,
          owner: str | None = None) -> Result:
    """Open deals scored by the moment's model (`m.trained()`), sorted, filtered to `owner` (id or name) and
    cut to `limit`. `data`: the trained model; `warnings`: the model's note (when it is not the boosted one)
    and the notices on chances the data cannot support."""
    from dealpulse.labels import person
    from dealpulse.risk.score import ROW_COLUMNS, describe_model, notices_doc, score as score_deals

    sort = one_of(sort, SORTS, lang, option="sort")
    limit = at_least(limit, 1, lang, option="limit") if limit is not None else None
    tr, rows = score_deals(m.snapshot, lang=lang, trained=m.trained())
    notices = notices_doc(tr, rows, lang)  # chances the data cannot support: why, and what to do (all deals)
    people = m.session.people
    rows = sort_rows(rows, sort)
    if owner:
        rows = [r for r in rows if owner in (r["owner"], people.get(str(r["owner"])))]
    if limit:
        rows = rows[:limit]
    md = describe_model(tr, lang)
    warnings = []
    if tr.model.kind != "boosting" and not md["notice"]:
        warnings.append({"code": "model", "message": md["note"]})
    warnings += [{"code": n.get("code", "notice"), "message": f"{n['text']}\n  {n['suggestion']}"} for n in notices]
    head = {**m.document_head(), "model": md, "lang": lang, "notices": notices}
    rows = [{**r, "manager_name": person(r["owner"], people)} for r in rows]
    cols = list(ROW_COLUMNS)
    cols.insert(cols.index("owner") + 1 if "owner" in cols else len(cols), "manager_name")
    return Result("score", head, rows, columns=cols, warnings=warnings, data=tr)


__all__ = ["score", "sort_rows", "SORTS"]
