"""credit_year_summary equals the ledger's aggregate after any history of writes.

Random histories from fixed seeds: awards (repeated keys included), reversals, corrections
(a reversal and a new award, as a regrade writes them), rows inserted by raw SQL, awards
rolled back, members moving between organisations, instants on both sides of a year's
boundary in China. After each history the summary must equal the ledger summed in SQL and
the totals the test kept itself, and the year's reports must read the same from the
summary as from the ledger. Runs on SQLite, and on PostgreSQL with SCHOOL_TEST_DATABASE_URL.
"""
import random
import threading
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from school.accounts.models import Category, OrgKind
from school.credits import ledger, reports, summary
from school.credits.models import CreditEntry, CreditYearSummary
from school.extensions import db
from school.timeutil import local_year

CENT = Decimal("0.01")
# China's midnight of 2026-01-01 is 2025-12-31 16:00 UTC: instants either side of it, and mid-year.
INSTANTS = [datetime(2025, 12, 31, 15, 59, 59), datetime(2025, 12, 31, 16, 0, 0), datetime(2025, 6, 1, 3, 0),
            datetime(2026, 12, 31, 15, 59, 59), datetime(2026, 12, 31, 16, 0, 1), datetime(2026, 3, 1, 8, 0)]
SEEDS = [1, 2, 3, 4, 5, 6]


def summary_rows() -> dict:
    return {(r.member_id, r.year): (ledger.to_hours(r.online), ledger.to_hours(r.concentrated), r.entries)
            for r in db.session.scalars(select(CreditYearSummary))}


def report_values(org, year, from_ledger: bool):
    query = reports.member_rows(org, reports.Period(year), from_ledger=from_ledger)
    rows = db.session.execute(query.order_by(query.selected_columns.member_id)).all()
    line = reports.org_report(org, reports.Period(year), from_ledger=from_ledger)
    return ([(r.member_id, r.online, r.concentrated, r.total, r.missing, r.met, r.bucket) for r in rows],
            (line.total.members, line.total.hours, line.total.met, line.buckets,
             [(c.name, c.members, c.hours, c.met) for c in line.children]))


def run_history(seed, make):
    rnd = random.Random(seed)
    tree = make.tree()
    orgs = [tree["a1"], tree["a2"], tree["b1"], tree["a"]]
    approver = make.user(org=tree["root"])
    members = [make.user(org=rnd.choice(orgs), category=rnd.choice(list(Category)),
                         is_floating=rnd.random() < 0.2) for _ in range(6)]
    expected: dict = {}  # (member_id, year) → [online, concentrated, entries], kept by the test
    written: list[CreditEntry] = []

    def add(member_id, year, kind, hours):
        row = expected.setdefault((member_id, year), [Decimal("0.00"), Decimal("0.00"), 0])
        row[0 if kind == "online" else 1] += hours
        row[2] += 1

    for step in range(80):
        op = rnd.choices(["award", "repeat", "reverse", "correct", "raw", "rollback", "move"],
                         [40, 8, 12, 8, 5, 5, 6])[0]
        member = rnd.choice(members)
        now = rnd.choice(INSTANTS)
        kind = rnd.choice(["online", "concentrated"])
        hours = Decimal(rnd.randint(1, 800)) * CENT
        if op == "award" or (op in ("repeat", "reverse", "correct") and not written):
            year = rnd.choice([None, None, 2024])  # an explicit year, as offline records and imports give
            entry = ledger.award(member, hours, kind, "video", f"h{seed}:{step}", now, year=year)
            add(member.id, year or local_year(now), kind, hours)
            written.append(entry)
        elif op == "repeat":  # the same key again: no new row, no change
            first = rnd.choice(written)
            ledger.award(first.member_id, hours, kind, "video", first.idempotency_key, now)
        elif op == "reverse":
            entry = rnd.choice(written)
            already = db.session.scalar(select(CreditEntry.id).where(CreditEntry.reverses_id == entry.id))
            ledger.reverse(entry, "录入错误", approver, now)  # a second reversal returns the first
            if already is None:
                add(entry.member_id, entry.year, entry.kind, -entry.hours)
        elif op == "correct":  # a regrade: reverse, then award again under a new key
            entry = rnd.choice(written)
            if db.session.scalar(select(CreditEntry.id).where(CreditEntry.reverses_id == entry.id)) is None:
                ledger.reverse(entry, "重新评分", approver, now)
                add(entry.member_id, entry.year, entry.kind, -entry.hours)
                again = ledger.award(entry.member_id, hours, entry.kind, entry.source, f"h{seed}:{step}:again",
                                     now, year=entry.year)
                add(entry.member_id, entry.year, entry.kind, hours)
                written.append(again)
        elif op == "raw":  # a row written without the ledger's code: the trigger still counts it
            db.session.execute(text(
                "INSERT INTO credit_entry (member_id, year, kind, hours, source, idempotency_key, description, "
                "created_at) VALUES (:m, :y, :k, :h, 'backfill', :key, '', :now)"),
                dict(m=member.id, y=local_year(now), k=kind, h=str(hours), key=f"raw{seed}:{step}", now=now))
            add(member.id, local_year(now), kind, hours)
        elif op == "rollback":  # an award whose transaction fails leaves nothing in either table
            db.session.commit()
            ledger.award(member, hours, kind, "video", f"h{seed}:{step}:lost", now)
            db.session.rollback()
            written = [db.session.merge(e) for e in written]
            continue
        elif op == "move":  # the summary is per member: a move changes only the report's tree
            member.org = rnd.choice(orgs)
        db.session.commit()
    return tree, members, {k: tuple(v) for k, v in expected.items()}


