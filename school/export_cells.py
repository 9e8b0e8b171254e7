"""Every cell the site writes to a CSV or XLSX file goes through here, so that a value a
person typed (a name, a title, an answer) can never become a formula in the reader's
spreadsheet (OWASP, "CSV injection"): a text beginning with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is written as text.

- XLSX: the cell keeps its exact text, typed as a string with Excel's quote prefix
  (openpyxl would otherwise store ``=…`` as a formula).
- CSV: OWASP's rule — the text is prefixed with a single quote.
"""
from __future__ import annotations

from typing import Iterable

from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(value) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_row(values: Iterable) -> list:
    return ["'" + value if is_formula_like(value) else value for value in values]


def as_text(cell):
    """Type a cell holding formula-like text as a string (works for both cell kinds)."""
    if is_formula_like(cell.value):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def xlsx_cell(sheet, value):
    """A cell for ``sheet.append``: plain values pass through, formula-like text becomes a text cell."""
    if not is_formula_like(value):
        return value
    kind = WriteOnlyCell if isinstance(sheet, WriteOnlyWorksheet) else Cell
    return as_text(kind(sheet, value=value))


def append_row(sheet, values: Iterable) -> None:
    sheet.append([xlsx_cell(sheet, value) for value in values])
