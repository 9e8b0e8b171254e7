"""The autosave's two paths give the same outcomes (issue 17 item 4).

On PostgreSQL a save to an attempt whose paper this process already knows is one
autocommitted statement that checks the login session too (``attempts.save_by_session``);
every other save — and every save on SQLite — goes the generic way, after the login checks. These tests run on both databases (CI runs the suite on both)
and, on PostgreSQL, also check which path answered, so each rule is proven on the fast path:
only the member's own attempt, in progress, before deadline + grace by the server's clock, the
revision rule, integrity counts that only grow, and nothing saved after a hand-in.
"""
from __future__ import annotations

import contextvars
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from school.exams import attempts
from school.exams.models import Answer, Attempt, AttemptState
from school.extensions import db
from school.sqlcount import counting
from school.timeutil import utcnow
from tests.exams import helpers

ONE_STATEMENT = "WITH taken AS"


@pytest.fixture
def taking(client, auth, make):
    return helpers.start_through_views(client, auth, make)


def _pg() -> bool:
    return db.engine.dialect.name == "postgresql"


def _save(client, attempt_id, token, answers, signals=None):
    """POST one autosave in a request of its own; returns the response, whether the one
    statement took it, and whether all its statements ran on an autocommit connection."""
    body = {"answers": answers} | ({"signals": signals} if signals is not None else {})
    modes = []

    def autocommit(conn, *_args):
        driver = conn.connection.dbapi_connection
        modes.append(bool(getattr(driver, "autocommit", False)) if _pg() else False)

    event.listen(db.engine, "before_cursor_execute", autocommit)
    try:
        with counting(db.engine) as counter:
            response = contextvars.Context().run(
                client.client.post, f"/exams/attempts/{attempt_id}/answers", json=body, headers={"X-CSRFToken": token})
    finally:
        event.remove(db.engine, "before_cursor_execute", autocommit)
    # Taken by the one statement: it was sent and nothing followed it (a save it does not take
    # goes on with the generic statements).
    one = bool(counter.statements) and counter.statements[-1].lstrip().startswith(ONE_STATEMENT)
    return response, one, bool(modes) and all(modes), len(counter)


def _stored(attempt_id):
    db.session.expire_all()
    return {a.question_id: (a.response, a.client_rev)
            for a in db.session.scalars(select(Answer).where(Answer.attempt_id == attempt_id))}


def test_usual_saves_take_one_autocommitted_statement_on_postgresql(client, taking):
    member, attempt_id, items, token = taking
    first, one, _, _ = _save(client, attempt_id, token, [dict(items[0], rev=1)])
    assert first.status_code == 200 and not one  # the paper is not known yet: the generic path
    second, one, autocommit, count = _save(client, attempt_id, token, [dict(items[1], rev=2), dict(items[2], rev=2)])
    assert second.status_code == 200
    assert second.get_json()["saved"] == [items[1]["question"], items[2]["question"]]
    assert second.get_json()["deadline"] == first.get_json()["deadline"]
    if _pg():
        # The save checks the login session itself: no user read, no BEGIN/COMMIT either.
        assert one and autocommit and count == 1
    stored = _stored(attempt_id)
    assert {qid for qid in stored} == {items[i]["question"] for i in range(3)}
    assert stored[items[2]["question"]][1] == 2
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.state == AttemptState.IN_PROGRESS and attempt.last_saved_at is not None


def test_someone_elses_attempt_stays_404_when_the_paper_is_known(client, auth, make, taking):
    member, attempt_id, items, token = taking
    assert _save(client, attempt_id, token, [dict(items[0], rev=1)])[0].status_code == 200
    auth.logout()
    other = make.user(org=member.org)
    auth.login(other)
    other_token = client.token()
    refused, one, _, _ = _save(client, attempt_id, other_token, [dict(items[0], response=None, rev=9)])
    assert refused.status_code == 404 and not one
    assert _stored(attempt_id)[items[0]["question"]][1] == 1
    # The stranger's post did not make the process forget the member's paper.
    auth.logout()
    auth.login(member)
    saved, one, _, _ = _save(client, attempt_id, client.token(), [dict(items[1], rev=2)])
    assert saved.status_code == 200 and (one or not _pg())


def test_after_deadline_and_grace_the_save_is_refused_and_the_attempt_handed_in(client, taking):
    member, attempt_id, items, token = taking
    assert _save(client, attempt_id, token, [dict(items[0], rev=1)])[0].status_code == 200
    attempt = db.session.get(Attempt, attempt_id)
    attempt.deadline_at = utcnow() - timedelta(seconds=attempts.grace_seconds() + 5)
    db.session.commit()
    late, _, _, _ = _save(client, attempt_id, token, [dict(items[1], rev=2)])
    assert late.status_code == 409 and late.get_json()["finished"] is True
    assert set(_stored(attempt_id)) == {items[0]["question"]}
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.state == AttemptState.FINISHED and attempt.finish_reason == "overdue"


