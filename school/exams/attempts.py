"""The attempt lifecycle: start, save, finish, the overdue sweep. The server decides every
time; the browser only shows it.

- The deadline ``min(started + limit, exam closes)`` is fixed when the attempt starts, and
  so is the paper (``drawing.draw_layout``). Who may start: ``eligibility.why_not_start``.
- Each save is one upsert per (attempt, question), accepted until deadline + grace; the
  page's answers are translated by ``responses.to_stored``.
- Finishing is ``UPDATE … WHERE state='in_progress'``: whoever changes the row grades the
  attempt and awards the credit; every other caller just reads the result. A save first
  touches the same attempt row under the same condition, so a save and a finish are
  serialised by the row lock: an acknowledged save is always graded.

Limits that hold under concurrency — ``start`` reads, then inserts, with nothing held in
between, so two rules are enforced by the database, not by the read:

- At most one attempt in progress per member and exam: the partial unique index
  ``uq_exam_attempt_one_open`` on (exam_id, member_id) WHERE state = 'in_progress'.
- At most ``attempts_allowed`` attempts: a new attempt's ``number`` is the member's highest
  number + 1 and is refused above ``attempts_allowed``; the unique constraint on
  (exam_id, member_id, number) lets only one of several concurrent inserts of the same
  number commit. Numbers are never reused (attempts are not deleted), so every attempt has
  a distinct number in 1…attempts_allowed and there cannot be more of them.

The loser of either race gets an IntegrityError at commit (PostgreSQL makes it wait for the
winner's commit first), rolls back and looks again: it resumes the winner's open attempt,
or — if the winner has meanwhile finished — finds the next number or the limit reached.
No row lock is needed for this; SQLite additionally serialises this process's commits in
``write_section``.

Who commits — the documented exception to "services flush, callers commit": ``start``,
``save_answers``, ``save_own``, ``save_by_session``, ``finish`` (so also ``submit``,
``finish_if_overdue`` and ``finish_overdue``) and ``hand_in_by_session`` commit themselves,
and roll back when they lose a race. Their correctness rests on the commit: the conditional
UPDATE's row lock (PostgreSQL) and this process's SQLite write lock (``write_section``) must
be held until the transaction ends, or a save could slip in after a finish has graded;
``start`` must commit to learn from the
unique index whether a second tap made the attempt first; and ``signals.attempt_passed``
is sent only after the commit that finished a passing attempt, so listeners (a course
completed by its test) never act on a finish that could still roll back. Callers must not
hold unrelated pending changes in the session when calling them.
"""
from __future__ import annotations

import functools
import json
import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Text,
    bindparam,
    case,
    cast,
    event,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from school import autocommit, jobs
from school.accounts.auth import SessionClaim, live_session_of
from school.accounts.models import User
from school.credits import keys, ledger
from school.credits.rules import current_rules
from school.exams import drawing, eligibility, paper, paper_grades, responses, signals
from school.exams.errors import AnswerError, ExamError
from school.exams.models import Answer, Attempt, AttemptState, Exam
from school.extensions import db

_SQLITE_WRITES = threading.RLock()
_START_TRIES = 5


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


# --- starting ---------------------------------------------------------------------------


@functools.cache
def _current_attempt_statement():
    return select(Attempt).where(Attempt.exam_id == bindparam("exam_id"), Attempt.member_id == bindparam("member_id"),
                                 Attempt.state == AttemptState.IN_PROGRESS)


def current_attempt(exam: Exam, member: User) -> Attempt | None:
    return db.session.scalar(_current_attempt_statement(), {"exam_id": exam.id, "member_id": member.id})


def open_among(mine: list[Attempt], now: datetime) -> Attempt | None:
    """The attempt in progress among the member's attempts just read (``eligibility.attempts_of``).
    One found overdue is handed in from its saved answers first; ``finish`` updates that same
    object, so ``mine`` then shows it finished without a second read."""
    current = next((a for a in mine if a.state == AttemptState.IN_PROGRESS), None)
    if current is not None and finish_if_overdue(current, now).state != AttemptState.IN_PROGRESS:
        return None
    return current


