"""`norms`: step and stage durations in won versus lost deals, suggested deadlines, the biggest differences."""

from __future__ import annotations

from dealpulse.app.documents import Result
from dealpulse.app.options import at_least
from dealpulse.app.session import Moment, moment_doc

JSON_COLUMNS = ("kind", "name", "step", "stage", "segment", "anchor", "won_n", "won_median", "won_ci_low", "won_ci_high",
                "won_p75", "lost_n", "lost_median", "lost_ci_low", "lost_ci_high", "lost_p75", "current_days",
                "suggested_days", "suggested", "median_diff_days", "cliffs_delta", "p_value", "q_value", "rank")


def norms(m: Moment, *, lang: str = "en", min_deals: int = 20, seed: int = 0) -> Result:
    """Norms learned from the history known at the moment. `data`: the playbook.norms result (its
    `playbook_with_norms` writes the playbook with the learned deadlines)."""
    from dealpulse.i18n import t
    from dealpulse.playbook.norms import learn_norms

    min_deals = at_least(min_deals, 1, lang, option="min_deals")
    res = learn_norms(m.snapshot, min_deals=min_deals, random_state=int(seed))
    warnings = [{"code": n.code, "message": t(f"norms.warn.{n.code}", lang, **n.params)} for n in res.notices]
    head = res.document()
    head.update(method_note=t("norms.method", lang, confidence=round(100 * res.confidence), min=res.min_deals),
                difference_note=t("norms.method.diff", lang), lang=lang, warnings=warnings,
                as_of=moment_doc(res.as_of, m.tz), zone=str(m.tz),
                differences=[{c: r[c] for c in ("rank", "kind", "name", "segment", "median_diff_days", "cliffs_delta",
                                                 "p_value", "q_value")} for r in res.differences()])
    rows = [{c: r.get(c) for c in JSON_COLUMNS} for r in res.rows]
    return Result("norms", head, rows, columns=list(JSON_COLUMNS), warnings=warnings, data=res)


__all__ = ["norms", "JSON_COLUMNS"]
