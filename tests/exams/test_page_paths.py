"""The attempt page reads the member, the attempt and its exam in the login session's statement
(issue 17 item 4): it never runs the user loader, so it must refuse whatever the login checks
refuse, and show nobody else's paper. On PostgreSQL the menu's counts come in that statement
too, so the page is two statements (the session with the attempt, the questions with the
answers); SQLite reads the counts when the menu is drawn. Both databases run these tests."""
from __future__ import annotations

import contextvars
import re
from datetime import timedelta

import pytest

from school.exams.models import Attempt, AttemptState
from school.extensions import db
from school.sqlcount import counting
from school.timeutil import utcnow
from tests.exams import helpers


@pytest.fixture
def taking(client, auth, make):
    return helpers.start_through_views(client, auth, make)


def _page(client, attempt_id):
    """GET the attempt page in a request of its own: the response and the statements it sent."""
    with counting(db.engine) as counter:
        response = contextvars.Context().run(client.client.get, f"/exams/attempts/{attempt_id}")
    return response, counter.statements


def _shows_paper(response) -> bool:
    return 'id="attempt-form"' in response.get_data(as_text=True)


def test_the_page_reads_member_attempt_and_exam_with_the_login_session(client, make, taking):
    member, attempt_id, items, _token = taking
    make.notice(member.org, title="考试须知")
    response, statements = _page(client, attempt_id)
    assert response.status_code == 200 and _shows_paper(response)
    page = response.get_data(as_text=True)
    assert [int(q) for q in re.findall(r'data-qid="(\d+)" data-qtype', page)] == [i["question"] for i in items]
    assert member.name in page and 'aria-label="1 条未读"' in page  # the menu: the member and the unread notice
    first = statements[0].lstrip()
    assert first.startswith("SELECT users.") and "exam_attempt.layout" in first and re.search(r"exam(_\d+)?\.title", first)
    assert sum(s.lstrip().startswith("SELECT users.") for s in statements) == 1  # no user loader after it
    assert len(statements) == (2 if db.engine.dialect.name == "postgresql" else 3)


@pytest.mark.parametrize("change, goes_to, _json_status", helpers.SESSION_BREAKERS)
def test_the_page_needs_the_members_live_session(client, taking, change, goes_to, _json_status):
    """Logged out elsewhere, expired, disabled, a password to change first: the login page or
    the change-password page, never the paper."""
    member, attempt_id, _items, _token = taking
    change(member.id)
    db.session.commit()
    response, _ = _page(client, attempt_id)
    assert response.status_code == 302 and goes_to in response.headers["Location"]


def test_a_made_up_session_token_gets_the_login_page(client, taking):
    _member, attempt_id, _items, _token = taking
    with client.client.session_transaction() as session:
        session["_user_id"] = "made-up-token"
    response, _ = _page(client, attempt_id)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_stranger_gets_the_login_page(app, taking):
    _member, attempt_id, _items, _token = taking
    stranger = app.test_client()  # no cookie at all
    response = contextvars.Context().run(stranger.get, f"/exams/attempts/{attempt_id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_someone_elses_attempt_is_not_found(client, auth, make, taking):
    member, attempt_id, _items, _token = taking
    auth.logout()
    auth.login(make.user(org=member.org))
    response, _ = _page(client, attempt_id)
    assert response.status_code == 404 and not _shows_paper(response)
    assert _page(client, 10**6)[0].status_code == 404


@pytest.mark.parametrize("past_deadline, state", [
    (timedelta(seconds=-60), AttemptState.IN_PROGRESS),  # before the deadline: the paper
    (timedelta(minutes=10), AttemptState.FINISHED),  # past deadline + grace: handed in, to the result
])
def test_an_overdue_attempt_is_handed_in_on_the_page(client, taking, past_deadline, state):
    _member, attempt_id, _items, _token = taking
    attempt = db.session.get(Attempt, attempt_id)
    attempt.deadline_at = utcnow() - past_deadline
    db.session.commit()
    response, _ = _page(client, attempt_id)
    db.session.expire_all()
    assert db.session.get(Attempt, attempt_id).state == state
    if state == AttemptState.FINISHED:
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/attempts/{attempt_id}/result")
    else:
        assert response.status_code == 200 and _shows_paper(response)
