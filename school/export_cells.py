"""Every cell the site writes to a CSV or XLSX file goes through here.

- Text a person typed (a name, a title, an answer) can never become a formula in the
  reader's spreadsheet (OWASP, "CSV injection"): a text beginning with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return is written as text. XLSX: the cell keeps its exact text,
  typed as a string with Excel's quote prefix. CSV: OWASP's rule — the text is prefixed with a single quote.
- Characters XML cannot carry (control characters but tab, newline and carriage return; lone
  surrogates; U+FFFE and U+FFFF) are dropped (``clean``): they make an invalid file (openpyxl
  and lxml refuse them), so one such character in a member's name would otherwise make the whole export fail. The CSV drops
  them too, so both files say the same. ``clean`` runs before the formula check: a dropped
  character must not hide a leading ``=``.
- Sheet titles (``sheet_title``) are cleaned too, lose the characters Excel forbids in them
  and fit its 31 characters.

XLSX files are written with ``XlsxBook``: XlsxWriter in ``constant_memory`` mode (each row goes
to a temporary file as it is appended, so memory stays flat whatever the rows), each row's XML
written by one join (``XlsxSheet.append``). openpyxl's write-only mode, whose per-cell objects
and lxml serialisation were most of a 100,000-member export, is used for reading only. Every
cell goes through ``XlsxSheet.append``: text is cleaned, formula-like text is written as a string
with the quote prefix, and strings are never turned into formulas, numbers or links.
"""
from __future__ import annotations

import io
import re
import shutil
import tempfile
import zipfile
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Iterable, NamedTuple, Sequence

import xlsxwriter
import xlsxwriter.workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

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


_ESCAPED_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_XML_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
XLSX_MAX_CHARS = 32767  # Excel's limit for one cell, in UTF-16 units
SHARED_MAX_CHARS, SHARED_MAX_TEXTS = 40, 5_000  # the shared strings a book keeps in memory (2,956 organisations fit)


def _column_names(count: int) -> list[str]:
    from xlsxwriter.utility import xl_col_to_name
    return [xl_col_to_name(col) for col in range(count)]


class Cells(NamedTuple):
    """A run of rendered cells (``XlsxSheet.render``): their XML with NUL for the row number,
    the shared-string references among them, the first column and the number of columns."""

    xml: str
    uses: int
    start: int
    count: int


