"""`optimism`: per manager, how honest the pipeline is against the team, ranked, with a verdict and reasons."""

from __future__ import annotations

from dealpulse.app.documents import Result
from dealpulse.app.options import at_least
from dealpulse.app.session import Moment, moment_doc


def _n(x: float | None, lang: str, digits: int = 1) -> str:
    from dealpulse.report import fmt

    return "—" if x is None else ("+" if x >= 0 else "") + fmt.number(x, lang, digits)


def message(r: dict, lang: str) -> str:
    """The verdict in one sentence with the main reason."""
    from dealpulse.i18n import t

    reason = r["reasons"][0] if r["reasons"] else t("optimism.reason.close_to_team", lang)
    return t(f"optimism.verdict.{r['verdict']}", lang, manager=r.get("manager_name") or r["manager"],
             optimism=_n(r["optimism"], lang), low=_n(r["optimism_low"], lang), high=_n(r["optimism_high"], lang),
             reason=reason)


def optimism(m: Moment, *, lang: str = "en", min_deals: int = 5) -> Result:
    """Ranked managers on the moment's model (`m.trained()`); rows carry `manager_name` and `message`.
    `data`: the trained model."""
    from dealpulse.i18n import t
    from dealpulse.labels import person
    from dealpulse.risk.honesty import WINDOW
    from dealpulse.risk.optimism import NULL_SD, OVERSTATES, ROW_COLUMNS, optimism as rank
    from dealpulse.report import fmt
    from dealpulse.risk.score import describe_model

    min_deals = at_least(min_deals, 1, lang, option="min_deals")
    tr = m.trained()
    rows = rank(tr, min_deals=min_deals, lang=lang)
    people = m.session.people
    for r in rows:
        r["manager_name"] = person(r["manager"], people)  # the id stays under "manager"
        r["message"] = message(r, lang)
    threshold = rows[0]["optimism_threshold"] if rows else OVERSTATES * NULL_SD
    method = t("optimism.method", lang, weeks=round(WINDOW.days / 7), threshold=fmt.number(threshold, lang, 2))
    head = {"as_of": moment_doc(m.as_of, m.tz), "zone": str(m.tz), "method": method,
            "model": describe_model(tr, lang), "lang": lang}
    return Result("optimism", head, rows, columns=[ROW_COLUMNS[0], "manager_name", *ROW_COLUMNS[1:], "message"], data=tr)


__all__ = ["optimism", "message"]
