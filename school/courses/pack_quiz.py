"""The pack's self-check quiz (课后自测), made from the course's test: no credit, nothing sent.

The right answers go into the page only when a member of the site could see them anyway:
the exam shows answers on review (``review_answers``), its review policy allows review, and
the exam has closed. Otherwise a stick passed round the village would be an answer sheet for
an exam still running, so the quiz shows the questions alone and says why.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from markupsafe import Markup
from sqlalchemy import select

from school.courses.pack_pages import offline_html
from school.exams.models import WRITTEN_TYPES, Exam, Question, QuestionType, Review
from school.extensions import db
from school.timeutil import format_local

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class QuizQuestion:
    uid: str
    number: int
    type_label: str
    stem: Markup
    kind: str  # choice | multi | prompt
    options: list[Markup] = field(default_factory=list)
    key: list[int] | None = None  # right option indexes, only when the key may be shown
    key_text: str = ""
    explanation: Markup | None = None
    written: bool = False


@dataclass
class Quiz:
    number: int
    title: str
    keyed: bool
    reason: str
    sampled: bool
    questions: list[QuizQuestion]


def why_no_key(exam: Exam, now: datetime) -> str | None:
    """None when the answers may go into the pack, else the reason in Chinese."""
    if exam.review == Review.NEVER:
        return "本课程测试设置为不允许查看答案。"
    if not exam.review_answers:
        return "本课程测试设置为查看试卷时不显示正确答案。"
    if exam.closes_at is None:
        return "本课程测试长期开放，为不影响正式测试，不附答案。"
    if now < exam.closes_at:
        return (f"本课程测试尚未结束（{format_local(exam.closes_at)} 截止），"
                "为不影响正式测试，暂不附答案；测试结束后重新导出学习包即可带答案。")
    return None


def _questions(exam: Exam) -> tuple[list[Question], bool]:
    """The exam's questions in its order; a drawn exam gives one fixed sample (seeded by the
    exam, so the same pack is made twice alike)."""
    from school.exams.drawing import question_pool

    sampled = "draw" in (exam.selection or {})
    ids = question_pool(exam, random.Random(exam.id))
    found = {q.id: q for q in db.session.scalars(select(Question).where(Question.id.in_(ids)))} if ids else {}
    return [found[i] for i in ids if i in found], sampled


def _render(text: str, fmt: str = "markdown", inline: bool = False) -> Markup:
    from school.exams import text as exam_text

    return offline_html(str((exam_text.inline if inline else exam_text.render)(text, fmt or "markdown")))


def _question(question: Question, uid: str, number: int, keyed: bool) -> QuizQuestion:
    from school.exams.grading import correct_answer_text

    data = question.data or {}
    item = QuizQuestion(uid=uid, number=number, type_label=question.type_label,
                        stem=_render(question.stem, question.stem_format), kind="prompt")
    if question.qtype in (QuestionType.SINGLE, QuestionType.MULTIPLE):
        options = data.get("options", [])
        item.kind = "multi" if question.qtype == QuestionType.MULTIPLE else "choice"
        item.options = [_render(o.get("text", ""), o.get("format", "markdown"), inline=True) for o in options]
        right = [i for i, o in enumerate(options) if float(o.get("weight", 0)) > 0]
    elif question.qtype == QuestionType.TRUEFALSE:
        item.kind, item.options = "choice", [Markup("正确"), Markup("错误")]
        right = [0 if data.get("answer") else 1]
    else:
        right = []
    item.written = question.qtype in WRITTEN_TYPES
    if keyed and not item.written:
        if item.options:
            item.key = right
            item.key_text = "；".join(f"{LETTERS[i % 26]}" for i in right)
        else:
            item.key_text = correct_answer_text(question.qtype, data)
        if question.explanation:
            item.explanation = _render(question.explanation)
    return item


def quizzes(course, now: datetime) -> list[Quiz]:
    """One quiz per published exam that is the course's test (usually one)."""
    from school.courses.completion import course_tests

    out = []
    for number, exam in enumerate(course_tests(course), start=1):
        reason = why_no_key(exam, now)
        questions, sampled = _questions(exam)
        if not questions:
            continue
        items = [_question(q, f"s{number}-q{i}", i, reason is None) for i, q in enumerate(questions, start=1)]
        out.append(Quiz(number, exam.title, reason is None, reason or "", sampled, items))
    return out
