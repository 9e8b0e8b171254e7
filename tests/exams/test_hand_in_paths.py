"""The hand-in's two paths give the same outcomes (issue 17 item 4).

On PostgreSQL the usual hand-in — the page's script sends ``answers=[]``, everything already
saved — is taken by two statements (``attempts.hand_in_by_session``): a read of the attempt
with its paper that also checks the login session, and one write of the finish and the grades
that takes the attempt only if its row is still the version read. The user is not loaded.
Every other hand-in, and every one on SQLite, goes the generic way after the login checks.
These tests run on both databases and, on PostgreSQL, check which path answered, so each rule
is proven on the short path: only the member's own live session, only an attempt in progress
within deadline + grace, a credit once, nothing changed for anyone else, and an answer saved
between the read and the write graded.
"""
from __future__ import annotations

import contextvars
import functools
import json
import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select, text

from school.credits.models import CreditEntry
from school.exams import attempts
from school.exams.models import Answer, Attempt, AttemptState
from school.extensions import db
from school.sqlcount import counting
from school.timeutil import utcnow
from tests.exams import helpers
from tests.exams.test_written import _written_exam


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
    """POST the hand-in in a request of its own; returns the response, whether the short
    path's two statements took it without the user's read, and the statements sent."""
    with counting(db.engine) as counter:
        response = contextvars.Context().run(client.client.post, f"/exams/attempts/{attempt_id}/submit",
                                             data={"csrf_token": token, "answers": answers})
    return response, _short(counter.statements), counter.statements


def _is_hand_in_read(statement: str) -> bool:
    return statement.lstrip().startswith("SELECT exam_attempt.") and "exam_attempt.xmin" in statement


def _short(statements: list[str]) -> bool:
    """Taken by the short path: its read came first, its write second, and no login read
    followed (a request it does not take goes on with the generic way's reads)."""
    return (len(statements) >= 2 and _is_hand_in_read(statements[0])
            and statements[1].lstrip().startswith("WITH finished AS")
            and not any(s.lstrip().startswith("SELECT users.") for s in statements))


def _attempt(attempt_id):
    db.session.expire_all()
    return db.session.get(Attempt, attempt_id)


def _credits(member_id):
    return db.session.scalar(select(func.count()).select_from(CreditEntry).where(CreditEntry.member_id == member_id))


def test_the_usual_hand_in_is_taken_by_the_finish_statement(client, taking):
    member, attempt_id, items, token = taking
    response, short, statements = _hand_in(client, attempt_id, token)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/attempts/{attempt_id}/result")
    if _pg():  # the read, the write, the credit's INSERT, the classes the exam ends
        assert short and len(statements) == 4 and "INSERT INTO credit_entry" in statements[2]
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


def _autocommit_seen(counter_statements: list, conn, cursor, statement, parameters, context, executemany):
    counter_statements.append((statement, conn.connection.dbapi_connection.autocommit))


def _hand_in_watching_transactions(client, attempt_id, token):
    """The hand-in, with each statement and whether the driver sent it outside a transaction
    (psycopg's autocommit: no BEGIN before it, no COMMIT after)."""
    seen: list[tuple[str, bool]] = []
    listener = functools.partial(_autocommit_seen, seen)
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        response = contextvars.Context().run(client.client.post, f"/exams/attempts/{attempt_id}/submit",
                                             data={"csrf_token": token, "answers": "[]"})
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return response, seen


def _clear_every_answer(client, attempt_id, items, token):
    cleared = [dict(item, response=None, rev=5) for item in items]
    response = client.client.post(f"/exams/attempts/{attempt_id}/answers", json={"answers": cleared},
                                  headers={"X-CSRFToken": token})
    assert response.status_code == 200


def test_a_failed_hand_in_is_two_statements_without_a_transaction_and_a_pass_is_one_transaction(client, auth, make):
    """PostgreSQL: a hand-in that earns nothing is the read and the write, each its own
    transaction (two round trips); one that passes writes the finish and the credit in one."""
    if not _pg():
        pytest.skip("the short path is PostgreSQL's")
    member, failing, items, token = helpers.start_through_views(client, auth, make)
    _clear_every_answer(client, failing, items, token)
    response, seen = _hand_in_watching_transactions(client, failing, token)
    assert response.status_code == 302
    assert len(seen) == 2 and _is_hand_in_read(seen[0][0]) and seen[1][0].lstrip().startswith("WITH finished AS")
    assert [autocommit for _statement, autocommit in seen] == [True, True]
    attempt = _attempt(failing)
    assert attempt.state == AttemptState.FINISHED and attempt.passed is False and attempt.score == 0
    assert _credits(member.id) == 0
    answers = db.session.scalars(select(Answer).where(Answer.attempt_id == failing)).all()
    assert answers and all(answer.fraction == 0 for answer in answers)  # graded in the same statement


def test_a_passing_hand_in_writes_the_finish_and_the_credit_in_one_transaction(client, taking):
    member, attempt_id, items, token = taking
    if not _pg():
        pytest.skip("the short path is PostgreSQL's")
    response, seen = _hand_in_watching_transactions(client, attempt_id, token)
    assert response.status_code == 302 and _is_hand_in_read(seen[0][0])
    # The read alone is outside; the write, the credit and the classes' read are one transaction.
    assert [autocommit for _statement, autocommit in seen] == [True, False, False, False]
    assert "INSERT INTO credit_entry" in seen[2][0]
    assert _attempt(attempt_id).passed is True and _credits(member.id) == 1


