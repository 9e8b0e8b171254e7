"""The hand-in's two paths give the same outcomes (issue 17 item 4).

On PostgreSQL the usual hand-in — the page's script sends ``answers=[]``, everything already
saved — is taken by the finish's own UPDATE, which also checks the login session and the
attempt (``attempts.hand_in_by_session``): the user and the attempt are not read first. Every
other hand-in, and every one on SQLite, goes the generic way after the login checks. These
tests run on both databases and, on PostgreSQL, check which path answered, so each rule is
proven on the short path: only the member's own live session, only an attempt in progress
within deadline + grace, a credit once, and nothing changed for anyone else.
"""
from __future__ import annotations

import contextvars
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from school.credits.models import CreditEntry
from school.exams import attempts
from school.exams.models import Answer, Attempt, AttemptState
from school.extensions import db
from school.sqlcount import counting
from school.timeutil import utcnow
from tests.exams import helpers


@pytest.fixture
def taking(client, auth, make):
    member, attempt_id, items, token = helpers.start_through_views(client, auth, make)
    response = client.client.post(f"/exams/attempts/{attempt_id}/answers", json={"answers": items},
                                  headers={"X-CSRFToken": token})
    assert response.status_code == 200  # every answer right and saved: the attempt passes
    return member, attempt_id, items, token


def _pg() -> bool:
    return db.engine.dialect.name == "postgresql"


def _hand_in(client, attempt_id, token, answers="[]"):
    """POST the hand-in in a request of its own; returns the response, whether the finish's
    statement took it without the user and attempt reads, and the statements sent."""
    with counting(db.engine) as counter:
        response = contextvars.Context().run(client.client.post, f"/exams/attempts/{attempt_id}/submit",
                                             data={"csrf_token": token, "answers": answers})
    # Taken: the finish's statement came first and no login read followed (one that does not
    # take the request is followed by the generic way's reads).
    short = (bool(counter.statements) and counter.statements[0].lstrip().startswith("UPDATE exam_attempt")
             and " FROM exam " in counter.statements[0]
             and not any(s.lstrip().startswith("SELECT users.") for s in counter.statements))
    return response, short, counter.statements


def _attempt(attempt_id):
    db.session.expire_all()
    return db.session.get(Attempt, attempt_id)


def _credits(member_id):
    return db.session.scalar(select(func.count()).select_from(CreditEntry).where(CreditEntry.member_id == member_id))


def test_the_usual_hand_in_is_taken_by_the_finish_statement(client, taking):
    member, attempt_id, items, token = taking
    response, short, statements = _hand_in(client, attempt_id, token)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/attempts/{attempt_id}/result")
    if _pg():
        assert short and not any(s.lstrip().startswith("SELECT exam_attempt") for s in statements)
    attempt = _attempt(attempt_id)
    assert attempt.state == AttemptState.FINISHED and attempt.finish_reason == "submitted"
    assert attempt.passed is True and attempt.score == attempt.max_score
    assert _credits(member.id) == 1
    page = client.client.get(response.headers["Location"])
    assert page.status_code == 200 and "已交卷" in page.get_data(as_text=True)


def test_a_second_hand_in_changes_nothing(client, taking):
    member, attempt_id, items, token = taking
    assert _hand_in(client, attempt_id, token)[0].status_code == 302
    finished = _attempt(attempt_id)
    before = (finished.finished_at, finished.score, finished.finish_reason)
    again, short, _ = _hand_in(client, attempt_id, token)
    assert again.status_code == 302 and not short
    finished = _attempt(attempt_id)
    assert (finished.finished_at, finished.score, finished.finish_reason) == before
    assert _credits(member.id) == 1


@pytest.mark.parametrize("change, goes_to, _json_status", helpers.SESSION_BREAKERS)
def test_the_finish_statement_needs_the_members_live_session(client, taking, change, goes_to, _json_status):
    """It never loads the user, so it refuses whatever the login checks refuse: the attempt
    stays open (the member hands in after logging in again) and no credit is given."""
    member, attempt_id, items, token = taking
    change(member.id)
    db.session.commit()
    refused, short, _ = _hand_in(client, attempt_id, token)
    assert refused.status_code == 302 and goes_to in refused.headers["Location"] and not short
    assert _attempt(attempt_id).state == AttemptState.IN_PROGRESS
    assert _credits(member.id) == 0


def test_someone_elses_attempt_is_not_found_and_stays_open(client, auth, make, taking):
    member, attempt_id, items, token = taking
    auth.logout()
    other = make.user(org=member.org)
    auth.login(other)
    refused, short, _ = _hand_in(client, attempt_id, client.token())
    assert refused.status_code == 404 and not short
    assert _attempt(attempt_id).state == AttemptState.IN_PROGRESS
    assert _credits(member.id) == 0 and _credits(other.id) == 0


