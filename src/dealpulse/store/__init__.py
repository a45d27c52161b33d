"""Where dealpulse keeps imported data: a DuckDB file by default, PostgreSQL for a team server."""

from dealpulse.store.connect import Store, connect, default_db_url

__all__ = ["Store", "connect", "default_db_url"]
