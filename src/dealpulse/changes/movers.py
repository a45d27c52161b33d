"""The live deals whose chance of winning moved most between S and T, and the facts that moved it.

ONE model, trained as of T (on deals closed by T), scores every deal open at both moments twice: on its
features as of S and as of T. The features at S are computed from the history as known at S
(`load_history(snap.at(S))`: stage entries, tasks, field values, other deals' closes by S), so nothing
after S reaches them; the model's reference norms (won deals' dwell, step durations) are the model's own
and the same for both. The change therefore reflects what happened to the deal, not a retrained model.

The facts that moved it: the reasons (`risk.reasons`, against and in favour) present at T but not at S
(`reasons_added`) and at S but not at T (`reasons_removed`), and the families whose push on the
log-odds changed most (`facts`). Also the deals that slipped: alive at S, stale or dead at T (or stale
at S, dead at T) — `risk.state`.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Sequence

import polars as pl

from dealpulse.i18n import t
from dealpulse.risk.features import features
from dealpulse.risk.reasons import MIN_PUSH, Explainer, family
from dealpulse.risk.state import state_of

LIMIT = 10
MIN_DELTA = 0.01  # a p_win change smaller than this is not a move
FACTS = 3
_RANK = {"alive": 0, "stale": 1, "dead": 2}


def family_label(code: str, lang: str) -> str:
    """A family of features in words: "days without a touch", "step proposal sent"."""
    if code.startswith("step:"):
        from dealpulse.labels import label

        return t("changes.family.step", lang, step=label(code[5:], lang))
    text = t(f"changes.family.{code}", lang)
    return code.replace("_", " ") if text == f"changes.family.{code}" else text


def _pairs(ids: list[str], at: datetime) -> pl.DataFrame:
    return pl.DataFrame({"deal_id": ids, "t": [at] * len(ids)},
                        schema={"deal_id": pl.Utf8, "t": pl.Datetime("us")})


def _scored(trained: Any, x: pl.DataFrame) -> dict[str, dict]:
    """deal_id -> p_win, family pushes, state and the features row, for every row of `x`."""
    if x.height == 0:
        return {}
    X = trained.frame(x)
    p = trained.model.predict(X)
    pushes = trained.model.contributions(X)
    families = [family(str(c)) for c in pushes.columns]
    fam = pushes.T.groupby(families).sum().T  # one column per family
    pb = trained.history.playbook
    out = {}
    for i, r in enumerate(x.iter_rows(named=True)):
        out[r["deal_id"]] = {"p_win": float(p[i]), "pushes": pushes.iloc[i], "families": fam.iloc[i].to_dict(),
                             "state": state_of(r, trained.ref, pb), "row": r}
    return out


def _reasons(trained: Any, scored: dict, langs: Sequence[str]) -> dict[tuple[str, str], dict]:
    """Every reason of one scored deal (not only the top 3), keyed by (side, code), texts in each language."""
    reasons: dict[tuple[str, str], dict] = {}
    for lang in langs:
        against, favour = Explainer(trained, lang).explain(scored["row"], scored["pushes"], top=len(scored["families"]) + 1)
        for side, items in (("against", against), ("favour", favour)):
            for item in items:
                entry = reasons.setdefault((side, item["code"]), {"code": item["code"], "side": side,
                                                                  "impact": item["impact"], "texts": {}})
                entry["texts"][lang] = item["text"]
    return reasons


def _reason_rows(items: list[dict], langs: Sequence[str]) -> list[dict]:
    items = sorted(items, key=lambda it: -abs(it["impact"]))
    return [{"code": it["code"], "side": it["side"], "impact": it["impact"], "text": it["texts"].get(langs[0]),
             "texts": it["texts"]} for it in items]


def _signed(x: float, lang: str) -> str:
    from dealpulse.report import fmt

    return ("+" if x >= 0 else "") + fmt.number(x, lang, 2)


def _facts(before: dict[str, float], after: dict[str, float], langs: Sequence[str]) -> list[dict]:
    """The families whose push changed most (at least MIN_PUSH), in words."""
    rows = []
    for code in set(before) | set(after):
        b, a = before.get(code, 0.0), after.get(code, 0.0)
        if abs(a - b) < MIN_PUSH:
            continue
        texts = {lang: t("changes.fact.up" if a > b else "changes.fact.down", lang, family=family_label(code, lang),
                         before=_signed(b, lang), after=_signed(a, lang)) for lang in langs}
        rows.append({"code": code, "before": round(b, 3), "after": round(a, 3), "delta": round(a - b, 3),
                     "text": texts[langs[0]], "texts": texts})
    rows.sort(key=lambda r: (-abs(r["delta"]), r["code"]))
    return rows[:FACTS]


def movers_from(trained: Any, history_start: Any, *, langs: Sequence[str] = ("en",), limit: int = LIMIT) -> dict:
    """Score the deals open at both the history's moment S and the model's moment T with the one model.

    `trained`: `risk.train` result as of T; `history_start`: `load_history` as of S (no store access here).
    Returns {"up": [...], "down": [...], "slipped": [...], "slipped_total": n, "live": n,
    "scored": [every live deal: p_before, p_after, delta, states — the reasons and facts only on the listed ones]}.
    """
    langs = tuple(langs) or ("en",)
    h_t, h_s = trained.history, history_start
    if h_s.as_of >= h_t.as_of:
        raise ValueError(f"the start {h_s.as_of} must be before the model's moment {h_t.as_of}")
    live = sorted(set(h_t.open["deal_id"].to_list()) & set(h_s.open["deal_id"].to_list()))
    x_t = features(h_t, _pairs(live, h_t.as_of), trained.ref)
    x_s = features(h_s, _pairs(live, h_s.as_of), trained.ref)
    after, before = _scored(trained, x_t), _scored(trained, x_s)
    rows = []
    for deal_id in live:
        a, b = after[deal_id], before[deal_id]
        amount = a["row"].get("amount_now")
        touch = a["row"].get("days_since_touch")
        rows.append({
            "deal_id": deal_id, "owner": a["row"].get("owner"), "segment": a["row"].get("segment"),
            "stage_before": b["row"].get("stage"), "stage": a["row"].get("stage"),
            "amount": None if amount is None or (isinstance(amount, float) and math.isnan(amount)) else amount,
            "p_before": round(b["p_win"], 4), "p_after": round(a["p_win"], 4), "delta": round(a["p_win"] - b["p_win"], 4),
            "state_before": b["state"], "state_after": a["state"],
            "days_since_touch": None if touch is None else round(float(touch), 1),
        })
    # a chance the data cannot support (risk.support) does not move: such deals are no movers
    from dealpulse.risk.support import deal_notice

    moved = [r for r in rows if deal_notice(trained, r["stage"]) is None and deal_notice(trained, r["stage_before"]) is None]
    up = sorted((r for r in moved if r["delta"] >= MIN_DELTA), key=lambda r: (-r["delta"], r["deal_id"]))[:limit]
    down = sorted((r for r in moved if r["delta"] <= -MIN_DELTA), key=lambda r: (r["delta"], r["deal_id"]))[:limit]
    slipped = [r for r in rows if _RANK[r["state_after"]] > _RANK[r["state_before"]]]
    slipped.sort(key=lambda r: (-(r["amount"] or 0.0), r["deal_id"]))
    for r in {id(r): r for r in [*up, *down, *slipped[:limit]]}.values():  # the facts, for the deals listed
        a, b = after[r["deal_id"]], before[r["deal_id"]]
        ra, rb = _reasons(trained, a, langs), _reasons(trained, b, langs)
        r["reasons_added"] = _reason_rows([v for k, v in ra.items() if k not in rb], langs)
        r["reasons_removed"] = _reason_rows([v for k, v in rb.items() if k not in ra], langs)
        r["reason_codes"] = [{"code": x["code"], "side": x["side"], "impact": x["impact"]}
                             for x in _reason_rows(list(ra.values()), langs)]
        r["facts"] = _facts(b["families"], a["families"], langs)
    return {"up": up, "down": down, "slipped": slipped[:limit], "slipped_total": len(slipped),
            "live": len(live), "scored": rows}


def compute_movers(snap: Any, start: datetime, *, trained: Any = None, langs: Sequence[str] = ("en",),
                   limit: int = LIMIT) -> dict:
    """`movers_from` with the model trained as of `snap` (unless given) and the history read as of `start`."""
    from dealpulse.risk.history import load_history
    from dealpulse.risk.train import train

    tr = trained or train(snap)
    return movers_from(tr, load_history(snap.at(start)), langs=langs, limit=limit)


__all__ = ["movers_from", "compute_movers", "family_label", "LIMIT", "MIN_DELTA"]
