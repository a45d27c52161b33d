"""A digest in words: plain text, an HTML e-mail, Telegram HTML messages, a webhook's JSON.

All four are made from one outline (`outline`: a subject and sections of items), so they say the same
thing. Texts live in i18n/{en,ru}/digest.yaml; numbers, money and percentages are written as the reader's
language writes them (Babel, `dealpulse.report.fmt`); times are in the export's zone, the zone named.
Everything that comes from data is escaped for HTML.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

from dealpulse.digest.content import Digest, Mover
from dealpulse.i18n import t
from dealpulse.report import fmt as f

TELEGRAM_LIMIT = 4096  # characters in one Bot API message
SHOWN_FLOWS = ("new", "reopened", "advanced", "moved_back", "pushed_out", "won", "lost", "amount_up", "amount_down")


@dataclass
class Item:
    head: str
    detail: str = ""
    lines: list[str] = field(default_factory=list)  # more, smaller lines (reasons)


@dataclass
class Section:
    title: str
    lead: str = ""
    items: list[Item] = field(default_factory=list)
    empty: str = ""


@dataclass
class Outline:
    subject: str
    header: list[str]
    sections: list[Section]
    footer: list[str]


def _when(d: Digest) -> tuple[str, str, str]:
    from dealpulse.timefmt import local_text

    return local_text(d.start, d.tz), local_text(d.as_of, d.tz), d.tz


def scope_text(d: Digest) -> str:
    l = d.lang
    if d.role == "manager":
        return t("digest.scope.manager", l, name=d.scope_manager_name or d.scope_manager or d.login)
    if d.role == "lead":
        return t("digest.scope.lead", l, team=d.scope_team or "—")
    if d.role == "qc":
        return t("digest.scope.qc", l)
    return t("digest.scope.head", l)


def _deal(title: str | None, deal_id: str) -> str:
    return f"{title} ({deal_id})" if title else deal_id


def _mover(m: Mover, l: str, cur: str, *, state: bool = False) -> Item:
    change = (f"{t('changes.state.' + str(m.state_before), l)} → {t('changes.state.' + str(m.state_after), l)}" if state
              else f"{f.pct(m.p_before, l)} → {f.pct(m.p_after, l)} ({f.signed(m.delta, l, 'rate')})")
    detail = t("digest.deal.detail", l, owner=m.owner_name, stage=m.stage_label, amount=f.money(m.amount, l) + cur)
    return Item(head=f"{_deal(m.title, m.deal_id)}: {change}", detail=detail, lines=list(m.why))


def outline(d: Digest) -> Outline:
    l = d.lang
    start, end, zone = _when(d)
    scope = scope_text(d)
    subject = t("digest.subject", l, scope=scope, end=end[:10])
    header = [t("digest.header", l, login=d.login, scope=scope), t("digest.period", l, start=start, end=end, zone=zone)]
    sections: list[Section] = []
    cur = f" {d.currency}" if d.currency else ""

    if d.review is not None:
        r = d.review
        rv = Section(t("digest.review.title", l), lead=t("digest.review.lead", l, n=r.n_waiting, atypical=r.n_atypical,
                                                           open=r.n_open, hidden=r.n_reviewed_hidden),
                     empty=t("digest.review.none", l))
        for row in r.top:
            rv.items.append(Item(head=_deal(row.get("title"), row["deal_id"]), detail=t(
                "digest.review.detail", l, owner=row["owner_name"], amount=f.money(row["amount"], l) + cur),
                lines=list(row["reasons"])))
        sections.append(rv)

    # what changed
    s0, s1 = d.flow("open_start"), d.flow("open_end")
    changed = Section(t("digest.changes.title", l), lead=t(
        "digest.changes.lead", l, start=s0.count, start_amount=f.money(s0.amount, l) + cur, end=s1.count,
        end_amount=f.money(s1.amount, l) + cur))
    for b in SHOWN_FLOWS:
        fl = d.flow(b)
        if not fl.deals or (not fl.count and not fl.amount and b not in ("advanced", "moved_back", "pushed_out")):
            continue
        parts = [t("digest.changes.deals", l, n=fl.deals)]
        if fl.amount:
            parts.append(f.signed(fl.amount, l, "money") + cur)
        changed.items.append(Item(head=t(f"changes.bucket.{b}", l), detail=", ".join(parts)))
    if not changed.items:
        changed.empty = t("digest.changes.none", l)
    if not d.reconciles:
        changed.items.append(Item(head=t("digest.changes.not_reconciled", l)))
    sections.append(changed)
    if d.movers_down:
        sections.append(Section(t("digest.down.title", l, n=len(d.movers_down), live=d.live),
                                items=[_mover(m, l, cur) for m in d.movers_down]))
    if d.movers_up:
        sections.append(Section(t("digest.up.title", l, n=len(d.movers_up), live=d.live),
                                items=[_mover(m, l, cur) for m in d.movers_up]))
    if d.slipped:
        sections.append(Section(t("digest.slipped.title", l, n=d.slipped_total),
                                items=[_mover(m, l, cur, state=True) for m in d.slipped]))

    if d.review is not None:  # quality control: the queue and the waterfall
        return Outline(subject=subject, header=header, sections=sections, footer=_footer(d, end, zone))

    # open alerts
    new = sum(1 for a in d.alerts if a.new)
    al = Section(t("digest.alerts.title", l, n=d.alerts_total), lead=(
        t("digest.alerts.lead", l, new=new, resolved=d.alerts_resolved) if d.alerts_total or d.alerts_resolved else ""),
        empty=t("digest.alerts.none", l))
    for a in d.alerts:
        sev = t(f"alerts.severity.{a.severity}", l)
        head = f"[{sev}] " + (t("digest.alerts.new", l) + " " if a.new else "") + a.message
        al.items.append(Item(head=head, detail=t("digest.alerts.since", l, since=a.since or "—")))
    if d.alerts_total > len(d.alerts):
        al.items.append(Item(head=t("digest.more", l, n=d.alerts_total - len(d.alerts))))
    sections.append(al)

    # deals to save
    sv = Section(t("digest.save.title", l), empty=t("digest.save.none", l))
    if d.to_save:
        sv.lead = t("digest.save.lead", l, amount=f.money(d.at_risk_total, l) + cur)
    for s in d.to_save:
        sv.items.append(Item(
            head=f"{_deal(s.title, s.deal_id)}: " + t("digest.save.risk", l, amount=f.money(s.value_at_risk, l) + cur,
                                                       p=f.pct(s.p_win, l)),
            detail=t("digest.deal.detail", l, owner=s.owner_name, stage=s.stage_label, amount=f.money(s.amount, l) + cur),
            lines=list(s.reasons)))
    sections.append(sv)

    return Outline(subject=subject, header=header, sections=sections, footer=_footer(d, end, zone))


def _footer(d: Digest, end: str, zone: str) -> list[str]:
    return [t("digest.footer", d.lang, as_of=f"{end} ({zone})"), *(t(f"digest.notice.{c}", d.lang) for c in d.notices)]


# -- the four forms -------------------------------------------------------------------------------------
def text(d: Digest) -> tuple[str, str]:
    """(subject, plain-text body)."""
    o = outline(d)
    out = [*o.header, ""]
    for s in o.sections:
        out.append(s.title)
        if s.lead:
            out.append(f"  {s.lead}")
        if not s.items and s.empty:
            out.append(f"  {s.empty}")
        for it in s.items:
            out.append(f"  • {it.head}" + (f" — {it.detail}" if it.detail else ""))
            out.extend(f"      {x}" for x in it.lines)
        out.append("")
    out.extend(o.footer)
    return o.subject, "\n".join(out) + "\n"


def _e(x: str) -> str:
    return html.escape(x, quote=True)


def email_html(d: Digest) -> str:
    """An HTML e-mail body (inline styles only: mail readers drop style sheets)."""
    o = outline(d)
    parts = [f'<!doctype html><html lang="{d.lang}"><head><meta charset="utf-8"><title>{_e(o.subject)}</title></head>',
             '<body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222;max-width:720px">']
    parts.append(f'<h2 style="margin-bottom:4px">{_e(o.header[0])}</h2><p style="color:#555;margin-top:0">{_e(o.header[1])}</p>')
    for s in o.sections:
        parts.append(f'<h3 style="margin-bottom:4px;border-bottom:1px solid #ddd">{_e(s.title)}</h3>')
        if s.lead:
            parts.append(f"<p style=\"margin:4px 0\">{_e(s.lead)}</p>")
        if not s.items and s.empty:
            parts.append(f'<p style="color:#777;margin:4px 0">{_e(s.empty)}</p>')
        if s.items:
            parts.append('<ul style="padding-left:18px;margin:4px 0">')
            for it in s.items:
                li = f"<b>{_e(it.head)}</b>" + (f" — {_e(it.detail)}" if it.detail else "")
                if it.lines:
                    li += '<br><span style="color:#555;font-size:13px">' + "<br>".join(_e(x) for x in it.lines) + "</span>"
                parts.append(f'<li style="margin-bottom:4px">{li}</li>')
            parts.append("</ul>")
    parts.append('<p style="color:#777;font-size:12px;margin-top:16px">' + "<br>".join(_e(x) for x in o.footer) + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def telegram(d: Digest, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Telegram messages (parse_mode HTML: only <b>, <i>, escaped text), each within `limit` characters,
    split between blocks (a block longer than the limit is cut)."""
    o = outline(d)
    blocks = [f"<b>{_e(o.header[0])}</b>\n<i>{_e(o.header[1])}</i>"]
    for s in o.sections:
        lines = [f"<b>{_e(s.title)}</b>"]
        if s.lead:
            lines.append(_e(s.lead))
        if not s.items and s.empty:
            lines.append(f"<i>{_e(s.empty)}</i>")
        for it in s.items:
            lines.append("• " + _e(it.head) + (f" — {_e(it.detail)}" if it.detail else ""))
            lines.extend(f"   <i>{_e(x)}</i>" for x in it.lines)
        blocks.append("\n".join(lines))
    blocks.append("<i>" + _e(" · ".join(o.footer)) + "</i>")
    messages: list[str] = []
    cur = ""
    for b in blocks:
        if len(b) > limit:
            b = _cut(b, limit)
        if cur and len(cur) + 2 + len(b) > limit:
            messages.append(cur)
            cur = b
        else:
            cur = f"{cur}\n\n{b}" if cur else b
    if cur:
        messages.append(cur)
    return messages


def _cut(block: str, limit: int) -> str:
    """A block cut at a line end within the limit (lines are whole tags, so the HTML stays balanced)."""
    out = ""
    for line in block.split("\n"):
        if len(out) + len(line) + 2 > limit - 1:
            return out + "\n…"
        out = f"{out}\n{line}" if out else line
    return out


def webhook_body(d: Digest) -> bytes:
    """The webhook's JSON: the typed digest as a document, with the subject and the plain text beside it."""
    subject, body = text(d)
    doc = {**d.document(), "subject": subject, "text": body}
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


__all__ = ["outline", "text", "email_html", "telegram", "webhook_body", "scope_text", "TELEGRAM_LIMIT"]
