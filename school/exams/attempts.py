"""The attempt lifecycle. The server decides every time; the browser only shows it.

- The deadline ``min(started + limit, exam closes)`` is fixed when the attempt starts.
- Each save is one upsert per (attempt, question), accepted until deadline + grace.
- Finishing is ``UPDATE … WHERE state='in_progress'``: whoever changes the row grades the
  attempt and awards the credit; every other caller just reads the result. A save first
  touches the same attempt row under the same condition, so a save and a finish are
  serialised by the row lock: an acknowledged save is always graded.
"""
from __future__ import annotations

import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from school import jobs
from school.accounts import audience
from school.accounts.models import User
from school.credits import keys, ledger
from school.credits.rules import current_rules
from school.exams import grading, signals
from school.exams.models import Answer, Attempt, AttemptState, Exam, Question, QuestionCategory, QuestionType
from school.extensions import db

MAX_TEXT = 500
_SQLITE_WRITES = threading.RLock()


@contextmanager
def write_section():
    """SQLite admits one writer at a time and makes the others poll with sleeps of up to
    100 ms; queueing this process's writers on a lock instead keeps the waits short and fair.
    PostgreSQL locks rows, so nothing is needed there."""
    if db.session.get_bind().dialect.name == "sqlite":
        with _SQLITE_WRITES:
            yield
    else:
        yield


class ExamError(ValueError):
    """A refusal the member is shown as it is (Chinese)."""


def grace_seconds() -> int:
    return int(current_app.config.get("EXAM_GRACE_SECONDS", 30))


def deadline_for(exam: Exam, started: datetime) -> datetime | None:
    candidates = []
    if exam.time_limit_minutes:
        candidates.append(started + timedelta(minutes=exam.time_limit_minutes))
    if exam.closes_at:
        candidates.append(exam.closes_at)
    return min(candidates) if candidates else None


def is_overdue(attempt: Attempt, now: datetime, grace: int | None = None) -> bool:
    grace = grace_seconds() if grace is None else grace
    return (attempt.state == AttemptState.IN_PROGRESS and attempt.deadline_at is not None
            and now > attempt.deadline_at + timedelta(seconds=grace))


# --- who may take an exam ---------------------------------------------------------------


def in_audience(exam: Exam, member: User) -> bool:
    return audience.includes(exam.audience_orgs, exam.categories, member)


def attempts_of(exam: Exam, member: User) -> list[Attempt]:
    return list(db.session.scalars(select(Attempt).where(
        Attempt.exam_id == exam.id, Attempt.member_id == member.id).order_by(Attempt.number)))


def why_not_start(exam: Exam, member: User, now: datetime) -> str | None:
    """``None`` when ``member`` may start a new attempt now, else the reason in Chinese."""
    if not exam.published:
        return "考试尚未发布"
    if not in_audience(exam, member):
        return "您不在本次考试的参考范围内"
    if exam.opens_at and now < exam.opens_at:
        return "考试尚未开始"
    if exam.closes_at and now >= exam.closes_at:
        return "考试已结束"
    if exam.attempts_allowed and len(attempts_of(exam, member)) >= exam.attempts_allowed:
        return "您的作答次数已用完"
    return None


def visible_to(exam: Exam, member: User) -> bool:
    return exam.published and in_audience(exam, member)


# --- starting ---------------------------------------------------------------------------


def current_attempt(exam: Exam, member: User) -> Attempt | None:
    return db.session.scalar(select(Attempt).where(
        Attempt.exam_id == exam.id, Attempt.member_id == member.id,
        Attempt.state == AttemptState.IN_PROGRESS))


def category_ids(category_id: int | None) -> list[int] | None:
    if not category_id:
        return None
    root = db.session.get(QuestionCategory, category_id)
    if root is None:
        return []
    return list(db.session.scalars(select(QuestionCategory.id).where(
        (QuestionCategory.id == root.id) | QuestionCategory.path.startswith(root.path + "/", autoescape=True))))


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


def draw_layout(exam: Exam, rng: random.Random) -> list[dict]:
    ids = question_pool(exam, rng)
    if exam.shuffle_questions:
        rng.shuffle(ids)
    questions = {q.id: q for q in db.session.scalars(select(Question).where(Question.id.in_(ids)))} if ids else {}
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
        layout.append(item)
    return layout


