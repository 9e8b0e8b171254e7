"""Reading uploaded spreadsheets (CSV in any encoding Excel writes, or XLSX) into rows.

Shared by every importer: members here, question banks later.
"""
from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass

from openpyxl import Workbook, load_workbook


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
    if not data:
        raise TableError("文件是空的")
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        raw_rows = _xlsx_rows(data)
    elif lower.endswith(".csv") or lower.endswith(".txt"):
        text = decode_text(data)
        if "\x00" in text:
            raise TableError("文件不是文本格式的 CSV")
        raw_rows = list(csv.reader(io.StringIO(text)))
    else:
        raise TableError("只支持 .csv 或 .xlsx 文件")
    raw_rows = [[_clean(v) for v in row] for row in raw_rows]
    start = next((i for i, row in enumerate(raw_rows) if any(row)), None)
    if start is None:
        raise TableError("文件中没有数据")
    headers = raw_rows[start]
    rows = []
    for offset, row in enumerate(raw_rows[start + 1:], start=start + 2):
        if not any(row):
            continue
        rows.append((offset, {h: (row[i] if i < len(row) else "") for i, h in enumerate(headers) if h}))
    return Table(headers=[h for h in headers if h], rows=rows)


def _xlsx_rows(data: bytes) -> list[list]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise TableError("不是有效的 Excel (.xlsx) 文件") from exc
    try:
        sheet = workbook.worksheets[0]
        return [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


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
