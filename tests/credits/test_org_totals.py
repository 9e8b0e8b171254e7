"""The organisations' kept figures (credit_org_year_total) read the same as the members after any history.

Random histories from fixed seeds: awards, reversals, members moving between organisations,
category / floating / active changes, new and deleted members, a changed requirement, an
organisation moved under another and a new one, with reports of several organisations and
years run in between (so the kept figures are built, then refreshed from the marks). After
every few steps each report read from the kept figures must equal the same report computed
from the members (``kept=False``), and at the end ``org_totals.differences()`` is empty.
With a trigger dropped the comparison fails: the test can see a missing mark. Runs on SQLite,
and on PostgreSQL with SCHOOL_TEST_DATABASE_URL (plus the concurrent sessions there).
"""
import random
import threading
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, func, select, text

from school.accounts.models import Category
from school.accounts.orgs import create_org, move_org
from school.credits import ledger, org_totals, reports, requirements
from school.credits.models import (
    ORG_TOTALS_DDL,
    ORG_TOTALS_DROP,
    CreditEntry,
    CreditOrgStale,
    CreditOrgYearState,
    CreditOrgYearTotal,
)
from school.extensions import db

CENT = Decimal("0.01")
NOW = datetime(2026, 5, 1, 4, 0)
SEEDS = [1, 2, 3, 4, 5, 6]
YEARS = (2025, 2026)


def figures(org, year, kept: bool):
    report = reports.org_report(org, reports.Period(year), kept=kept)
    t = report.total
    return ((t.members, t.hours, t.met, t.floating, t.floating_met), report.buckets,
            [(c.org_id, c.name, c.members, c.hours, c.met, c.floating, c.floating_met) for c in report.children])


def assert_kept_equals_members(orgs, years=YEARS):
    db.session.expire_all()
    for year in years:
        for org in orgs:
            assert figures(org, year, kept=True) == figures(org, year, kept=False), (org and org.name, year)


def run_history(seed, make, check_every=6):
    rnd = random.Random(seed)
    tree = make.tree()
    admin = make.user(org=tree["root"], category=Category.COMMITTEE)
    orgs = [tree["a1"], tree["a2"], tree["b1"], tree["a"], tree["root"]]
    members = [make.user(org=rnd.choice(orgs), category=rnd.choice(list(Category)),
                         is_floating=rnd.random() < 0.2) for _ in range(8)]
    written: list[CreditEntry] = []
    reported = [None, tree["root"], tree["a"], tree["a1"], tree["b"]]
    for step in range(70):
        op = rnd.choices(["award", "reverse", "move", "category", "floating", "active", "new", "delete",
                          "requirement", "move_org", "new_org", "report"],
                         [30, 8, 8, 4, 4, 4, 3, 2, 2, 1, 1, 8])[0]
        member = rnd.choice(members)
        if op == "award" or (op == "reverse" and not written):
            # Enough hours now and then that members cross buckets, up to meeting the requirement.
            hours = Decimal(rnd.choice([rnd.randint(1, 800), rnd.randint(800, 4000)])) * CENT
            year = rnd.choice([None, None, 2025])
            written.append(ledger.award(member, hours, rnd.choice(["online", "concentrated"]), "video",
                                        f"o{seed}:{step}", NOW, year=year))
        elif op == "reverse":
            ledger.reverse(rnd.choice(written), "录入错误", admin, NOW)
        elif op == "move":
            member.org = rnd.choice(orgs)
        elif op == "category":
            member.category = rnd.choice(list(Category))
        elif op == "floating":
            member.is_floating = not member.is_floating
        elif op == "active":
            member.active = not member.active
        elif op == "new":
            members.append(make.user(org=rnd.choice(orgs), category=rnd.choice(list(Category))))
        elif op == "delete":  # only a member without ledger rows can be deleted
            spare = [m for m in members if db.session.scalar(
                select(func.count()).select_from(CreditEntry).where(CreditEntry.member_id == m.id)) == 0]
            if spare:
                gone = rnd.choice(spare)
                members = [m for m in members if m.id != gone.id]  # by id: UserMixin's == compares get_id()
                db.session.delete(gone)
        elif op == "requirement":
            requirements.set_requirement(rnd.choice(YEARS), rnd.choice(["full", "floating", "committee"]),
                                         rnd.choice([8, 12, 32]), admin, NOW, online=rnd.choice([0, 4]))
        elif op == "move_org":  # paths change, ids do not
            org = rnd.choice([tree["a1"], tree["a2"], tree["b1"]])
            move_org(org, rnd.choice([p for p in (tree["a"], tree["b"], tree["root"]) if p.id != org.parent_id]))
        elif op == "new_org":
            orgs.append(create_org(f"新支部{step}", "branch", rnd.choice([tree["a"], tree["b"]])))
        elif op == "report":  # builds or refreshes the kept figures of that subtree
            reports.org_report(rnd.choice(reported), reports.Period(rnd.choice(YEARS)))
        db.session.commit()
        if step % check_every == check_every - 1:
            assert_kept_equals_members(reported)
    return tree, reported


