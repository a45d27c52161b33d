"""From events to the native frames: deals (outcome, owner, attributes), stage_history, tasks,
field_history and managers (the reading is described in `dealpulse.ingest.eventlog`)."""

from __future__ import annotations

import json
from datetime import timedelta

import polars as pl

from dealpulse.ingest.eventlog.model import EVENT_TABLE, NATIVE_DEAL_FIELDS, Q_NUMBER, EventLogMapping, Rule
from dealpulse.ingest.eventlog.tasks import build_tasks


def _rule_frame(rules: list[Rule], value_name: str) -> pl.DataFrame:
    rows = []
    for r in rules:
        if r.lifecycles is None:
            rows.append((r.activity, None, True, r.value))
        else:
            for lc in sorted(r.lifecycles):
                rows.append((r.activity, lc, False, r.value))
    return pl.DataFrame(rows, schema={"activity": pl.Utf8, "lc_rule": pl.Utf8, "any_lc": pl.Boolean, value_name: pl.Utf8}, orient="row")


def _match(events: pl.DataFrame, rules: list[Rule], value_name: str) -> pl.DataFrame:
    """Events matched by the rules (first rule of an activity wins), with the rule's value."""
    if not rules:
        return events.head(0).with_columns(pl.lit(None, dtype=pl.Utf8).alias(value_name))
    rf = _rule_frame(rules, value_name)
    j = events.join(rf, on="activity", how="inner")
    j = j.filter(pl.col("any_lc") | (pl.col("lc").fill_null("") == pl.col("lc_rule")))
    return j.unique(subset=["_i"], keep="first", maintain_order=True).drop("lc_rule", "any_lc")


def _num_text(x: float) -> str:
    return str(int(x)) if x == int(x) and abs(x) < 1e15 else repr(x)


