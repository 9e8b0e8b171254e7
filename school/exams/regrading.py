"""Regrading after an answer-key fix: every finished attempt that drew the question is scored
again from its stored answer, its total and verdict recomputed, and the exam credit follows
the new verdict through the ledger — a reversal for a member who no longer passes, an award
for one who now does — with one audit row (``Regrade``) listing what changed.

Written questions are graded by people and are not regraded here. Attempts still awaiting
grading get the new fraction and are finalised by ``marking`` as usual. Flushes; the caller
commits and then sends ``signals.attempt_passed`` for ``Regraded.newly_passed``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from school.accounts.models import User
from school.credits import keys, ledger
from school.credits.models import CreditEntry
from school.exams import grading, marking
from school.exams.errors import ExamError
from school.exams.models import WRITTEN_TYPES, Answer, Attempt, AttemptState, Question, Regrade
from school.extensions import db


@dataclass
class Regraded:
    audit: Regrade
    newly_passed: list[Attempt] = field(default_factory=list)


def _active_credits(exam_id: int, member_id: int) -> list[CreditEntry]:
    entries = list(db.session.scalars(select(CreditEntry).where(ledger.exam_pass_key(exam_id, member_id))))
    reversed_ids = set(db.session.scalars(select(CreditEntry.reverses_id).where(
        CreditEntry.reverses_id.in_([e.id for e in entries])))) if entries else set()
    return [e for e in entries if e.id not in reversed_ids]


def regrade_question(question: Question, actor: User, reason: str, now: datetime) -> Regraded:
    from school.exams.attempts import credit_hours

    reason = (reason or "").strip()
    if not reason:
        raise ExamError("请填写重新评分的原因（例如：答案有误已更正）")
    if question.qtype in WRITTEN_TYPES:
        raise ExamError("主观题由阅卷人评分，不能自动重新评分")
    audit = Regrade(question_id=question.id, actor_id=actor.id, reason=reason[:300], created_at=now, changes=[],
                    credits_awarded=0, credits_reversed=0)
    db.session.add(audit)
    db.session.flush()
    result = Regraded(audit)
    touched = {}
    for answer in db.session.scalars(select(Answer).where(Answer.question_id == question.id)):
        attempt = db.session.get(Attempt, answer.attempt_id)
        if attempt.state != AttemptState.FINISHED:
            continue  # graded when it finishes, with the fixed key
        answer.fraction = Decimal(str(round(grading.score(question.qtype, question.data, answer.response), 4)))
        touched[attempt.id] = attempt
    changes, members = [], set()
    for attempt in touched.values():
        old_score, old_passed = attempt.score, attempt.passed
        attempt.score = marking.answers_total(attempt)
        if not attempt.awaiting_grading:
            attempt.passed = grading.passes(attempt.score, attempt.max_score, attempt.exam.pass_percent)
        if (old_score, old_passed) != (attempt.score, attempt.passed):
            changes.append({"attempt": attempt.id, "old_score": str(old_score), "new_score": str(attempt.score),
                            "old_passed": old_passed, "new_passed": attempt.passed})
            if attempt.passed and not old_passed:
                result.newly_passed.append(attempt)
        members.add((attempt.exam_id, attempt.member_id))
    db.session.flush()
    for exam_id, member_id in sorted(members):
        passing = db.session.scalar(select(Attempt).where(
            Attempt.exam_id == exam_id, Attempt.member_id == member_id, Attempt.passed.is_(True)).limit(1))
        active = _active_credits(exam_id, member_id)
        if active and passing is None:
            for entry in active:
                ledger.reverse(entry, f"重新评分：{reason}", actor, now)
                audit.credits_reversed += 1
        elif not active and passing is not None:
            hours = credit_hours(passing.exam)
            if hours > 0:
                base = keys.exam_pass(exam_id, member_id)
                used = db.session.scalar(select(CreditEntry.id).where(CreditEntry.idempotency_key == base))
                key = keys.exam_pass_regrade(exam_id, member_id, audit.id) if used else base
                ledger.award(member_id, hours, "online", "exam", key=key,
                             now=now, description=f"考试通过（重新评分）：{passing.exam.title}"[:300], actor=actor)
                audit.credits_awarded += 1
    audit.changes = changes
    db.session.flush()
    return result