def start(exam: Exam, member: User, now: datetime, rng: random.Random | None = None,
          mine: list[Attempt] | None = None, paper_digest: str | None = None) -> Attempt:
    """Resume the attempt in progress, or start a new one with its deadline fixed now.

    The limits hold in the database, however many requests race (see the module docstring):
    the new attempt's ``number`` is the member's highest + 1 and must be within
    ``attempts_allowed``; the unique (exam, member, number) constraint and the partial unique
    index on open attempts refuse the insert of whoever lost the race, who then resumes the
    winner's attempt or is told the attempts are used up. ``mine``: the member's attempts at
    ``exam`` when the caller has just read them (``eligibility.exam_and_attempts``); a retry
    reads them again. ``paper_digest``: see ``drawing.draw_layout``.
    """
    for _ in range(_START_TRIES):
        # One read of the member's attempts gives the open one, the count and the next number.
        if mine is None:
            mine = eligibility.attempts_of(exam, member)
        existing = next((a for a in mine if a.state == AttemptState.IN_PROGRESS), None)
        if existing is not None:
            if not is_overdue(existing, now):
                return existing
            finish(existing.id, now, "overdue")
            mine = eligibility.attempts_of(exam, member)
        reason = eligibility.why_not_start(exam, member, now, mine)
        number = max((a.number for a in mine), default=0) + 1
        if not reason and exam.attempts_allowed and number > exam.attempts_allowed:
            reason = "您的作答次数已用完"
        if reason:
            # A parallel tap may have opened the attempt just after the look above: resume it.
            opened = current_attempt(exam, member)
            if opened is not None and not is_overdue(opened, now):
                return opened
            raise ExamError(reason)
        layout = drawing.draw_layout(exam, rng or random.SystemRandom(), paper_digest)
        if not layout:
            raise ExamError("这场考试还没有题目，请联系出题人")
        values = {"exam_id": exam.id, "member_id": member.id, "number": number, "state": AttemptState.IN_PROGRESS,
                  "started_at": now, "deadline_at": deadline_for(exam, now), "layout": layout}
        try:
            with write_section():
                attempt = _insert_attempt(values)
                db.session.commit()
            return attempt
        except IntegrityError:  # another request made this number, or an open attempt, first
            db.session.rollback()
            mine = None  # the winner's attempt is not among them
            paper_digest = None  # read with the exam as it was; the rollback reloads the exam
    # Only reached if the member keeps starting and finishing in parallel faster than this loop.
    raise ExamError("开始考试失败，请重试")


def _insert_attempt(values: dict) -> Attempt:
    """The new attempt's INSERT. Alone in its transaction — the usual start, on PostgreSQL's
    autocommit connection — it commits without waiting for the WAL to reach the disk: see
    ``_lazily_committed_insert``. Anywhere else it is an ordinary insert."""
    if not autocommit.active():
        attempt = Attempt(**values)
        db.session.add(attempt)
        db.session.flush()
        return attempt
    attempt = Attempt(id=db.session.execute(_lazily_committed_insert(), values).scalar_one(), **values)
    make_transient_to_detached(attempt)  # the row as inserted, without reading it back
    db.session.add(attempt)
    return attempt


@functools.cache
def _lazily_committed_insert():
    """``INSERT … SELECT … WHERE set_config('synchronous_commit', 'off', true)``: the setting
    holds for this statement's own transaction only (``true``: like ``SET LOCAL``), so only the
    start is committed asynchronously, saving the WAL flush (an fdatasync, 1–2 ms) that every
    member's start would otherwise wait for as the exam opens. What a crash can cost: a start
    committed in the last few hundred milliseconds (``wal_writer_delay``) before it, and only
    if nothing was saved to it since — every save and hand-in commits synchronously, and
    flushing the WAL up to its own commit flushes the earlier start too. The member then finds
    no attempt and starts again; nothing answered is lost. SQLite (WAL, ``synchronous=NORMAL``)
    makes the same trade for every commit. The new row's id may then be handed out again,
    which the ownership check on every attempt request makes harmless."""
    table = Attempt.__table__
    columns = ["exam_id", "member_id", "number", "state", "started_at", "deadline_at", "layout"]
    lazily = func.set_config("synchronous_commit", "off", True).is_not(None)
    chosen = select(*[bindparam(name, type_=table.c[name].type) for name in columns]).where(lazily)
    return insert(table).from_select(columns, chosen).returning(table.c.id)


