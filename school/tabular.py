"""Reading uploaded spreadsheets (CSV in any encoding Excel writes, or XLSX) into rows.

Shared by every importer: members here, question banks later.
"""
from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass

from openpyxl import Workbook, load_workbook

from school import isolation
from school.limits import limit

EXCEL_MAX_ROWS = 1_048_576
EMPTY_ROWS_TOLERATED = 1000  # blank rows between the data, beyond the row cap, in a sheet


class TableError(ValueError):
    """The file as a whole cannot be read; the message is for the person."""


@dataclass
class Table:
    headers: list[str]
    rows: list[tuple[int, dict[str, str]]]  # (row number as the person sees it, values by header)


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GB18030 (a superset of the GBK Excel writes)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TableError("无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV")


def _clean(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel turns 13800000000 into 13800000000.0
    return str(value).strip()


def read_table(filename: str, data: bytes) -> Table:
    """Rows of the first sheet (XLSX) or of the CSV, within ``TABLE_MAX_BYTES``,
    ``TABLE_MAX_ROWS`` (data rows, after the header) and ``TABLE_MAX_COLUMNS``."""
    if not data:
        raise TableError("文件是空的")
    max_bytes = int(limit("TABLE_MAX_BYTES"))
    if len(data) > max_bytes:
        raise TableError(f"文件过大（上限 {max_bytes // (1024 * 1024)} MB），请分成几个文件导入")
    max_rows, max_columns = int(limit("TABLE_MAX_ROWS")), int(limit("TABLE_MAX_COLUMNS"))
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        raw_rows = _xlsx_rows(data, max_rows, max_columns)
    elif lower.endswith(".csv") or lower.endswith(".txt"):
        text = decode_text(data)
        if "\x00" in text:
            raise TableError("文件不是文本格式的 CSV")
        raw_rows = _csv_rows(text, max_rows, max_columns)
    else:
        raise TableError("只支持 .csv 或 .xlsx 文件")
    if not raw_rows:
        raise TableError("文件中没有数据")
    headers = raw_rows[0][1]
    rows = [(number, {h: (row[i] if i < len(row) else "") for i, h in enumerate(headers) if h})
            for number, row in raw_rows[1:]]
    return Table(headers=[h for h in headers if h], rows=rows)


class _Rows:
    """The non-empty rows of a file, numbered as the person sees them, within the caps."""

    def __init__(self, max_rows: int, max_columns: int):
        self.max_rows, self.max_columns = max_rows, max_columns
        self.rows: list[tuple[int, list[str]]] = []

    def add(self, number: int, values) -> None:
        if values.count(None) == len(values):  # openpyxl's padding for missing rows: skip it quickly
            return
        values = [_clean(v) for v in values]
        if len(values) > self.max_columns:
            if any(values[self.max_columns:]):
                raise TableError(f"列数超过上限（最多 {self.max_columns} 列），请删除多余的列后再导入")
            values = values[:self.max_columns]
        if any(values):
            if len(self.rows) > self.max_rows:  # the header and max_rows data rows are there already
                raise TableError(f"行数超过上限（最多 {self.max_rows} 行数据），请分成几个文件导入")
            self.rows.append((number, values))


def _csv_rows(text: str, max_rows: int, max_columns: int) -> list[tuple[int, list[str]]]:
    rows = _Rows(max_rows, max_columns)
    reader = csv.reader(io.StringIO(text))
    try:
        for number, row in enumerate(reader, start=1):
            rows.add(number, row)
    except csv.Error as exc:  # a field past csv.field_size_limit(), an unclosed quote …
        raise TableError(f"CSV 第 {reader.line_num} 行无法读取（某一格内容过长或引号不配对），"
                         "请检查后另存为 UTF-8 CSV 再导入") from exc
    return rows.rows


def _xlsx_rows(data: bytes, max_rows: int, max_columns: int) -> list[tuple[int, list[str]]]:
    try:  # the zip's central directory only: nothing is unpacked yet
        isolation.check_zip(data, "Excel 文件", broken="不是有效的 Excel (.xlsx) 文件")
    except isolation.Refused as exc:
        raise TableError(str(exc)) from None
    bad_file = (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, AttributeError, IndexError)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except bad_file as exc:
        raise TableError("不是有效的 Excel (.xlsx) 文件") from exc
    try:
        if not workbook.worksheets:
            raise TableError("Excel 文件中没有工作表")
        sheet = workbook.worksheets[0]
        # The declared size (<dimension ref="A1:XFD1048576"/>) is a cheap first refusal; it
        # is not trusted: the rows are streamed and counted as they come.
        declared_rows, declared_columns = _declared(sheet)
        if declared_rows is not None and declared_rows > max_rows + 1:
            raise TableError(f"工作表声明的范围过大（{declared_rows} 行），超过上限（最多 {max_rows} 行数据），"
                             "请删除多余的行后另存再导入")
        if declared_columns is not None and declared_columns > max_columns:
            raise TableError(f"工作表声明的范围过大（{declared_columns} 列），超过上限（最多 {max_columns} 列），"
                             "请删除多余的列后另存再导入")
        rows = _Rows(max_rows, max_columns)
        # max_col bounds the padding openpyxl adds to every row (one column more than the cap,
        # so that data past it is refused rather than cut); max_row bounds the empty rows it
        # yields for gaps, so a last row at 1048576 costs nothing.
        last = max_rows + 1 + EMPTY_ROWS_TOLERATED
        for number, row in enumerate(sheet.iter_rows(values_only=True, max_col=max_columns + 1, max_row=last),
                                     start=1):
            rows.add(number, row)
        if _has_rows_after(sheet, last):
            raise TableError(f"行数超过上限（最多 {max_rows} 行数据），请分成几个文件导入")
        return rows.rows
    except TableError:
        raise
    except bad_file as exc:
        raise TableError("不是有效的 Excel (.xlsx) 文件") from exc
    finally:
        workbook.close()


def _has_rows_after(sheet, last: int) -> bool:
    """Whether the sheet has any row past ``last`` (streamed; the first one found answers)."""
    # max_row is explicit: left out, openpyxl would stop at the declared size, which may lie.
    for _row in sheet.iter_rows(min_row=last + 1, max_row=EXCEL_MAX_ROWS, max_col=1, values_only=True):
        return True
    return False


def _declared(sheet) -> tuple[int | None, int | None]:
    try:
        return sheet.max_row, sheet.max_column
    except (ValueError, TypeError, AttributeError):
        return None, None


def template_xlsx(headers: list[str], example: list[str] | None = None, title: str = "模板") -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    sheet.append(headers)
    if example:
        sheet.append(example)
    for i, header in enumerate(headers, start=1):
        sheet.column_dimensions[sheet.cell(1, i).column_letter].width = max(12, len(header) * 3)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def template_csv(headers: list[str], example: list[str] | None = None) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    if example:
        writer.writerow(example)
    return buffer.getvalue().encode("utf-8-sig")  # the BOM makes Excel open it as UTF-8
