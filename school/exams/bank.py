"""The question bank: categories by path (and a category's subtree), listing, saving
imported questions, deleting a question no one uses. Flushes; the caller commits.
Export files: ``exports.question_bank``."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, select

from school.accounts.models import User
from school.exams.formats import Parsed
from school.exams.models import TYPE_LABELS, Answer, Attempt, Exam, Question, QuestionCategory
from school.extensions import db

MAX_CATEGORY_DEPTH = 6


def category_for_path(path: str) -> QuestionCategory | None:
    """Find or create every level of ``"党章/总纲"``; empty path → no category."""
    names = [n.strip()[:120] for n in (path or "").split("/") if n.strip()][:MAX_CATEGORY_DEPTH]
    parent = None
    for depth in range(1, len(names) + 1):
        full = "/".join(names[:depth])
        category = db.session.scalar(select(QuestionCategory).where(QuestionCategory.path == full))
        if category is None:
            category = QuestionCategory(name=names[depth - 1], path=full, parent=parent)
            db.session.add(category)
            db.session.flush()
        parent = category
    return parent


def categories() -> list[QuestionCategory]:
    return list(db.session.scalars(select(QuestionCategory).order_by(QuestionCategory.path)))


def category_ids(category_id: int | None) -> list[int] | None:
    """The category and every category under it; ``None`` for no category, ``[]`` for a missing one."""
    if not category_id:
        return None
    root = db.session.get(QuestionCategory, category_id)
    if root is None:
        return []
    return list(db.session.scalars(select(QuestionCategory.id).where(
        (QuestionCategory.id == root.id) | QuestionCategory.path.startswith(root.path + "/", autoescape=True))))


def questions_in(category_id: int | None = None, qtype: str = "") -> Select:
    """Questions in a category's subtree (none: all) and of one type (unknown type: all)."""
    query = select(Question)
    if category_id:
        query = query.where(Question.category_id.in_(category_ids(category_id) or [-1]))
    if qtype in TYPE_LABELS:
        query = query.where(Question.qtype == qtype)
    return query


def question_page(category_id: int | None, qtype: str, page: int, size: int) -> tuple[list[Question], int]:
    """One page of the bank list, newest first, and how many questions match in all."""
    query = questions_in(category_id, qtype)
    # Counted over the query as a subquery: ``with_only_columns(count())`` would drop the FROM
    # when no filter names the table, and count one row (共 1 道 beside 13 listed).
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    questions = db.session.scalars(query.order_by(Question.id.desc()).limit(size).offset((page - 1) * size)).all()
    return list(questions), total


def question_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Question))


def using_exams(question: Question) -> list[Exam]:
    """The exams that use the question: it is among their fixed questions, on a paper drawn
    for one of their attempts (answered or not), or answered in one."""
    ids = {e.id for e in db.session.scalars(select(Exam)) if question.id in (e.selection or {}).get("fixed", [])}
    ids |= set(db.session.scalars(select(Attempt.exam_id).join(Answer, Answer.attempt_id == Attempt.id).where(
        Answer.question_id == question.id)))
    ids |= set(db.session.scalars(_drawn_in(question.id, ids)))
    return list(db.session.scalars(select(Exam).where(Exam.id.in_(ids)).order_by(Exam.id))) if ids else []


def _drawn_in(question_id: int, known: set[int]):
    """The exams (other than ``known``) with a drawn paper holding the question: each attempt's
    layout is a JSON list of ``{"q": id, …}``, searched by the database's own JSON functions
    (a province has millions of attempts; reading every layout into Python took the delete page
    with it). SQLite and PostgreSQL spell them differently."""
    if db.session.get_bind().dialect.name == "postgresql":
        item = func.json_array_elements(Attempt.layout).table_valued("value").alias("item")
        holds = select(1).select_from(item).where(item.c.value.op("->>")("q") == str(question_id))
    else:
        item = func.json_each(Attempt.layout).table_valued("value").alias("item")
        holds = select(1).select_from(item).where(func.json_extract(item.c.value, "$.q") == question_id)
    query = select(Attempt.exam_id).distinct().where(holds.exists())
    return query.where(Attempt.exam_id.not_in(known)) if known else query


def in_use(question: Question) -> bool:
    return bool(using_exams(question))


def delete_refusal(question: Question) -> str | None:
    """Why the question cannot be deleted (the exams named), or ``None``."""
    exams = using_exams(question)
    if not exams:
        return None
    names = "、".join(f"“{e.title}”" for e in exams[:5]) + (f" 等 {len(exams)} 场考试" if len(exams) > 5 else "")
    return f"题目 #{question.id} 正被考试 {names} 使用（试卷或作答记录），不能删除"


def delete_question(question: Question) -> bool:
    """Delete a question no one uses (flushed); ``False`` and nothing changed when it is in use."""
    if in_use(question):
        return False
    db.session.delete(question)
    db.session.flush()
    return True


def save_parsed(parsed: list[Parsed], actor: User | None, now: datetime, default_category: str = "") -> list[Question]:
    """Create the questions; a question's own category (from the file) wins over the default."""
    created = []
    for item in parsed:
        path = "/".join(p for p in (default_category.strip("/"), item.category) if p) \
            if default_category and item.category else (item.category or default_category)
        category = category_for_path(path)
        question = Question(category=category, qtype=item.qtype, name=item.name[:200], stem=item.stem,
                            stem_format=item.stem_format, explanation=item.explanation, points=item.points,
                            difficulty=item.difficulty, tags=item.tags[:300], data=item.data, created_at=now,
                            created_by_id=actor.id if actor else None)
        db.session.add(question)
        created.append(question)
    db.session.flush()
    return created

