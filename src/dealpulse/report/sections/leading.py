"""Which metrics matter: the leading metrics that predict the outcome in this company's data, ranked,
with the verdict (matters / weak / vanity / not enough data) and the effect with its interval
(`dealpulse.leading.validate_metrics`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from dealpulse.metrics.asof import Snapshot
from dealpulse.report.sections.values import num, to_int


@dataclass
class LeadingRow:
    rank: int
    metric: str
    level: str  # deal (effect: win-rate difference) | manager_month (effect: Spearman's rho)
    n: int | None
    effect: float | None
    ci_low: float | None
    ci_high: float | None
    q: float | None
    verdict: str  # matters | weak | vanity | not_enough_data
    message: dict[str, str] = field(default_factory=dict)  # lang -> what it means


@dataclass
class LeadingSection:
    closed_deals: int
    won_deals: int
    rows: list[LeadingRow]
    method: dict[str, str] = field(default_factory=dict)  # lang -> text


def leading_section(snap: Snapshot, langs: Sequence[str]) -> LeadingSection:
    from dealpulse.leading import validate_metrics_in

    docs = validate_metrics_in(snap, langs)  # evaluated once, the texts in every language
    doc = docs[langs[0]]
    messages = {lang: {(r["metric"], r["level"]): r["message"] for r in d["rows"]} for lang, d in docs.items()}
    rows = [LeadingRow(
        rank=int(r["rank"]), metric=str(r["metric"]), level=str(r["level"]), n=to_int(r.get("n")),
        effect=num(r.get("effect")), ci_low=num(r.get("ci_low")), ci_high=num(r.get("ci_high")), q=num(r.get("q")),
        verdict=str(r["verdict"]), message={lang: messages[lang].get((r["metric"], r["level"]), "") for lang in langs},
    ) for r in doc["rows"]]
    return LeadingSection(closed_deals=int(doc.get("closed_deals") or 0), won_deals=int(doc.get("won_deals") or 0),
                          rows=rows, method={lang: str(d.get("method") or "") for lang, d in docs.items()})
