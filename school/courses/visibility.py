"""Who sees which course: the audience rule (``accounts.audience``) applied to courses, in Python
(``is_assigned``, ``can_see``) and as one SQL condition (``visible_condition``) for lists."""
from __future__ import annotations

from sqlalchemy import and_, or_, select, true
from sqlalchemy.orm import selectinload

from school.accounts import audience
from school.accounts.models import Role, User
from school.accounts.roles import is_editor
from school.courses.models import Course, course_audience_org
from school.extensions import db


def is_assigned(course: Course, user: User) -> bool:
    """In the course's audience (``accounts.audience``); a course with no audience is open to every member."""
    return audience.includes(course.audience_orgs, course.categories, user)


def can_see(course: Course, user: User) -> bool:
    if is_editor(user):
        return True
    if not course.published:
        return False
    if is_assigned(course, user):
        return True
    # A secretary also sees the courses assigned to organisations they manage.
    return (user.role == Role.SECRETARY and user.org is not None
            and any(o.path.startswith(user.org.path) for o in course.audience_orgs))


def visible_condition(user: User):
    """``can_see`` as one SQL condition, so a list of courses is filtered by the database
    (``test_visibility`` checks the two agree on a matrix of users and audiences)."""
    if is_editor(user):
        return true()
    condition = audience.condition(course_audience_org, Course.id, Course.audience_categories, user)
    if user.role == Role.SECRETARY and user.org is not None:
        condition = or_(condition, audience.names_org_under(course_audience_org, Course.id, user.org))
    return and_(Course.published.is_(True), condition)


def visible_courses(user: User, track: str | None = None, category: str | None = None) -> list[Course]:
    query = (select(Course).where(visible_condition(user)).options(selectinload(Course.audience_orgs))
             .order_by(Course.required.desc(), Course.created_at.desc(), Course.id.desc()))
    if track:
        query = query.where(Course.track == track)
    if category:
        query = query.where(Course.category == category)
    return list(db.session.scalars(query))


def my_courses(user: User) -> list[Course]:
    """Courses assigned to the member (an explicit audience, or required for all), required first."""
    return [c for c in visible_courses(user) if c.published and is_assigned(c, user)
            and (c.required or c.audience_orgs or c.categories)]