def start(exam: Exam, member: User, now: datetime, rng: random.Random | None = None) -> Attempt:
    """Resume the attempt in progress, or start a new one with its deadline fixed now."""
    existing = current_attempt(exam, member)
    if existing is not None:
        if not is_overdue(existing, now):
            return existing
        finish(existing.id, now, "overdue")
    reason = why_not_start(exam, member, now)
    if reason:
        raise ExamError(reason)
    layout = draw_layout(exam, rng or random.SystemRandom())
    if not layout:
        raise ExamError("这场考试还没有题目，请联系出题人")
    number = (db.session.scalar(select(func.max(Attempt.number)).where(
        Attempt.exam_id == exam.id, Attempt.member_id == member.id)) or 0) + 1
    attempt = Attempt(exam_id=exam.id, member_id=member.id, number=number, state=AttemptState.IN_PROGRESS,
                      started_at=now, deadline_at=deadline_for(exam, now), layout=layout)
    db.session.add(attempt)
    try:
        with write_section():
            db.session.commit()
    except IntegrityError:  # a second tap on "start" raced this one: use the attempt it made
        db.session.rollback()
        attempt = current_attempt(exam, member)
        if attempt is None:
            raise ExamError("开始考试失败，请重试")
    return attempt


# --- saving -----------------------------------------------------------------------------


@dataclass
class SaveResult:
    saved: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)
    saved_at: datetime | None = None


def _layout_item(attempt: Attempt, question_id: int) -> dict | None:
    return next((item for item in attempt.layout if item["q"] == question_id), None)


def to_stored(item: dict, qtype: str, response) -> dict | None:
    """A response in the order the member saw → in the question's own terms. Raises ExamError."""
    if response is None:
        return None
    if not isinstance(response, dict):
        raise ExamError("答案格式不正确")
    opts = item.get("opts", [])

    def option(pos):
        if not isinstance(pos, int) or isinstance(pos, bool) or not 0 <= pos < len(opts):
            raise ExamError("选项不存在")
        return opts[pos]

    if qtype == QuestionType.SINGLE:
        return {"choice": option(response.get("choice"))} if response.get("choice") is not None else None
    if qtype == QuestionType.MULTIPLE:
        choices = response.get("choices") or []
        if not isinstance(choices, list) or len(choices) > len(opts):
            raise ExamError("选项不存在")
        return {"choices": sorted({option(c) for c in choices})}
    if qtype == QuestionType.TRUEFALSE:
        value = response.get("value")
        if value is not None and not isinstance(value, bool):
            raise ExamError("答案格式不正确")
        return {"value": value} if value is not None else None
    if qtype in (QuestionType.FILL, QuestionType.NUMERIC):
        key = "text" if qtype == QuestionType.FILL else "value"
        value = response.get(key, "")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or len(str(value)) > MAX_TEXT:
            raise ExamError(f"答案不能超过 {MAX_TEXT} 字")
        return {key: str(value)}
    if qtype == QuestionType.MATCHING:
        rights = item.get("rights", [])
        pairs = response.get("pairs") or {}
        if not isinstance(pairs, dict) or len(pairs) > 100:
            raise ExamError("答案格式不正确")
        out = {}
        for left, pos in pairs.items():
            if pos is None or pos == "":
                continue
            if not str(left).isdigit() or not isinstance(pos, int) or not 0 <= pos < len(rights):
                raise ExamError("选项不存在")
            out[str(int(left))] = rights[pos]
        return {"pairs": out}
    raise ExamError("未知题型")


def to_shown(item: dict, qtype: str, stored: dict | None):
    """The inverse of ``to_stored``, to put a saved answer back on the page."""
    if not stored:
        return None
    opts = item.get("opts", [])
    if qtype == QuestionType.SINGLE and stored.get("choice") in opts:
        return {"choice": opts.index(stored["choice"])}
    if qtype == QuestionType.MULTIPLE:
        return {"choices": sorted(opts.index(c) for c in stored.get("choices", []) if c in opts)}
    if qtype == QuestionType.MATCHING:
        rights = item.get("rights", [])
        return {"pairs": {k: rights.index(v) for k, v in stored.get("pairs", {}).items() if v in rights}}
    return stored