class XlsxSheet:
    """One sheet of an ``XlsxBook``: rows are appended in order (constant memory).

    Each row's XML is written straight to XlsxWriter's row file (``worksheet.fh`` in
    constant-memory mode, ``PENDING`` rows at a time) by one join, as XlsxWriter itself would write it (inline strings;
    ``_xHHHH_`` escaped; the cells' format indexes from XlsxWriter's formats). Going through
    ``write_string`` and friends cost about 50 Python calls per cell: 1.8 million cells
    (a county's roster) took about as long as openpyxl. XlsxWriter still writes everything
    else: the package, styles, dimensions, column widths, panes, merges."""

    columns = _column_names(64)
    PENDING = 200  # rows written to the row file at once (one write per row cost more than the row)

    def __init__(self, book: "XlsxBook", worksheet):
        self.book, self.worksheet, self.row = book, worksheet, 0
        self.pending: list[str] = []

    def flush(self) -> None:
        """Write the pending rows to XlsxWriter's row file."""
        if self.pending:
            self.worksheet.fh.write("".join(self.pending))
            self.pending.clear()

    def append(self, values: Iterable, style=None, styles: dict | None = None,
               tail: Sequence[Cells] = ()) -> None:
        """Write ``values`` as the next row; ``style`` for every cell, ``styles`` per column index;
        ``tail``: runs of cells rendered beforehand (``render``), one after the other, for the
        columns after ``values``."""
        ws, row = self.worksheet, self.row
        if row >= ws.xls_rowmax:
            raise ValueError("工作表最多 1,048,576 行")
        values = list(values)
        if tail and tail[0].start != len(values):
            raise ValueError(f"tail starts at column {tail[0].start}, not after the row's {len(values)} values")
        self.row += 1
        number = str(row + 1)
        cells, uses = self._cells(values, 0, number, style, styles)
        last = len(values) - 1
        if tail:
            xml, counts, _, widths = zip(*tail)  # the runs' fields, column by column
            uses += sum(counts)
            last += sum(widths)
            if any(xml):
                cells.append("".join(xml).replace("\0", number))
        self.book.workbook.str_table.count += uses
        if not cells:
            return
        pending = self.pending
        pending.append(f'<row r="{number}">{"".join(cells)}</row>')
        if len(pending) >= self.PENDING:
            self.flush()
        ws.previous_row = row  # XlsxWriter's own bookkeeping: rows before this one are written
        if ws.dim_rowmin is None:
            ws.dim_rowmin = row
        ws.dim_rowmax = row
        if ws.dim_colmin is None:
            ws.dim_colmin = 0
        if ws.dim_colmax is None or last > ws.dim_colmax:
            ws.dim_colmax = last

    def render(self, values: Iterable, start: int, style=None, styles: dict | None = None) -> Cells:
        """``values`` as the cells of columns ``start``, ``start + 1`` … of any row (of any sheet
        of the book), for ``append(…, tail=…)``: cells that repeat from row to row (the same
        hours, labels, flags) are then turned into XML once, not once per row."""
        values = list(values)
        cells, uses = self._cells(values, start, "\0", style, styles)  # NUL: never in a cell (``clean``)
        return Cells("".join(cells), uses, start, len(values))

    def text(self, value: str, col: int, fmt=None) -> Cells:
        """``render([value], style=fmt)`` in column ``col`` for a text that rarely repeats (a
        name, a number): letters and digits only (most) are written inline, kept out of the
        book's shared strings; anything else as ``render`` writes it."""
        if len(value) <= XLSX_MAX_CHARS // 2 and value.isalnum() and col < len(self.columns):  # see _text
            s_attr = "" if fmt is None else f' s="{fmt._get_xf_index()}"'
            return Cells(f'<c r="{self.columns[col]}\0"{s_attr} t="inlineStr"><is><t>{value}</t></is></c>', 0, col, 1)
        return self.render([value], col, style=fmt)

    def _cells(self, values: list, start: int, number: str, style, styles) -> tuple[list[str], int]:
        """The XML of each non-empty cell, and how many of them refer to a shared string."""
        if start + len(values) > len(self.columns):
            XlsxSheet.columns = _column_names(start + len(values))
        cells, names, shared, uses = [], self.columns, self.book.shared, 0
        for col, value in enumerate(values, start):
            fmt = styles.get(col, style) if styles else style
            if value is None:
                if fmt is not None:
                    cells.append(f'<c r="{names[col]}{number}" s="{fmt._get_xf_index()}"/>')
                continue
            if isinstance(value, str):
                # Most of a big export's text repeats (已学 / 未学, 是 / 否, organisation names):
                # each distinct short text goes once to the shared strings (bounded: memory stays
                # flat) and its cells refer to it, a third of the XML to write and compress.
                hit = shared.get((value, fmt))
                if hit is None:
                    if len(value) <= SHARED_MAX_CHARS and len(shared) < SHARED_MAX_TEXTS:
                        hit = shared[(value, fmt)] = self._shared(value, fmt)
                        # _get_shared_string_index counted this first use; the row counts it
                        self.book.workbook.str_table.count -= hit[1]
                    else:
                        hit = (self._text(value, fmt), 0)
                tail, counted = hit
                uses += counted
                if tail:
                    cells.append(f'<c r="{names[col]}{number}"{tail}')
                continue
            if isinstance(value, (datetime, date)):
                from xlsxwriter.utility import _datetime_to_excel_datetime
                fmt = fmt or self.book.style(num_format=self.book.DATETIME_FORMAT if isinstance(value, datetime)
                                             else self.book.DATE_FORMAT)
                value = _datetime_to_excel_datetime(value, False, True)
            elif isinstance(value, Decimal):
                value = float(value)
            if isinstance(value, bool):
                kind, text = ' t="b"', "1" if value else "0"
            elif isinstance(value, (int, float)) and value == value and value not in (float("inf"), float("-inf")):
                kind, text = "", f"{value:.16G}"
            else:  # anything else (and NaN or infinity) as its text
                tail = self._text(str(value), fmt)
                if tail:
                    cells.append(f'<c r="{names[col]}{number}"{tail}')
                continue
            s_attr = "" if fmt is None else f' s="{fmt._get_xf_index()}"'
            cells.append(f'<c r="{names[col]}{number}"{s_attr}{kind}><v>{text}</v></c>')
        return cells, uses

    def _shared(self, value: str, fmt) -> tuple[str, int]:
        """A short text as a shared string: (its cell XML after ``<c r="…"``, 1), or ("…", 0)
        when it is empty (a blank cell, or none)."""
        value = NOT_XML.sub("", value)
        if value.startswith(FORMULA_STARTS):
            fmt = self.book._quoted(fmt)
        if not value:
            return (f' s="{fmt._get_xf_index()}"/>' if fmt is not None else ""), 0
        index = self.book.workbook.str_table._get_shared_string_index(value)  # escapes it when written
        s_attr = "" if fmt is None else f' s="{fmt._get_xf_index()}"'
        return f'{s_attr} t="s"><v>{index}</v></c>', 1

    def _text(self, value: str, fmt) -> str:
        """A text cell's XML after its ``<c r="…"``: cleaned, a formula-like text quoted as text
        (empty: nothing to write)."""
        if len(value) <= XLSX_MAX_CHARS // 2 and value.isalnum():
            # Most names and numbers: letters and digits only — nothing to drop, escape or quote.
            s_attr = "" if fmt is None else f' s="{fmt._get_xf_index()}"'
            return f'{s_attr} t="inlineStr"><is><t>{value}</t></is></c>'
        value = NOT_XML.sub("", value)
        if value.startswith(FORMULA_STARTS):
            fmt = self.book._quoted(fmt)
        if not value:
            return f' s="{fmt._get_xf_index()}"/>' if fmt is not None else ""
        if len(value) > XLSX_MAX_CHARS // 2 and len(value.encode("utf-16-le")) > 2 * XLSX_MAX_CHARS:
            value = value.encode("utf-16-le")[:2 * XLSX_MAX_CHARS].decode("utf-16-le", "ignore")
        if "_x" in value:
            value = _ESCAPED_ESCAPE.sub(r"_x005F\1", value)
        space = ' xml:space="preserve"' if value[0].isspace() or value[-1].isspace() else ""
        s_attr = "" if fmt is None else f' s="{fmt._get_xf_index()}"'
        return f'{s_attr} t="inlineStr"><is><t{space}>{value.translate(_XML_TEXT)}</t></is></c>'

    def merge_row(self, last_col: int, value, style=None) -> None:
        """The next row is one cell from column 0 to ``last_col`` (a title)."""
        self.worksheet.merge.append([self.row, 0, self.row, last_col])
        self.append([value] + [None] * last_col, style)

    def widths(self, widths: Iterable[float]) -> None:
        for col, width in enumerate(widths):
            self.worksheet.set_column(col, col, width)


