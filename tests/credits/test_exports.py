"""The branch report's XLSX and CSV exports give exactly what the report's own SQL gives.

The exports read a flat statement (``reports.export_rows``), compute each member's gaps in
floating point, render repeated cells once and sum the summary sheet from the member rows.
These tests rebuild every cell the way the export wrote it before: from ``reports.all_members``
(the layered SQL that computes the gaps in the database) and ``reports.org_report``."""
from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from school.accounts.models import Category, Role, User
from school.credits import exports, ledger, reports, requirements
from school.credits.models import CreditEntry
from school.export_cells import clean, csv_row
from school.extensions import db

YEAR = 2026
NOW = datetime(2026, 6, 1, 4, 0)
hours = exports._hours


def _videos(period):
    return (select(CreditEntry.member_id, func.count().label("n"))
            .where(CreditEntry.source == "video", *period.entry_conditions()).group_by(CreditEntry.member_id))


def expected_member_rows(org, period, metrics):
    """Each member's cells as the export computed them from the report's SQL."""
    rows = db.session.execute(reports.all_members(org, period)).all()
    return [(row.org_path, [row.org_name, row.name, row.member_no, reports.group_label(row), hours(row.online),
                            hours(row.concentrated), hours(row.total), hours(row.req_total), hours(row.gap_online),
                            hours(row.gap_concentrated), hours(row.missing), "是" if row.met else "否",
                            *[hours(getattr(row, m.key)) for m in metrics]]) for row in rows]


def expected_book(org, period):
    metrics = list(reports.METRICS)
    report = reports.org_report(org, period)
    summary = [exports.SUMMARY_HEADERS + [m.label for m in metrics]]
    for line in report.children + [report.total]:
        values = exports.summary_values(line, metrics)
        if line is report.total:
            values[0] = f"合计：{line.name}（{period.label}）"
        summary.append(values)
    sheets = {"汇总": summary}
    names = {line.path: line.name for line in report.children}
    prefix = report.total.path
    headers = exports.MEMBER_HEADERS + [m.label for m in metrics]
    order = ["汇总"]
    for path, values in expected_member_rows(org, period, metrics):
        rest = path[len(prefix):]
        key = prefix + rest.split("/", 1)[0] + "/" if rest else prefix
        title = names.get(key, "本级党员") if key != prefix else "本级党员"
        if title not in sheets:
            sheets[title] = [headers]
            order.append(title)
        sheets[title].append(values)
    return order, sheets


def written_book(org, period):
    target = io.BytesIO()
    exports.write_xlsx(org, period, target)
    return load_workbook(io.BytesIO(target.getvalue()))


def assert_same_as_report(org, period):
    order, sheets = expected_book(org, period)
    book = written_book(org, period)
    assert book.sheetnames == order
    for title in order:
        sheet = book[title]
        got = [list(row) for row in sheet.iter_rows(values_only=True)]
        assert got == [[clean(v) or None if isinstance(v, str) else v for v in row] for row in sheets[title]], title
        assert sheet.freeze_panes == "A2"
        header = sheet["A1"]
        assert header.font.b and header.fill.fgColor.rgb.endswith("F5E0E0") and header.alignment.horizontal == "center"
        if title == "汇总":
            assert [sheet.cell(2, col).number_format for col in (3, 4, 6)] == ["0.00", "0.00", "0%"]
        elif sheet.max_row > 1:
            assert {sheet.cell(2, col).number_format for col in range(5, 12)} == {"0.00"}
            assert sheet.cell(2, 4).number_format == sheet.cell(2, 12).number_format == "General"
    # The CSV: the same member cells, in the same order.
    cells = exports.MemberCells(period, list(reports.METRICS))
    text = "".join(exports.csv_lines(reports.export_rows(org, period), cells, db.session))
    buffer = io.StringIO()
    csv.writer(buffer).writerows(csv_row(values) for _, values in expected_member_rows(org, period, reports.METRICS))
    assert text.lstrip("\ufeff").split("\r\n", 1)[1] == buffer.getvalue()


members_strategy = st.lists(st.tuples(
    st.integers(0, 5),  # organisation index
    st.sampled_from(list(Category)),
    st.booleans(),  # floating
    st.lists(st.tuples(st.sampled_from(["online", "concentrated"]),
                       st.decimals(min_value=Decimal("0.01"), max_value=Decimal("40"), places=2),
                       st.sampled_from([2025, 2026])), max_size=6),
), min_size=1, max_size=14)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=members_strategy, online_min=st.sampled_from([0, 8, Decimal("10.05")]),
       concentrated_min=st.sampled_from([0, Decimal("12.35")]), floating_total=st.sampled_from([5, 32]))