def _upsert(values: dict) -> None:
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(Answer).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Answer.attempt_id, Answer.question_id],
        set_={"response": stmt.excluded.response, "flagged": stmt.excluded.flagged,
              "saved_at": stmt.excluded.saved_at, "client_rev": stmt.excluded.client_rev},
        # An older copy arriving late (offline queue, second device) never replaces a newer one.
        where=Answer.client_rev <= stmt.excluded.client_rev)
    db.session.execute(stmt)


def _qtypes(attempt: Attempt) -> dict[int, str]:
    """Question types by id; the layout carries them (``"t"``) so a save needs no extra query."""
    if all("t" in item for item in attempt.layout):
        return {item["q"]: item["t"] for item in attempt.layout}
    return dict(db.session.execute(select(Question.id, Question.qtype).where(
        Question.id.in_([item["q"] for item in attempt.layout]))).all())


def save_answers(attempt: Attempt, member: User, items: list[dict], now: datetime) -> SaveResult:
    """Save ``items`` (``{"question", "response", "flagged", "rev"}``, shown order) to ``attempt``.

    Raises ExamError when the attempt no longer takes answers (finished, or past the grace).
    """
    if attempt.member_id != member.id:
        raise ExamError("这不是您的答卷")
    if attempt.state != AttemptState.IN_PROGRESS:
        raise ExamError("本次作答已交卷，答案不能再修改")
    if is_overdue(attempt, now):
        finish(attempt.id, now, "overdue")
        raise ExamError("已超过作答截止时间，系统已按已保存的答案交卷")
    result = SaveResult(saved_at=now)
    qtypes = _qtypes(attempt)
    rows = []
    for raw in items[:200]:
        qid = raw.get("question") if isinstance(raw, dict) else None
        if not isinstance(qid, int) or (item := _layout_item(attempt, qid)) is None:
            continue
        try:
            stored = to_stored(item, qtypes[qid], raw.get("response"))
        except ExamError as exc:
            result.errors[qid] = str(exc)
            continue
        rev = raw.get("rev")
        rev = rev if isinstance(rev, int) and not isinstance(rev, bool) and 0 <= rev < 2**62 else 0
        rows.append(dict(attempt_id=attempt.id, question_id=qid, response=stored,
                         flagged=bool(raw.get("flagged")), saved_at=now, client_rev=rev))
    with write_section():
        # Taking the attempt's row first orders this save against a concurrent finish.
        touched = db.session.execute(update(Attempt).where(
            Attempt.id == attempt.id, Attempt.state == AttemptState.IN_PROGRESS).values(last_saved_at=now))
        if touched.rowcount != 1:
            db.session.rollback()
            raise ExamError("本次作答已交卷，答案不能再修改")
        for values in rows:
            _upsert(values)
            result.saved.append(values["question_id"])
        db.session.commit()
    return result


# --- finishing --------------------------------------------------------------------------


def credit_hours(exam: Exam) -> Decimal:
    return exam.credit_hours if exam.credit_hours is not None else current_rules().exam_default_hours


def _grade(attempt: Attempt) -> None:
    ids = [item["q"] for item in attempt.layout]
    questions = {q.id: q for q in db.session.scalars(select(Question).where(Question.id.in_(ids)))}
    answers = {a.question_id: a for a in db.session.scalars(
        select(Answer).where(Answer.attempt_id == attempt.id).execution_options(populate_existing=True))}
    total = Decimal("0")
    maximum = Decimal("0")
    for qid in ids:
        question = questions[qid]
        maximum += Decimal(question.points)
        answer = answers.get(qid)
        if answer is None:
            continue
        fraction = grading.score(question.qtype, question.data, answer.response)
        answer.fraction = Decimal(str(round(fraction, 4)))
        total += grading.points_for(question.points, fraction)
    attempt.score = total
    attempt.max_score = maximum
    attempt.passed = bool(maximum) and total * 100 >= maximum * attempt.exam.pass_percent


