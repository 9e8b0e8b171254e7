"""Grading written answers (简答 / 论述) by people: the queue by question across attempts, one
grade per answer, and the attempt's final score once its last written answer is graded.

Who grades: editors and admins every attempt; secretaries only when the exam says so
(``Exam.graders == "secretaries"``) and only attempts of members in their subtree —
anything else does not exist for them (``None`` → the view answers 404). No one grades their
own attempt: it is left out of their queue and does not exist for them either.

A grade locks its attempt's row first (``UPDATE … WHERE id=?``), so two graders finishing an
attempt's last two answers are ordered: the second sees the first's grade, and exactly one
of them finalises (``awaiting_grading`` true → false) and awards the credit, once
(``ledger.award`` with the exam-pass key). Re-sending the same grade changes nothing; once
the attempt's result is final its grades are closed. Flushes; the caller commits and then
sends ``signals.attempt_passed`` when ``grade`` says the attempt passed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import func, select, update

from school.accounts.models import Role, User
from school.exams import grading
from school.exams.errors import ExamError
from school.exams.models import WRITTEN_TYPES, Answer, Attempt, AttemptState, Exam, Grade, Question
from school.exams.stats import scoped_attempts
from school.extensions import db

MAX_COMMENT = 2000


def may_grade(actor: User, exam: Exam) -> bool:
    if actor.role in (Role.EDITOR, Role.ADMIN):
        return True
    return actor.role == Role.SECRETARY and exam.graders == "secretaries"


def written_questions(exam: Exam) -> list[Question]:
    """The written questions answered in this exam's finished attempts (drawn papers differ)."""
    ids = select(Answer.question_id).join(Attempt, Answer.attempt_id == Attempt.id).where(
        Attempt.exam_id == exam.id, Attempt.state == AttemptState.FINISHED)
    return list(db.session.scalars(select(Question).where(
        Question.id.in_(ids), Question.qtype.in_(list(WRITTEN_TYPES))).order_by(Question.id)))


def _answers(actor: User, exam: Exam, question_id: int):
    attempts = scoped_attempts(actor, exam).where(Attempt.state == AttemptState.FINISHED,
                                                  Attempt.member_id != actor.id).with_only_columns(Attempt.id)
    # Pending (fraction not yet set) or graded by a person; empty and too-short answers were graded 0 at finish.
    return select(Answer).where(Answer.question_id == question_id, Answer.attempt_id.in_(attempts),
                                Answer.fraction.is_(None) | Answer.graded_at.is_not(None))


def to_grade(actor: User, exam: Exam, question_id: int) -> list[Answer]:
    """Answers to one question in the attempts ``actor`` may grade, in a fixed order (attempt id)."""
    return list(db.session.scalars(_answers(actor, exam, question_id).order_by(Answer.attempt_id)))


@dataclass
class Progress:
    graded: int
    total: int


