"""Item analysis and the score chart on known data."""
from datetime import datetime, timedelta
from decimal import Decimal

from school.exams import attempts, stats
from school.exams.models import Attempt
from school.extensions import db
from tests.exams import helpers

T0 = datetime(2026, 6, 1, 8, 0)


def test_facility_discrimination_and_distribution(app, make):
    bank = make.questions()
    exam = make.exam(bank, T0)
    # Four members: they answer the first 6, 4, 2 and 0 questions right.
    for right in (6, 4, 2, 0):
        member = make.user()
        attempt = attempts.start(exam, member, T0)
        attempts.submit(attempt, member, helpers.shown_right(attempt, bank)[:right], T0 + timedelta(minutes=5))
    rows = list(db.session.scalars(db.select(Attempt)))
    assert stats.distribution(rows) == [1, 0, 0, 1, 0, 0, 1, 0, 0, 1]
    items = {s.question.id: s for s in stats.item_analysis(rows)}
    # Identity layout (no shuffling): question 1 was right for 3 of 4, question 6 for 1 of 4.
    assert items[bank[0].id].facility == 0.75 and items[bank[5].id].facility == 0.25
    # Upper group (best 27 % = 1 attempt) got everything, lower group (1 attempt) nothing.
    assert items[bank[0].id].discrimination == 1.0 and items[bank[5].id].discrimination == 1.0
    svg = str(stats.distribution_svg(stats.distribution(rows), 60))
    assert svg.startswith("<svg") and svg.count("<rect") == 10 and 'class="bar pass"' in svg
    assert sum(1 for a in rows if a.passed) == 2 and rows[0].score == Decimal("6.00")
