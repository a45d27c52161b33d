"""Importing CRM exports: readers, mapping + synonyms, checks, quarantine, and the all-or-nothing write.

    from dealpulse.ingest import import_path
    report = import_path(store, "export/", tz="Europe/Moscow")
    report.tables["deals"]  # {"rows_read": .., "imported": .., "duplicates": .., "quarantined": ..}

Other importers produce typed native frames and call `dealpulse.ingest.write.write_tables`.
"""

from dealpulse.ingest.importer import import_path
from dealpulse.ingest.quarantine import list_quarantine
from dealpulse.ingest.report import ImportReport

__all__ = ["ImportReport", "import_path", "list_quarantine"]