def progress(actor: User, exam: Exam, question_id: int) -> Progress:
    query = _answers(actor, exam, question_id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    graded = db.session.scalar(select(func.count()).select_from(query.where(Answer.graded_at.is_not(None)).subquery()))
    return Progress(graded or 0, total or 0)


def answer_for(actor: User, answer_id: int) -> Answer | None:
    """The answer if ``actor`` may grade it (its exam allows them, its member is in scope and is
    not ``actor``), else None."""
    answer = db.session.get(Answer, answer_id)
    if answer is None:
        return None
    attempt = db.session.get(Attempt, answer.attempt_id)
    question = db.session.get(Question, answer.question_id)
    if attempt.member_id == actor.id:
        return None  # no one grades their own attempt
    if attempt.state != AttemptState.FINISHED or question.qtype not in WRITTEN_TYPES or not may_grade(actor, attempt.exam):
        return None
    in_scope = db.session.scalar(scoped_attempts(actor, attempt.exam).where(Attempt.id == attempt.id)
                                 .with_only_columns(Attempt.id))
    return answer if in_scope else None


def parse_points(raw: str, question: Question) -> Decimal:
    try:
        points = Decimal((raw or "").strip())
    except InvalidOperation:
        raise ExamError("请填写分数（数字）") from None
    if not points.is_finite() or not Decimal("0") <= points <= Decimal(question.points):
        raise ExamError(f"分数应在 0 到 {grading.points_for(question.points, 1)} 之间")
    if points != points.quantize(Decimal("0.01")):
        raise ExamError("分数最多两位小数")
    return points.quantize(Decimal("0.01"))


@dataclass
class Graded:
    answer: Answer
    finalised: bool = False  # this grade made the attempt's result final
    passed: bool = False


def grade(actor: User, answer: Answer, points_raw: str, comment: str, now: datetime) -> Graded:
    """Record one grade (flushes). Raises ExamError with the reason in Chinese."""
    question = db.session.get(Question, answer.question_id)
    points = parse_points(points_raw, question)
    comment = (comment or "").strip()
    if len(comment) > MAX_COMMENT:
        raise ExamError(f"评语不能超过 {MAX_COMMENT} 字")
    # The attempt's row first: graders of the same attempt are ordered here (module docstring).
    db.session.execute(update(Attempt).where(Attempt.id == answer.attempt_id).values(
        awaiting_grading=Attempt.awaiting_grading))
    attempt = db.session.get(Attempt, answer.attempt_id, populate_existing=True)
    answer = db.session.get(Answer, answer.id, populate_existing=True)
    if attempt.exam.second_grader_margin is not None:
        if not _double_mark(actor, answer, question, attempt.exam.second_grader_margin, points, comment, now):
            return Graded(answer)
    else:
        if answer.awarded_points == points and (answer.grader_comment or "") == comment and answer.graded_at:
            return Graded(answer)  # the same grade sent twice: counted once
        if not attempt.awaiting_grading:
            raise ExamError("这份答卷的成绩已确定，不能再修改评分")
        _set_result(actor, answer, question, points, comment, now)
    db.session.flush()
    left = db.session.scalar(select(func.count()).select_from(Answer).where(
        Answer.attempt_id == attempt.id, Answer.fraction.is_(None)))
    if left:
        return Graded(answer)
    return Graded(answer, True, _finalise(attempt, now))


def grades_by_answer(answer_ids: list[int]) -> dict[int, list[Grade]]:
    """Double marking: each answer's grades so far, in the order given."""
    out: dict[int, list[Grade]] = {}
    if answer_ids:
        for grade_row in db.session.scalars(select(Grade).where(Grade.answer_id.in_(answer_ids)).order_by(Grade.id)):
            out.setdefault(grade_row.answer_id, []).append(grade_row)
    return out


def waits_for(actor: User, answer: Answer, grades: list[Grade]) -> bool:
    """Whether ``actor`` should grade this answer next: not final, and not already graded by them."""
    return answer.graded_at is None and all(g.grader_id != actor.id for g in grades)


def _double_mark(actor: User, answer: Answer, question: Question, margin: Decimal, points: Decimal, comment: str,
                 now: datetime) -> bool:
    """Two graders; within ``margin`` the result is their mean, beyond it a third grader decides.
    Returns whether the answer's result is now final. A grader's own grade may change until the
    other of the first two has graded too; after that neither of them may change it (otherwise
    one could re-grade into the margin and skip the third grader)."""
    grades = grades_by_answer([answer.id]).get(answer.id, [])
    mine = next((g for g in grades if g.grader_id == actor.id), None)
    if mine is not None and mine.points == points and (mine.comment or "") == comment:
        return False  # the same grade sent twice: counted once
    if answer.graded_at is not None:
        raise ExamError("这份答案的评分已确定，不能再修改")
    if mine is not None and len(grades) >= 2 and mine in grades[:2]:
        raise ExamError("两位阅卷人都已评分，不能再修改您的评分；两评相差过大时由第三位阅卷人裁定")
    if mine is None:
        mine = Grade(answer_id=answer.id, grader_id=actor.id, created_at=now)
        db.session.add(mine)
        grades.append(mine)
    mine.points, mine.comment = points, comment or None
    db.session.flush()
    if len(grades) < 2:
        return False
    first, second = grades[0].points, grades[1].points
    if len(grades) == 2 and abs(first - second) > margin:
        return False  # a third grader decides
    result = grades[2].points if len(grades) >= 3 else ((first + second) / 2).quantize(Decimal("0.01"), ROUND_HALF_UP)
    comments = "；".join(g.comment for g in grades if g.comment)
    _set_result(actor, answer, question, result, comments, now)
    return True


def _set_result(actor: User, answer: Answer, question: Question, points: Decimal, comment: str, now: datetime) -> None:
    answer.awarded_points = points
    answer.fraction = (points / Decimal(question.points)).quantize(Decimal("0.0001")) if question.points else Decimal("0")
    answer.grader_comment = comment or None
    answer.graded_by_id = actor.id
    answer.graded_at = now


def answers_total(attempt: Attempt) -> Decimal:
    """The attempt's score from its stored answers: graders' points for written answers, the
    stored fraction of each objective one (as hand-in scored it, or a regrade changed it).
    An answer not yet graded counts 0."""
    questions = {q.id: q for q in db.session.scalars(select(Question).where(
        Question.id.in_([item["q"] for item in attempt.layout])))}
    total = Decimal("0")
    for answer in db.session.scalars(select(Answer).where(Answer.attempt_id == attempt.id)):
        question = questions.get(answer.question_id)
        if question is None:
            continue
        if question.qtype in WRITTEN_TYPES:
            total += answer.awarded_points or Decimal("0")
        else:
            total += grading.points_for(question.points, float(answer.fraction or 0))
    return total


def _finalise(attempt: Attempt, now: datetime) -> bool:
    """Every written answer graded: the final score and verdict, and the credit (once). Returns passed."""
    attempt.score = answers_total(attempt)
    attempt.passed = grading.passes(attempt.score, attempt.max_score, attempt.exam.pass_percent)
    attempt.awaiting_grading = False
    if attempt.passed:
        from school.exams.attempts import award_pass_credit

        award_pass_credit(attempt, now)
    db.session.flush()
    return bool(attempt.passed)