# --- saving -----------------------------------------------------------------------------


@dataclass
class SaveResult:
    saved: list[int] = field(default_factory=list)
    saved_at: datetime | None = None
    deadline_at: datetime | None = None


@functools.cache
def _upsert_statement(dialect: str):
    """The answer upsert, built once per dialect: every autosave runs it, and building it
    (``excluded``, the conflict clause) cost more CPU than running it. A Core statement on the
    table (values as parameters): nothing of the ORM's insert handling is needed for a row the
    session never loads here. Not autoflushed: callers flush their own changes."""
    table = Answer.__table__
    stmt = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.attempt_id, table.c.question_id],
        set_={"response": stmt.excluded.response, "flagged": stmt.excluded.flagged,
              "saved_at": stmt.excluded.saved_at, "client_rev": stmt.excluded.client_rev},
        # An older copy arriving late (offline queue, second device) never replaces a newer one.
        where=table.c.client_rev <= stmt.excluded.client_rev)


def _upsert(values: dict) -> None:
    db.session.execute(_upsert_statement(db.session.get_bind().dialect.name), values)


def save_answers(attempt: Attempt, member: User, items: list[dict], now: datetime, signals_raw=None) -> SaveResult:
    """Save ``items`` (``{"question", "response", "flagged", "rev"}``, shown order) to ``attempt``.

    Raises ExamError when the attempt no longer takes answers (finished, or past the grace),
    and AnswerError (nothing saved) when anything in ``items`` is malformed
    (``responses.parse_items``): a bad request never replaces a saved answer.
    """
    if attempt.member_id != member.id:
        raise ExamError("这不是您的答卷")
    if attempt.state != AttemptState.IN_PROGRESS:
        raise ExamError("本次作答已交卷，答案不能再修改")
    if is_overdue(attempt, now):
        finish(attempt.id, now, "overdue")
        raise ExamError("已超过作答截止时间，系统已按已保存的答案交卷")
    rows = responses.parse_items(attempt, items)
    counted = responses.parse_signals(attempt, signals_raw)
    values = {"last_saved_at": now}
    if counted is not None:
        values["integrity"] = responses.merge_signals(attempt.integrity, counted)
    result = SaveResult(saved_at=now)
    with write_section():
        # Taking the attempt's row first orders this save against a concurrent finish.
        touched = db.session.execute(update(Attempt).where(
            Attempt.id == attempt.id, Attempt.state == AttemptState.IN_PROGRESS).values(**values))
        if touched.rowcount != 1:
            db.session.rollback()
            raise ExamError("本次作答已交卷，答案不能再修改")
        for row in rows:
            _upsert(dict(row, attempt_id=attempt.id, saved_at=now))
            result.saved.append(row["question_id"])
        db.session.commit()
    return result


@functools.cache
def _save_own_statement(dialect: str):
    """``save_own``'s UPDATE … RETURNING, built once with its values as parameters (building
    it per save was a large part of a save's CPU). On PostgreSQL it also returns the md5 of the
    stored layout, which the one-statement save (``save_by_session``) checks the row against."""
    columns = Attempt.__table__.c
    stmt = update(Attempt).where(
        Attempt.id == bindparam("b_attempt_id", type_=columns.id.type),
        Attempt.member_id == bindparam("b_member_id", type_=columns.member_id.type),
        Attempt.state == AttemptState.IN_PROGRESS,
        or_(Attempt.deadline_at.is_(None),
            Attempt.deadline_at >= bindparam("b_earliest_deadline", type_=columns.deadline_at.type))).values(
        last_saved_at=bindparam("b_now", type_=columns.last_saved_at.type))
    if dialect == "postgresql":
        return stmt.returning(Attempt, func.md5(cast(Attempt.layout, Text)))
    return stmt.returning(Attempt)


