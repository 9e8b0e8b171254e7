"""The exams' column in the branch reports: distinct exams passed in the period."""
from sqlalchemy import func, select

from school.credits.reports import METRICS, Metric, utc_bounds
from school.exams.models import Attempt


def exams_passed(period):
    start, end = utc_bounds(period)
    return (select(Attempt.member_id, func.count(func.distinct(Attempt.exam_id)))
            .where(Attempt.passed.is_(True), Attempt.finished_at >= start, Attempt.finished_at < end)
            .group_by(Attempt.member_id))


METRICS.append(Metric("exams_passed", "通过考试", exams_passed))