def test_within_grace_after_the_deadline_the_save_is_taken(client, taking):
    member, attempt_id, items, token = taking
    assert _save(client, attempt_id, token, [dict(items[0], rev=1)])[0].status_code == 200
    attempt = db.session.get(Attempt, attempt_id)
    attempt.deadline_at = utcnow() - timedelta(seconds=max(1, attempts.grace_seconds() - 20))
    db.session.commit()
    saved, one, _, _ = _save(client, attempt_id, token, [dict(items[1], rev=2)])
    assert saved.status_code == 200 and (one or not _pg())
    assert set(_stored(attempt_id)) == {items[0]["question"], items[1]["question"]}


def test_a_stale_revision_never_replaces_a_newer_answer(client, taking):
    member, attempt_id, items, token = taking
    qid = items[0]["question"]
    assert _save(client, attempt_id, token, [dict(items[0], rev=5)])[0].status_code == 200
    stale, one, _, _ = _save(client, attempt_id, token, [dict(items[0], response=None, rev=3)])
    assert stale.status_code == 200 and (one or not _pg())
    assert _stored(attempt_id)[qid] == (_stored(attempt_id)[qid][0], 5)
    assert _stored(attempt_id)[qid][0] is not None
    newer, _, _, _ = _save(client, attempt_id, token, [dict(items[0], response=None, rev=7)])
    assert newer.status_code == 200
    assert _stored(attempt_id)[qid] == (None, 7)


def test_nothing_is_saved_after_submit_and_a_second_submit_changes_nothing(client, taking):
    member, attempt_id, items, token = taking
    assert _save(client, attempt_id, token, [dict(items[0], rev=1)])[0].status_code == 200
    submit = client.client.post(f"/exams/attempts/{attempt_id}/submit", data={"csrf_token": token, "answers": "[]"})
    assert submit.status_code == 302
    finished = db.session.get(Attempt, attempt_id)
    finished_at, score = finished.finished_at, finished.score
    late, one, _, _ = _save(client, attempt_id, token, [dict(items[1], rev=2)])
    assert late.status_code == 409 and late.get_json()["finished"] is True and not one
    assert set(_stored(attempt_id)) == {items[0]["question"]}
    again = client.client.post(f"/exams/attempts/{attempt_id}/submit", data={"csrf_token": token, "answers": "[]"})
    assert again.status_code == 302
    db.session.expire_all()
    finished = db.session.get(Attempt, attempt_id)
    assert (finished.finished_at, finished.score, finished.finish_reason) == (finished_at, score, "submitted")


def test_integrity_counts_grow_only_and_are_written_when_they_grow(client, taking):
    member, attempt_id, items, token = taking
    signals = {"hidden": 0, "pastes": {}}
    assert _save(client, attempt_id, token, [dict(items[0], rev=1)], signals)[0].status_code == 200
    same, one, _, _ = _save(client, attempt_id, token, [dict(items[0], rev=2)], signals)
    assert same.status_code == 200 and (one or not _pg())
    grown, one, _, _ = _save(client, attempt_id, token, [dict(items[0], rev=3)], {"hidden": 2, "pastes": {}})
    assert grown.status_code == 200 and not one  # read and written under the row lock
    older, _, _, _ = _save(client, attempt_id, token, [dict(items[0], rev=4)], {"hidden": 1, "pastes": {}})
    assert older.status_code == 200
    db.session.expire_all()
    assert db.session.get(Attempt, attempt_id).integrity == {"hidden": 2, "pastes": {}}
    assert _stored(attempt_id)[items[0]["question"]][1] == 4


def test_integrity_written_by_another_process_is_never_lowered(client, taking):
    """The process's last-seen counts are a lower bound: counts written elsewhere stay."""
    member, attempt_id, items, token = taking
    assert _save(client, attempt_id, token, [dict(items[0], rev=1)], {"hidden": 1, "pastes": {}})[0].status_code == 200
    attempt = db.session.get(Attempt, attempt_id)
    attempt.integrity = {"hidden": 4, "pastes": {}}  # another worker's save
    db.session.commit()
    assert _save(client, attempt_id, token, [dict(items[0], rev=2)], {"hidden": 1, "pastes": {}})[0].status_code == 200
    db.session.expire_all()
    assert db.session.get(Attempt, attempt_id).integrity == {"hidden": 4, "pastes": {}}


