"""Exports that cannot carry formulas: every CSV and XLSX the site writes keeps a value that
starts like a formula (=, +, -, @, tab, carriage return) as text (OWASP CSV injection)."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from school.accounts.models import Role
from school.export_cells import FORMULA_STARTS
from school.extensions import db

EVIL_NAME = '=HYPERLINK("http://evil.example/","点我")'
EVIL_ORG = "+SUM(1,1)"
EVIL_TEXT = "@cmd|' /C calc'!A0"
EVIL_STEM = "-2+3 是多少？"


@pytest.fixture
def world(make):
    t = make.tree()
    branch = make.org(EVIL_ORG, t["a"])
    member = make.user(org=branch, name=EVIL_NAME)
    secretary = make.user(org=t["root"], role=Role.SECRETARY)
    editor = make.user(org=t["root"], role=Role.EDITOR)
    make.entry(member, 2, description=EVIL_TEXT)
    bank = [make.question("truefalse", EVIL_STEM)]
    exam = make.exam(bank, title="\t=1+1")
    make.attempt(exam, member)
    return dict(t=t, member=member, secretary=secretary, editor=editor, exam=exam)


def _xlsx_cells(data: bytes):
    book = load_workbook(io.BytesIO(data))
    return [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row if cell.value is not None]


def _assert_xlsx_safe(data: bytes, *texts):
    cells = _xlsx_cells(data)
    assert [c.value for c in cells if c.data_type == "f"] == []
    values = {c.value for c in cells}
    for text in texts:
        assert any(isinstance(v, str) and text in v for v in values), f"{text!r} not written"
    for cell in cells:
        if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
            assert cell.data_type == "s" and cell.quotePrefix


def test_every_xlsx_export_writes_formula_like_text_as_text(client, auth, world):
    auth.login(world["secretary"])
    member_id = world["member"].id
    for url in ("/reports/export.xlsx", f"/reports/members/{member_id}/record.xlsx",
                f"/exams/results/{world['exam'].id}.xlsx"):
        response = client.get(url)
        assert response.status_code == 200, url
        _assert_xlsx_safe(response.data, EVIL_NAME)
    auth.logout()
    auth.login(world["member"])
    _assert_xlsx_safe(client.get("/my/record.xlsx").data, EVIL_NAME, EVIL_TEXT)
    auth.logout()
    auth.login(world["editor"])
    _assert_xlsx_safe(client.get("/exams/bank/export.xlsx").data, EVIL_STEM)


def test_csv_export_prefixes_formula_like_cells(client, auth, world):
    auth.login(world["secretary"])
    text = client.get("/reports/export.csv").data.decode("utf-8-sig")
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "'" + EVIL_NAME in cells and "'" + EVIL_ORG in cells
    assert not [c for c in cells if c.startswith(FORMULA_STARTS)]


def test_cli_report_is_safe_too(app, runner, world, tmp_path):
    for fmt in ("xlsx", "csv"):
        target = tmp_path / f"report.{fmt}"
        result = runner.invoke(args=["reports", "branch", "青山镇党委", "--format", fmt, "-o", str(target)])
        assert result.exit_code == 0, result.output
        if fmt == "xlsx":
            _assert_xlsx_safe(target.read_bytes(), EVIL_NAME)
        else:
            cells = [c for row in csv.reader(io.StringIO(target.read_text("utf-8-sig"))) for c in row]
            assert "'" + EVIL_NAME in cells
    db.session.rollback()
