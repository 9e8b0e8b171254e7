"""A member's progress through a course and its completion: watch-state rows, lesson locks,
the course's test, course hours, completing the course once and crediting it through the
ledger (key ``credits.keys.course_complete``, built only in ``credit_key``), and the rows
other packages' pages show (required courses pending, a member's course list).

Who commits: the caller, except ``_on_course_test_passed``. That listener of
``exams.signals.attempt_passed`` commits what it records because the signal is sent after
the exams package committed the passing attempt: the sender's transaction has ended, and
its callers (the hand-in view, the overdue sweep, starting an exam) do not commit again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from school.accounts.models import User
from school.courses.models import CompletionMode, Course, CourseCompletion, Lesson, LessonKind, WatchState
from school.courses.visibility import my_courses
from school.credits import keys, ledger
from school.credits.rules import current_rules
from school.exams.signals import attempt_passed
from school.extensions import db

# --- progress -----------------------------------------------------------------------------


def watch_state(member: User, lesson: Lesson, create: bool = True) -> WatchState | None:
    state = db.session.scalar(select(WatchState).where(WatchState.member_id == member.id,
                                                       WatchState.lesson_id == lesson.id))
    if state is None and create:
        state = WatchState(member_id=member.id, lesson_id=lesson.id, intervals="[]")
        db.session.add(state)
        db.session.flush()
    return state


def states_for(member: User, course: Course) -> dict[int, WatchState]:
    rows = db.session.scalars(select(WatchState).join(Lesson, WatchState.lesson_id == Lesson.id)
                              .where(WatchState.member_id == member.id, Lesson.course_id == course.id))
    return {row.lesson_id: row for row in rows}


def course_progress(member: User, course: Course) -> tuple[int, int]:
    """(lessons completed, lessons) for the member."""
    states = states_for(member, course)
    done = sum(1 for lesson in course.lessons if states.get(lesson.id) and states[lesson.id].completed_at)
    return done, len(course.lessons)


def unlocked(member: User, lesson: Lesson) -> bool:
    """With "finish the previous lesson first", a lesson opens once all before it are complete."""
    course = lesson.course
    if not course.sequential:
        return True
    states = states_for(member, course)
    for earlier in course.lessons:
        if earlier.id == lesson.id:
            return True
        if not (states.get(earlier.id) and states[earlier.id].completed_at):
            return False
    return True


def lessons_completed(member: User, course: Course) -> bool:
    lessons = list(course.lessons)
    states = states_for(member, course)
    return bool(lessons) and all(states.get(l.id) and states[l.id].completed_at for l in lessons)


# --- the course's test (courses may read exams) -------------------------------------------


def course_test_passed(member: User, course: Course) -> bool:
    """Has the member passed an exam that is this course's test?"""
    from school.exams.models import Attempt, Exam

    return db.session.scalar(select(func.count(Attempt.id)).join(Exam, Attempt.exam_id == Exam.id).where(
        Exam.course_id == course.id, Attempt.member_id == member.id, Attempt.passed.is_(True))) > 0


def course_tests(course: Course) -> list:
    """The published exams that are this course's test."""
    from school.exams.models import Exam

    return list(db.session.scalars(select(Exam).where(Exam.course_id == course.id, Exam.published.is_(True))
                                   .order_by(Exam.id)))


# --- completion and credit ----------------------------------------------------------------


def is_course_complete(member: User, course: Course) -> bool:
    """Per the course's completion mode: its lessons watched, its test passed, or both."""
    if course.completion_mode == CompletionMode.TIMED:
        return lessons_completed(member, course)
    if course.completion_mode == CompletionMode.EXAM:
        return course_test_passed(member, course)
    return lessons_completed(member, course) and course_test_passed(member, course)


def course_hours(course: Course) -> Decimal:
    """The editor's override, else the rule summed over the video lessons."""
    if course.credit_hours is not None:
        return course.credit_hours
    rules = current_rules()
    return sum((rules.lesson_hours(l.duration_seconds) for l in course.lessons
                if l.kind == LessonKind.VIDEO and l.duration_seconds > 0), Decimal("0"))


def course_hours_for(course: Course) -> Decimal:
    """The course's credit: the editor's override, else the lesson ladder plus the test bonus."""
    if course.credit_hours is not None:
        return course.credit_hours
    bonus = current_rules().course_test_bonus_hours if course.completion_mode != CompletionMode.TIMED else 0
    return course_hours(course) + bonus


def credit_key(member: User, course: Course) -> str:
    """The ledger key of the course's credit: one award per member and course."""
    return keys.course_complete(course.id, member.id)


def check_course_completion(member: User, course: Course, now: datetime):
    """When the course is complete, record it and award its hours once through the ledger."""
    if not is_course_complete(member, course):
        return None
    if db.session.scalar(select(CourseCompletion.id).where(
            CourseCompletion.member_id == member.id, CourseCompletion.course_id == course.id)) is None:
        db.session.add(CourseCompletion(member_id=member.id, course_id=course.id, completed_at=now))
    hours = course_hours_for(course)
    if hours <= 0:
        return None
    return ledger.award(member, hours, "online", "video", credit_key(member, course), now,
                        description=f"完成课程《{course.title}》")


def course_credit_entry(member: User, course: Course):
    from school.credits.models import CreditEntry

    return db.session.scalar(select(CreditEntry).where(CreditEntry.idempotency_key == credit_key(member, course)))


@attempt_passed.connect
def _on_course_test_passed(attempt, now: datetime, **_):
    """A passed exam may complete the course it is the test of (commits: see the module docstring)."""
    course = db.session.get(Course, attempt.exam.course_id) if attempt.exam.course_id else None
    if course is None:
        return
    check_course_completion(db.session.get(User, attempt.member_id), course, now)
    db.session.commit()


# --- for other packages' pages ------------------------------------------------------------


def completed_course_ids(member: User) -> set[int]:
    return set(db.session.scalars(select(CourseCompletion.course_id).where(CourseCompletion.member_id == member.id)))


def required_pending(member: User) -> list[Course]:
    """Required courses assigned to the member that they have not completed yet."""
    done = completed_course_ids(member)
    return [c for c in my_courses(member) if c.required and c.id not in done]


@dataclass
class CourseRow:
    course: Course
    done: int
    total: int
    completed_at: datetime | None


def member_course_rows(member: User) -> list[CourseRow]:
    completions = dict(db.session.execute(select(CourseCompletion.course_id, CourseCompletion.completed_at)
                                          .where(CourseCompletion.member_id == member.id)).all())
    return [CourseRow(course, *course_progress(member, course), completions.get(course.id))
            for course in my_courses(member)]
