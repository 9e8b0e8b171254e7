"""The courses' column in the branch reports: required courses completed in the period."""
from sqlalchemy import func, select

from school.courses.models import Course, CourseCompletion
from school.credits.reports import METRICS, Metric, utc_bounds


def required_completed(period):
    start, end = utc_bounds(period)
    return (select(CourseCompletion.member_id, func.count(CourseCompletion.id))
            .join(Course, Course.id == CourseCompletion.course_id)
            .where(Course.required.is_(True), CourseCompletion.completed_at >= start, CourseCompletion.completed_at < end)
            .group_by(CourseCompletion.member_id))


METRICS.append(Metric("required_courses", "完成必修课", required_completed))
