"""Reading credit: table-driven rules with explicit ``now``, and the ledger it feeds."""
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from school.credits import ledger
from school.credits.rules import DEFAULTS, CreditRules
from school.extensions import db
from school.library import reading

T0 = datetime(2026, 3, 2, 2, 0, 0)  # 10:00 in Shanghai


STEP, FINAL = reading.AWARD_STEP, reading.FINAL_STEP


@pytest.mark.parametrize("seconds, awarded, step, expected", [
    (0, Decimal("0"), STEP, Decimal("0")),
    (4 * 60, Decimal("0"), STEP, Decimal("0")),            # 0.09 h: below the award step
    (5 * 60, Decimal("0"), STEP, Decimal("0.11")),         # 5 of 45 minutes
    (45 * 60, Decimal("0"), STEP, Decimal("1.00")),        # one 学时 for 45 minutes
    (45 * 60, Decimal("0.95"), STEP, Decimal("0.05")),     # the last bit up to the cap is given
    (90 * 60, Decimal("0.50"), STEP, Decimal("0.50")),     # capped at 1 a day
    (90 * 60, Decimal("1.00"), STEP, Decimal("0")),        # nothing past the cap
    # The "hidden" beat that ends a session credits the remainder of at least 0.01 学时.
    (4 * 60, Decimal("0"), FINAL, Decimal("0.09")),        # a short session is not lost
    (6 * 60, Decimal("0.10"), FINAL, Decimal("0.03")),     # what the 0.1 steps left over
    (13, Decimal("0"), FINAL, Decimal("0")),               # 0.0048 h rounds to nothing
    (27, Decimal("0"), FINAL, Decimal("0.01")),            # 27 s are 0.01 of 45 minutes
    (300, Decimal("0.11"), FINAL, Decimal("0")),           # nothing left: a repeated beat gives nothing
    (90 * 60, Decimal("0.97"), FINAL, Decimal("0.03")),    # still capped at 1 a day
    (90 * 60, Decimal("1.00"), FINAL, Decimal("0")),
])
def test_hours_due_default_rule(seconds, awarded, step, expected):
    assert reading.hours_due(seconds, awarded, DEFAULTS, step=step) == expected


def test_hours_due_follows_configured_rule():
    rules = CreditRules(reading_minutes_per_hour=30, reading_daily_cap_hours=Decimal("2.00"))
    assert reading.hours_due(60 * 60, Decimal("0"), rules) == Decimal("2.00")
    assert reading.hours_due(90 * 60, Decimal("0"), rules) == Decimal("2.00")


def test_heartbeats_reach_the_ledger_once(app, make):
    member = make.user()
    doc = make.document("学习材料", "第一条 内容。")
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


NO_PROMPT = CreditRules(presence_min_minutes=Decimal("0"))  # "还在学习吗？" off: tested in tests/security


def test_daily_cap_and_new_day(app, make):
    member = make.user()
    doc = make.document("学习材料", "正文。")
    now = T0
    reading.record_heartbeat(member, doc, now, rules=NO_PROMPT)
    for _ in range(200):  # 100 minutes, scrolling now and then
        now += timedelta(seconds=30)
        reading.record_heartbeat(member, doc, now, rules=NO_PROMPT, input_at=now)
    db.session.commit()
    assert ledger.balance(member, 2026) == Decimal("1.00")
    next_day = T0 + timedelta(days=1)
    reading.record_heartbeat(member, doc, next_day, rules=NO_PROMPT)
    for i in range(1, 11):
        reading.record_heartbeat(member, doc, next_day + timedelta(seconds=30 * i), rules=NO_PROMPT)
    db.session.commit()
    assert ledger.balance(member, 2026) == Decimal("1.10")  # a new day, a new cap


def _visible(start: int, minutes: float) -> list[tuple[int, bool]]:
    """Visible beats every 30 s from ``start`` seconds after T0 for ``minutes``."""
    return [(start + 30 * i, True) for i in range(int(minutes * 2) + 1)]


CAP_025 = CreditRules(reading_daily_cap_hours=Decimal("0.25"))


@pytest.mark.parametrize("beats, rules, balance, awards", [
    # Six minutes visible: the 0.1 step only, 0.03 (81 s) is still owed.
    (_visible(0, 6), None, "0.10", ["0.10"]),
    # ... and the page is hidden 20 s later: the remainder (380 s = 0.14) is credited.
    (_visible(0, 6) + [(380, False)], None, "0.14", ["0.10", "0.04"]),
    # A session shorter than one step still earns its minutes when the page closes.
    (_visible(0, 3) + [(200, False)], None, "0.07", ["0.07"]),
    # Below 0.01 学时 (10 s) nothing is credited.
    ([(0, True), (10, False)], None, "0", []),
    # The hidden beat repeated (a retry, or pagehide after visibilitychange) credits once.
    (_visible(0, 6) + [(380, False), (380, False), (390, False)], None, "0.14", ["0.10", "0.04"]),
    # The day's cap holds on a hidden beat too: 690 s would be 0.26, the cap is 0.25.
    (_visible(0, 11) + [(690, False)], CAP_025, "0.25", ["0.10", "0.10", "0.05"]),
    # Back to reading after a hidden beat, then hidden again: each remainder once, keys unique.
    (_visible(0, 6) + [(380, False)] + _visible(1000, 2) + [(1140, False)], None, "0.19",
     ["0.10", "0.04", "0.05"]),
])
def test_hidden_beat_credits_the_remainder(app, make, beats, rules, balance, awards):
    member = make.user()
    doc = make.document("学习材料", "第一条 内容。")
    for offset, visible in beats:  # the member scrolls as they read
        at = T0 + timedelta(seconds=offset)
        reading.record_heartbeat(member, doc, at, visible=visible, rules=rules, input_at=at)
        db.session.commit()
    entries = sorted(ledger.entries(member, 2026), key=lambda e: e.id)
    assert ledger.balance(member, 2026) == Decimal(balance)
    assert [str(e.hours) for e in entries] == awards
    assert len({e.idempotency_key for e in entries}) == len(entries)


def test_heartbeat_endpoint(client, auth, make):
    member = make.user()
    doc = make.document("学习材料", "第一条 内容。")
    auth.login(member)
    response = client.post(f"/library/doc/{doc.id}/heartbeat", json={"visible": True, "anchor": "第一条", "fraction": 0.5})
    assert response.status_code == 200 and response.json["ok"]
    assert client.post(f"/library/doc/{doc.id}/heartbeat", json={"visible": True}, csrf=False).status_code == 400
    assert client.post(f"/library/doc/{doc.id}/heartbeat", data={"x": "1"}).status_code == 400
    from school.library.models import ReadingPosition
    db.session.expire_all()
    assert db.session.get(ReadingPosition, (member.id, doc.id)).anchor == "第一条"
