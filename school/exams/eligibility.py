"""Who may see, start and review an exam, and which attempt stands for the member's result.

Reads only: nothing here writes to the session.
"""
from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import joinedload

from school.accounts import audience, auth
from school.accounts.models import User
from school.exams import paper
from school.exams.models import Attempt, AttemptState, Exam
from school.extensions import db


def in_audience(exam: Exam, member: User) -> bool:
    return audience.includes(exam.audience_orgs, exam.categories, member)


def visible_to(exam: Exam, member: User) -> bool:
    return exam.published and in_audience(exam, member)


def exams_for(member: User) -> list[Exam]:
    """The published exams ``member`` is in the audience of: those closing soonest first, open-ended last."""
    return [e for e in db.session.scalars(select(Exam).where(Exam.published.is_(True)).order_by(
        Exam.closes_at.is_(None), Exam.closes_at, Exam.id.desc())) if in_audience(e, member)]


@functools.cache
def _attempts_statement():
    # Built once (values as parameters): start, the exam page and the result read it per request.
    return select(Attempt).where(Attempt.exam_id == bindparam("exam_id"),
                                 Attempt.member_id == bindparam("member_id")).order_by(Attempt.number)


def attempts_of(exam: Exam, member: User) -> list[Attempt]:
    return list(db.session.scalars(_attempts_statement(), {"exam_id": exam.id, "member_id": member.id}))


@functools.cache
def _exam_and_attempts_statement():
    mine = and_(Attempt.exam_id == Exam.id, Attempt.member_id == bindparam("member_id"))
    return (select(Exam, Attempt).outerjoin(Attempt, mine).where(Exam.id == bindparam("exam_id"))
            .options(joinedload(Exam.audience_orgs)).order_by(Attempt.number))


def exam_and_attempts(exam_id: int, member: User) -> tuple[Exam | None, list[Attempt]]:
    """The exam with its audience, and ``member``'s attempts at it (``attempts_of``), in one
    statement: the exam page and start need all three, and on PostgreSQL each statement is a
    round trip that waits for a core under an exam rush."""
    rows = db.session.execute(_exam_and_attempts_statement(), {"exam_id": exam_id, "member_id": member.id})
    return exam_and_attempts_in(rows.unique().all())  # the audience's joined rows repeat each pair


def exam_and_attempts_in(rows) -> tuple[Exam | None, list[Attempt]]:
    """The exam and the member's attempts from rows that end in (exam, attempt), made unique:
    ``exam_and_attempts``' own or ``session_exam_and_attempts_statement``'s."""
    return (rows[0][-2] if rows else None), [row[-1] for row in rows if row[-1] is not None]


@functools.cache
def session_exam_and_attempts_statement(dialect: str):
    """``auth.session_statement`` (the user with the organisation) with the exam ``:exam_id``
    and the user's attempts at it, joined as ``exam_and_attempts`` joins them: start reads the
    member with them in one round trip (``auth.read_session`` with ``every_row``). Outer-joined:
    an unknown exam still gives the user, with no exam. On PostgreSQL the digest of the exam's
    fixed paper (``paper.fixed_paper_digest``) comes before the exam."""
    mine = and_(Attempt.exam_id == Exam.id, Attempt.member_id == User.id)
    statement = auth.session_statement(with_org=True)
    if dialect == "postgresql":
        statement = statement.add_columns(paper.fixed_paper_digest())
    return (statement.add_columns(Exam, Attempt)
            .outerjoin(Exam, Exam.id == bindparam("exam_id")).outerjoin(Attempt, mine)
            .options(joinedload(Exam.audience_orgs)).order_by(Attempt.number))


def why_not_start(exam: Exam, member: User, now: datetime, mine: list[Attempt] | None = None) -> str | None:
    """``None`` when ``member`` may start a new attempt now, else the reason in Chinese.
    ``mine``: the member's attempts at ``exam`` when the caller has just read them."""
    if not exam.published:
        return "考试尚未发布"
    if not in_audience(exam, member):
        return "您不在本次考试的参考范围内"
    if exam.opens_at and now < exam.opens_at:
        return "考试尚未开始"
    if exam.closes_at and now >= exam.closes_at:
        return "考试已结束"
    if exam.attempts_allowed and len(attempts_of(exam, member) if mine is None else mine) >= exam.attempts_allowed:
        return "您的作答次数已用完"
    return None


def review_allowed(exam: Exam, now: datetime) -> bool:
    if exam.review == "after_submit":
        return True
    if exam.review == "after_close":
        return exam.closes_at is not None and now >= exam.closes_at
    return False


def answers_may_show(exam: Exam, member: User, now: datetime, mine: list[Attempt] | None = None) -> bool:
    """Whether the review may show correct answers and explanations (if the exam's
    ``review_answers`` says so): only once the member can no longer use them — no attempt in
    progress, and no attempt left (all used, or the exam closed). While attempts remain the
    review shows the member's own answers and points only, whatever the exam's settings.
    ``mine``: the member's attempts at ``exam`` when the caller has just read them."""
    mine = attempts_of(exam, member) if mine is None else mine
    if any(a.state == AttemptState.IN_PROGRESS for a in mine):
        return False
    closed = exam.closes_at is not None and now >= exam.closes_at
    used_up = bool(exam.attempts_allowed) and len(mine) >= exam.attempts_allowed
    return closed or used_up


def counted_attempt(exam: Exam, member: User, mine: list[Attempt] | None = None) -> Attempt | None:
    """The attempt that stands for the member's result: the highest or the last, per the exam.
    ``mine``: the member's attempts at ``exam`` when the caller has just read them."""
    done = [a for a in (attempts_of(exam, member) if mine is None else mine) if a.state == AttemptState.FINISHED]
    if not done:
        return None
    if exam.grading == "last":
        return done[-1]
    return max(done, key=lambda a: (a.score or 0, -a.number))