def save_own(attempt_id: int, member: User, items: list[dict], now: datetime, signals_raw=None) -> SaveResult | None:
    """The autosave in as few statements as the rules allow (each one a round trip on PostgreSQL).

    The attempt is taken with ``UPDATE … WHERE`` the member's, in progress and within deadline
    + grace (the server's clock), ``RETURNING`` the row: the read and the row lock that orders
    this save against a finish are one statement. Then one upsert per answer (revision rule in
    ``_upsert``), and the integrity counts only when they grew. Returns ``None`` — nothing
    written — when the attempt is not such an attempt: the caller then loads it and calls
    ``save_answers``, which tells why (not yours, handed in, overdue: handed in now).
    Raises AnswerError (nothing saved) for malformed answers or signals.

    On PostgreSQL, once this process has seen the attempt's paper, the usual save is a single
    autocommitted statement instead (``save_by_session``), tried before this.
    """
    earliest_deadline = now - timedelta(seconds=grace_seconds())
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        autocommit.end()  # what follows reads, then writes: one transaction
    with write_section():
        row = db.session.execute(_save_own_statement(dialect), {
            "b_attempt_id": attempt_id, "b_member_id": member.id, "b_earliest_deadline": earliest_deadline, "b_now": now},
            execution_options={"populate_existing": True}).one_or_none()
        if row is None:
            db.session.rollback()
            return None
        attempt = row[0]
        try:
            rows = responses.parse_items(attempt, items)
            counted = responses.parse_signals(attempt, signals_raw)
        except AnswerError:
            db.session.rollback()
            raise
        integrity = attempt.integrity or None
        if counted is not None:
            merged = responses.merge_signals(attempt.integrity, counted)
            if merged != integrity:
                attempt.integrity = integrity = merged  # flushed below (the upsert is a Core statement: no autoflush)
        result = SaveResult(saved_at=now, deadline_at=attempt.deadline_at)
        paper = _Paper(member.id, row[1], attempt.layout, integrity) if dialect == "postgresql" else None
        for row in rows:
            _upsert(dict(row, attempt_id=attempt.id, saved_at=now))
            result.saved.append(row["question_id"])
        db.session.flush()  # the integrity counts, when there are no answers to upsert
        db.session.commit()
    if paper is not None:
        _remember(attempt_id, paper)
    return result


# --- PostgreSQL: the autosave in one statement ------------------------------------------
#
# A save is otherwise BEGIN, the attempt's UPDATE … RETURNING, one upsert per answer and
# COMMIT: four or more round trips, each costing the database server and psycopg CPU on the
# same cores as the web process, after the round trip that loads the signed-in user. The
# answers can only be checked against the attempt's paper (its layout), which is fixed at
# start and never changes, so this process keeps the layout of each attempt it has saved to
# (with the md5 of the stored layout, the member and the integrity counts last seen) and later
# saves are checked before any SQL, then written by one statement: a data-modifying CTE that
# updates the attempt row under exactly the generic WHERE (the member's, in progress, deadline
# + grace by the server's clock; and the layout's md5, so a reused id or a stale entry can
# never match) plus the login session's rules (``auth.live_session_of``: the session
# is the member's, alive, the account active, no password to change first), and inserts the
# answers *from* that update's result — no attempt row, no answers written; the row lock is
# taken before the answers, as in the generic path. One statement is atomic by itself, so it
# runs without BEGIN/COMMIT (the request's connection is in autocommit: ``school.autocommit``).
# Whatever the statement does not take — unknown paper, no live session of the attempt's
# member, handed in, overdue, malformed answers, integrity counts that may have grown, the
# same question twice — goes the generic way, in a transaction, after the usual login checks.

_PAPERS_MAX = 50_000


@dataclass(frozen=True)
class _Paper:
    member_id: int
    layout_md5: str
    layout: list
    integrity: dict | None  # the counts as last written: they only grow

    @property
    def complete(self) -> bool:
        return all("t" in item for item in self.layout)  # question types in the layout: no query to check answers


