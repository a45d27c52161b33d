"""`changes`: what changed since S - the pipeline waterfall, the deals whose chance moved most and why, the
deals that slipped and the alerts opened and resolved (on the moment's cached model)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dealpulse.app.documents import Result
from dealpulse.app.options import OptionError, at_least
from dealpulse.app.session import Moment, moment_doc

WATERFALL_COLUMNS = ("bucket", "label", "deals", "count", "amount")
MOVER_KEYS = ("deal_id", "title", "owner", "owner_name", "stage", "stage_label", "stage_before", "segment", "amount",
              "p_before", "p_after", "delta", "state_before", "state_after", "days_since_touch",
              "reasons_added", "reasons_removed", "reason_codes", "facts")


def start_of(since: Any, m: Moment, lang: str = "en", *, option: str = "since"):
    """The start S (naive UTC): a span before the moment (`7d`, `2w`) or a date in the export's zone."""
    from dealpulse.changes import parse_since
    from dealpulse.errors import InputError

    try:
        return parse_since(since, m.as_of, m.tz, lang)
    except InputError:
        try:
            parse_since(since, m.as_of + timedelta(days=36500), m.tz, lang)
        except InputError:
            raise OptionError("bad_since", option, lang, got=since) from None
        raise OptionError("since_after", option, lang, got=since) from None


def subject_text(subject: Any, people: dict[str, str]) -> str:
    if not isinstance(subject, dict):
        return str(subject)
    return " · ".join(people.get(str(v), str(v)) if k in ("manager", "owner") else str(v) for k, v in subject.items())


def mover_doc(r: dict, people: dict[str, str], lang: str) -> dict:
    from dealpulse.labels import label

    doc = {k: r.get(k) for k in MOVER_KEYS}
    doc["owner_name"] = people.get(str(r.get("owner")), r.get("owner"))
    doc["stage_label"] = label(r.get("stage"), lang)
    for k in ("reasons_added", "reasons_removed", "facts"):
        doc[k] = [{kk: vv for kk, vv in item.items() if kk != "texts"} for item in r.get(k) or []]
    return doc


def changes(m: Moment, *, lang: str = "en", since: Any = "7d", limit: int = 10) -> Result:
    """The changes in (S, as_of]. `data`: {res (dealpulse.changes.compute_changes), movers (as documented),
    trained}; `warnings`: the model's note when it is not the boosted one, several currencies."""
    from dealpulse.changes import compute_changes
    from dealpulse.i18n import t
    from dealpulse.risk.score import describe_model

    limit = at_least(limit, 1, lang, option="limit")
    start = start_of(since, m, lang)
    trained = m.trained()
    res = compute_changes(m.snapshot, start, lang=lang, limit=limit, trained=trained)
    people = m.session.people
    md = describe_model(trained, lang)
    warnings = []
    if trained.model.kind != "boosting":
        warnings.append({"code": "model", "message": md["note"]})
    if len(res["currencies"]) > 1:
        warnings.append({"code": "currencies", "message": t("changes.currencies", lang, currencies=", ".join(res["currencies"]))})
    movers = {k: [mover_doc(r, people, lang) for r in res["movers"][k]] for k in ("up", "down", "slipped")}
    tz = m.tz
    head = {
        "as_of": moment_doc(res["as_of"], tz), "start": moment_doc(res["start"], tz), "zone": str(tz), "lang": lang,
        "playbook": m.session.playbook_source, "currency": res["currency"], "currencies": res["currencies"],
        "waterfall": res["waterfall"], "reconciles": res["reconciles"], "bucket_rule": res["bucket_rule"],
        "no_amount": res["no_amount"],
        "movers": {**movers, "live": res["movers"]["live"], "slipped_total": res["movers"]["slipped_total"]},
        "alerts": {k: [{**a, "subject_text": subject_text(a.get("subject"), people)} for a in v]
                   for k, v in res["alerts"].items()},
        "deals": res["deals"], "method": res["method"], "model": md,
    }
    return Result("changes", head, res["waterfall"], columns=list(WATERFALL_COLUMNS), warnings=warnings,
                  data={"res": res, "movers": movers, "trained": trained})


__all__ = ["changes", "start_of", "mover_doc", "subject_text", "WATERFALL_COLUMNS", "MOVER_KEYS"]
