"""Exports that cannot carry formulas: every CSV and XLSX the site writes keeps a value that
starts like a formula (=, +, -, @, tab, carriage return) as text (OWASP CSV injection), and
drops the characters a spreadsheet file cannot carry instead of failing on them."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from school.accounts.models import Role
from school.export_cells import FORMULA_STARTS, NOT_XML, sheet_title
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


# --- characters a spreadsheet file cannot carry ---------------------------------------------
# openpyxl refuses control characters (IllegalCharacterError) and lxml refuses U+FFFF and lone
# surrogates: one of them in a name used to make the whole export a 500.

CONTROL_NAME = "a\x01b"
FORMULA_NAME = "=cmd|x"
HIDDEN_FORMULA = "\x02=cmd|y"  # the control character dropped, it starts like a formula
NONCHAR_NAME = "甲\uffff乙"
LONG_ORG = "\x03东[村]:党*支?部/第\\一'小组" + "很长的名字" * 8  # forbidden in sheet titles, and > 31


@pytest.fixture
def unprintable(make):
    t = make.tree()
    branch = make.org(LONG_ORG, t["root"])  # a child of the report's org: a sheet of its own
    members = [make.user(org=branch, name=name)
               for name in (CONTROL_NAME, FORMULA_NAME, HIDDEN_FORMULA, NONCHAR_NAME)]
    for member in members:
        make.entry(member, 1, description="学习\x04笔记")
    secretary = make.user(org=t["root"], role=Role.SECRETARY)
    editor = make.user(org=t["root"], role=Role.EDITOR)
    exam = make.exam([make.question("truefalse", "判断\x05题")], title="考试\x06")
    make.attempt(exam, members[0])
    cls = make.training_class(t["root"], [branch], title="专题班\x07")
    make.enrolment(cls, members[0])
    return dict(members=members, secretary=secretary, editor=editor, exam=exam, cls=cls)


def _assert_clean_xlsx(data: bytes, *texts):
    """The file opens; no value keeps a character XML refuses; ``texts`` are there."""
    _assert_xlsx_safe(data, *texts)
    book = load_workbook(io.BytesIO(data))
    for sheet in book.worksheets:
        assert len(sheet.title) <= 31 and not set(sheet.title) & set("[]:*?/\\"), sheet.title
        assert not sheet.title.startswith("'") and not sheet.title.endswith("'")
    for cell in _xlsx_cells(data):
        if isinstance(cell.value, str):
            assert not NOT_XML.search(cell.value), repr(cell.value)
    return book


def test_xlsx_exports_drop_characters_xml_refuses(client, auth, unprintable):
    auth.login(unprintable["secretary"])
    book = _assert_clean_xlsx(client.get("/reports/export.xlsx").data, "ab", FORMULA_NAME, "=cmd|y", "甲乙")
    branch_sheet = [s.title for s in book.worksheets if s.title.startswith("东村")]
    assert branch_sheet == ["东村党支部第一'小组" + ("很长的名字" * 8)[:21]], [s.title for s in book.worksheets]
    hidden = [c for c in _xlsx_cells(client.get("/reports/export.xlsx").data) if c.value == "=cmd|y"]
    assert hidden and all(c.data_type == "s" and c.quotePrefix for c in hidden)
    for member in unprintable["members"]:
        response = client.get(f"/reports/members/{member.id}/record.xlsx")
        assert response.status_code == 200, member.name
        _assert_clean_xlsx(response.data, "学习笔记")
    for url in (f"/exams/results/{unprintable['exam'].id}.xlsx", f"/training/manage/{unprintable['cls'].id}/roster.xlsx"):
        response = client.get(url)
        assert response.status_code == 200, url
        _assert_clean_xlsx(response.data, "ab")
    auth.logout()
    auth.login(unprintable["members"][0])
    response = client.get("/my/record.xlsx")
    assert response.status_code == 200
    _assert_clean_xlsx(response.data, "ab", "学习笔记")
    auth.logout()
    auth.login(unprintable["editor"])
    _assert_clean_xlsx(client.get("/exams/bank/export.xlsx").data, "判断题")


def test_csv_export_drops_them_too_and_keeps_the_formula_guard(client, auth, unprintable):
    auth.login(unprintable["secretary"])
    response = client.get("/reports/export.csv")
    assert response.status_code == 200
    cells = [c for row in csv.reader(io.StringIO(response.data.decode("utf-8-sig"))) for c in row]
    assert {"ab", "'" + FORMULA_NAME, "'=cmd|y", "甲乙"} <= set(cells)
    assert not [c for c in cells if c.startswith(FORMULA_STARTS) or NOT_XML.search(c)]


@pytest.mark.parametrize("name, used, expected", [
    ("东村党支部", set(), "东村党支部"),
    ("a\x01[b]:c*d?e/f\\g", set(), "abcdefg"),
    ("'引号'", set(), "引号"),
    ("[]:*?", set(), "工作表"),
    ("长" * 40, set(), "长" * 31),
    ("长" * 40, {"长" * 31}, "长" * 28 + "(2)"),
    ("长" * 40, {"长" * 31} | {"长" * 28 + f"({n})" for n in range(2, 10)} | {"长" * 27 + f"({n})" for n in range(10, 100)},
     "长" * 26 + "(100)"),
    ("汇总", {"汇总"}, "汇总(2)"),
])
def test_sheet_titles(name, used, expected):
    used = set(used)
    assert sheet_title(name, used) == expected
    assert expected.lower() in used and len(expected) <= 31
