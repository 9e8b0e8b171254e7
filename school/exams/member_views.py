"""Exam pages for members: the list, an exam's page, taking it (start, answers, submit), the result.

Also the pictures in questions (for anyone signed in). Views parse the request, call
``attempts`` / ``eligibility`` / ``paper`` and render; the attempt lifecycle commits itself
(see ``attempts``), so nothing here commits.
"""
from __future__ import annotations

import functools
import json
from datetime import timezone

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import and_, bindparam, inspect
from sqlalchemy.orm import joinedload

from school import autocommit, observability
from school.accounts import auth, login_checks
from school.accounts.models import User
from school.accounts.roles import current_actor, is_editor
from school.exams import attempts, eligibility, images, paper, responses
from school.exams.errors import AnswerError, ExamError
from school.exams.forms import ConfirmForm
from school.exams.models import Attempt, AttemptState, Exam
from school.exams.text import render
from school.extensions import db
from school.notices import menu
from school.timeutil import format_local, utcnow

bp = Blueprint("exams", __name__, url_prefix="/exams", template_folder="templates")


def _ms(dt) -> int | None:
    return int(dt.replace(tzinfo=timezone.utc).timestamp() * 1000) if dt else None


def _exam_and_mine_or_404(exam_id: int, member) -> tuple[Exam, list[Attempt]]:
    """The exam (with its audience) and the member's attempts at it, in one read."""
    exam, mine = eligibility.exam_and_attempts(exam_id, member)
    if exam is None:
        abort(404)
    return exam, mine


def _own_attempt_or_404(attempt_id: int, with_exam: bool = False) -> Attempt:
    """The member's attempt; ``with_exam`` loads its exam in the same statement (pages that
    show it), which a save does not need."""
    attempt = db.session.get(Attempt, attempt_id, options=[joinedload(Attempt.exam)] if with_exam else None)
    if attempt is None or attempt.member_id != current_user.id:
        abort(404)  # someone else's attempt does not exist for you
    return attempt


@bp.get("/")
@login_required
def index():
    now = utcnow()
    member = current_actor()
    # An overdue attempt is handed in from its saved answers on this visit. One read of the
    # member's attempts per exam gives both the open one and the result.
    rows = []
    for exam in eligibility.exams_for(member):
        mine = eligibility.attempts_of(exam, member)
        rows.append((exam, attempts.open_among(mine, now), eligibility.counted_attempt(exam, member, mine)))
    return render_template("exams/index.html", rows=rows, now=now)


@bp.get("/<int:exam_id>")
@autocommit.reads
@login_required
def exam_detail(exam_id: int):
    member = current_actor()
    # One read for the exam, and the member's open attempt, count and result.
    exam, mine = _exam_and_mine_or_404(exam_id, member)
    if not eligibility.visible_to(exam, member) and not is_editor(member):
        abort(404)
    now = utcnow()
    current = attempts.open_among(mine, now)
    return render_template("exams/detail.html", exam=exam, current=current, now=now,
                           reason=eligibility.why_not_start(exam, member, now, mine),
                           would_end=attempts.deadline_for(exam, now), mine=mine,
                           counted=eligibility.counted_attempt(exam, member, mine),
                           review_open=eligibility.review_allowed(exam, now), form=ConfirmForm(),
                           hours=attempts.credit_hours(exam),
                           instructions=render(exam.instructions))


@bp.post("/<int:exam_id>/start")
@autocommit.reads
@login_checks.checks_login_itself
def start(exam_id: int):
    """Open an attempt. The member, the exam with its audience and the member's attempts at it
    come in the login session's statement (every member posts this as the exam opens); a
    request it does not sign in gets the login checks every view gets."""
    now = utcnow()
    read = login_checks.sign_in_by(functools.partial(_read_start, exam_id=exam_id), now)
    digest = None
    if read is None:
        refused = login_checks.login_checks()
        if refused is not None:
            return refused
        member = current_actor()
        exam, mine = _exam_and_mine_or_404(exam_id, member)
    else:
        member, exam, mine, digest = read
        if exam is None:
            abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        attempt = attempts.start(exam, member, now, mine=mine, paper_digest=digest)
    except ExamError as exc:
        flash(str(exc), "error")
        return redirect(url_for("exams.exam_detail", exam_id=exam.id))
    # The id from the identity map: the commit expired the row, and reading it back costs a statement.
    return redirect(url_for("exams.attempt_page", attempt_id=inspect(attempt).identity[0]))


