"""`dealpulse review`: the queue of atypical deals, each with why; `dealpulse review mark DEAL --comment TEXT`
marks one reviewed (stored, as-of aware)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any, Optional

import typer

from dealpulse.cli.app import (AsOfOption, DbOption, Typer, Format, FormatOption, Lang, LangOption, app, emit, emit_result,
                               guarded, lang_of, note, open_moment, open_store, t, warn_all)
from dealpulse.cli.funnel_cmd import PlaybookOption

review_app = Typer(
    help="The review queue: atypical deals, each with why; `review` alone lists it. / Очередь нетипичных сделок на проверку.",
    invoke_without_command=True,
)
app.add_typer(review_app, name="review")

from dealpulse.app.commands.review import CSV_COLUMNS  # noqa: F401,E402 - where it used to be

AllOption = typer.Option(False, "--all", help="Show reviewed deals too (by default a reviewed deal is shown only if it has a new reason since).")
LimitOption = typer.Option(None, "--limit", min=0, help="Show at most this many deals (the highest scores).")
ClosedDaysOption = typer.Option(None, "--closed-days", min=0, help="Also look at deals closed in the last N days before --as-of.")
RareOption = typer.Option(0.5, "--rare", help="Rarity line, in percent: a path or dwell fewer than this share of the segment's deals have is atypical.")


def _rare(value: float, lang: str) -> float:
    from dealpulse.app.commands.review import rare_share

    return rare_share(value, lang)


def _when(value: Any, tz: Any) -> str:
    """A moment as every command shows it: `2024-03-31 18:00 (Europe/Moscow)`."""
    from dealpulse.timefmt import show_moment

    return show_moment(value, tz) if value is not None else "—"


def _reviewed_text(row: dict, lang: str, tz: Any = None) -> str | None:
    mark = row["reviewed"]
    if mark is None:
        return None
    if row["new_reasons"]:
        return t("review.reviewed.new", lang, by=mark["by"], at=_when(mark["at"], tz), comment=mark["comment"],
                 codes=", ".join(row["new_reasons"]))
    return t("review.reviewed", lang, by=mark["by"], at=_when(mark["at"], tz), comment=mark["comment"])


def _table(rows: list[dict], lang: str, *, title: str, caption: str, tz: Any = None, playbook: Any = None) -> None:
    """A compact table that reads at 80 columns: the deal on a few short lines, the reasons wide."""
    from rich.table import Table

    from dealpulse.cli.app import out
    from dealpulse.labels import label
    from dealpulse.review.queue import fmt_money

    def fmt_decimal(x: float, lang: str) -> str:
        from dealpulse.report import fmt

        return fmt.number(x, lang, 2)

    table = Table(title=title, caption=caption, show_lines=True, header_style="bold")
    table.add_column(t("review.col.rank", lang), no_wrap=True, justify="right")
    table.add_column(t("review.col.deal", lang), no_wrap=True)
    table.add_column(t("review.col.score", lang), no_wrap=True, justify="right")
    table.add_column(t("review.col.reasons", lang), ratio=1, overflow="fold")
    for r in rows:
        deal = "\n".join([f"[bold]{r['deal_id']}[/]", f"{r.get('manager_name') or r['owner'] or '—'} · {r['segment'] or '—'}",
                          f"{label(r['stage'] or r['status'], lang, playbook)} · {fmt_money(r['amount'])}"])
        why = "\n".join(f"• {x}" for x in r["reasons"])
        reviewed = _reviewed_text(r, lang, tz)
        if reviewed:
            why += "\n[dim]" + t("review.col.reviewed", lang) + ": " + reviewed + "[/]"
        table.add_row(str(r["rank"]), deal, fmt_decimal(r["score"], lang), why)
    out.print(table)


def _list(as_of: Optional[str], db: Optional[str], fmt: Format, lang: Optional[Lang], playbook: Optional[Path],
          limit: Optional[int], show_all: bool, closed_days: Optional[int], rare: float) -> None:
    def run() -> None:
        from dealpulse.app.commands.review import review as compute

        from dealpulse.cli.app import err

        l = lang_of(lang)
        with open_moment(db, playbook, as_of, l) as m:
            with err.status(t("common.computing", l, what=t("review.what", l))):
                result = compute(m, lang=l, all=show_all, limit=limit, closed_days=closed_days, rare=rare)
            tz, pb = m.tz, m.playbook
        queue = result.data
        warn_all(result)
        as_of_text = _when(queue.as_of, tz)
        rare_text = f"{rare:g}".replace(".", "," if l == "ru" else ".")
        if fmt != Format.table:
            emit_result(result, fmt)
            return
        if not queue.rows:
            note(t("review.empty", l, as_of=as_of_text, considered=queue.n_considered, hidden=queue.n_reviewed_hidden))
            return
        _table(queue.rows, l, title=t("review.title", l, as_of=as_of_text, atypical=queue.n_atypical,
                                      considered=queue.n_considered, shown=len(queue.rows),
                                      hidden=queue.n_reviewed_hidden),
               caption=t("review.method", l, rare=rare_text), tz=tz, playbook=pb)

    guarded(run)


@review_app.callback()
def review(
    ctx: typer.Context,
    as_of: Optional[str] = AsOfOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    playbook: Optional[Path] = PlaybookOption,
    limit: Optional[int] = LimitOption,
    show_all: bool = AllOption,
    closed_days: Optional[int] = ClosedDaysOption,
    rare: float = RareOption,
) -> None:
    """The review queue: open deals far outside their segment's norms (amount, path through the stages,
    dwell, no segment that fits), ranked, each with why. Reviewed deals drop out until they get a new reason."""
    ctx.obj = {"db": db, "lang": lang}
    if ctx.invoked_subcommand is None:
        _list(as_of, db, fmt, lang, playbook, limit, show_all, closed_days, rare)


@review_app.command("list")
def list_(
    as_of: Optional[str] = AsOfOption,
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    playbook: Optional[Path] = PlaybookOption,
    limit: Optional[int] = LimitOption,
    show_all: bool = AllOption,
    closed_days: Optional[int] = ClosedDaysOption,
    rare: float = RareOption,
) -> None:
    """The review queue (the same as `dealpulse review` alone)."""
    _list(as_of, db, fmt, lang, playbook, limit, show_all, closed_days, rare)


def _default_reviewer() -> str:
    env = os.environ.get("DEALPULSE_REVIEWER")
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no login name (some containers)
        return ""


@review_app.command("mark")
def mark(
    ctx: typer.Context,
    deal_id: str = typer.Argument(..., help="The deal to mark reviewed."),
    comment: str = typer.Option(..., "--comment", "-m", help="What the reviewer found or decided."),
    by: Optional[str] = typer.Option(None, "--by", help="Who reviewed it (default: DEALPULSE_REVIEWER, else the login name)."),
    at: Optional[str] = typer.Option(None, "--at", help="The moment of the data the review refers to (default: the latest event in the data, the moment `dealpulse review` uses by default)."),
    db: Optional[str] = DbOption,
    fmt: Format = FormatOption,
    lang: Optional[Lang] = LangOption,
    playbook: Optional[Path] = PlaybookOption,
) -> None:
    """Mark a deal reviewed with a comment: it leaves the queue (as of that moment and later) until it gets a new reason."""
    parent = ctx.obj or {}
    db = db or parent.get("db")
    lang = lang or parent.get("lang")

    def run() -> None:
        from dealpulse.metrics.asof import store_tz
        from dealpulse.playbook import playbook_for_store
        from dealpulse.review.queue import mark_deal

        l = lang_of(lang)
        reviewer = by if by is not None else _default_reviewer()
        store = open_store(db, lang=l)
        try:
            pb = playbook_for_store(store, playbook)
            m = mark_deal(store, deal_id, comment, reviewer=reviewer, at=at, playbook=pb, lang=l)
            tz = store_tz(store)
        finally:
            store.close()
        if pb.reviewers and m.reviewer not in pb.reviewers:
            note("[yellow]![/] " + t("review.not_reviewer", l, by=m.reviewer, reviewers=", ".join(pb.reviewers)))
        codes = sorted({k.split(":", 1)[0] for k in m.reasons})
        if fmt == Format.table:
            key = "review.marked" if m.reasons else "review.marked.none"
            note(t(key, l, deal=m.deal_id, by=m.reviewer, at=_when(m.reviewed_at, tz), count=len(m.reasons),
                   codes=", ".join(codes)))
            return
        row = {"deal_id": m.deal_id, "reviewed_at": m.reviewed_at, "reviewer": m.reviewer, "comment": m.comment,
               "reasons": list(m.reasons), "recorded_at": m.recorded_at, "review_id": m.review_id}
        if fmt == Format.json:
            emit([row], fmt, document={"mark": row, "lang": l})
        else:
            emit([{**row, "reasons": " ".join(m.reasons)}], fmt)

    guarded(run)


__all__ = ["review_app"]