_PAPERS: dict[int, _Paper] = {}


def _remember(attempt_id: int, paper: _Paper) -> None:
    if not paper.complete:
        return
    if len(_PAPERS) >= _PAPERS_MAX:  # exams end; a bound is enough, no LRU needed
        _PAPERS.clear()
    _PAPERS[attempt_id] = paper


def forget_papers(*_args) -> None:
    """Drop what this process remembers of attempts' papers (a database was disposed of:
    the test suite empties the database between tests and attempt ids start again)."""
    _PAPERS.clear()


event.listen(Engine, "engine_disposed", forget_papers)


@functools.cache
def _save_in_one_statement():
    return text(f"""
WITH taken AS (
  UPDATE exam_attempt SET last_saved_at = :now
  WHERE id = :attempt_id AND member_id = :member_id AND state = '{AttemptState.IN_PROGRESS}'
    AND (deadline_at IS NULL OR deadline_at >= :earliest_deadline)
    AND md5(CAST(layout AS text)) = :layout_md5
    AND {live_session_of(':member_id')}
  RETURNING id, deadline_at
), saved AS (
  INSERT INTO exam_answer (attempt_id, question_id, response, flagged, saved_at, client_rev)
  SELECT taken.id, r.question_id, coalesce(r.response, 'null'::json), r.flagged, :now, r.client_rev
  FROM taken CROSS JOIN json_to_recordset(CAST(:rows AS json))
    AS r(question_id integer, response json, flagged boolean, client_rev bigint)
  ON CONFLICT (attempt_id, question_id) DO UPDATE SET response = excluded.response,
    flagged = excluded.flagged, saved_at = excluded.saved_at, client_rev = excluded.client_rev
  WHERE exam_answer.client_rev <= excluded.client_rev
)
SELECT deadline_at FROM taken""").bindparams(
        bindparam("now", type_=DateTime()), bindparam("earliest_deadline", type_=DateTime()),
        bindparam("attempt_id", type_=Integer()), bindparam("member_id", type_=Integer()),
        bindparam("layout_md5", type_=String()), bindparam("rows", type_=String()),
        bindparam("token_hash", type_=String()), bindparam("oldest", type_=DateTime()))


def save_by_session(attempt_id: int, claim: SessionClaim | None, items, now: datetime,
                    signals_raw=None) -> SaveResult | None:
    """The usual autosave on PostgreSQL: one autocommitted statement that checks the login
    session ``claim`` too, so the user is never loaded (see above). ``None`` — nothing written,
    nothing raised — when it does not take the request: the caller then runs the login checks
    and ``save_own``, which say why (not signed in, not yours, malformed, handed in…)."""
    paper = _PAPERS.get(attempt_id)
    if claim is None or paper is None or db.session.get_bind().dialect.name != "postgresql":
        return None
    try:
        rows = responses.parse_items(paper, items)
        counted = responses.parse_signals(paper, signals_raw)
    except AnswerError:
        return None  # told by the generic way, once the requester is known to be the member
    if counted is not None and responses.merge_signals(paper.integrity, counted) != paper.integrity:
        return None  # the counts may have grown: read and write them under the row lock
    if len({row["question_id"] for row in rows}) != len(rows):
        return None  # one INSERT … ON CONFLICT may not touch a row twice
    deadline = db.session.execute(_save_in_one_statement(), {
        "now": now, "earliest_deadline": now - timedelta(seconds=grace_seconds()), "attempt_id": attempt_id,
        "member_id": paper.member_id, "layout_md5": paper.layout_md5, "rows": json.dumps(rows, ensure_ascii=False),
        "token_hash": claim.token_hash, "oldest": claim.oldest}).one_or_none()
    if deadline is None:
        # Not the member's live session, or the attempt no longer takes answers: the generic
        # way finds out which. The paper stays remembered: a request by someone else must not
        # cost the member the one statement (the WHERE refuses a handed-in attempt anyway, and
        # a save the generic way replaces an entry that no longer matches).
        return None
    # Nothing to send in autocommit (psycopg skips it); a real COMMIT should a caller have
    # opened a transaction before this request's connection was put in autocommit.
    db.session.commit()
    return SaveResult(saved=[row["question_id"] for row in rows], saved_at=now, deadline_at=deadline[0])


