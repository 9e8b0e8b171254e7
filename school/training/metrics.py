"""The training column in the branch reports: classes completed in the period (完成专题班)."""
from sqlalchemy import func, select

from school.credits.reports import METRICS, Metric, utc_bounds
from school.training.models import Enrolment


def classes_completed(period):
    start, end = utc_bounds(period)
    return (select(Enrolment.member_id, func.count(Enrolment.id))
            .where(Enrolment.completed_at >= start, Enrolment.completed_at < end)
            .group_by(Enrolment.member_id))


METRICS.append(Metric("training_classes", "完成专题班", classes_completed))
