import threading
from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from school.accounts.models import Category, Role
from school.credits import ledger, requirements
from school.credits.models import CreditEntry
from school.extensions import db

NOW = datetime(2026, 6, 1, 2, 0)


def test_award_is_idempotent_on_its_key(make):
    member = make.user()
    first = ledger.award(member, "1.5", "online", "video", "video-lesson:1:member:1", NOW, "第一课")
    second = ledger.award(member, "9", "online", "video", "video-lesson:1:member:1", NOW, "又一次")
    db.session.commit()
    assert first.id == second.id and second.hours == Decimal("1.50")
    assert ledger.balance(member, 2026) == Decimal("1.50")


def test_ten_concurrent_awards_leave_one_row(app, make):
    member = make.user()
    member_id = member.id
    barrier = threading.Barrier(10)
    ids, errors = [], []

    def worker():
        with app.app_context():
            try:
                barrier.wait()
                entry = ledger.award(member_id, 2, "online", "exam", "exam-attempt:123", NOW, "考试通过")
                db.session.commit()
                ids.append(entry.id)
            except Exception as exc:  # collected and asserted below
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(ids) == 10 and len(set(ids)) == 1
    assert db.session.scalar(select(func.count(CreditEntry.id)).where(
        CreditEntry.idempotency_key == "exam-attempt:123")) == 1
    assert ledger.balance(member_id, 2026) == Decimal("2.00")


def test_reversal_cancels_with_reason_and_approver(make):
    member, approver = make.user(), make.user(role=Role.SECRETARY)
    entry = ledger.award(member, 3, "concentrated", "offline", "offline-session:7:member:1", NOW, "春训")
    ledger.award(member, 1, "online", "reading", "reading:1", NOW)
    db.session.commit()
    reversal = ledger.reverse(entry, "重复登记", approver, NOW)
    again = ledger.reverse(entry, "再次更正", approver, NOW)
    db.session.commit()
    assert reversal.id == again.id
    assert reversal.hours == Decimal("-3.00") and reversal.reason == "重复登记"
    assert reversal.approved_by_id == approver.id and reversal.reverses_id == entry.id
    assert ledger.balance(member, 2026) == Decimal("1.00")
    assert ledger.balances_by_kind(member, 2026) == {"online": Decimal("1.00"), "concentrated": Decimal("0.00")}
    with pytest.raises(ledger.LedgerError):
        ledger.reverse(reversal, "x", approver, NOW)
    with pytest.raises(ledger.LedgerError):
        ledger.reverse(entry, "  ", approver, NOW)


@pytest.mark.parametrize("now,year", [
    (datetime(2026, 12, 31, 15, 59), 2026),  # 23:59 in Beijing
    (datetime(2026, 12, 31, 16, 0), 2027),   # 00:00 on 1 January in Beijing
    (datetime(2026, 1, 1, 0, 0), 2026),
])
def test_study_year_follows_china_time(make, now, year):
    member = make.user()
    assert ledger.award(member, 1, "online", "reading", f"y:{now}", now).year == year


@pytest.mark.parametrize("hours,kind,source,key", [
    (0, "online", "video", "k"), (-1, "online", "video", "k"), (1, "nope", "video", "k"),
    (1, "online", "nope", "k"), (1, "online", "correction", "k"), (1, "online", "video", ""),
])
def test_award_refuses_bad_input(make, hours, kind, source, key):
    with pytest.raises(ledger.LedgerError):
        ledger.award(make.user(), hours, kind, source, key, NOW)


def test_balance_is_per_year_and_rounded_to_cents(make):
    member = make.user()
    ledger.award(member, "0.333", "online", "reading", "a", NOW)
    ledger.award(member, "0.335", "online", "reading", "b", NOW)
    ledger.award(member, 5, "online", "reading", "c", datetime(2025, 6, 1))
    db.session.commit()
    assert ledger.balance(member, 2026) == Decimal("0.67")
    assert ledger.balance(member, 2025) == Decimal("5.00")


def test_requirements_default_and_editable_per_year(make):
    admin = make.user(role=Role.ADMIN)
    member = make.user(category=Category.FULL)
    secretary = make.user(category=Category.COMMITTEE)
    assert requirements.required_hours(member, 2026) == Decimal("32.00")
    assert requirements.required_hours(secretary, 2026) == Decimal("56.00")
    requirements.set_requirement(2027, Category.FULL, 40, admin, NOW)
    db.session.commit()
    assert requirements.required_hours(member, 2027) == Decimal("40.00")
    assert requirements.required_hours(member, 2026) == Decimal("32.00")


def test_admin_edits_requirements_in_the_browser(client, auth, make):
    auth.login(make.user(role=Role.ADMIN))
    data = {"full": "36", "probationary": "32", "committee": "60", "cadre": "56", "floating": "24",
            "full_online": "10", "full_concentrated": "12"}
    assert client.post("/admin/requirements?year=2026", data=data).status_code == 302
    assert requirements.requirements_for(2026)["committee"] == Decimal("60.00")
    assert requirements.requirements_for(2026)["floating"] == Decimal("24.00")
    full = requirements.requirement_table(2026)["full"]
    assert (full.online, full.concentrated) == (Decimal("10.00"), Decimal("12.00"))
    too_much = client.post("/admin/requirements?year=2026", data={**data, "full_online": "30"})
    assert "之和不能超过年度总学时" in too_much.get_data(as_text=True)
    bad = client.post("/admin/requirements?year=2026", data={**data, "full": "-3"})
    assert "学时应在 0 到 1000 之间" in bad.get_data(as_text=True)


def test_home_shows_progress_and_entries(client, auth, make):
    from school.timeutil import utcnow
    member = make.user(category=Category.FULL)
    ledger.award(member, 8, "concentrated", "offline", "offline:1", utcnow(), "春训集中学习")
    db.session.commit()
    auth.login(member)
    page = client.get("/").get_data(as_text=True)
    assert 'id="credit-progress" max="100" value="25"' in page
    assert "8</strong> / 32 学时" in page and "春训集中学习" in page and "<strong>还差 24 学时，网络学习、集中培训均可计入</strong>" in page


def test_secretary_reverses_an_entry_of_their_member(client, auth, make):
    t = make.tree()
    member = make.user(org=t["a1"])
    entry = ledger.award(member, 2, "online", "reading", "r:1", NOW, "阅读")
    db.session.commit()
    auth.login(make.user(org=t["a"], role=Role.SECRETARY))
    response = client.post(f"/admin/credits/{entry.id}/reverse", data={"reason": "误记"})
    assert response.status_code == 302
    assert ledger.balance(member, 2026) == Decimal("0.00")
