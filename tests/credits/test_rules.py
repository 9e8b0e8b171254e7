from datetime import datetime
from decimal import Decimal

import pytest

from school.credits import rules
from school.extensions import db

NOW = datetime(2026, 6, 1)


@pytest.mark.parametrize("minutes,hours", [
    (45, "1.00"), (30, "1.00"), (29.9, "0.50"), (15, "0.50"), (14.99, "0.25"), (1, "0.25"),
])
def test_course_ladder(app, minutes, hours):
    assert rules.current_rules().lesson_hours(minutes * 60) == Decimal(hours)


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
