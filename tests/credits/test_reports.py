"""Branch reports: aggregates, drill-down, behind lists, charts, exports, scoping, query count."""
from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import event, select, update

from school.accounts.models import Category, Role, User
from school.credits import ledger, reports, requirements
from school.credits.ledger import to_hours
from school.extensions import db

NOW = datetime(2026, 6, 1, 4, 0)
YEAR = 2026


@pytest.fixture
def world(make):
    t = make.tree()
    people = {
        "a1_done": make.user(org=t["a1"], name="甲"),
        "a1_half": make.user(org=t["a1"], name="乙"),
        "a2_none": make.user(org=t["a2"], name="丙", category=Category.COMMITTEE),
        "a_float": make.user(org=t["a"], name="丁", is_floating=True),
        "b1_done": make.user(org=t["b1"], name="戊"),
        "root_m": make.user(org=t["root"], name="己"),
    }
    ledger.award(people["a1_done"], 20, "online", "reading", "k1", NOW)
    ledger.award(people["a1_done"], 12, "concentrated", "offline", "k2", NOW)
    ledger.award(people["a1_half"], 16, "online", "video", "k3", NOW)
    ledger.award(people["a_float"], 5, "online", "video", "k4", NOW)
    ledger.award(people["b1_done"], 40, "online", "video", "k5", NOW)
    ledger.award(people["root_m"], 1, "online", "video", "k6", datetime(2025, 6, 1))  # another year
    db.session.commit()
    return dict(t=t, **people)


def test_drill_down_lines_and_behind(world):
    t = world["t"]
    report = reports.org_report(t["a"], reports.Period(YEAR))
    assert report.total.members == 4
    assert report.total.hours == Decimal("53.00") and report.total.met == 1
    lines = {line.name: line for line in report.children}
    assert set(lines) == {"东村党支部", "西村党支部", "本级党员"}
    assert (lines["东村党支部"].members, lines["东村党支部"].met, lines["东村党支部"].average) == (2, 1, Decimal("24.00"))
    assert (lines["本级党员"].floating, lines["本级党员"].floating_met) == (1, 0)
    behind = reports.behind(t["a"], reports.Period(YEAR), floating=False)
    assert [(r.name, to_hours(r.missing)) for r in behind] == [("丙", Decimal("56.00")), ("乙", Decimal("16.00"))]
    floating = reports.behind(t["a"], reports.Period(YEAR), floating=True)
    assert [(r.name, to_hours(r.missing)) for r in floating] == [("丁", Decimal("27.00"))]
    school = reports.org_report(None, reports.Period(YEAR))
    assert [line.name for line in school.children] == ["青山镇党委"] and school.total.members == 6


def test_per_kind_minimum_and_floating_requirement(world, make):
    admin = make.user(role=Role.ADMIN)
    requirements.set_requirement(YEAR, Category.FULL, 32, admin, NOW, online=10, concentrated=16)
    requirements.set_requirement(YEAR, requirements.FLOATING, 5, admin, NOW)
    db.session.commit()
    rows = {r.name: r for r in db.session.execute(reports.member_rows(world["t"]["root"], reports.Period(YEAR)))}
    assert (to_hours(rows["甲"].gap_concentrated), to_hours(rows["甲"].missing), rows["甲"].met) == (Decimal("4.00"), Decimal("4.00"), 0)
    assert (to_hours(rows["戊"].gap_concentrated), to_hours(rows["戊"].missing)) == (Decimal("16.00"), Decimal("16.00"))
    assert rows["丁"].met == 1  # floating members are measured against their own row


def test_statements_are_kept_per_shape_and_follow_requirement_changes(world, make):
    """The built statements are reused for every organisation (the subtree is a parameter) and
    rebuilt when the year's requirement changes (the requirement table is part of the shape)."""
    t, period = world["t"], reports.Period(YEAR)
    shape = reports.Shape.of(t["a"], period)
    assert shape == reports.Shape.of(t["b"], period)
    assert reports._behind(shape, False, "missing") is reports._behind(reports.Shape.of(t["b"], period), False, "missing")
    assert (reports.org_report(t["a"], period).total.members, reports.org_report(t["b"], period).total.members) == (4, 1)
    assert [r.name for r in reports.behind(t["b"], period, floating=False)] == []
    assert reports.org_report(t["a"], period).total.met == 1
    requirements.set_requirement(YEAR, Category.FULL, 12, make.user(role=Role.ADMIN), NOW)
    db.session.commit()
    assert reports.Shape.of(t["a"], period) != shape
    assert reports.org_report(t["a"], period).total.met == 2  # 乙's 16 hours now meet the 12 required
    assert [r.name for r in reports.behind(t["a"], period, floating=False)] == ["丙"]


