"""Limits that hold under concurrency: parallel "start" requests never open more attempts
than the exam allows, nor two at once, on SQLite and PostgreSQL alike.

Real parallel requests: each thread has its own test client (so its own request and app
context and database session) on the same WSGI app, signed in as the same member.
"""
from __future__ import annotations

import random
import re
import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from school.exams import attempts, drawing, eligibility
from school.exams.models import Attempt
from school.extensions import db
from school.timeutil import utcnow

THREADS = 10


@pytest.fixture
def slow_draw(monkeypatch):
    """Drawing a paper from a large bank takes a while: a few milliseconds of jitter widen
    the window between "may this member start?" and the insert, as on a busy server."""
    real = drawing.draw_layout

    def draw(exam, rng, *args):
        time.sleep(random.uniform(0, 0.03))
        return real(exam, rng, *args)

    monkeypatch.setattr(drawing, "draw_layout", draw)


def _clients(app, client, auth, member, n):
    auth.login(member)
    token = client.token()  # stored in the session: take the tabs after it
    return client.tabs(n), token


def _parallel(n, work):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run(i):
        try:
            barrier.wait()
            results.append(work(i))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(repr(exc))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return results


def _attempts(exam_id, member_id):
    db.session.expire_all()
    return list(db.session.scalars(select(Attempt).where(
        Attempt.exam_id == exam_id, Attempt.member_id == member_id).order_by(Attempt.number)))


def test_ten_parallel_starts_open_exactly_one_attempt(app, client, auth, make, slow_draw):
    member = make.user()
    exam = make.exam(make.questions(), utcnow(), attempts_allowed=1)
    exam_id, member_id = exam.id, member.id
    clients, token = _clients(app, client, auth, member, THREADS)
    db.session.remove()

    def start(i):
        response = clients[i].post(f"/exams/{exam_id}/start", data={"csrf_token": token}, csrf=False)
        return response.status_code, response.headers.get("Location", "")

    results = _parallel(THREADS, start)
    made = _attempts(exam_id, member_id)
    assert [(a.number, a.state) for a in made] == [(1, "in_progress")]
    # Every tap lands in that one attempt (the losers resume it), none is an error.
    assert {code for code, _ in results} == {302}
    assert {location for _, location in results} == {f"/exams/attempts/{made[0].id}"}


def test_parallel_start_and_submit_loops_never_pass_three_attempts(app, client, auth, make, slow_draw):
    member = make.user()
    bank = make.questions()
    exam = make.exam(bank, utcnow(), attempts_allowed=3)
    exam_id, member_id = exam.id, member.id
    clients, token = _clients(app, client, auth, member, THREADS)
    db.session.remove()

    def loop(i):
        handed_in = 0
        for _ in range(6):  # more tries than attempts: the last ones must be refused
            started = clients[i].post(f"/exams/{exam_id}/start", data={"csrf_token": token}, csrf=False)
            found = re.fullmatch(r"/exams/attempts/(\d+)", started.headers.get("Location", ""))
            if not found:
                assert started.headers["Location"] == f"/exams/{exam_id}"  # refused, with a message
                continue
            done = clients[i].post(f"/exams/attempts/{found.group(1)}/submit",
                                   data={"csrf_token": token, "answers": "[]"}, csrf=False)
            assert done.status_code == 302
            handed_in += 1
        return handed_in

    _parallel(THREADS, loop)
    made = _attempts(exam_id, member_id)
    assert [a.number for a in made] == [1, 2, 3]
    assert all(a.state == "finished" and a.score is not None for a in made)
    open_now = db.session.scalar(select(func.count()).select_from(Attempt).where(Attempt.state == "in_progress"))
    assert open_now == 0


def test_the_database_refuses_a_second_open_attempt_and_a_reused_number(app, make):
    """The rules hold even for code that skips ``attempts.start``'s checks."""
    member = make.user()
    exam = make.exam(make.questions(), utcnow(), attempts_allowed=3)
    now = utcnow()

    def insert(number, state="in_progress"):
        db.session.add(Attempt(exam_id=exam.id, member_id=member.id, number=number, state=state,
                               started_at=now, layout=[]))
        db.session.commit()

    insert(1)
    with pytest.raises(IntegrityError):
        insert(2)  # a second attempt in progress
    db.session.rollback()
    insert(2, "finished")
    with pytest.raises(IntegrityError):
        insert(2, "finished")  # the same number twice
    db.session.rollback()


def test_start_refuses_a_number_beyond_the_limit(app, make, monkeypatch):
    """A stale "attempts left" read (the count taken before another request's commit) does not
    let a start through: the number it would get is above attempts_allowed."""
    member = make.user()
    exam = make.exam(make.questions(), utcnow(), attempts_allowed=1)
    now = utcnow()
    first = attempts.start(exam, member, now)
    attempts.submit(first, member, [], now)
    monkeypatch.setattr(eligibility, "why_not_start", lambda *args: None)  # the stale read
    with pytest.raises(attempts.ExamError, match="次数已用完"):
        attempts.start(exam, member, now)
    assert [a.number for a in _attempts(exam.id, member.id)] == [1]