@pytest.mark.parametrize("seed", SEEDS)
def test_kept_figures_equal_the_members_after_a_random_history(seed, make):
    tree, reported = run_history(seed, make)
    assert_kept_equals_members(reported + [tree["a2"], tree["b1"]])
    assert org_totals.differences() == []
    # Everything reported was refreshed: the kept rows alone (no live computation) are right.
    assert db.session.scalar(select(func.count()).select_from(CreditOrgStale)) == 0
    assert db.session.scalar(select(func.count()).select_from(CreditOrgYearTotal)) > 0


def test_the_first_report_builds_the_year_and_a_change_refreshes_one_organisation(make):
    tree = make.tree()
    a1, b1 = make.user(org=tree["a1"]), make.user(org=tree["b1"])
    make.entry(a1, "40", now=NOW)
    period = reports.Period(2026)
    assert reports.org_report(tree["root"], period).total.met == 1
    assert db.session.scalar(select(CreditOrgYearState.year)) == 2026
    assert {(r.org_id, r.members, r.met) for r in db.session.scalars(select(CreditOrgYearTotal))} == \
        {(tree["a1"].id, 1, 1), (tree["b1"].id, 1, 0)}
    make.entry(b1, "33", now=NOW)
    marks = db.session.execute(select(CreditOrgStale.org_id, CreditOrgStale.year)).all()
    assert marks == [(tree["b1"].id, 2026)]
    assert reports.org_report(tree["root"], period).total.met == 2
    assert db.session.scalar(select(func.count()).select_from(CreditOrgStale)) == 0


def test_the_periodic_sweep_consumes_the_marks_between_reports(make):
    """The sweep refreshes every kept year (a report afterwards finds nothing marked) and drops
    the marks of years nobody has reported on, which would otherwise pile up for good."""
    from school import jobs

    tree = make.tree()
    a1, b1 = make.user(org=tree["a1"]), make.user(org=tree["b1"])
    make.entry(a1, "40", now=NOW)
    assert reports.org_report(tree["root"], reports.Period(2026)).total.met == 1  # 2026 is kept
    make.entry(b1, "33", now=NOW)
    make.entry(b1, "5", now=datetime(2024, 6, 1))  # a year never reported on
    assert db.session.scalar(select(func.count()).select_from(CreditOrgStale)) == 2
    assert "credits-refresh-org-totals" in jobs.run_periodic(NOW, {})
    assert db.session.scalar(select(func.count()).select_from(CreditOrgStale)) == 0
    kept = {r.org_id: (r.members, r.met) for r in db.session.scalars(select(CreditOrgYearTotal))}
    assert kept[tree["b1"].id] == (1, 1)  # refreshed by the sweep, not by a report
    assert_kept_equals_members([tree["root"], tree["a"], None], years=(2024, 2026))