def finish(attempt_id: int, now: datetime, reason: str = "submitted") -> tuple[Attempt, bool]:
    """Finish once. Returns the attempt and whether this call was the one that finished it."""
    attempt = db.session.get(Attempt, attempt_id)
    finished_at = now
    if reason == "overdue" and attempt is not None and attempt.deadline_at and attempt.deadline_at < now:
        finished_at = attempt.deadline_at  # it ended at its deadline; the sweep only noticed later
    with write_section():
        changed = db.session.execute(update(Attempt).where(
            Attempt.id == attempt_id, Attempt.state == AttemptState.IN_PROGRESS).values(
            state=AttemptState.FINISHED, finished_at=finished_at, finish_reason=reason))
        if changed.rowcount != 1:
            db.session.rollback()
            return db.session.get(Attempt, attempt_id, populate_existing=True), False
        attempt = db.session.get(Attempt, attempt_id, populate_existing=True)
        _grade(attempt)
        if attempt.passed:
            hours = credit_hours(attempt.exam)
            if hours > 0:
                # Once per exam and member, however many attempts pass.
                ledger.award(attempt.member_id, hours, "online", "exam",
                             key=keys.exam_pass(attempt.exam_id, attempt.member_id), now=finished_at,
                             description=f"考试通过：{attempt.exam.title}"[:300])
        db.session.commit()
    if attempt.passed:
        signals.attempt_passed.send(attempt, now=finished_at)  # e.g. a course whose test this is
    return attempt, True


def submit(attempt: Attempt, member: User, items: list[dict], now: datetime) -> Attempt:
    """The member hands in: last answers (if still on time) are saved, then the attempt finishes."""
    if attempt.member_id != member.id:
        raise ExamError("这不是您的答卷")
    if items and attempt.state == AttemptState.IN_PROGRESS:
        try:
            save_answers(attempt, member, items, now)
        except ExamError:
            db.session.rollback()  # too late for these answers: the saved ones are graded
    return finish(attempt.id, now, "overdue" if is_overdue(attempt, now) else "submitted")[0]


def finish_if_overdue(attempt: Attempt, now: datetime) -> Attempt:
    if is_overdue(attempt, now):
        return finish(attempt.id, now, "overdue")[0]
    return attempt


def finish_overdue(now: datetime, grace: int | None = None) -> int:
    """The periodic sweep: finish every attempt past deadline + grace from its saved answers."""
    grace = grace_seconds() if grace is None else grace
    ids = list(db.session.scalars(select(Attempt.id).where(
        Attempt.state == AttemptState.IN_PROGRESS, Attempt.deadline_at.is_not(None),
        Attempt.deadline_at < now - timedelta(seconds=grace))))
    return sum(1 for attempt_id in ids if finish(attempt_id, now, "overdue")[1])


# --- results ----------------------------------------------------------------------------


def counted_attempt(exam: Exam, member: User) -> Attempt | None:
    """The attempt that stands for the member's result: the highest or the last, per the exam."""
    done = [a for a in attempts_of(exam, member) if a.state == AttemptState.FINISHED]
    if not done:
        return None
    if exam.grading == "last":
        return done[-1]
    return max(done, key=lambda a: (a.score or 0, -a.number))


def review_allowed(exam: Exam, now: datetime) -> bool:
    if exam.review == "after_submit":
        return True
    if exam.review == "after_close":
        return exam.closes_at is not None and now >= exam.closes_at
    return False



def items_from_form(attempt: Attempt, form) -> list[dict]:
    """The attempt page also works as a plain form (no JavaScript): its fields → save items."""
    qtypes = _qtypes(attempt)
    items = []
    for item in attempt.layout:
        qid = item["q"]
        name, qtype = f"q{qid}", qtypes.get(qid)
        response = None
        try:
            if qtype == QuestionType.SINGLE and form.get(name, "").isdigit():
                response = {"choice": int(form[name])}
            elif qtype == QuestionType.MULTIPLE and form.getlist(name):
                response = {"choices": [int(v) for v in form.getlist(name) if v.isdigit()]}
            elif qtype == QuestionType.TRUEFALSE and form.get(name) in ("true", "false"):
                response = {"value": form[name] == "true"}
            elif qtype == QuestionType.FILL and form.get(name, "").strip():
                response = {"text": form[name]}
            elif qtype == QuestionType.NUMERIC and form.get(name, "").strip():
                response = {"value": form[name]}
            elif qtype == QuestionType.MATCHING:
                pairs = {key[len(name) + 1:]: int(value) for key, value in form.items()
                         if key.startswith(name + ".") and value.isdigit()}
                response = {"pairs": pairs} if pairs else None
        except ValueError:
            continue
        if response is not None or form.get(f"flag{qid}"):
            items.append({"question": qid, "response": response, "flagged": bool(form.get(f"flag{qid}")),
                          "rev": 0})
    return items


# Hand in overdue attempts every minute, from the in-process worker or ``school jobs run``.
jobs.every(60, "exams-finish-overdue", finish_overdue)