# --- finishing --------------------------------------------------------------------------


def credit_hours(exam: Exam) -> Decimal:
    return exam.credit_hours if exam.credit_hours is not None else current_rules().exam_default_hours


def _grade(attempt: Attempt) -> None:
    exam = attempt.exam  # before any attribute changes: its load would flush them as a separate UPDATE
    ids = [item["q"] for item in attempt.layout]
    graded = paper.questions_with_answers(attempt.id, ids)
    answers = {qid: answer for qid, (_question, answer) in graded.items() if answer is not None}
    grades = paper_grades.grade_paper(ids, {qid: question for qid, (question, _answer) in graded.items()},
                                      {qid: answer.response for qid, answer in answers.items()}, exam.pass_percent)
    _write_grades(attempt, grades)
    for qid, answer in answers.items():  # written by _write_grades, not by the flush
        set_committed_value(answer, "fraction", grades.fractions[qid])
        if qid in grades.awarded:
            set_committed_value(answer, "awarded_points", grades.awarded[qid])
        if qid in grades.comments:
            set_committed_value(answer, "grader_comment", grades.comments[qid])


def _answers_graded(attempt_id, grades: paper_grades.PaperGrades):
    """The graded answers' fractions (and a written answer's points and comment) in one
    ``UPDATE … CASE question_id`` (the flush would send one UPDATE per answer, up to a hundred
    a paper). ``attempt_id``: the id, or an expression giving it."""
    table = Answer.__table__

    def by_question(values: dict, column, prefix: str):
        cases = {qid: bindparam(f"{prefix}{n}", value, type_=column.type) for n, (qid, value) in enumerate(values.items())}
        return case(cases, value=table.c.question_id, else_=column)

    values = {"fraction": by_question(grades.fractions, table.c.fraction, "f")}
    if grades.awarded:
        values["awarded_points"] = by_question(grades.awarded, table.c.awarded_points, "p")
    if grades.comments:
        values["grader_comment"] = by_question(grades.comments, table.c.grader_comment, "c")
    return (update(table).where(table.c.attempt_id == attempt_id, table.c.question_id.in_(list(grades.fractions)))
            .values(**values))


def _write_grades(attempt: Attempt, grades: paper_grades.PaperGrades) -> None:
    """The answers' grades and the attempt's score. On PostgreSQL the answers' UPDATE is a CTE
    of the score's: one round trip for both, inside the finish's transaction."""
    columns = Attempt.__table__.c
    score = update(Attempt.__table__).where(columns.id == attempt.id).values(**grades.attempt)
    if grades.fractions:
        answers = _answers_graded(attempt.id, grades)
        if db.session.get_bind().dialect.name == "postgresql":
            score = score.add_cte(answers.cte("graded"))
        else:
            db.session.execute(answers)
    db.session.execute(score)
    for key, value in grades.attempt.items():
        set_committed_value(attempt, key, value)  # written above, not by the flush


def _commit_keeping_loaded() -> None:
    """Commit without expiring what this session loaded. The attempt row was just written
    under its row lock (and SQLite's write lock), so what we hold is what was committed;
    reading it back for the result page and the ``attempt_passed`` listeners would only cost
    statements."""
    session = db.session()
    previous, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = previous


@functools.cache
def _finish_statement():
    columns = Attempt.__table__.c
    return update(Attempt).where(
        Attempt.id == bindparam("b_attempt_id", type_=columns.id.type), Attempt.state == AttemptState.IN_PROGRESS).values(
        state=AttemptState.FINISHED, finished_at=bindparam("b_finished_at", type_=columns.finished_at.type),
        finish_reason=bindparam("b_reason", type_=columns.finish_reason.type)).returning(Attempt)