def test_date_range(world):
    period = reports.Period.parse(None, "2026-06-01", "2026-06-30", date(2026, 7, 1))
    assert reports.org_report(world["t"]["a1"], period).total.hours == Decimal("48.00")
    period = reports.Period.parse(None, "2026-07-01", "2026-07-30", date(2026, 8, 1))
    assert reports.org_report(world["t"]["a1"], period).total.hours == Decimal("0")
    with pytest.raises(reports.ReportError, match="开始日期不能晚于结束日期"):
        reports.Period.parse(None, "2026-07-01", "2026-06-01", date(2026, 8, 1))
    with pytest.raises(reports.ReportError, match="日期格式"):
        reports.Period.parse(None, "2026-13-01", "", date(2026, 8, 1))


def test_metric_hook_adds_a_column(world, monkeypatch):
    """Columns from other packages (courses completed, exams passed) join through METRICS."""
    from sqlalchemy import func

    from school.credits.models import CreditEntry

    def exams(period):
        return (select(CreditEntry.member_id, func.count().label("n"))
                .where(CreditEntry.source == "video", *period.entry_conditions()).group_by(CreditEntry.member_id))

    monkeypatch.setattr(reports, "METRICS", [reports.Metric("videos", "视频条数", exams)])
    report = reports.org_report(world["t"]["root"], reports.Period(YEAR))
    assert report.total.metrics["videos"] == 3


members_strategy = st.lists(st.tuples(
    st.integers(0, 5),  # organisation index
    st.sampled_from(list(Category)),
    st.booleans(),  # floating
    st.lists(st.tuples(st.sampled_from(["online", "concentrated"]),
                       st.decimals(min_value=Decimal("0.01"), max_value=Decimal("30"), places=2),
                       st.sampled_from([2025, 2026])), max_size=5),
), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=members_strategy, online_min=st.sampled_from([0, 8]), reverse_first=st.booleans())
def test_aggregates_equal_a_plain_python_computation(app, make, people, online_min, reverse_first):
    # Hypothesis runs many examples on one database. The ledger is append-only (a trigger
    # refuses DELETE), so earlier examples are not deleted: their members are deactivated
    # (reports count active members only) and every example gets a tree and keys of its own.
    db.session.rollback()
    db.session.execute(update(User).values(active=False))
    db.session.commit()
    t = make.tree()
    orgs = [t["root"], t["a"], t["b"], t["a1"], t["a2"], t["b1"]]
    admin = make.user(org=None, role=Role.ADMIN)
    requirements.set_requirement(YEAR, Category.FULL, 32, admin, NOW, online=online_min)
    expected = {}
    for n, (org_index, category, floating, awards) in enumerate(people):
        member = make.user(org=orgs[org_index], category=category, is_floating=floating)
        first = None
        for i, (kind, hours, year) in enumerate(awards):
            entry = ledger.award(member, hours, kind, "video", f"h{member.id}:{i}", datetime(year, 5, 1))
            first = first or entry
        if reverse_first and first is not None:
            ledger.reverse(first, "重复", admin, NOW)
        db.session.flush()
        by_kind = ledger.balances_by_kind(member, YEAR)
        req = requirements.requirement(member, YEAR)
        expected[member.id] = (orgs[org_index], by_kind, req.met(by_kind["online"], by_kind["concentrated"]), floating)
    db.session.commit()
    for org in [None, t["root"], t["a"], t["a1"], t["b"]]:
        inside = {mid: v for mid, v in expected.items() if org is None or v[0].path.startswith(org.path)}
        report = reports.org_report(org, reports.Period(YEAR))
        assert report.total.members == len(inside)
        assert report.total.hours == sum((sum(v[1].values()) for v in inside.values()), Decimal("0"))
        assert report.total.met == sum(1 for v in inside.values() if v[2])
        assert report.total.floating_met == sum(1 for v in inside.values() if v[2] and v[3])
        assert sum(report.buckets) == len(inside) and report.buckets[-1] == report.total.met
        for line in report.children:
            sub = [v for v in inside.values() if v[0].path.startswith(line.path)
                   and (line.name != "本级党员" or v[0].path == line.path)]
            assert line.members == len(sub)
            assert line.hours == sum((sum(v[1].values()) for v in sub), Decimal("0"))
            assert line.met == sum(1 for v in sub if v[2])
        behind = reports.behind(org, reports.Period(YEAR), floating=False, limit=1000) + \
            reports.behind(org, reports.Period(YEAR), floating=True, limit=1000)
        assert {r.member_id for r in behind} == {mid for mid, v in inside.items() if not v[2]}


# --- pages, charts, exports -------------------------------------------------------------


@contextmanager
def count_queries():
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