def _read_start(token, now, max_age, exam_id: int) -> tuple[User, Exam | None, list[Attempt], str | None] | None:
    """For ``login_checks.sign_in_by``: the live session's user, the exam, the user's attempts
    and, on PostgreSQL, the digest of the exam's fixed paper."""
    dialect = db.session.get_bind().dialect.name
    rows = auth.read_session(token, now, max_age, eligibility.session_exam_and_attempts_statement(dialect),
                             {"exam_id": exam_id}, every_row=True)
    if rows is None:
        return None
    return (rows[0][0], *eligibility.exam_and_attempts_in(rows), rows[0]._mapping.get("paper_digest"))


@functools.cache
def _attempt_page_statement(dialect: str):
    """The page's login session (``menu.page_session_statement``) and the member's attempt with
    its exam; on PostgreSQL its paper too (``paper.paper_column``). Outer-joined: a live session
    with someone else's attempt id still gives the user."""
    own = and_(Attempt.id == bindparam("attempt_id"), Attempt.member_id == User.id)
    statement = menu.page_session_statement(dialect).add_columns(Attempt)
    if dialect == "postgresql":
        statement = statement.add_columns(paper.paper_column())
    return statement.outerjoin(Attempt, own).options(joinedload(Attempt.exam))


@bp.get("/attempts/<int:attempt_id>")
@autocommit.reads
@login_checks.checks_login_itself
def attempt_page(attempt_id: int):
    """The paper. The member, the attempt and its exam come in the login session's statement
    (one round trip less on PostgreSQL: every member opens this page as the exam starts), and
    on PostgreSQL the questions with the member's answers too; a request it does not sign in
    gets the login checks every view gets."""
    now = utcnow()
    statement = _attempt_page_statement(db.session.get_bind().dialect.name)
    row = login_checks.sign_in_by(functools.partial(menu.read_page_session, statement=statement,
                                                    params={"attempt_id": attempt_id}), now)
    shown = None
    if row is None:
        refused = login_checks.login_checks()
        if refused is not None:
            return refused
        attempt = _own_attempt_or_404(attempt_id, with_exam=True)
    elif row.Attempt is None:
        abort(404)  # someone else's attempt does not exist for you
    else:
        attempt, shown = row.Attempt, row._mapping.get("paper")
    attempt = attempts.finish_if_overdue(attempt, now)
    if attempt.state != AttemptState.IN_PROGRESS:
        return redirect(url_for("exams.result", attempt_id=attempt.id))
    entries = paper.paper(attempt, *paper.paper_from(shown)) if shown is not None else paper.paper(attempt)
    return render_template("exams/attempt.html", attempt=attempt, exam=attempt.exam, questions=entries,
                           server_now=_ms(now), deadline=_ms(attempt.deadline_at), form=ConfirmForm(),
                           grace=attempts.grace_seconds())


@bp.post("/attempts/<int:attempt_id>/answers")
@autocommit.reads
@login_checks.checks_login_itself
def save_answers(attempt_id: int):
    """Autosave (JSON). 200: all saved; 400: malformed, nothing saved (``error``, ``errors``
    by question); 409 ``finished``: the attempt no longer takes answers.

    The usual save is one statement that checks the login session too
    (``attempts.save_by_session``); anything it does not take gets the login checks every
    view gets and the generic save, which says why."""
    try:
        payload = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes: not from the page either
        payload = None
    items = payload.get("answers") if isinstance(payload, dict) else None
    signals_raw = payload.get("signals") if isinstance(payload, dict) else None
    now = utcnow()
    if isinstance(items, list):
        result = attempts.save_by_session(attempt_id, login_checks.session_claim(now), items, now, signals_raw)
        if result is not None:
            return _saved(result, now)
    refused = login_checks.login_checks()
    if refused is not None:
        return refused
    if not isinstance(items, list):
        _own_attempt_or_404(attempt_id)  # someone else's attempt is not found, whatever was sent
        return jsonify(error="请求格式不正确", server_time=_ms(now)), 400
    try:
        result = attempts.save_own(attempt_id, current_actor(), items, now, signals_raw)
        if result is None:  # not an open attempt of this member's within its time: say why
            attempt = _own_attempt_or_404(attempt_id)
            deadline_at = attempt.deadline_at  # read before the commit expires the object
            result = attempts.save_answers(attempt, current_actor(), items, now, signals_raw)
            result.deadline_at = deadline_at
    except AnswerError as exc:
        observability.exam_save("malformed")
        return jsonify(error=str(exc), errors={str(k): v for k, v in exc.errors.items()},
                       server_time=_ms(now)), 400
    except ExamError as exc:
        observability.exam_save("finished")
        return jsonify(error=str(exc), finished=True, server_time=_ms(now),
                       result_url=url_for("exams.result", attempt_id=attempt_id)), 409
    return _saved(result, now)