class _ZipFile(zipfile.ZipFile):
    """XlsxWriter's archive, compressed at the level its file asks for (``_Target.compresslevel``;
    XlsxWriter itself has no such option)."""

    def __init__(self, file, *args, **kwargs):
        kwargs.setdefault("compresslevel", getattr(file, "compresslevel", None))
        super().__init__(file, *args, **kwargs)


xlsxwriter.workbook.ZipFile = _ZipFile  # the name _store_workbook creates its archive with


class _Target:
    """The caller's file as XlsxWriter's zip archive sees it. After a failure writes go nowhere:
    the half-written archive's finaliser (at garbage collection) then cannot fail on the
    caller's file, closed and removed by then."""

    def __init__(self, target: IO[bytes], compresslevel: int | None = None):
        self.target, self.failed, self.position = target, False, 0
        self.compresslevel = compresslevel

    def fail(self) -> None:
        try:
            self.position = self.target.tell()
        except (OSError, ValueError):
            pass
        self.failed = True

    def write(self, data) -> int:
        if self.failed:
            self.position += len(data)
            return len(data)
        return self.target.write(data)

    def tell(self) -> int:
        return self.position if self.failed else self.target.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        if not self.failed:
            return self.target.seek(offset, whence)
        self.position = offset if whence == 0 else self.position + offset
        return self.position

    def seekable(self) -> bool:
        return self.target.seekable()

    def flush(self) -> None:
        if not self.failed:
            self.target.flush()