def test_a_member_move_marks_both_organisations_for_every_year(make):
    tree = make.tree()
    member = make.user(org=tree["a1"])
    make.entry(member, "40", now=NOW)
    reports.org_report(None, reports.Period(2026))
    reports.org_report(None, reports.Period(2025))
    member.org = tree["b1"]
    db.session.commit()
    assert sorted(db.session.execute(select(CreditOrgStale.org_id, CreditOrgStale.year)).all()) == \
        sorted([(tree["a1"].id, None), (tree["b1"].id, None)])
    assert_kept_equals_members([None, tree["a"], tree["b"]], years=(2026,))
    # 2026 consumed the marks for every year and left one per other kept year.
    assert sorted(db.session.execute(select(CreditOrgStale.org_id, CreditOrgStale.year)).all()) == \
        sorted([(tree["a1"].id, 2025), (tree["b1"].id, 2025)])
    assert_kept_equals_members([None, tree["a"], tree["b"]], years=(2025,))


def test_a_changed_requirement_rebuilds_the_year(make):
    tree = make.tree()
    admin = make.user(org=tree["root"])
    member = make.user(org=tree["a1"])
    make.entry(member, "20", now=NOW)
    period = reports.Period(2026)
    assert reports.org_report(None, period).total.met == 0
    requirements.set_requirement(2026, "full", 16, admin, NOW)
    db.session.commit()
    before = db.session.scalar(select(CreditOrgYearState.fingerprint))
    assert reports.org_report(None, period).total.met == 1  # 20 of 16 hours; the admin has none
    assert db.session.scalar(select(CreditOrgYearState.fingerprint)) != before
    assert_kept_equals_members([None, tree["a"]], years=(2026,))


def test_figures_are_right_when_the_refresh_cannot_run(make, monkeypatch):
    """The refresh is an optimisation: without it the report computes the marked organisations."""
    tree = make.tree()
    member = make.user(org=tree["a1"])
    reports.org_report(None, reports.Period(2026))
    monkeypatch.setattr(org_totals, "refresh", lambda org, shape: False)
    make.entry(member, "40", now=NOW)
    assert reports.org_report(None, reports.Period(2026)).total.met == 1
    assert reports.org_report(None, reports.Period(2025)).total.members == 1  # never built: from the members
    assert db.session.scalar(select(func.count()).select_from(CreditOrgStale)) == 1


BROKEN = {  # a trigger, and a change it alone marks
    "credit_org_stale_member_update": lambda tree, member, make: setattr(member, "org", tree["b1"]),
    "credit_org_stale_summary": lambda tree, member, make: make.entry(member, "40", now=NOW),
}


def _drop_trigger(name):
    if db.session.get_bind().dialect.name == "postgresql":
        table = "users" if "member" in name else "credit_year_summary"
        db.session.execute(text(f"DROP TRIGGER {name} ON {table}"))
    else:
        names = [name] if "member" in name else [f"{name}_{op}" for op in ("insert", "update", "delete")]
        for n in names:
            db.session.execute(text(f"DROP TRIGGER {n}"))
    db.session.commit()


@pytest.fixture
def triggers_restored(app):
    """PostgreSQL keeps the schema between tests (only the rows are emptied): put the triggers back."""
    yield
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.rollback()
        for statement in ORG_TOTALS_DROP["postgresql"][:4] + ORG_TOTALS_DDL["postgresql"]:
            db.session.execute(text(statement))
        db.session.commit()


@pytest.mark.parametrize("trigger", sorted(BROKEN))
def test_a_missing_trigger_is_seen(trigger, make, runner, triggers_restored):
    """Without its trigger a change leaves the kept figures behind: the comparison the random
    histories make fails, ``rebuild-summary --check`` lists it, and a rebuild puts it right."""
    tree = make.tree()
    member = make.user(org=tree["a1"])
    make.entry(member, "10", now=NOW)
    reports.org_report(None, reports.Period(2026))
    _drop_trigger(trigger)
    BROKEN[trigger](tree, member, make)
    db.session.commit()
    assert figures(tree["root"], 2026, kept=True) != figures(tree["root"], 2026, kept=False)
    checked = runner.invoke(args=["credits", "rebuild-summary", "--check"])
    assert checked.exit_code == 1, checked.output
    assert "党组织报表汇总有" in checked.output and f"党组织 {tree['a1'].id} 2026 年" in checked.output
    fixed = runner.invoke(args=["credits", "rebuild-summary"])
    assert fixed.exit_code == 0 and "已改正党组织报表汇总" in fixed.output, fixed.output
    db.session.expire_all()
    assert figures(tree["root"], 2026, kept=True) == figures(tree["root"], 2026, kept=False)
    again = runner.invoke(args=["credits", "rebuild-summary", "--check"])
    assert again.exit_code == 0 and "党组织报表汇总与按党员重算的结果一致" in again.output, again.output