def test_a_made_up_session_token_hands_nothing_in(client, taking):
    member, attempt_id, items, token = taking
    with client.client.session_transaction() as session:
        session["_user_id"] = "made-up-token"
    refused, short, _ = _hand_in(client, attempt_id, token)
    assert refused.status_code == 302 and "/login" in refused.headers["Location"] and not short
    assert _attempt(attempt_id).state == AttemptState.IN_PROGRESS


@pytest.mark.parametrize("past_deadline, short_path, reason", [
    (timedelta(seconds=-60), True, "submitted"),  # before the deadline
    (timedelta(seconds=10), True, "submitted"),  # within the grace: still on time
    (timedelta(minutes=10), False, "overdue"),  # past deadline + grace: handed in as overdue, at the deadline
])
def test_the_deadline_decides_the_path_and_the_reason(client, taking, past_deadline, short_path, reason):
    member, attempt_id, items, token = taking
    assert attempts.grace_seconds() > 10
    attempt = _attempt(attempt_id)
    deadline = utcnow() - past_deadline
    attempt.deadline_at = deadline
    db.session.commit()
    response, short, _ = _hand_in(client, attempt_id, token)
    assert response.status_code == 302 and short == (short_path and _pg())
    attempt = _attempt(attempt_id)
    assert attempt.state == AttemptState.FINISHED and attempt.finish_reason == reason
    if reason == "overdue":
        assert attempt.finished_at == deadline


def test_answers_sent_with_the_hand_in_go_the_generic_way_and_are_graded(client, taking):
    """The page sends what the autosave could not deliver: saved first, then graded."""
    member, attempt_id, items, token = taking
    wrong = dict(items[0], response=None, rev=9)  # clears the first answer
    response, short, _ = _hand_in(client, attempt_id, token, answers=json.dumps([wrong]))
    assert response.status_code == 302 and not short
    attempt = _attempt(attempt_id)
    assert attempt.state == AttemptState.FINISHED and attempt.score < attempt.max_score


def test_a_hand_in_without_the_form_token_is_refused_and_changes_nothing(client, taking):
    member, attempt_id, items, token = taking
    response = client.client.post(f"/exams/attempts/{attempt_id}/submit", data={"answers": "[]"})
    assert response.status_code == 400
    assert _attempt(attempt_id).state == AttemptState.IN_PROGRESS
    assert _credits(member.id) == 0


def test_tabs_handing_in_while_another_saves_finish_once_and_grade_every_acknowledged_answer(app, client, taking):
    """Five tabs hand in while a sixth saves a changed answer, all at once. Whatever order the
    database takes them in: one finish, one credit, and a save that was acknowledged is in the
    graded result (a refused one is not)."""
    member, attempt_id, items, token = taking
    member_id = member.id
    changed = dict(items[0], response=None, rev=9)  # clears the first answer
    tabs = client.tabs(6)
    db.session.remove()
    barrier = threading.Barrier(len(tabs))
    handed_in, saved, errors = [], [], []

    def hand_in(tab):
        try:
            barrier.wait()
            response = tab.client.post(f"/exams/attempts/{attempt_id}/submit",
                                       data={"csrf_token": token, "answers": "[]"})
            handed_in.append(response.status_code)
        except Exception as exc:  # asserted below
            errors.append(repr(exc))

    def save(tab):
        try:
            barrier.wait()
            response = tab.client.post(f"/exams/attempts/{attempt_id}/answers", json={"answers": [changed]},
                                       headers={"X-CSRFToken": token})
            saved.append(response.status_code)
        except Exception as exc:  # asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=contextvars.Context().run, args=(hand_in, tab)) for tab in tabs[:5]]
    threads.append(threading.Thread(target=contextvars.Context().run, args=(save, tabs[5])))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert handed_in == [302] * 5 and saved in ([200], [409])
    attempt = _attempt(attempt_id)
    assert attempt.state == AttemptState.FINISHED and attempt.finish_reason == "submitted"
    assert _credits(member_id) == 1
    answers = {a.question_id: a for a in db.session.scalars(select(Answer).where(Answer.attempt_id == attempt_id))}
    assert all(answer.fraction is not None for answer in answers.values())  # nothing left ungraded
    first = answers[items[0]["question"]]
    if saved == [200]:
        assert first.client_rev == 9 and first.fraction == 0 and attempt.score < attempt.max_score
    else:
        assert first.client_rev == 1 and attempt.score == attempt.max_score
