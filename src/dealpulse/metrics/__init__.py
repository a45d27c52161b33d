"""Metrics computed as of a moment, written once against Ibis so DuckDB and PostgreSQL run the same code."""
