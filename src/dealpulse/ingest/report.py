"""What an import did: counts per table, warnings, the time range of the data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

COUNT_KEYS = ("rows_read", "imported", "duplicates", "quarantined")


def empty_counts() -> dict[str, int]:
    return {k: 0 for k in COUNT_KEYS}


@dataclass
class ImportReport:
    """`tables[name]` = {rows_read, imported, duplicates, quarantined} with
    rows_read = imported + duplicates + quarantined; `warnings` are texts in the import's language;
    `problems` the first quarantine messages of this import (all of them are in the store)."""

    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    attributes: dict[str, int] = field(default_factory=lambda: {"written": 0, "cleared": 0})
    as_of_range: tuple[datetime | None, datetime | None] = (None, None)
    import_id: str | None = None
    source: str = ""
    tz: str = "UTC"
    files: dict[str, str] = field(default_factory=dict)  # table -> file it was read from

    @property
    def quarantined(self) -> int:
        return sum(c["quarantined"] for c in self.tables.values())

    @property
    def imported(self) -> int:
        return sum(c["imported"] for c in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        from dealpulse.timefmt import moment_json

        lo, hi = self.as_of_range
        return {
            "tables": {k: dict(v) for k, v in self.tables.items()},
            "attributes": dict(self.attributes),
            "warnings": list(self.warnings),
            "problems": list(self.problems),
            "as_of_range": {"from": moment_json(lo, self.tz), "to": moment_json(hi, self.tz)},
            "import_id": self.import_id,
            "source": self.source,
            "tz": self.tz,
            "files": dict(self.files),
        }
