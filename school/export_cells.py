"""Every cell the site writes to a CSV or XLSX file goes through here, so that a value a
person typed (a name, a title, an answer) can never become a formula in the reader's
spreadsheet (OWASP, "CSV injection"): a text beginning with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is written as text.

- XLSX: the cell keeps its exact text, typed as a string with Excel's quote prefix
  (openpyxl would otherwise store ``=…`` as a formula).
- CSV: OWASP's rule — the text is prefixed with a single quote.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterable
from zipfile import ZIP_DEFLATED, ZipFile

from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.writer.excel import ExcelWriter

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


@contextmanager
def removing_sheet_files(workbook):
    """Around the writing of a write-only ``workbook``: openpyxl keeps each sheet's rows in a
    temporary file that it removes only when the process exits; when writing fails (a full
    temporary folder: lxml says ``IO_ENOSPC``) they are removed at once, so they do not keep
    the disk full."""
    try:
        yield workbook
    except BaseException:
        for sheet in workbook.worksheets:
            writer = getattr(sheet, "_writer", None)
            # Close the sheet's half-written XML streams now: left to the garbage collector,
            # their lxml errors surface later, in whatever code happens to run then.
            for stream in (getattr(sheet, "_rows", None), getattr(writer, "xf", None)):
                try:
                    if stream is not None:
                        stream.close()
                except Exception:
                    pass
            if getattr(writer, "out", None):
                try:
                    writer.cleanup()
                except (OSError, ValueError):  # already removed (the sheet was written)
                    pass
        gc.collect()  # and openpyxl's unclosed zip archive, whose finaliser fails on the closed file
        raise


def save_workbook(workbook, target) -> None:
    """``workbook.save(target)`` for a file object ``target``, except that a failed save (a full
    disk) leaves no half-written zip archive whose finaliser fails later on the closed file."""
    if workbook.write_only and not workbook.worksheets:
        workbook.create_sheet()
    archive = ZipFile(target, "w", ZIP_DEFLATED, allowZip64=True)
    try:
        ExcelWriter(workbook, archive).save()
    except BaseException:
        archive.fp = None  # the target is the caller's to close and remove; nothing more goes to it
        raise
