"""What the XES and CSV readers share: the `a:<field>` columns of a source's attributes."""

from __future__ import annotations

from typing import Callable

import polars as pl

from dealpulse.ingest.eventlog.model import Attr, Source


def attribute_columns(source: Source, from_column: Callable[[Attr], pl.Expr]) -> tuple[list[pl.Expr], list[str]]:
    """An `a:<target>` expression for each attribute of `source` (a constant, or `from_column(attr)`),
    and their names."""
    cols, names = [], []
    for a in source.attributes:
        name = f"a:{a.target}"
        if a.value is not None:
            cols.append(pl.lit(a.value, dtype=pl.Utf8).alias(name))
        else:
            cols.append(from_column(a).alias(name))
        names.append(name)
    return cols, names
