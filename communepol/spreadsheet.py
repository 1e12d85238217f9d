"""CSV for spreadsheets, safe against formula injection: a cell a spreadsheet would run as a
formula (a resident can type "=HYPERLINK(…)" into a tip, a name can start with "+") is written
with a leading apostrophe, which spreadsheets show as text. The one rule for every export (the
CLI's tips export, the admin web's audit log)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_START) else value


def csv_text(rows: Sequence[Sequence[str]]) -> str:
    """The first row is the header (our own words, written as is); every other cell passes
    `safe_cell`. CRLF line ends, as RFC 4180 and spreadsheets expect."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if rows:
        writer.writerow(rows[0])
        writer.writerows([safe_cell(value) for value in row] for row in rows[1:])
    return buffer.getvalue()