@pytest.mark.parametrize("size", [1, 6])
def test_query_count_does_not_grow_with_members_or_orgs(client, auth, make, size):
    t = make.tree()
    for i in range(size):
        branch = make.org(f"新支部{i}", t["a"])
        for j in range(size):
            member = make.user(org=branch, is_floating=j == 0)
            ledger.award(member, j + 1, "online", "video", f"q{i}:{j}", NOW)
    db.session.commit()
    auth.login(make.user(org=t["a"], role=Role.SECRETARY))
    urls = [f"/reports/?year={YEAR}", f"/reports/?org={t['a'].id}&year={YEAR}&sort=org",
            f"/reports/chart/orgs.svg?year={YEAR}", f"/reports/chart/distribution.svg?year={YEAR}",
            f"/reports/export.csv?year={YEAR}", f"/reports/export.xlsx?year={YEAR}"]
    for url in urls:
        with count_queries() as statements:
            response = client.get(url)
            assert response.status_code == 200
            response.get_data()
        # login session + user (2), the actor's organisation (1), requirements (1), child
        # organisations (1), the aggregate (1), the two behind lists (2), the breadcrumb (1),
        # the menu's unread notices and messages (1, pages only), the header's 待审批 count (1).
        assert len(statements) <= 11, "\n".join([url] + [s[:90] for s in statements])


def test_pages_show_and_link_down(client, auth, world, make):
    t = world["t"]
    auth.login(make.user(org=t["a"], role=Role.SECRETARY))
    page = client.get(f"/reports/?year={YEAR}").get_data(as_text=True)
    assert "第一党总支" in page and "东村党支部" in page and "西村党支部" in page
    assert "南村党支部" not in page and "戊" not in page and "己" not in page
    assert "丙" in page and "丁" in page  # behind, and the floating member separately
    down = client.get(f"/reports/?org={t['a1'].id}&year={YEAR}").get_data(as_text=True)
    assert "乙" in down and "丙" not in down
    assert client.get(f"/reports/?org={t['b'].id}").status_code == 404
    assert client.get(f"/reports/?org={t['root'].id}").status_code == 404
    assert "开始日期不能晚于结束日期" in client.get(
        "/reports/?start=2026-05-01&end=2026-04-01", follow_redirects=True).get_data(as_text=True)
    svg = client.get(f"/reports/chart/orgs.svg?year={YEAR}").get_data(as_text=True)
    assert svg.startswith("<svg") and "东村党支部" in svg and "南村" not in svg
    histogram = client.get(f"/reports/chart/distribution.svg?org={t['a1'].id}&year={YEAR}").get_data(as_text=True)
    assert "已达标：1 人" in histogram
    member = client.get(f"/reports/members/{world['a1_half'].id}?year={YEAR}").get_data(as_text=True)
    assert "乙" in member and "<strong>还差 16 学时，网络学习、集中培训均可计入</strong>" in member
    assert client.get(f"/reports/members/{world['b1_done'].id}").status_code == 404
    assert client.get(f"/reports/members/{world['root_m'].id}/record.xlsx").status_code == 404


def test_csv_and_xlsx_exports(client, auth, world, make):
    t = world["t"]
    auth.login(make.user(org=t["a"], role=Role.SECRETARY, name="书记"))  # a member of A as well
    response = client.get(f"/reports/export.csv?year={YEAR}")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0][:3] == ["所属党组织", "姓名", "党员编号"]
    names = {r[1] for r in rows[1:]}
    assert names == {"甲", "乙", "丙", "丁", "书记"}
    book = load_workbook(io.BytesIO(client.get(f"/reports/export.xlsx?year={YEAR}").data))
    assert book.sheetnames == ["汇总", "本级党员", "东村党支部", "西村党支部"]
    summary = list(book["汇总"].iter_rows(values_only=True))
    assert summary[0][:3] == ("党组织", "党员人数", "合计学时")
    assert summary[-1][1] == 5 and summary[-1][2] == 53
    east = list(book["东村党支部"].iter_rows(values_only=True))
    assert {r[1] for r in east[1:]} == {"甲", "乙"} and book["东村党支部"].freeze_panes == "A2"
    assert "戊" not in str([list(s.iter_rows(values_only=True)) for s in book.worksheets])
    assert client.get(f"/reports/export.xlsx?org={t['b'].id}").status_code == 404
    assert client.get(f"/reports/export.csv?org={t['root'].id}").status_code == 404


def test_cli_branch_report(runner, world, tmp_path):
    target = tmp_path / "report.xlsx"
    result = runner.invoke(args=["reports", "branch", "第一党总支", "--year", str(YEAR), "--format", "xlsx",
                                 "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "东村党支部" in load_workbook(target).sheetnames
    target = tmp_path / "report.csv"
    result = runner.invoke(args=["reports", "branch", "青山镇党委/第二党总支", "--year", str(YEAR),
                                 "--format", "csv", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert "戊" in target.read_text(encoding="utf-8-sig")
    missing = runner.invoke(args=["reports", "branch", "不存在的支部", "-o", str(target)])
    assert missing.exit_code != 0 and "找不到党组织" in missing.output
    assert "学时报表" in runner.invoke(args=["reports", "branch", "--help"]).output
