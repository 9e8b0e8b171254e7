"""``export_cells.XlsxBook``: every XLSX export's writer (XlsxWriter, constant memory)."""
from __future__ import annotations

import io
import os
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from school.export_cells import XlsxBook, xlsx_bytes


def test_values_formats_and_the_formula_guard():
    def fill(book):
        sheet = book.sheet("名单", widths=[12, 20], freeze_header=True)
        sheet.append(["姓名", "学时"], book.style(bold=True))
        sheet.append(["=1+1", Decimal("1.25"), True, None, date(2026, 1, 2), datetime(2026, 1, 2, 3, 4, 5)],
                     styles={1: book.style(num_format="0.00")})
        sheet.append(["a\x01b", "http://example.cn", "007", 3])
        book.sheet("名单")  # the same title again: made unique, as sheet_title does

    book = load_workbook(io.BytesIO(xlsx_bytes(fill)))
    assert book.sheetnames == ["名单", "名单(2)"]
    sheet = book["名单"]
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.b
    formula, hours, flag, empty, day, moment = sheet[2][:6]
    assert formula.value == "=1+1" and formula.data_type == "s" and formula.quotePrefix
    assert hours.value == 1.25 and hours.number_format == "0.00"
    assert flag.value is True and empty.value is None
    assert day.value == datetime(2026, 1, 2) and moment.value == datetime(2026, 1, 2, 3, 4, 5)
    # Control characters dropped; strings never become links or numbers.
    assert [c.value for c in sheet[3]][:4] == ["ab", "http://example.cn", "007", 3] and not sheet["B3"].hyperlink


def test_text_survives_as_typed():
    texts = [" 前后空格 ", "a & b < c > d", "_x0041_ 不是 A", "", "换行\n第二行", "长" * 40000, "-0.5", "0"]

    def fill(book):
        sheet = book.sheet("文字")
        sheet.merge_row(3, "标题 & 副标题", book.style(bold=True, font_size=16))
        sheet.append(texts)
        sheet.append([0, -1.5, 10 ** 15, float("nan")])

    book = load_workbook(io.BytesIO(xlsx_bytes(fill)))
    sheet = book.active
    assert sheet["A1"].value == "标题 & 副标题" and sheet["A1"].font.b and sheet["A1"].font.sz == 16
    assert [str(r) for r in sheet.merged_cells.ranges] == ["A1:D1"]
    row = [c.value for c in sheet[2]]
    assert row[:2] == texts[:2] and row[3] is None and row[4] == texts[4]
    # Excel reads "_xHHHH_" in a cell's text as an escaped character: a literal one is written
    # with its underscore escaped, as XlsxWriter does, so it reads back as typed.
    assert row[2] == "_x0041_ 不是 A"
    assert row[5] == "长" * 32767  # Excel's limit for a cell
    assert row[6:8] == ["-0.5", "0"] and sheet["G2"].quotePrefix  # "-0.5" starts like a formula
    assert [c.value for c in sheet[3]][:4] == [0, -1.5, 10 ** 15, "nan"]


def test_rows_are_not_kept_in_memory():
    with XlsxBook(io.BytesIO()) as book:
        sheet = book.sheet("大表")
        for n in range(5000):
            sheet.append([f"党员{n}", n, n / 3])
            # Constant memory: only the row being written is held, earlier ones are in the file.
            assert len(sheet.worksheet.table) <= 1


def test_a_failed_export_leaves_no_temporary_files():
    target = io.BytesIO()
    with pytest.raises(RuntimeError):
        with XlsxBook(target) as book:
            book.sheet("名单").append(["张三"])
            folder = book.tmpdir
            assert os.listdir(folder)  # the sheet's row file
            raise RuntimeError("the query failed")
    assert not os.path.exists(folder)
    done = XlsxBook(io.BytesIO())
    done.sheet("名单").append(["李四"])
    done.close()
    assert not os.path.exists(done.tmpdir)


def _sheet_xml(data: bytes, name: str = "xl/worksheets/sheet1.xml") -> bytes:
    import zipfile
    return zipfile.ZipFile(io.BytesIO(data)).read(name)


def test_rendered_tail_writes_the_same_cells_as_append():
    """``render`` once, ``append(…, tail=…)`` on many rows and sheets: the same sheet XML as
    appending every value, shared-string counts included."""
    rows = [["甲", "B001", "是", 1.5, None, Decimal("2.25"), "=x", 7],
            ["乙2", "-3", "是", 1.5, None, Decimal("2.25"), "=x", 7],
            ["丙", "", "是", 1.5, None, Decimal("2.25"), "=x", 7]]

    def plain(book):
        styles = {3: book.style(num_format="0.00"), 4: book.style(num_format="0.00")}
        for title in ("一", "二"):
            sheet = book.sheet(title)
            for row in rows:
                sheet.append(row, styles=styles)

    def rendered(book):
        styles = {3: book.style(num_format="0.00"), 4: book.style(num_format="0.00")}
        tail = None
        for title in ("一", "二"):
            sheet = book.sheet(title)
            for row in rows:
                # rendered in parts, as the credits export does (one part per column)
                tail = tail or [sheet.render(row[2:5], 2, styles=styles), sheet.render(row[5:], 5, styles=styles)]
                if title == "一":
                    sheet.append(row[:2], styles=styles, tail=tail)
                else:  # names and numbers through ``text``: "-3" quoted, "" no cell
                    sheet.append((), tail=[sheet.text(row[0], 0), sheet.text(row[1], 1), *tail])

    a, b = xlsx_bytes(plain), xlsx_bytes(rendered)

    def described(data):
        book = load_workbook(io.BytesIO(data))
        return [[(c.coordinate, c.value, c.data_type, c.number_format, c.quotePrefix) for c in row]
                for sheet in book.worksheets for row in sheet.iter_rows()]

    def references(data):  # <sst count=…>: how many cells refer to a shared string
        import re
        return int(re.search(rb'<sst [^>]*count="(\d+)"', _sheet_xml(data, "xl/sharedStrings.xml")).group(1))

    assert described(a) == described(b)
    # The same references, but for the four names and numbers ``text`` wrote inline (甲, 乙2, 丙, B001).
    assert references(b) == references(a) - 4 == 18
    cells = [[c.value for c in row] for row in load_workbook(io.BytesIO(b))["二"].iter_rows()]
    assert cells[1] == ["乙2", "-3", "是", 1.5, None, 2.25, "=x", 7]
    with pytest.raises(ValueError):
        xlsx_bytes(lambda book: book.sheet("x").append(["a"], tail=[book.sheet("y").render([1], 2)]))


def test_compression_level_changes_the_size_not_the_content():
    def fill(book):
        sheet = book.sheet("名单")
        for i in range(2000):
            sheet.append([f"党员{i}", i * 0.25, "是"])

    def book_at(level):
        buffer = io.BytesIO()
        with XlsxBook(buffer, compresslevel=level) as book:
            fill(book)
        return buffer.getvalue()

    fast, default = book_at(1), book_at(None)
    assert len(fast) > len(default)
    assert _sheet_xml(fast) == _sheet_xml(default)
