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