def _save_from_another_tab(attempt_id, question_id, *, commit_when=None):
    """What every save does, on a connection of its own: touch the attempt row, then the answer
    (here: clear it, a newer revision). Commits at once, or — ``commit_when`` — from a thread
    once another backend waits for the attempt's row lock."""
    engine = db.engine  # the thread below has no app context
    connection = engine.connect()
    connection.execute(text("UPDATE exam_attempt SET last_saved_at = now() WHERE id = :id"), {"id": attempt_id})
    connection.execute(text("UPDATE exam_answer SET response = 'null', client_rev = 9 "
                            "WHERE attempt_id = :id AND question_id = :q"), {"id": attempt_id, "q": question_id})
    if commit_when is None:
        connection.commit()
        connection.close()
        return None

    def commit_once_waited_for():
        waiting = 0
        try:
            with engine.connect() as watcher:
                for _ in range(1000):
                    waiting = watcher.execute(text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND query LIKE 'WITH finished AS%'")).scalar()
                    if waiting:
                        break
                    watcher.rollback()
                    time.sleep(0.01)
        finally:  # never leave the hand-in waiting, whatever happened here
            commit_when.append(bool(waiting))
            connection.commit()
            connection.close()

    thread = threading.Thread(target=commit_once_waited_for)
    thread.start()
    return thread


@pytest.mark.parametrize("while_the_write_waits", [False, True])
def test_an_answer_saved_between_the_read_and_the_write_is_graded(client, taking, while_the_write_waits):
    """The short path grades what it read before writing. A save that commits after the read —
    before the write starts, or while the write waits for the attempt's row lock — changed the
    attempt row, so the write takes nothing and the generic way grades under the row lock: the
    answer the member was told was saved is in the result."""
    member, attempt_id, items, token = taking
    if not _pg():
        pytest.skip("the short path is PostgreSQL's")
    first = items[0]["question"]
    waited: list[bool] = []
    threads = []

    def after_the_read(conn, cursor, statement, parameters, context, executemany):
        if _is_hand_in_read(statement) and not threads:
            threads.append(_save_from_another_tab(attempt_id, first, commit_when=waited if while_the_write_waits else None))

    event.listen(db.engine, "after_cursor_execute", after_the_read)
    try:
        response, short, statements = _hand_in(client, attempt_id, token)
    finally:
        event.remove(db.engine, "after_cursor_execute", after_the_read)
    if threads[0] is not None:
        threads[0].join()
        assert waited == [True]  # the write did wait for the save's row lock
    assert response.status_code == 302 and not short
    assert any(s.lstrip().startswith("WITH finished AS") for s in statements)  # tried, took nothing
    attempt = _attempt(attempt_id)
    assert attempt.state == AttemptState.FINISHED and attempt.score < attempt.max_score
    answer = db.session.scalar(select(Answer).where(Answer.attempt_id == attempt_id, Answer.question_id == first))
    assert answer.client_rev == 9 and answer.response is None and answer.fraction == 0


@pytest.mark.parametrize("text, waits_for_grader", [("太短", False), ("写够了字数的一篇论述", True)])
def test_a_written_answer_is_graded_the_same_on_either_path(client, auth, make, text, waits_for_grader):
    """Too short when handed in: 0 points with the reason as the grader's comment; long
    enough: 待阅卷, no verdict yet. The short path writes these in its one statement."""
    exam, choice, essay = _written_exam(make)  # the essay: at least 5 characters
    member = make.user(org=make.tree()["a1"])
    auth.login(member)
    token = client.token()
    attempt_id = helpers.start_by_view(client, exam.id, token)
    layout = {item["q"]: item for item in _attempt(attempt_id).layout}
    items = [{"question": choice.id, "response": {"choice": layout[choice.id]["opts"].index(1)}, "rev": 1},
             {"question": essay.id, "response": {"text": text}, "rev": 1}]
    saved = client.client.post(f"/exams/attempts/{attempt_id}/answers", json={"answers": items},
                               headers={"X-CSRFToken": token})
    assert saved.status_code == 200
    response, short, _ = _hand_in(client, attempt_id, token)
    assert response.status_code == 302 and short == _pg()
    attempt = _attempt(attempt_id)
    assert attempt.state == AttemptState.FINISHED and attempt.score == Decimal("2.00") and attempt.max_score == 10
    assert attempt.awaiting_grading is waits_for_grader and attempt.passed is (None if waits_for_grader else False)
    answer = db.session.scalar(select(Answer).where(Answer.attempt_id == attempt_id, Answer.question_id == essay.id))
    if waits_for_grader:
        assert answer.awarded_points is None and answer.fraction is None and answer.grader_comment is None
    else:
        assert answer.awarded_points == 0 and answer.fraction == 0 and answer.grader_comment.startswith("字数不足：2 字")
    assert _credits(member.id) == 0
