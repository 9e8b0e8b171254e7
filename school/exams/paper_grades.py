"""What a finished attempt's grading writes, worked out from its paper and answers alone.

Pure (no session, no SQL): ``attempts`` grades the questions and answers it read as ORM rows
(``finish``) or as the JSON of one statement (``hand_in_by_session`` on PostgreSQL) with the
same rules, and writes the result with the same ``UPDATE … CASE question_id``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from school.exams import grading
from school.exams.models import WRITTEN_TYPES
from school.exams.responses import written_length


@dataclass
class PaperGrades:
    """``attempt``: the attempt's score, maximum, whether written answers await a grader, and
    the verdict (``None`` while they do). By question id, for the answered questions only:
    ``fractions``; for written answers ``awarded`` (``None``: waits for a grader) and, for one
    graded 0 because it is too short, the reason in ``comments``."""
    attempt: dict
    fractions: dict[int, Decimal | None] = field(default_factory=dict)
    awarded: dict[int, Decimal | None] = field(default_factory=dict)
    comments: dict[int, str] = field(default_factory=dict)


def grade_paper(ids: list[int], questions: dict, responses: dict[int, dict | None], pass_percent) -> PaperGrades:
    """Grade the paper ``ids`` (the layout's order). ``questions`` by id: anything with
    ``qtype``, ``data`` and ``points``; ``responses``: the saved response of each answered
    question (a question without a saved answer scores nothing). Written answers to grade
    (待阅卷) make the score provisional: no verdict, so no credit, until the last one is graded
    (``marking.grade``)."""
    grades = PaperGrades(attempt={})
    total = maximum = Decimal("0")
    pending = 0
    for qid in ids:
        question = questions[qid]
        maximum += Decimal(question.points)
        if qid not in responses:
            continue
        response = responses[qid]
        if question.qtype in WRITTEN_TYPES:
            reason = _why_graded_zero(question, response)
            if reason is None:
                pending += 1
                grades.fractions[qid] = grades.awarded[qid] = None
            else:
                grades.fractions[qid] = grades.awarded[qid] = Decimal("0")
                if reason:
                    grades.comments[qid] = reason
            continue
        fraction = grading.score(question.qtype, question.data, response)
        grades.fractions[qid] = Decimal(str(round(fraction, 4)))
        total += grading.points_for(question.points, fraction)
    grades.attempt = {"score": total, "max_score": maximum, "awaiting_grading": pending > 0,
                      "passed": None if pending else grading.passes(total, maximum, pass_percent)}
    return grades


def _why_graded_zero(question, response: dict | None) -> str | None:
    """``None`` for a written answer that waits for a grader. An empty one, or one still
    shorter than the question's ``min_length`` when the attempt ends, is graded 0 here: ``""``
    for the empty one, the reason (the grader's comment) for the short one."""
    text = (response or {}).get("text") or ""
    minimum = int(question.data.get("min_length") or 0)
    if not text.strip():
        return ""
    if written_length(text) >= minimum:
        return None
    return f"字数不足：{written_length(text)} 字，至少应写 {minimum} 字，按 0 分计"