def build_frames(events: pl.DataFrame, attr_targets: list[str], mapping: EventLogMapping,
                 lang: str = "en", quarantine: list[dict] | None = None) -> dict[str, pl.DataFrame]:
    """The native frames from valid events (see the module's docstring for the reading)."""
    from dealpulse.ingest.parse import parse_numbers
    from dealpulse.ingest.tables import native_schema

    quarantine = quarantine if quarantine is not None else []
    events = events.sort(["case", "ts", "_src", "_seq"]).with_row_index("_i").with_columns(pl.col("_i").cast(pl.Int64))
    log_end = events["ts"].max() if events.height else None

    first = events.group_by("case", maintain_order=True).agg(
        created_at=pl.col("ts").first(), _file=pl.col("_file").first(), _row=pl.col("_row").first(),
        _first_i=pl.col("_i").first(),
    )

    # outcome: the first won/lost event
    by_activity = mapping.outcome_attribute is None  # else won/lost list values of that attribute
    won = _match(events, mapping.won if by_activity else [], "_reason").with_columns(pl.lit("won").alias("status"), pl.lit(None, dtype=pl.Utf8).alias("_reason"))
    lost = _match(events, mapping.lost if by_activity else [], "_reason").with_columns(pl.lit("lost").alias("status"))
    closing = pl.concat([won, lost.select(won.columns)]).sort("_i")
    closing = closing.group_by("case", maintain_order=True).agg(
        status=pl.col("status").first(), closed_at=pl.col("ts").first(), lost_reason=pl.col("_reason").first(),
        _close_i=pl.col("_i").first(), _closed_by=pl.col("resource").first(),
    )
    if mapping.outcome_attribute is not None:
        attr_col = f"a:{mapping.outcome_attribute}"
        if attr_col in events.columns:
            won_vals = [r.activity for r in mapping.won]
            lost_map = {r.activity: r.value for r in mapping.lost}
            by_attr = events.filter(pl.col(attr_col).is_in(won_vals + list(lost_map))).group_by("case", maintain_order=True).agg(
                _v=pl.col(attr_col).first())
            last = events.group_by("case").agg(closed_at=pl.col("ts").last(), _close_i=pl.col("_i").last(),
                                               _closed_by=pl.col("resource").last())
            by_attr = by_attr.join(last, on="case").select(
                "case",
                status=pl.when(pl.col("_v").is_in(won_vals)).then(pl.lit("won")).otherwise(pl.lit("lost")),
                closed_at="closed_at",
                lost_reason=pl.when(pl.col("_v").is_in(won_vals)).then(None).otherwise(pl.col("_v").replace(lost_map)),
                _close_i="_close_i", _closed_by="_closed_by",
            )
            closing = pl.concat([closing, by_attr]).sort("_close_i").unique("case", keep="first")
    deals = first.join(closing, on="case", how="left")
    if mapping.lost_after is not None and log_end is not None:
        deadline = pl.col("created_at") + pl.duration(microseconds=int(mapping.lost_after / timedelta(microseconds=1)))
        timeout = (deadline <= log_end) & (pl.col("closed_at").is_null() | (pl.col("closed_at") > deadline))
        deals = deals.with_columns(
            status=pl.when(timeout).then(pl.lit("lost")).otherwise(pl.col("status")),
            lost_reason=pl.when(timeout).then(pl.lit(mapping.lost_after_reason)).otherwise(pl.col("lost_reason")),
            _close_i=pl.when(timeout).then(None).otherwise(pl.col("_close_i")),
            _closed_by=pl.when(timeout).then(None).otherwise(pl.col("_closed_by")),
            closed_at=pl.when(timeout).then(deadline).otherwise(pl.col("closed_at")),
        )
    deals = deals.with_columns(status=pl.col("status").fill_null("open"))

    # owner: the resource of the first event not ignored
    cand = events.filter(pl.col("resource").is_not_null() & ~pl.col("resource").is_in(list(mapping.owner_ignore)))
    if mapping.owner_activities is not None:
        cand = cand.filter(pl.col("activity").is_in(list(mapping.owner_activities)))
    owners = cand.group_by("case", maintain_order=True).agg(owner=pl.col("resource").first(), _owner_at=pl.col("ts").first())
    deals = deals.join(owners, on="case", how="left").with_columns(owner=pl.col("owner").fill_null(mapping.owner_default))

    # stage entries before the outcome
    close_info = deals.select("case", "_close_i", "closed_at")
    st = _match(events, mapping.stages, "stage").join(close_info, on="case", how="left")
    st = st.filter(
        pl.when(pl.col("_close_i").is_not_null()).then(pl.col("_i") < pl.col("_close_i"))
        .when(pl.col("closed_at").is_not_null()).then(pl.col("ts") <= pl.col("closed_at"))
        .otherwise(True)
    ).sort("_i")
    if mapping.stage_entries == "first":
        st = st.unique(["case", "stage"], keep="first", maintain_order=True)
    else:
        st = st.filter(pl.col("stage") != pl.col("stage").shift(1).over("case").fill_null(""))
    stage_rows = st.select(deal_id="case", stage="stage", entered_at="ts", changed_by="resource", _file="_file", _row="_row")
    terminal = deals.filter(pl.col("status") != "open").select(
        deal_id="case", stage="status", entered_at="closed_at", changed_by="_closed_by", _file="_file", _row="_row")
    stage_history = pl.concat([stage_rows, terminal.cast(stage_rows.schema)]).unique(
        ["deal_id", "stage", "entered_at"], keep="first", maintain_order=True).sort(["deal_id", "entered_at"], maintain_order=True)

    # steps -> tasks
    tasks = build_tasks(_match(events, mapping.steps, "type"), mapping, set(deals.filter(pl.col("status") != "open")["case"].to_list()))

    # attributes -> deal columns and field history
    fh_rows: list[pl.DataFrame] = []
    deal_cols: dict[str, pl.DataFrame] = {}
    for target in attr_targets:
        col = f"a:{target}"
        vals = events.filter(pl.col(col).is_not_null()).select("case", "ts", "_i", "_file", "_row", "_src", v=pl.col(col))
        if target == "amount":
            nums = parse_numbers(vals["v"])
            badmask = nums.is_null()
            if badmask.any():
                # a trace attribute is on every event of its trace: one problem per case and value
                bad = vals.filter(badmask).unique(["case", "_src", "v"], keep="first", maintain_order=True)
                for r in bad.iter_rows(named=True):
                    quarantine.append({
                        "table_name": EVENT_TABLE, "file": r["_file"], "row_number": r["_row"], "column_name": _attr_column(mapping, r["_src"], target),
                        "reason": Q_NUMBER, "expected": None,
                        "found": r["v"], "raw": json.dumps({"case": r["case"], target: r["v"]}, ensure_ascii=False),
                    })
            vals = vals.with_columns(num=nums).filter(~badmask)
            vals = vals.with_columns(v=pl.col("num").map_elements(_num_text, return_dtype=pl.Utf8))
        changes = vals.sort("_i").filter(pl.col("v") != pl.col("v").shift(1).over("case").fill_null("\x00"))
        changes = changes.unique(["case", "ts"], keep="last", maintain_order=True)
        fh_rows.append(changes.select(
            entity=pl.lit("deal"), entity_id="case", field=pl.lit(target), value="v", changed_at="ts",
            changed_by=pl.lit(None, dtype=pl.Utf8)))
        if target in NATIVE_DEAL_FIELDS:
            last = vals.sort("_i").group_by("case").agg(pl.col("num" if target == "amount" else "v").last().alias(target))
            deal_cols[target] = last
    for target, last in deal_cols.items():
        deals = deals.join(last, on="case", how="left")

    # owner history: the default from creation, the owner from the event that chose it
    own = deals.select("case", "created_at", "owner", "_owner_at")
    default_rows = own.filter(pl.col("_owner_at").is_null() | (pl.col("_owner_at") > pl.col("created_at"))).select(
        entity=pl.lit("deal"), entity_id="case", field=pl.lit("owner"), value=pl.lit(mapping.owner_default),
        changed_at="created_at", changed_by=pl.lit(None, dtype=pl.Utf8))
    chosen_rows = own.filter(pl.col("_owner_at").is_not_null()).select(
        entity=pl.lit("deal"), entity_id="case", field=pl.lit("owner"), value="owner",
        changed_at="_owner_at", changed_by=pl.lit(None, dtype=pl.Utf8))
    fh_rows += [default_rows, chosen_rows]

    deal_schema = native_schema("deals")
    deals_out = deals.rename({"case": "deal_id"}).with_columns(
        [pl.lit(None, dtype=d).alias(c) for c, d in deal_schema.items() if c not in deals.columns and c != "deal_id"]
    ).select([pl.col(c).cast(d) for c, d in deal_schema.items()] + [pl.col("_file"), pl.col("_row").cast(pl.Int64)])

    fh_schema = native_schema("field_history")
    field_history = pl.concat([f.select([pl.col(c).cast(d) for c, d in fh_schema.items()]) for f in fh_rows]) if fh_rows else pl.DataFrame(schema=fh_schema)
    field_history = field_history.sort(["entity_id", "field", "changed_at"])

    sh_schema = native_schema("stage_history")
    stage_history = stage_history.select([pl.col(c).cast(d) for c, d in sh_schema.items()] + [pl.col("_file"), pl.col("_row").cast(pl.Int64)])

    people = pl.concat([
        deals_out.select(manager_id="owner"),
        tasks.select(manager_id="owner"),
        stage_history.select(manager_id="changed_by"),
    ]).drop_nulls().unique(maintain_order=True)
    mg_schema = native_schema("managers")
    managers = people.with_columns(
        name=pl.col("manager_id"),
        role=pl.when(pl.col("manager_id").is_in(list(mapping.owner_ignore))).then(pl.lit("system")).otherwise(None),
    ).with_columns([pl.lit(None, dtype=d).alias(c) for c, d in mg_schema.items() if c not in ("manager_id", "name", "role")]).select(
        [pl.col(c).cast(d) for c, d in mg_schema.items()])
    return {"deals": deals_out, "stage_history": stage_history, "tasks": tasks, "field_history": field_history,
            "managers": managers}


def _attr_column(mapping: EventLogMapping, src: int, target: str) -> str:
    for a in mapping.sources[src].attributes:
        if a.target == target:
            return a.column or target
    return target