def test_a_deleted_organisation_leaves_no_figures_to_its_successor(make):
    """SQLite may give a deleted organisation's id to the next one: its kept row must not survive."""
    tree = make.tree()
    spare = make.org("临时支部", tree["b"])
    member = make.user(org=spare)
    make.entry(member, "40", now=NOW)
    reports.org_report(None, reports.Period(2026))
    member.org = tree["b1"]
    db.session.commit()
    db.session.delete(spare)
    db.session.commit()
    again = make.org("新支部", tree["b"])
    assert_kept_equals_members([None, tree["b"], again], years=(2026,))
    assert reports.org_report(again, reports.Period(2026)).total.members == 0


# --- PostgreSQL: concurrent sessions ---------------------------------------------------


def _pg_only():
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("concurrent sessions: PostgreSQL (SQLite serialises writers)")


def test_a_mark_committed_after_the_refresh_read_survives(app, make):
    """An award's transaction takes its mark's id, then a refresh runs and commits, then the
    award commits: its mark (a lower id than anything the refresh wrote) must still be there."""
    _pg_only()
    tree = make.tree()
    member = make.user(org=tree["a1"])
    period = reports.Period(2026)
    reports.org_report(None, period)
    other = create_engine(db.engine.url)
    try:
        with other.connect() as conn:
            conn.execute(text(
                "INSERT INTO credit_entry (member_id, year, kind, hours, source, idempotency_key, description, "
                "created_at) VALUES (:m, 2026, 'online', 40, 'video', 'late', '', :now)"), {"m": member.id, "now": NOW})
            # Uncommitted: the report's refresh does not see it and must not delete its mark.
            make.entry(make.user(org=tree["b1"]), "1", now=NOW)
            assert reports.org_report(None, period).total.met == 0
            conn.commit()
    finally:
        other.dispose()
    db.session.expire_all()
    assert db.session.execute(select(CreditOrgStale.org_id, CreditOrgStale.year)).all() == [(tree["a1"].id, 2026)]
    assert reports.org_report(None, period).total.met == 1
    assert org_totals.differences() == []


def test_concurrent_writers_and_refreshers_leave_the_figures_right(app, make):
    _pg_only()
    tree = make.tree()
    orgs = [tree["a1"], tree["a2"], tree["b1"], tree["a"]]
    ids = [make.user(org=orgs[i % 4]).id for i in range(12)]
    org_ids = [o.id for o in orgs]
    reports.org_report(None, reports.Period(2026))
    db.session.remove()
    barrier, errors = threading.Barrier(5), []

    def writer(n):
        from school.accounts.models import User
        rnd = random.Random(n)
        with app.app_context():
            try:
                barrier.wait()
                for i in range(25):
                    member = db.session.get(User, rnd.choice(ids))
                    if rnd.random() < 0.25:
                        member.org_id = rnd.choice(org_ids)
                    else:
                        ledger.award(member, Decimal(rnd.randint(100, 1500)) * CENT, "online", "video",
                                     f"w{n}:{i}", NOW)
                    db.session.commit()
            except Exception as exc:  # collected and asserted below
                errors.append(repr(exc))
            finally:
                db.session.remove()

    def reader(n):
        with app.app_context():
            try:
                barrier.wait()
                for i in range(15):
                    reports.org_report(None if i % 2 else db.session.get(type(tree["a"]), tree["a"].id),
                                       reports.Period(2026))
                    db.session.rollback()
            except Exception as exc:
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)] +         [threading.Thread(target=reader, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert org_totals.differences() == []
    assert figures(None, 2026, kept=True) == figures(None, 2026, kept=False)
    assert db.session.scalar(select(func.count()).select_from(CreditOrgStale)) == 0