def _saved(result: attempts.SaveResult, now):
    observability.exam_save("saved")
    return jsonify(saved=result.saved, errors={}, saved_at=format_local(now, "%H:%M:%S"),
                   server_time=_ms(utcnow()), deadline=_ms(result.deadline_at))


def _bad_request(message: str):
    return render_template("errors/error.html", code=400, title="请求无效", message=message), 400


@bp.post("/attempts/<int:attempt_id>/submit")
@login_checks.checks_login_itself
def submit(attempt_id: int):
    """Hand in. The page's script sends its answers as JSON in ``answers``; without it the
    attempt page's own fields are read. Malformed answers: 400, nothing saved or finished.

    The usual hand-in (the script's ``[]``: every answer already saved) is taken by a read
    that checks the login session and the attempt and one write (``attempts.hand_in_by_session``);
    anything else gets the login checks every view gets."""
    now = utcnow()
    confirmed = ConfirmForm().validate_on_submit()
    if confirmed and request.form.get("answers") == "[]":
        attempt = attempts.hand_in_by_session(attempt_id, login_checks.session_claim(now), now)
        if attempt is not None:
            return _handed_in(attempt)
    refused = login_checks.login_checks()
    if refused is not None:
        return refused
    attempt = _own_attempt_or_404(attempt_id, with_exam=True)
    if not confirmed:
        abort(400)
    if request.form.get("answers"):
        try:
            items = json.loads(request.form["answers"])
        except (ValueError, RecursionError):
            items = None
        if not isinstance(items, list):
            return _bad_request("答案格式不正确，请刷新页面后重新交卷")
    else:
        items = responses.items_from_form(attempt, request.form)
    try:
        attempt = attempts.submit(attempt, current_actor(), items, now)
    except AnswerError as exc:
        return _bad_request(f"{exc}，请刷新页面后重新交卷")
    return _handed_in(attempt)


def _handed_in(attempt: Attempt):
    flash("已交卷" if attempt.finish_reason == "submitted" else "作答时间已到，系统已按已保存的答案交卷", "success")
    return redirect(url_for("exams.result", attempt_id=attempt.id))


@bp.get("/attempts/<int:attempt_id>/result")
@autocommit.reads
@login_required
def result(attempt_id: int):
    attempt = _own_attempt_or_404(attempt_id, with_exam=True)
    now = utcnow()
    attempt = attempts.finish_if_overdue(attempt, now)
    if attempt.state != AttemptState.FINISHED:
        return redirect(url_for("exams.attempt_page", attempt_id=attempt.id))
    exam, member = attempt.exam, current_actor()
    mine = eligibility.attempts_of(exam, member)  # one read for the rules below
    attempts.open_among(mine, now)  # an overdue attempt elsewhere is handed in first
    allowed = eligibility.review_allowed(exam, now)
    # Correct answers and explanations only once no attempt is left to use them in.
    with_answers = exam.review_answers and eligibility.answers_may_show(exam, member, now, mine)
    return render_template("exams/result.html", attempt=attempt, exam=exam, review_open=allowed,
                           items=paper.review(attempt, with_answers) if allowed else [],
                           answers_held=exam.review_answers and not with_answers,
                           hours=attempts.credit_hours(exam), next_step=_next_step(exam, member, now, mine))


def _next_step(exam: Exam, member, now, mine: list[Attempt]) -> dict:
    """After a result: another attempt while one may be started (with how many remain), else
    the course whose test this is, else the member's record."""
    if eligibility.why_not_start(exam, member, now, mine) is None:
        left = exam.attempts_allowed - len(mine) if exam.attempts_allowed else None
        return {"kind": "retry", "left": left, "form": ConfirmForm(),
                "url": url_for("exams.start", exam_id=exam.id)}
    if exam.course_id:
        return {"kind": "course", "url": url_for("courses.course", course_id=exam.course_id)}
    return {"kind": "record", "url": url_for("credits.home")}


@bp.get("/images/<name>")
@login_required
def question_image(name: str):
    """A picture in a question, for anyone signed in: it is part of the paper, never an answer."""
    response = images.send(name)
    if response is None:
        abort(404)
    return response
