"""Every cell the site writes to a CSV or XLSX file goes through here.

- Text a person typed (a name, a title, an answer) can never become a formula in the
  reader's spreadsheet (OWASP, "CSV injection"): a text beginning with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return is written as text. XLSX: the cell keeps its exact text,
  typed as a string with Excel's quote prefix (openpyxl would otherwise store ``=…`` as a
  formula). CSV: OWASP's rule — the text is prefixed with a single quote.
- Characters XML cannot carry (control characters but tab, newline and carriage return; lone
  surrogates; U+FFFE and U+FFFF) are dropped (``clean``): openpyxl and lxml refuse them, so one
  such character in a member's name would otherwise make the whole export fail. The CSV drops
  them too, so both files say the same. ``clean`` runs before the formula check: a dropped
  character must not hide a leading ``=``.
- Sheet titles (``sheet_title``) are cleaned too, lose the characters Excel forbids in them
  and fit its 31 characters.
"""
from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from typing import Iterable
from zipfile import ZIP_DEFLATED, ZipFile

from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.writer.excel import ExcelWriter

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# openpyxl's own list (it raises IllegalCharacterError) plus what lxml refuses when saving.
NOT_XML = re.compile(ILLEGAL_CHARACTERS_RE.pattern + "|[\ud800-\udfff\ufffe\uffff]")
SHEET_TITLE_MAX = 31
SHEET_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def clean(value):
    """Text without the characters a spreadsheet file cannot carry; other values unchanged."""
    return NOT_XML.sub("", value) if isinstance(value, str) else value


def is_formula_like(value) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_row(values: Iterable) -> list:
    values = [clean(value) for value in values]
    return ["'" + value if is_formula_like(value) else value for value in values]


def as_text(cell):
    """Type a cell holding formula-like text as a string (works for both cell kinds)."""
    if is_formula_like(cell.value):
        cell.data_type = "s"
        cell.quotePrefix = True
    return cell


def text_cell(sheet, value) -> WriteOnlyCell:
    """A write-only cell (to be styled) holding ``value`` cleaned, formula-like text as text."""
    return as_text(WriteOnlyCell(sheet, value=clean(value)))


def xlsx_cell(sheet, value):
    """A cell for ``sheet.append``: plain values pass through, formula-like text becomes a text cell."""
    value = clean(value)
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


def sheet_title(name: str, used: set[str] | None = None, fallback: str = "工作表") -> str:
    """A sheet title Excel accepts for ``name``; with ``used`` (lower-cased titles so far, updated
    here), made unique by a "(2)", "(3)" … suffix, still within 31 characters."""
    # Excel also refuses a title that begins or ends with an apostrophe.
    text = SHEET_TITLE_FORBIDDEN.sub("", clean(name or "")).strip().strip("'")
    base = text[:SHEET_TITLE_MAX].rstrip().rstrip("'") or fallback
    if used is None:
        return base
    title, n = base, 2
    while title.lower() in used:
        suffix = f"({n})"
        title, n = base[:SHEET_TITLE_MAX - len(suffix)] + suffix, n + 1
    used.add(title.lower())
    return title
