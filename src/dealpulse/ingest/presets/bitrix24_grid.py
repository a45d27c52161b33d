"""The Bitrix24 deal grid's «Excel» export: an HTML <table> saved with an `.xls` name.

The table is read by `readers.read_html_table` (encoding from the page's <meta>, else UTF-8, else
Windows-1251). Its Russian headers are mapped to Bitrix24's field names (`GRID_HEADERS`); every
other column is a custom field, named by its header as written.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.ingest.presets.bitrix24_shapes import GRID, GRID_HEADERS, Portal, UserField
from dealpulse.ingest.readers import read_html_table


def read_grid(path: Path, lang: str = "en") -> Portal:
    raw = read_html_table(path, lang)
    renames: dict[str, str] = {}
    fields: dict[str, UserField] = {}
    for col in raw.columns:
        key = GRID_HEADERS.get(col)
        if key is None or key in renames.values():
            key = "uf:" + col  # a custom field, named by its header
            written = raw.headers.get(col, col)
            fields[key] = UserField(code=written, label=written)
        renames[col] = key
    frame = raw.frame.rename(renames).with_columns(_file=pl.lit(raw.label))
    missing = [h for h, k in (("ID", "id"), ("Стадия сделки", "stage_name"), ("Ответственный", "assigned_name"),
                              ("Дата создания", "date_create")) if k not in frame.columns]
    if missing:
        raise InputError(t("presets.bitrix24.err.grid_columns", lang, file=path.name, missing=", ".join(missing),
                           found=", ".join(raw.headers.get(c, c) for c in raw.columns)),
                         suggestion=t("presets.bitrix24.err.grid.suggestion", lang))
    headers = {key: raw.headers.get(col, col) for col, key in renames.items()}
    return Portal(shape=GRID, deals=frame, fields=fields, files=[path.name], headers=headers)
