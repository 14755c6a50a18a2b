"""Spreadsheet exports of the console (cases, statistics): UTF-8 CSV that Excel opens, and cells a
spreadsheet would run as formulas quoted."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """Text that a spreadsheet would run as a formula gets a leading ``'``; other values pass."""
    return "'" + value if isinstance(value, str) and value[:1] in FORMULA_START else value


def csv_text(header: Sequence[str], rows: Iterable[Sequence]) -> str:
    """CSV with a BOM (Excel then reads UTF-8), every cell made spreadsheet-safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([spreadsheet_safe(v) for v in row] for row in rows)
    return "\ufeff" + out.getvalue()
