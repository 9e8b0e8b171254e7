"""What the member's browser receives: the paper during an attempt (texts only, in the
attempt's stored order) and, after finishing, the review the exam's policy allows."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from markupsafe import Markup
from sqlalchemy import Integer, Row, Text, and_, any_, bindparam, case, cast, func, literal_column, select, true
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import aliased

from school.exams import grading
from school.exams.models import TYPE_LABELS, WRITTEN_TYPES, Answer, Attempt, Exam, Question, QuestionType
from school.exams.responses import to_shown
from school.exams.text import inline, render
from school.extensions import db

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _letter(index: int) -> str:
    """A, B … Z, then 27, 28 …: an imported bank may give a question more options than letters."""
    return LETTERS[index] if index < len(LETTERS) else str(index + 1)


def _by_ids(dialect: str, column=Question.id):
    """``column`` (``Question.id``, or an alias's) among ``ids``. On PostgreSQL ``= ANY(array)``:
    one parameter, so the statement's text is the same for every paper and psycopg parses it
    once and prepares it; an expanding IN binds one parameter per question (a hundred on a
    year-end paper), and psycopg re-parses that text in Python on every call."""
    if dialect == "postgresql":
        return column == any_(bindparam("ids", type_=postgresql.ARRAY(Integer)))
    return column.in_(bindparam("ids", expanding=True))


@functools.cache
def shapes_statement(dialect: str):
    """What drawing a paper needs of its questions: id, type and data, as plain rows. Start
    reads a hundred, and building ORM objects of them cost more than reading them."""
    return select(Question.id, Question.qtype, Question.data).where(_by_ids(dialect))


def _digest_of(among):
    """An MD5 of what ``shapes_statement`` reads of the questions ``among(question)`` picks:
    id, type and data of those that exist, in id order. A scalar subquery over its own alias of
    the questions, so it can stand in a statement that reads them too."""
    question = aliased(Question)
    shape = func.concat_ws(":", question.id, question.qtype, cast(question.data, Text))
    return (select(func.md5(func.string_agg(shape, aggregate_order_by(literal_column("','"), question.id))))
            .where(among(question)).scalar_subquery())


@functools.cache
def fixed_paper_digest():
    """PostgreSQL: ``_digest_of`` the fixed questions of the exam ``:exam_id``. Start reads it
    with the login session, so a process that drew this exam's paper before can draw it again
    without reading the questions (``drawing.fixed_shapes``); an editor's change to a question
    or to the exam's list, on whichever node, changes it. ``NULL`` for a paper drawn by rules.
    Not correlated to the enclosing statement's rows (one per audience organisation and
    attempt): PostgreSQL computes it once per statement."""
    exam = aliased(Exam)
    fixed = exam.selection.op("->")("fixed")
    listed = case((func.json_typeof(fixed) == "array", fixed))  # anything else: no elements, no error
    item = func.json_array_elements_text(listed).table_valued("value").render_derived()
    # An id the editor did not write as digits (3.0, a string) is left out of the digest; the
    # shapes read later includes it, so the two never match and the questions are read.
    as_id = case((item.c.value.regexp_match("^[0-9]{1,9}$"), cast(item.c.value, Integer)))
    ids = select(as_id).select_from(exam).join(item, true()).where(exam.id == bindparam("exam_id"))
    return _digest_of(lambda question: question.id.in_(ids)).label("paper_digest")


@functools.cache
def shapes_and_digest_statement():
    """PostgreSQL: ``shapes_statement`` with ``_digest_of`` the same ids as a column, read in
    one statement and so from one snapshot: the digest a process keeps shapes under is the
    digest of those very shapes, whatever an editor commits in between."""
    digest = _digest_of(lambda question: _by_ids("postgresql", question.id))
    return shapes_statement("postgresql").add_columns(digest.label("digest"))


@functools.cache
def graded_statement(dialect: str):
    """The paper's questions, each with the attempt's answer to it or ``None``, in one
    statement: grading reads both under the finish's row lock, the attempt page and the review
    to show them. Answers already in the session are reloaded: a hand-in saves its last
    answers with a Core upsert first."""
    answer = and_(Answer.question_id == Question.id, Answer.attempt_id == bindparam("attempt_id"))
    return (select(Question, Answer).outerjoin(Answer, answer).where(_by_ids(dialect))
            .execution_options(populate_existing=True))


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def question_shapes(ids: list[int]) -> dict[int, Row]:
    """``{id: (id, qtype, data)}`` of the questions among ``ids`` that exist."""
    return {row.id: row for row in db.session.execute(shapes_statement(_dialect()), {"ids": ids})} if ids else {}


def questions_with_answers(attempt_id: int, ids: list[int]) -> dict[int, tuple[Question, Answer | None]]:
    if not ids:
        return {}
    rows = db.session.execute(graded_statement(_dialect()), {"ids": ids, "attempt_id": attempt_id})
    return {question.id: (question, answer) for question, answer in rows}


@dataclass(frozen=True, slots=True)
class ShownQuestion:
    """What ``paper`` reads of a question, when it came as JSON (``paper_column``) instead of
    as a ``Question``. Not the explanation; ``data`` holds the answer key (the options'
    weights, a written answer's reference and rubric) as the ORM question's does: only
    ``paper``'s ``Entry`` reaches the template."""
    id: int
    qtype: str
    points: Decimal
    stem: str
    stem_format: str
    data: dict

    @property
    def type_label(self) -> str:
        return TYPE_LABELS.get(self.qtype, self.qtype)


class SavedAnswer(NamedTuple):
    """What ``paper`` reads of the member's saved answer, when it came as JSON."""
    response: dict | None
    flagged: bool
    client_rev: int


@functools.cache
def paper_column():
    """PostgreSQL: the paper of the statement's ``Attempt`` — every question of its layout with
    the attempt's answer to it — as one JSON column, so that the attempt page reads it in the
    login session's statement (one round trip instead of two; every member opens the page as
    the exam starts). Correlated to the enclosing statement's ``exam_attempt``; ``NULL`` when
    it has none, or an empty layout. ``paper_from`` takes it apart. SQLite keeps the second
    statement: there a statement is a function call, not a round trip to another process."""
    item = func.json_array_elements(Attempt.layout).table_valued("value").render_derived()
    in_layout = select(cast(item.c.value.op("->>")("q"), Integer)).scalar_subquery()
    answer = and_(Answer.attempt_id == Attempt.id, Answer.question_id == Question.id)
    shown = func.json_build_array(Question.id, Question.qtype, cast(Question.points, Text), Question.stem,
                                  Question.stem_format, Question.data, Answer.id, Answer.response, Answer.flagged,
                                  Answer.client_rev)
    return (select(func.json_agg(shown)).select_from(Question).outerjoin(Answer, answer)
            .where(Question.id.in_(in_layout)).scalar_subquery().label("paper"))


def paper_from(shown: list) -> tuple[dict[int, ShownQuestion], dict[int, SavedAnswer]]:
    """``paper``'s questions and answers from ``paper_column``'s value."""
    questions, answers = {}, {}
    for qid, qtype, points, stem, stem_format, data, answer_id, response, flagged, client_rev in shown:
        questions[qid] = ShownQuestion(qid, qtype, Decimal(points), stem, stem_format, data)
        if answer_id is not None:
            answers[qid] = SavedAnswer(response, flagged, client_rev)
    return questions, answers


def _questions_and_answers(attempt: Attempt) -> tuple[dict[int, Question], dict[int, Answer]]:
    """The paper's questions and the member's answers to them, in one statement."""
    graded = questions_with_answers(attempt.id, [item["q"] for item in attempt.layout])
    questions = {qid: question for qid, (question, _answer) in graded.items()}
    answers = {qid: answer for qid, (_question, answer) in graded.items() if answer is not None}
    return questions, answers


class Option(NamedTuple):
    """A choice as shown: the value the form sends, its letter (A, B …; none for 正确/错误),
    its text, and whether the member's saved answer picks it."""
    value: int | str
    letter: str
    text: Markup
    checked: bool


@dataclass(eq=False)
class Entry:
    """One question of the paper as the member's browser receives it.

    An object, not a dict: the attempt page reads ~40 fields of each of a hundred questions,
    and Jinja tries attribute access first, so a dict entry raised (and caught) an
    ``AttributeError`` for every one of them. Whether an option is picked is worked out here
    for the same reason, once per option instead of by template expressions."""
    id: int
    number: int
    qtype: str
    type_label: str
    points: Decimal
    stem: Markup
    response: dict | None  # the saved answer in the shown order; None: not answered
    flagged: bool
    rev: int
    options: list[Option] = field(default_factory=list)  # single, multiple, truefalse
    min_length: int = 0  # written answers
    max_length: int = 0
    lefts: list[tuple[int, Markup, int | None]] = field(default_factory=list)  # matching: index, text, right picked
    rights: list[tuple[int, str]] = field(default_factory=list)  # matching: shown index, plain text
    # The review (after finishing) only.
    earned: Decimal | None = None
    pending: bool = False
    comment: str = ""
    given: str = ""
    correct: str | None = None  # None: the right answers are not shown
    explanation: Markup | str = ""


_TRUE_FALSE = ((True, "true", "正确"), (False, "false", "错误"))


def _options(question: Question | ShownQuestion, item: dict, shown: dict) -> list[Option]:
    if question.qtype == QuestionType.TRUEFALSE:
        value = shown.get("value")
        return [Option(sent, "", Markup(label), value is truth) for truth, sent, label in _TRUE_FALSE]
    options = question.data["options"]
    picked = {shown.get("choice")} if question.qtype == QuestionType.SINGLE else set(shown.get("choices") or ())
    return [Option(shown_index, _letter(shown_index), inline(options[i]["text"], options[i].get("format", "markdown")),
                   shown_index in picked)
            for shown_index, i in enumerate(item["opts"])]


def paper(attempt: Attempt, questions: dict[int, Question | ShownQuestion] | None = None,
          answers: dict[int, Answer | SavedAnswer] | None = None) -> list[Entry]:
    """Stem, option texts and the member's own saved answer; nothing about what is right.
    ``questions`` and ``answers``: the attempt's, when the caller has just read them
    (``_questions_and_answers``, or ``paper_from``)."""
    if questions is None or answers is None:
        questions, answers = _questions_and_answers(attempt)
    out = []
    for number, item in enumerate(attempt.layout, start=1):
        question = questions[item["q"]]
        answer = answers.get(question.id)
        shown = to_shown(item, question.qtype, answer.response) if answer else None
        entry = Entry(id=question.id, number=number, qtype=question.qtype, type_label=question.type_label,
                      points=question.points, stem=render(question.stem, question.stem_format), response=shown,
                      flagged=bool(answer and answer.flagged), rev=answer.client_rev if answer else 0)
        if question.qtype in (QuestionType.SINGLE, QuestionType.MULTIPLE, QuestionType.TRUEFALSE):
            entry.options = _options(question, item, shown or {})
        elif question.qtype in WRITTEN_TYPES:  # the length limits only: reference and rubric are for graders
            entry.min_length = int(question.data.get("min_length") or 0)
            entry.max_length = int(item.get("max") or question.data.get("max_length") or 0)
        elif question.qtype == QuestionType.MATCHING:
            pairs = question.data["pairs"]
            picked = (shown or {}).get("pairs") or {}
            entry.lefts = [(i, inline(p["left"]), picked.get(str(i))) for i, p in enumerate(pairs) if p.get("left")]
            # A select's option is plain text: the right-hand texts without their markup.
            entry.rights = [(shown_index, inline(pairs[i]["right"]).striptags())
                            for shown_index, i in enumerate(item["rights"])]
        out.append(entry)
    return out


def review(attempt: Attempt, with_answers: bool) -> list[Entry]:
    """After finishing: per question the points earned, and (if allowed) the right answer and explanation."""
    questions, answers = _questions_and_answers(attempt)
    out = []
    for entry in paper(attempt, questions, answers):
        question = questions[entry.id]
        answer = answers.get(question.id)
        fraction = float(answer.fraction) if answer and answer.fraction is not None else 0.0
        entry.earned = grading.points_for(question.points, fraction)
        if question.qtype in WRITTEN_TYPES:  # a person's grade and comment (待阅卷 until then)
            entry.pending = bool(answer and answer.fraction is None)
            entry.earned = answer.awarded_points if answer and answer.awarded_points is not None else entry.earned
            entry.comment = (answer.grader_comment or "") if answer else ""
        entry.given = _given_text(question, answer.response if answer else None)
        if with_answers:
            entry.correct = grading.correct_answer_text(question.qtype, question.data)
            entry.explanation = render(question.explanation) if question.explanation else ""
        out.append(entry)
    return out


def _given_text(question: Question, response: dict | None) -> str:
    if not response:
        return "（未作答）"
    data = question.data
    if question.qtype == QuestionType.SINGLE:
        return data["options"][response["choice"]]["text"]
    if question.qtype == QuestionType.MULTIPLE:
        return "；".join(data["options"][i]["text"] for i in response.get("choices", [])) or "（未作答）"
    if question.qtype == QuestionType.TRUEFALSE:
        return "正确" if response.get("value") else "错误"
    if question.qtype == QuestionType.FILL:
        return response.get("text") or "（未作答）"
    if question.qtype == QuestionType.NUMERIC:
        return response.get("value") or "（未作答）"
    if question.qtype in WRITTEN_TYPES:
        return response.get("text") or "（未作答）"
    pairs = data["pairs"]
    return "；".join(f"{pairs[int(k)]['left']} → {pairs[v]['right']}" for k, v in response.get("pairs", {}).items()
                    if int(k) < len(pairs) and v < len(pairs)) or "（未作答）"