def finish(attempt_id: int, now: datetime, reason: str = "submitted") -> tuple[Attempt, bool]:
    """Finish once. Returns the attempt and whether this call was the one that finished it."""
    autocommit.end()  # the UPDATE, grading and the credit are one transaction
    attempt = db.session.get(Attempt, attempt_id)
    finished_at = now
    if reason == "overdue" and attempt is not None and attempt.deadline_at and attempt.deadline_at < now:
        finished_at = attempt.deadline_at  # it ended at its deadline; the sweep only noticed later
    with write_section():
        # Reloading the row drops its loaded exam; holding it keeps it in the identity map (no re-read).
        exam = attempt.exam if attempt is not None else None  # noqa: F841
        # The changed row comes back with the UPDATE (RETURNING): no second read.
        attempt = db.session.execute(_finish_statement(), {
            "b_attempt_id": attempt_id, "b_finished_at": finished_at, "b_reason": reason},
            execution_options={"populate_existing": True}).scalar_one_or_none()
        if attempt is None:
            db.session.rollback()
            return db.session.get(Attempt, attempt_id, populate_existing=True), False
        _grade_and_award(attempt, finished_at)
        _commit_keeping_loaded()
    _announce(attempt, finished_at)
    return attempt, True


def _grade_and_award(attempt: Attempt, finished_at: datetime) -> None:
    """For the attempt just finished under its row lock: the grades, and the credit if it passed."""
    _grade(attempt)
    if attempt.passed:
        award_pass_credit(attempt, finished_at)


def award_pass_credit(attempt: Attempt, now: datetime) -> None:
    """The exam's credit for a passed attempt: once per exam and member, however many attempts
    pass (the ledger's idempotency key). Used when an attempt finishes passed and when its
    last written answer is graded (``marking``)."""
    hours = credit_hours(attempt.exam)
    if hours > 0:
        ledger.award(attempt.member_id, hours, "online", "exam",
                     key=keys.exam_pass(attempt.exam_id, attempt.member_id), now=now,
                     description=f"考试通过：{attempt.exam.title}"[:300])


def _announce(attempt: Attempt, finished_at: datetime) -> None:
    """After the commit that finished it (see the module docstring)."""
    if attempt.passed:
        signals.attempt_passed.send(attempt, now=finished_at)  # e.g. a course whose test this is


# --- PostgreSQL: the usual hand-in in two round trips -------------------------------------
#
# ``finish`` is BEGIN, the finish's UPDATE, the questions with the answers, the grades' and
# score's UPDATE and COMMIT: five round trips. The usual hand-in (every answer already saved,
# from the member's own live login session, on time) reads instead, in autocommit, the
# attempt with its exam and its paper (questions and answers as JSON, ``paper.paper_column``)
# in the statement that checks the login session; grades that in the process; and writes the
# finish, the score and the answers' grades in one statement (data-modifying CTEs), which is
# atomic by itself. What makes it safe to grade what was read before the write: the write
# takes the attempt only if its row is still the version that was read (its ``xmin``, the id
# of the transaction that wrote it). Every save of an answer updates the attempt row in its
# own transaction (``save_answers``, ``save_own``, ``save_by_session``), so any answer saved
# after the read — a second tab's autosave — changes ``xmin``; and a save committing while
# the write waits for the row lock makes PostgreSQL re-check the WHERE on the newer row
# (READ COMMITTED), which no longer matches. Then nothing is written and the generic way
# (``finish``) grades under the row lock. The guard only fails safe: an ``xmin`` changed for
# any other reason (another writer, a freeze) sends the hand-in the generic way too. A pass
# is written in a transaction with its credit.


@functools.cache
def _hand_in_read():
    session = text(live_session_of("exam_attempt.member_id")).bindparams(
        bindparam("token_hash", type_=String()), bindparam("oldest", type_=DateTime()))
    columns = Attempt.__table__.c
    return select(Attempt, Exam, cast(literal_column("exam_attempt.xmin"), Text), paper.paper_column()).join(
        Exam, Attempt.exam_id == Exam.id).where(
        Attempt.id == bindparam("b_attempt_id", type_=columns.id.type), Attempt.state == AttemptState.IN_PROGRESS,
        or_(Attempt.deadline_at.is_(None),
            Attempt.deadline_at >= bindparam("b_earliest_deadline", type_=columns.deadline_at.type)), session)


