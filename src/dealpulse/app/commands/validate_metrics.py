"""`validate-metrics`: which leading metrics predict the outcome in this company's data, ranked."""

from __future__ import annotations

from dealpulse.app.documents import Result
from dealpulse.app.session import Moment, moment_doc


def validate_metrics(m: Moment, *, lang: str = "en", seed: int = 0) -> Result:
    """The leading metrics ranked at the moment. `data`: the dealpulse.leading document (with `rows`)."""
    from dealpulse.i18n import t
    from dealpulse.leading import ROW_COLUMNS, validate_metrics as validate
    from dealpulse.leading.manager_month import LAG_FROM, LAG_TO

    doc = validate(m.snapshot, lang=lang, seed=int(seed))
    warnings = []
    if not doc["closed_deals"]:
        warnings.append({"code": "no_closed", "message": t("leading.warn.no_closed", lang)})
    if not doc["manager_months_horizon"]:
        warnings.append({"code": "no_months", "message": t("leading.warn.no_months", lang, lag_from=LAG_FROM, lag_to=LAG_TO)})
    head = {k: v for k, v in doc.items() if k != "rows"}
    head.update(lang=lang, warnings=warnings, as_of=moment_doc(doc["as_of"], m.tz), zone=str(m.tz))
    return Result("validate-metrics", head, doc["rows"], columns=list(ROW_COLUMNS), warnings=warnings, data=doc)


__all__ = ["validate_metrics"]