def test_xlsx_and_csv_cells_equal_the_reports_sql(app, make, monkeypatch, people, online_min, concentrated_min,
                                                   floating_total):
    """Random hours in cents (sums that are not exact in floating point), per-kind minimums, the
    floating members' own requirement, reversals and a metric column."""
    db.session.rollback()
    db.session.execute(update(User).values(active=False))  # earlier examples' members (the ledger is append-only)
    db.session.commit()
    monkeypatch.setattr(reports, "METRICS", [reports.Metric("videos", "视频条数", _videos)])
    t = make.tree()
    orgs = [t["root"], t["a"], t["b"], t["a1"], t["a2"], t["b1"]]
    admin = make.user(org=None, role=Role.ADMIN)
    requirements.set_requirement(YEAR, Category.FULL, 32, admin, NOW, online=online_min, concentrated=concentrated_min)
    requirements.set_requirement(YEAR, requirements.FLOATING, floating_total, admin, NOW)
    for n, (org_index, category, floating, awards) in enumerate(people):
        member = make.user(org=orgs[org_index], category=category, is_floating=floating, name=f"党员{n}")
        for i, (kind, amount, year) in enumerate(awards):
            entry = ledger.award(member, amount, kind, "video" if i % 2 else "reading", f"x{member.id}:{i}",
                                 datetime(year, 5, 1))
            if i == 2:
                ledger.reverse(entry, "重复", admin, NOW)
    db.session.commit()
    for org in [None, t["root"], t["a"], t["a1"]]:
        assert_same_as_report(org, reports.Period(YEAR))


def test_export_of_the_world_with_formula_names_and_control_characters(app, make):
    t = make.tree()
    make.user(org=t["a1"], name="=1+1\x07")
    make.user(org=t["a1"], name="@SUM(A1)", member_no="-5")
    make.user(org=t["a2"], name="李_x0041_ 四 ")
    make.user(org=t["root"], name="本级\x1f")  # (PostgreSQL refuses NUL)
    db.session.commit()
    assert_same_as_report(t["root"], reports.Period(YEAR))
    book = written_book(t["root"], reports.Period(YEAR))
    names = {sheet.cell(row, 2).value: sheet.cell(row, 2) for sheet in book.worksheets[1:]
             for row in range(2, sheet.max_row + 1)}
    assert set(names) == {"=1+1", "@SUM(A1)", "李_x0041_ 四 ", "本级"}
    assert names["=1+1"].data_type == "s" and names["=1+1"].quotePrefix


@given(online=st.decimals(min_value=0, max_value=600, places=2), concentrated=st.decimals(min_value=0, max_value=600, places=2),
       required=st.tuples(st.decimals(min_value=0, max_value=1000, places=2), st.decimals(min_value=0, max_value=500, places=2),
                          st.decimals(min_value=0, max_value=500, places=2)))
@settings(max_examples=3000, deadline=None)
def test_float_status_gives_the_exact_figures_cells(online, concentrated, required):
    """The export's floating-point gaps round to the same cells as the exact decimals, with the
    hours as SQLite hands them back (floats) and as PostgreSQL does (Decimal)."""
    table = {"full": requirements.Requirement(*required)}
    exact = reports.member_status(table, "full", online, concentrated)
    figures = exports.float_status(tuple(float(v) for v in required), float(online), float(concentrated))
    assert [hours(v) for v in figures[:5]] == [hours(v) for v in (exact.total, exact.required, exact.gap_online,
                                                                   exact.gap_concentrated, exact.missing)]
    assert figures[5] == exact.met


@pytest.mark.parametrize("limit", [1, 1024])
def test_cell_memo_limit_does_not_change_the_book(app, make, monkeypatch, limit):
    """The per-column memo is emptied when full: the cells stay the same."""
    monkeypatch.setattr(exports._MemberXlsxCells, "LIMIT", limit)
    t = make.tree()
    for i in range(6):
        member = make.user(org=t["a1"] if i % 2 else t["b1"], name=f"成员{i}")
        ledger.award(member, Decimal("1.1") * (i + 1), "online", "video", f"m{i}", NOW)
        ledger.award(member, Decimal("0.7") * (i + 1), "concentrated", "offline", f"n{i}", NOW)
    db.session.commit()
    assert_same_as_report(None, reports.Period(YEAR))