class XlsxBook:
    """An XLSX file written to ``target`` (a binary file object) by XlsxWriter in
    constant-memory mode. Its temporary files live in a folder of its own, removed when the
    book is closed or discarded, so a failed export (a full disk) leaves none behind.

        with XlsxBook(target) as book:
            sheet = book.sheet("名单", widths=[12, 20])
            sheet.append(["姓名", "学时"], book.style(bold=True))
            sheet.append([name, 1.5], styles={1: book.style(num_format="0.00")})
    """

    DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
    DATE_FORMAT = "yyyy-mm-dd"

    def __init__(self, target: IO[bytes], compresslevel: int | None = None):
        """``compresslevel``: zlib's 1 (fastest) to 9; None, zlib's default (6)."""
        self.tmpdir = tempfile.mkdtemp(prefix="school-xlsx-")
        self.target = _Target(target, compresslevel)
        try:
            self.workbook = xlsxwriter.Workbook(self.target, {
                "constant_memory": True, "tmpdir": self.tmpdir, "strings_to_formulas": False,
                "strings_to_numbers": False, "strings_to_urls": False})
        except BaseException:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise
        self.used: set[str] = set()
        self.sheets: list[XlsxSheet] = []
        self.shared: dict[tuple, tuple[str, int]] = {}  # (short text, format) → (cell XML tail, 1 if shared)
        self._styles: dict[tuple, object] = {}
        self._props: dict[int, dict] = {}

    def __enter__(self) -> "XlsxBook":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()

    def style(self, **props):
        """A cell format (XlsxWriter's properties: bold, bg_color, num_format …), made once per book."""
        key = tuple(sorted(props.items()))
        found = self._styles.get(key)
        if found is None:
            found = self._styles[key] = self.workbook.add_format(dict(props))
            self._props[id(found)] = props
        return found

    def _quoted(self, style):
        """``style`` plus Excel's quote prefix: the cell's text is shown, never taken as a formula."""
        return self.style(**(self._props.get(id(style), {}) if style is not None else {}), quote_prefix=True)

    def sheet(self, name: str, fallback: str = "工作表", widths: Iterable[float] = (),
              freeze_header: bool = False) -> XlsxSheet:
        sheet = XlsxSheet(self, self.workbook.add_worksheet(sheet_title(name, self.used, fallback=fallback)))
        self.sheets.append(sheet)
        sheet.widths(widths)
        if freeze_header:
            sheet.worksheet.freeze_panes(1, 0)
        return sheet

    def close(self) -> None:
        """Write the file (a sheet first if there is none) and remove the temporary files."""
        try:
            for sheet in self.sheets:
                sheet.flush()
            self.workbook.close()
        except BaseException:
            self.target.fail()
            raise
        finally:
            self._remove_temporary()

    def discard(self) -> None:
        """Give up (writing failed): close the row files and remove them; ``target`` is the caller's."""
        self.workbook.fileclosed = True  # no "workbook not closed" warning, no second attempt
        self.target.fail()
        self._remove_temporary()

    def _remove_temporary(self) -> None:
        for worksheet in self.workbook.worksheets():
            handle = getattr(worksheet, "row_data_fh", None)
            try:
                if handle is not None and not handle.closed:
                    handle.close()
            except OSError:  # its buffer could not be flushed (a full disk): nothing to keep
                pass
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def xlsx_bytes(fill) -> bytes:
    """An XLSX file in memory: ``fill(book)`` writes its sheets."""
    buffer = io.BytesIO()
    with XlsxBook(buffer) as book:
        fill(book)
    return buffer.getvalue()