@pytest.mark.parametrize("seed", SEEDS)
def test_summary_equals_the_ledger_after_a_random_history(seed, make):
    tree, members, expected = run_history(seed, make)
    db.session.expire_all()
    assert summary.differences() == []
    assert summary_rows() == expected
    for year in (2024, 2025, 2026):
        for org in (tree["root"], tree["a"], tree["a1"]):
            assert report_values(org, year, from_ledger=False) == report_values(org, year, from_ledger=True)


def test_concurrent_awards_to_one_member_lose_no_increment(app, make):
    member_id = make.user().id
    threads_count, per_thread = 6, 5
    barrier = threading.Barrier(threads_count)
    errors = []

    def worker(n):
        with app.app_context():
            try:
                barrier.wait()
                for i in range(per_thread):
                    ledger.award(member_id, "1.25", "online", "video", f"race:{n}:{i}", datetime(2026, 5, 1))
                    db.session.commit()
            except Exception as exc:  # collected and asserted below
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert summary_rows() == {(member_id, 2026): (Decimal("37.50"), Decimal("0.00"), 30)}
    assert summary.differences() == []


def test_rebuild_summary_reports_and_fixes_differences(runner, make):
    org = make.org(kind=OrgKind.BRANCH)
    a, b, c = make.user(org=org), make.user(org=org), make.user(org=org)
    now = datetime(2026, 5, 1)
    make.entry(a, "2.5", now=now)
    make.entry(a, "1", kind="concentrated", now=now)
    make.entry(b, "3", now=now)
    # Three kinds of damage: a wrong total, a missing row, a row without ledger rows.
    db.session.execute(text("UPDATE credit_year_summary SET online = 9 WHERE member_id = :m"), {"m": a.id})
    db.session.execute(text("DELETE FROM credit_year_summary WHERE member_id = :m"), {"m": b.id})
    db.session.execute(text("INSERT INTO credit_year_summary (member_id, year, online, concentrated, entries) "
                            "VALUES (:m, 2026, 4, 0, 1)"), {"m": c.id})
    db.session.commit()

    checked = runner.invoke(args=["credits", "rebuild-summary", "--check"])
    assert checked.exit_code == 1, checked.output
    assert "3 行与台账不一致" in checked.output and f"党员 {b.id} 2026 年：汇总 无" in checked.output
    assert len(summary.differences()) == 3  # --check changed nothing

    fixed = runner.invoke(args=["credits", "rebuild-summary"])
    assert fixed.exit_code == 0, fixed.output
    assert "已改正学时汇总 3 行" in fixed.output
    assert f"党员 {a.id} 2026 年：汇总 网络学习 9.00 / 集中培训 1.00 / 2 条 → 台账 网络学习 2.50" in fixed.output
    db.session.expire_all()
    assert summary_rows() == {(a.id, 2026): (Decimal("2.50"), Decimal("1.00"), 2),
                              (b.id, 2026): (Decimal("3.00"), Decimal("0.00"), 1)}
    again = runner.invoke(args=["credits", "rebuild-summary"])
    assert again.exit_code == 0 and "学时汇总与台账一致" in again.output


def test_a_date_range_still_reads_the_ledger(make):
    """A range cuts by the rows' time, which the summary does not keep: the report sums the ledger."""
    org = make.org(kind=OrgKind.BRANCH)
    member = make.user(org=org)
    make.entry(member, "2", now=datetime(2026, 2, 1))
    make.entry(member, "3", now=datetime(2026, 9, 1))
    march_on = reports.Period.parse(None, "2026-03-01", "2026-12-31", datetime(2026, 12, 31).date())
    row = db.session.execute(reports.member_rows(org, march_on)).one()
    assert row.online == Decimal("3.00")
    row = db.session.execute(reports.member_rows(org, reports.Period(2026))).one()
    assert row.online == Decimal("5.00")
