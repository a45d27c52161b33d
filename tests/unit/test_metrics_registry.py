"""The metric registry is complete: every metric named, typed and described in both languages."""

from __future__ import annotations

import re

from dealpulse.i18n import catalogue
from dealpulse.metrics.registry import (
    FAMILIES, FIELDS, GROUP_KEYS, LAGGING, LEADING, METRICS, PREV, metric, registry_rows,
)


def test_every_metric_is_described_in_both_languages():
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names)) == 15
    for m in METRICS:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", m.name)
        assert m.kind in (LEADING, LAGGING) and m.family in FAMILIES
        assert m.unit in ("count", "share", "days", "money")
        for lang in ("en", "ru"):
            cat = catalogue(lang)
            for part in ("description", "header"):
                assert f"metrics.{m.name}.{part}" in cat, (lang, m.name, part)
            assert f"metrics.kind.{m.kind}" in cat and f"metrics.unit.{m.unit}" in cat and f"metrics.family.{m.family}" in cat
        assert m.descriptions["en"] != m.descriptions["ru"]
    for key in GROUP_KEYS:
        assert f"metrics.key.{key}" in catalogue("en") and f"metrics.key.{key}" in catalogue("ru")


def test_deal_level_descriptions_say_how_stage_and_step_apply():
    for m in METRICS:
        text = m.description("en")
        if m.family == "steps" and m.unit == "count":
            assert "the step's stage" in text
        if m.family in ("pipeline", "outcomes", "tasks", "card") and m.unit in ("count", "money") and m.name != "lost":
            assert "not split by step" in text, m.name


def test_fields_and_rows():
    assert FIELDS[:2] == ("steps_on_time", PREV + "steps_on_time") and len(FIELDS) == 30
    assert metric("win_rate").kind == LAGGING and metric("win_rate").is_rate
    rows = registry_rows("ru", translate=True)
    assert rows[0]["kind"] == "опережающая" and rows[0]["name"] == "steps_on_time"
    assert registry_rows("en")[-1] == {"name": "median_cycle_days", "kind": "lagging", "unit": "days",
                                       "family": "outcomes", "description": metric("median_cycle_days").description("en")}
