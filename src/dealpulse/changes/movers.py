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
        return t("changes.family.step", lang, step=code[5:].replace("_", " "))
    text = t(f"changes.family.{code}", lang)
    return code.replace("_", " ") if text == f"changes.family.{code}" else text


def _pairs(ids: list[str], at: datetime) -> pl.DataFrame:
    return pl.DataFrame({"deal_id": ids, "t": [at] * len(ids)},
                        schema={"deal_id": pl.Utf8, "t": pl.Datetime("us")})


def _explained(trained: Any, x: pl.DataFrame, langs: Sequence[str]) -> list[dict]:
    """Per row: p_win, family pushes, state, and every reason (not only the top 3) in each language."""
    if x.height == 0:
        return []
    X = trained.frame(x)
    p = trained.model.predict(X)
    pushes = trained.model.contributions(X)
    explainers = {lang: Explainer(trained, lang) for lang in langs}
    pb = trained.history.playbook
    out = []
    for i, r in enumerate(x.iter_rows(named=True)):
        fam: dict[str, float] = {}
        for col, v in pushes.iloc[i].items():
            fam[family(str(col))] = fam.get(family(str(col)), 0.0) + float(v)
        reasons: dict[tuple[str, str], dict] = {}
        for lang in langs:
            against, favour = explainers[lang].explain(r, pushes.iloc[i], top=len(fam) + 1)
            for side, items in (("against", against), ("favour", favour)):
                for item in items:
                    key = (side, item["code"])
                    reasons.setdefault(key, {"code": item["code"], "side": side, "impact": item["impact"], "texts": {}})
                    reasons[key]["texts"][lang] = item["text"]
        out.append({"deal_id": r["deal_id"], "p_win": float(p[i]), "pushes": fam, "reasons": reasons,
                    "state": state_of(r, trained.ref, pb), "stage": r.get("stage"), "owner": r.get("owner"),
                    "amount": r.get("amount_now"), "segment": r.get("segment"),
                    "days_since_touch": r.get("days_since_touch")})
    return out


def _reason_rows(items: list[dict], langs: Sequence[str]) -> list[dict]:
    items = sorted(items, key=lambda it: -abs(it["impact"]))
    return [{"code": it["code"], "side": it["side"], "impact": it["impact"], "text": it["texts"].get(langs[0]),
             "texts": it["texts"]} for it in items]


def _facts(before: dict[str, float], after: dict[str, float], langs: Sequence[str]) -> list[dict]:
    """The families whose push changed most (at least MIN_PUSH), in words."""
    rows = []
    for code in set(before) | set(after):
        b, a = before.get(code, 0.0), after.get(code, 0.0)
        if abs(a - b) < MIN_PUSH:
            continue
        texts = {lang: t("changes.fact.up" if a > b else "changes.fact.down", lang, family=family_label(code, lang),
                         before=f"{b:+.2f}", after=f"{a:+.2f}") for lang in langs}
        rows.append({"code": code, "before": round(b, 3), "after": round(a, 3), "delta": round(a - b, 3),
                     "text": texts[langs[0]], "texts": texts})
    rows.sort(key=lambda r: (-abs(r["delta"]), r["code"]))
    return rows[:FACTS]


def movers_from(trained: Any, history_start: Any, *, langs: Sequence[str] = ("en",), limit: int = LIMIT) -> dict:
    """Score the deals open at both the history's moment S and the model's moment T with the one model.

    `trained`: `risk.train` result as of T; `history_start`: `load_history` as of S (no store access here).
    Returns {"up": [...], "down": [...], "slipped": [...], "live": n, "scored": [every live deal's row]}.
    """
    langs = tuple(langs) or ("en",)
    h_t, h_s = trained.history, history_start
    if h_s.as_of >= h_t.as_of:
        raise ValueError(f"the start {h_s.as_of} must be before the model's moment {h_t.as_of}")
    live = sorted(set(h_t.open["deal_id"].to_list()) & set(h_s.open["deal_id"].to_list()))
    x_t = features(h_t, _pairs(live, h_t.as_of), trained.ref)
    x_s = features(h_s, _pairs(live, h_s.as_of), trained.ref)
    after = {r["deal_id"]: r for r in _explained(trained, x_t, langs)}
    before = {r["deal_id"]: r for r in _explained(trained, x_s, langs)}
    rows = []
    for deal_id in live:
        a, b = after[deal_id], before[deal_id]
        added = [v for k, v in a["reasons"].items() if k not in b["reasons"]]
        removed = [v for k, v in b["reasons"].items() if k not in a["reasons"]]
        rows.append({
            "deal_id": deal_id, "owner": a["owner"], "segment": a["segment"], "stage_before": b["stage"],
            "stage": a["stage"], "amount": None if a["amount"] is None or (isinstance(a["amount"], float) and math.isnan(a["amount"])) else a["amount"],
            "p_before": round(b["p_win"], 4), "p_after": round(a["p_win"], 4),
            "delta": round(a["p_win"] - b["p_win"], 4),
            "state_before": b["state"], "state_after": a["state"],
            "days_since_touch": None if a["days_since_touch"] is None else round(float(a["days_since_touch"]), 1),
            "reasons_added": _reason_rows(added, langs), "reasons_removed": _reason_rows(removed, langs),
            "reason_codes": [{"code": r["code"], "side": r["side"], "impact": r["impact"]}
                             for r in _reason_rows(list(a["reasons"].values()), langs)],
            "facts": _facts(b["pushes"], a["pushes"], langs),
        })
    up = sorted((r for r in rows if r["delta"] >= MIN_DELTA), key=lambda r: (-r["delta"], r["deal_id"]))[:limit]
    down = sorted((r for r in rows if r["delta"] <= -MIN_DELTA), key=lambda r: (r["delta"], r["deal_id"]))[:limit]
    slipped = [r for r in rows if _RANK[r["state_after"]] > _RANK[r["state_before"]]]
    slipped.sort(key=lambda r: (-(r["amount"] or 0.0), r["deal_id"]))
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
