"""Drawing an attempt's paper: which questions (fixed list or draw rules over the category
tree) and in what order, with option and matching orders. The layout is stored at start."""
from __future__ import annotations

import random

from sqlalchemy import Row, event, select
from sqlalchemy.engine import Engine

from school.exams.bank import category_ids
from school.exams.models import MAX_WRITTEN_LENGTH, WRITTEN_TYPES, Exam, Question, QuestionType
from school.exams.paper import question_shapes, shapes_and_digest_statement
from school.extensions import db


def question_pool(exam: Exam, rng: random.Random) -> list[int]:
    selection = exam.selection or {}
    if "draw" in selection:
        chosen: list[int] = []
        for rule in selection["draw"]:
            query = select(Question.id).order_by(Question.id)
            ids = category_ids(rule.get("category_id"))
            if ids is not None:
                query = query.where(Question.category_id.in_(ids))
            if rule.get("difficulty"):
                query = query.where(Question.difficulty == int(rule["difficulty"]))
            pool = [q for q in db.session.scalars(query) if q not in chosen]
            chosen += rng.sample(pool, min(int(rule.get("count", 0)), len(pool)))
        return chosen
    wanted = [int(q) for q in selection.get("fixed", [])]
    existing = set(db.session.scalars(select(Question.id).where(Question.id.in_(wanted)))) if wanted else set()
    return [q for q in wanted if q in existing]


# A fixed paper's question shapes per exam, with their digest (``paper.fixed_paper_digest``):
# every member starting the exam draws from the same questions, and on PostgreSQL reading them
# was start's second round trip. Keyed by a digest of their content, not invalidated: an entry
# is used only when the digest start read with the login session is the entry's.
_FIXED_SHAPES: dict[int, tuple[str, dict[int, Row]]] = {}
_FIXED_SHAPES_MAX = 1_000


def fixed_shapes(exam_id: int, wanted: list[int], digest: str | None) -> dict[int, Row]:
    """``question_shapes(wanted)``, from this process's memory when ``digest`` (read with the
    login session) is the digest they were kept under. What is kept is read with its own digest
    in one statement (``paper.shapes_and_digest_statement``), not under ``digest``: an editor
    may commit between the two statements, and then undo."""
    if digest is None:
        return question_shapes(wanted)
    known = _FIXED_SHAPES.get(exam_id)
    if known is not None and known[0] == digest:
        return known[1]
    rows = db.session.execute(shapes_and_digest_statement(), {"ids": wanted}).all() if wanted else []
    questions = {row.id: row for row in rows}
    if rows:
        if len(_FIXED_SHAPES) >= _FIXED_SHAPES_MAX:  # exams end; a bound is enough
            _FIXED_SHAPES.clear()
        _FIXED_SHAPES[exam_id] = (rows[0].digest, questions)
    return questions


def forget_fixed_shapes(*_args) -> None:
    """A database was disposed of (the test suite empties it between tests): start afresh."""
    _FIXED_SHAPES.clear()


event.listen(Engine, "engine_disposed", forget_fixed_shapes)


def draw_layout(exam: Exam, rng: random.Random, paper_digest: str | None = None) -> list[dict]:
    """The attempt's layout. ``paper_digest``: ``paper.fixed_paper_digest`` of ``exam``, when the
    caller read it (start on PostgreSQL)."""
    selection = exam.selection or {}
    if "draw" in selection:
        ids = question_pool(exam, rng)
        questions = question_shapes(ids)
    else:  # a fixed paper: its questions that still exist, read once (not ids first, then rows)
        wanted = [int(q) for q in selection.get("fixed", [])]
        questions = fixed_shapes(exam.id, wanted, paper_digest)
        ids = [q for q in wanted if q in questions]
    if exam.shuffle_questions:
        rng.shuffle(ids)
    layout = []
    for qid in ids:
        question = questions[qid]
        item: dict = {"q": qid, "t": question.qtype}
        if question.qtype in (QuestionType.SINGLE, QuestionType.MULTIPLE):
            opts = list(range(len(question.data.get("options", []))))
            if exam.shuffle_options:
                rng.shuffle(opts)
            item["opts"] = opts
        elif question.qtype == QuestionType.MATCHING:
            # Right-hand texts are always shuffled: in pair order they would be the answer.
            seen, rights = set(), []
            for i, pair in enumerate(question.data.get("pairs", [])):
                if pair["right"] not in seen:
                    seen.add(pair["right"])
                    rights.append(i)
            rng.shuffle(rights)
            item["rights"] = rights
        elif question.qtype in WRITTEN_TYPES:  # the length allowed, fixed with the paper
            item["max"] = int(question.data.get("max_length") or MAX_WRITTEN_LENGTH)
        layout.append(item)
    return layout