def test_malformed_answers_save_nothing_on_either_path(client, taking):
    member, attempt_id, items, token = taking
    assert _save(client, attempt_id, token, [dict(items[0], rev=1)])[0].status_code == 200
    bad, one, _, _ = _save(client, attempt_id, token, [dict(items[1], rev=2), {"question": 99999, "rev": 2}])
    assert bad.status_code == 400 and not one
    assert set(_stored(attempt_id)) == {items[0]["question"]}
    bad_signals, _, _, _ = _save(client, attempt_id, token, [dict(items[1], rev=2)], {"hidden": -1})
    assert bad_signals.status_code == 400
    assert set(_stored(attempt_id)) == {items[0]["question"]}


def test_the_same_question_twice_in_one_save_keeps_the_newest(client, taking):
    member, attempt_id, items, token = taking
    assert _save(client, attempt_id, token, [dict(items[0], rev=1)])[0].status_code == 200
    twice, one, _, _ = _save(client, attempt_id, token, [dict(items[1], rev=3), dict(items[1], response=None, rev=2)])
    assert twice.status_code == 200 and not one  # one INSERT … ON CONFLICT may not touch a row twice
    stored = _stored(attempt_id)[items[1]["question"]]
    assert stored[1] == 3 and stored[0] is not None


def test_a_remembered_paper_that_no_longer_matches_is_not_trusted(client, taking):
    """A stale entry (an id reused after a restore, a changed row) never matches the row's
    layout digest: the save goes the generic way and the entry is replaced."""
    member, attempt_id, items, token = taking
    assert _save(client, attempt_id, token, [dict(items[0], rev=1)])[0].status_code == 200
    if _pg():
        known = attempts._PAPERS[attempt_id]
        attempts._PAPERS[attempt_id] = attempts._Paper(known.member_id, "0" * 32, known.layout, known.integrity)
    saved, one, _, _ = _save(client, attempt_id, token, [dict(items[1], rev=2)])
    assert saved.status_code == 200 and not one
    assert set(_stored(attempt_id)) == {items[0]["question"], items[1]["question"]}
    if _pg():
        assert attempts._PAPERS[attempt_id].layout_md5 == known.layout_md5
        assert _save(client, attempt_id, token, [dict(items[2], rev=3)])[1]


def test_a_request_after_a_save_gets_a_transaction_again(app, client, taking):
    """The save's autocommit connection goes back to the pool as it came: the next request's
    writes are transactional (a rollback undoes them)."""
    member, attempt_id, items, token = taking
    for rev in (1, 2):
        assert _save(client, attempt_id, token, [dict(items[0], rev=rev)])[0].status_code == 200
    with app.app_context():
        if _pg():
            assert not db.session.connection().connection.dbapi_connection.autocommit
        db.session.execute(Attempt.__table__.update().where(Attempt.id == attempt_id).values(number=99))
        db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Attempt, attempt_id).number == 1


@pytest.mark.parametrize("change, goes_to, json_status", helpers.SESSION_BREAKERS)
def test_the_one_statement_save_needs_the_members_live_session(client, taking, change, goes_to, json_status):
    """The one statement never loads the user, so it must refuse whatever the login check
    refuses: the answer goes nowhere and the member gets what any other request gets."""
    member, attempt_id, items, token = taking
    assert _save(client, attempt_id, token, [dict(items[0], rev=1)])[0].status_code == 200
    assert _save(client, attempt_id, token, [dict(items[0], rev=2)])[1] or not _pg()  # the paper is known
    change(member.id)
    db.session.commit()
    refused, one, _, _ = _save(client, attempt_id, token, [dict(items[1], rev=3)])
    assert refused.status_code == json_status and not one
    if json_status == 403:
        assert "修改密码" in refused.get_json()["error"]
    else:
        assert goes_to in refused.headers["Location"]
    assert set(_stored(attempt_id)) == {items[0]["question"]}
    assert _stored(attempt_id)[items[0]["question"]][1] == 2


def test_a_forged_session_token_saves_nothing(client, taking):
    """A cookie whose login token is not a session's (made up, or of a browser that logged out):
    the one statement does not take it and the member is sent to log in."""
    member, attempt_id, items, token = taking
    for rev in (1, 2):
        assert _save(client, attempt_id, token, [dict(items[0], rev=rev)])[0].status_code == 200
    with client.client.session_transaction() as session:
        session["_user_id"] = "made-up-token"
    refused, one, _, _ = _save(client, attempt_id, token, [dict(items[1], rev=9)])
    assert refused.status_code == 302 and "/login" in refused.headers["Location"] and not one
    assert set(_stored(attempt_id)) == {items[0]["question"]}
