"""The question bank: categories by path, saving imported questions, export."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from school.accounts.models import User
from school.exams.formats import Parsed, gift, xlsx
from school.exams.models import Question, QuestionCategory
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


def _path(question: Question) -> str:
    return question.category.path if question.category else ""


def export(questions: list[Question], fmt: str) -> bytes:
    questions = sorted(questions, key=lambda q: (_path(q), q.id))
    if fmt == "gift":
        return gift.dump(questions, _path).encode("utf-8")
    return xlsx.dump(questions, _path)
