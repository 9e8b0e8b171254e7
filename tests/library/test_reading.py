"""Reading credit: table-driven rules with explicit ``now``, and the ledger it feeds."""
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from school.credits import ledger
from school.credits.rules import DEFAULTS, CreditRules
from school.extensions import db
from school.library import reading

T0 = datetime(2026, 3, 2, 2, 0, 0)  # 10:00 in Shanghai


@pytest.mark.parametrize("last, paused, now, expected", [
    (None, False, T0, 0),                                  # first beat opens a window
    (T0, False, T0 + timedelta(seconds=30), 30),           # a regular beat
    (T0, False, T0 + timedelta(seconds=75), 75),           # late but within the gap
    (T0, False, T0 + timedelta(seconds=76), 0),            # a long silence earns nothing
    (T0, True, T0 + timedelta(seconds=30), 0),             # after a "hidden" beat nothing counts
    (T0, False, T0 - timedelta(seconds=5), 0),             # clock going backwards
    (T0, False, T0, 0),                                    # a duplicate beat
])
def test_accepted_seconds(last, paused, now, expected):
    assert reading.accepted_seconds(last, paused, now) == expected


@pytest.mark.parametrize("seconds, awarded, expected", [
    (0, Decimal("0"), Decimal("0")),
    (4 * 60, Decimal("0"), Decimal("0")),                  # 0.09 h: below the award step
    (5 * 60, Decimal("0"), Decimal("0.11")),               # 5 of 45 minutes
    (45 * 60, Decimal("0"), Decimal("1.00")),              # one 学时 for 45 minutes
    (45 * 60, Decimal("0.95"), Decimal("0.05")),           # the last bit up to the cap is given
    (90 * 60, Decimal("0.50"), Decimal("0.50")),           # capped at 1 a day
    (90 * 60, Decimal("1.00"), Decimal("0")),              # nothing past the cap
])
def test_hours_due_default_rule(seconds, awarded, expected):
    assert reading.hours_due(seconds, awarded, DEFAULTS) == expected


def test_hours_due_follows_configured_rule():
    rules = CreditRules(reading_minutes_per_hour=30, reading_daily_cap_hours=Decimal("2.00"))
    assert reading.hours_due(60 * 60, Decimal("0"), rules) == Decimal("2.00")
    assert reading.hours_due(90 * 60, Decimal("0"), rules) == Decimal("2.00")


def test_heartbeats_reach_the_ledger_once(app, make, add_doc):
    member = make.user()
    doc = add_doc("学习材料", "第一条 内容。")
    now = T0
    reading.record_heartbeat(member, doc, now)
    for _ in range(12):  # six minutes of visible reading, a beat every 30 s
        now += timedelta(seconds=30)
        reading.record_heartbeat(member, doc, now)
    db.session.commit()
    assert ledger.balance(member, 2026) == Decimal("0.10")  # 4.5 minutes reached the 0.1 step
    # A hidden page, then 10 minutes later visible again: the gap earns nothing.
    reading.record_heartbeat(member, doc, now + timedelta(seconds=10), visible=False)
    result = reading.record_heartbeat(member, doc, now + timedelta(minutes=10))
    assert result.credited_seconds == 0
    db.session.commit()
    entries = ledger.entries(member, 2026)
    assert all(e.source == "reading" for e in entries)
    assert len({e.idempotency_key for e in entries}) == len(entries)


def test_daily_cap_and_new_day(app, make, add_doc):
    member = make.user()
    doc = add_doc("学习材料", "正文。")
    now = T0
    reading.record_heartbeat(member, doc, now)
    for _ in range(200):  # 100 minutes
        now += timedelta(seconds=30)
        reading.record_heartbeat(member, doc, now)
    db.session.commit()
    assert ledger.balance(member, 2026) == Decimal("1.00")
    next_day = T0 + timedelta(days=1)
    reading.record_heartbeat(member, doc, next_day)
    for i in range(1, 11):
        reading.record_heartbeat(member, doc, next_day + timedelta(seconds=30 * i))
    db.session.commit()
    assert ledger.balance(member, 2026) == Decimal("1.10")  # a new day, a new cap


def test_heartbeat_endpoint(client, auth, make, add_doc):
    member = make.user()
    doc = add_doc("学习材料", "第一条 内容。")
    auth.login(member)
    response = client.post(f"/library/doc/{doc.id}/heartbeat", json={"visible": True, "anchor": "第一条", "fraction": 0.5})
    assert response.status_code == 200 and response.json["ok"]
    assert client.post(f"/library/doc/{doc.id}/heartbeat", json={"visible": True}, csrf=False).status_code == 400
    assert client.post(f"/library/doc/{doc.id}/heartbeat", data={"x": "1"}).status_code == 400
    from school.library.models import ReadingPosition
    db.session.expire_all()
    assert db.session.get(ReadingPosition, (member.id, doc.id)).anchor == "第一条"