def _hand_in_write(grades: paper_grades.PaperGrades):
    """The finish, the score and the answers' grades, if the attempt row is the version read
    (``seen``): returns the attempt's id, or no row and nothing written."""
    columns = Attempt.__table__.c
    finished = update(Attempt.__table__).where(
        columns.id == bindparam("b_attempt_id", type_=columns.id.type), columns.state == AttemptState.IN_PROGRESS,
        cast(literal_column("exam_attempt.xmin"), Text) == bindparam("b_seen", type_=String())).values(
        state=AttemptState.FINISHED, finished_at=bindparam("b_now", type_=columns.finished_at.type),
        finish_reason="submitted", **grades.attempt).returning(columns.id).cte("finished")
    statement = select(finished.c.id)
    if grades.fractions:
        statement = statement.add_cte(_answers_graded(select(finished.c.id).scalar_subquery(), grades).cte("graded"))
    return statement


def hand_in_by_session(attempt_id: int, claim: SessionClaim | None, now: datetime) -> Attempt | None:
    """The usual hand-in on PostgreSQL — nothing left to save, on time, from the member's own
    live login session — in two round trips (see above) instead of the view's reads of the
    user and the attempt and ``finish``'s five. ``None`` — nothing changed, the request's
    connection back in transactions — when it does not take the request: the caller then runs
    the login checks and ``submit``, which say why (not signed in, not yours, handed in
    already, overdue: handed in as such) or grade under the row lock."""
    if claim is None or db.session.get_bind().dialect.name != "postgresql":
        return None
    autocommit.begin()  # a read, then one statement: neither needs BEGIN/COMMIT
    row = db.session.execute(_hand_in_read(), {
        "b_attempt_id": attempt_id, "b_earliest_deadline": now - timedelta(seconds=grace_seconds()),
        "token_hash": claim.token_hash, "oldest": claim.oldest},
        execution_options={"populate_existing": True}).one_or_none()
    if row is None:
        return _not_handed_in()
    attempt, exam, seen, shown = row  # the exam held in the identity map: ``attempt.exam`` needs no read
    ids = [item["q"] for item in attempt.layout]
    questions, answers = paper.paper_from(shown or [])
    if not questions.keys() >= set(ids):
        return _not_handed_in()  # a question missing from the paper: ``finish`` raises as it always has
    grades = paper_grades.grade_paper(ids, questions, {qid: answer.response for qid, answer in answers.items()},
                                      exam.pass_percent)
    if grades.attempt["passed"]:
        autocommit.end()  # the finish and its credit are one transaction, and the listeners run in one
    written = db.session.execute(_hand_in_write(grades), {
        "b_attempt_id": attempt_id, "b_seen": seen, "b_now": now}).one_or_none()
    if written is None:
        return _not_handed_in()  # a save came in between, or a second tab handed in first
    finished = dict(state=AttemptState.FINISHED, finished_at=now, finish_reason="submitted", **grades.attempt)
    for key, value in finished.items():
        set_committed_value(attempt, key, value)  # written above, not by the flush
    if attempt.passed:
        award_pass_credit(attempt, now)
    _commit_keeping_loaded()
    _announce(attempt, now)
    return attempt


def _not_handed_in() -> None:
    """Nothing was written: back to transactions for the generic way."""
    db.session.rollback()
    autocommit.end()
    return None


def submit(attempt: Attempt, member: User, items: list[dict], now: datetime) -> Attempt:
    """The member hands in: last answers (if still on time) are saved, then the attempt finishes.

    Malformed answers (AnswerError) refuse the whole hand-in: nothing is saved or finished.
    """
    if attempt.member_id != member.id:
        raise ExamError("这不是您的答卷")
    if items and attempt.state == AttemptState.IN_PROGRESS:
        try:
            save_answers(attempt, member, items, now)
        except AnswerError:
            db.session.rollback()
            raise
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


# Hand in overdue attempts every minute, from the in-process worker or ``school jobs run``.
jobs.every(60, "exams-finish-overdue", finish_overdue)
