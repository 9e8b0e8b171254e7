from datetime import datetime
from decimal import Decimal

import pytest

from school.credits import rules
from school.extensions import db

NOW = datetime(2026, 6, 1)


@pytest.mark.parametrize("minutes,hours", [
    (45, "1.00"), (30, "1.00"), (29.9, "0.50"), (15, "0.50"), (14.99, "0.24"), (6, "0.10"), (1, "0.01"),
    (10 / 60, "0.00"),
])
def test_course_ladder(app, minutes, hours):
    assert rules.current_rules().lesson_hours(minutes * 60) == Decimal(hours)


def test_short_lessons_never_earn_more_than_their_length(app):
    current = rules.current_rules()
    for seconds in range(0, 15 * 60, 7):
        assert current.lesson_hours(seconds) <= Decimal(seconds) / 3600
    raised = rules.CreditRules(lesson_short_hours=Decimal("0.50"))  # an admin's higher short-lesson figure
    assert raised.lesson_hours(6 * 60) == Decimal("0.10")  # still capped by the lesson's length
    lowered = rules.CreditRules(lesson_short_hours=Decimal("0.10"))
    assert lowered.lesson_hours(6 * 60) == Decimal("0.04")  # 0.10 × 6 / 15


def test_rules_page_states_the_short_lesson_rule(client, auth, make):
    auth.login(make.user(role="admin"))
    page = client.get("/admin/credit-rules").get_data(as_text=True)
    assert "按时长比例折算" in page and "10 秒的视频不计学时" in page


@pytest.mark.parametrize("seconds,hours", [(45 * 60, "1.00"), (90 * 60, "2.00"), (27 * 60, "0.60"), (0, "0.00")])
def test_reading_rate(app, seconds, hours):
    assert rules.current_rules().reading_hours(seconds) == Decimal(hours)


def test_override_applies_and_defaults_stay(make):
    admin = make.user(role="admin")
    rules.set_rule("reading_minutes_per_hour", 30, admin, NOW)
    db.session.commit()
    current = rules.current_rules()
    assert current.reading_minutes_per_hour == 30
    assert current.reading_daily_cap_hours == Decimal("1.00")
    with pytest.raises(ValueError):
        rules.set_rule("no_such_rule", 1, admin, NOW)
    with pytest.raises(ValueError):
        rules.set_rule("exam_default_hours", -1, admin, NOW)


def test_admin_edits_rules_on_one_page_and_past_awards_keep_their_hours(client, auth, make):
    from sqlalchemy import select

    from school.credits import ledger
    from school.credits.models import CreditEntry

    member = make.user()
    ledger.award(member, rules.current_rules().exam_default_hours, "online", "exam", "exam-pass:1", NOW)
    db.session.commit()
    auth.login(make.user(role="admin"))
    page = client.get("/admin/credit-rules").get_data(as_text=True)
    assert "单次集中培训最多学时" in page and "默认值：8.00" in page
    form = {name: str(getattr(rules.DEFAULTS, name)) for name in rules.LABELS}
    bad = client.post("/admin/credit-rules", data={**form, "reading_minutes_per_hour": "0"})
    assert "数值应在 1 到 1000 之间" in bad.get_data(as_text=True)
    response = client.post("/admin/credit-rules", data={**form, "exam_default_hours": "2",
                                                        "offline_max_hours_per_session": "6"})
    assert response.status_code == 302
    current = rules.current_rules()
    assert (current.exam_default_hours, current.offline_max_hours_per_session) == (Decimal("2.00"), Decimal("6.00"))
    assert db.session.scalar(select(CreditEntry.hours)) == Decimal("1.00")
