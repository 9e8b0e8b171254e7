"""Requests marked ``@autocommit.reads`` (``school/autocommit.py``, issue 17 item 4).

On PostgreSQL their statements run on an autocommit connection (no BEGIN/COMMIT round trips),
a write of several statements inside them (an overdue attempt handed in on a page visit) is
still one transaction, and the connection goes back to the pool transactional. Views not
marked keep their transaction. On SQLite the mark changes nothing; the same pages give the
same answers (CI runs the suite on both databases).
"""
from __future__ import annotations

import contextvars
import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from school.exams import attempts
from school.exams.models import Attempt, AttemptState
from school.extensions import db
from school.timeutil import utcnow


def _pg() -> bool:
    return db.engine.dialect.name == "postgresql"


def _modes(call):
    """Run one request in a context of its own; returns the response and, per statement,
    its first word and whether it ran on an autocommit connection."""
    seen = []

    def record(conn, _cursor, statement, *_args):
        driver = conn.connection.dbapi_connection
        seen.append((statement.split()[0].upper(), bool(driver.autocommit) if _pg() else False))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = contextvars.Context().run(call)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return response, seen


@pytest.fixture
def member_exam(client, auth, make):
    member = make.user(org=make.tree()["a1"])
    bank = make.questions()
    exam = make.exam(bank)
    auth.login(member)
    return member, exam, client.token()


def test_marked_requests_run_in_autocommit_and_others_in_a_transaction(app, client, member_exam):
    member, exam, token = member_exam
    raw, exam_id = client.client, exam.id
    page, page_modes = _modes(lambda: raw.get(f"/exams/{exam_id}"))
    assert page.status_code == 200 and 'id="start-button"' in page.get_data(as_text=True)
    started, start_modes = _modes(lambda: raw.post(f"/exams/{exam_id}/start", data={"csrf_token": token}))
    assert started.status_code == 302
    attempt_id = int(re.search(r"/attempts/(\d+)", started.headers["Location"]).group(1))
    shown, shown_modes = _modes(lambda: raw.get(f"/exams/attempts/{attempt_id}"))
    assert shown.status_code == 200 and "交卷" in shown.get_data(as_text=True)
    health, health_modes = _modes(lambda: raw.get("/healthz"))
    assert health.status_code == 200
    listing, listing_modes = _modes(lambda: raw.get("/exams/"))  # not marked
    assert listing.status_code == 200

    assert "INSERT" in {word for word, _ in start_modes}  # the attempt, in one statement
    marked = page_modes + start_modes + shown_modes + health_modes
    assert marked and listing_modes
    assert all(mode == _pg() for _, mode in marked), marked
    assert not any(mode for _, mode in listing_modes), listing_modes
    # The attempt was stored: autocommit did not lose the insert.
    db.session.expire_all()
    assert db.session.get(Attempt, attempt_id).state == AttemptState.IN_PROGRESS


def _overdue(make, member, exam) -> int:
    attempt = make.attempt(exam, member, utcnow() - timedelta(minutes=40))  # 30-minute limit
    return attempt.id


@pytest.mark.parametrize("url", ["/exams/attempts/{attempt}", "/exams/{exam}"])
def test_an_overdue_attempt_handed_in_on_a_marked_page_is_one_transaction(app, client, make, member_exam, url):
    member, exam, _token = member_exam
    attempt_id, exam_id = _overdue(make, member, exam), exam.id
    response, modes = _modes(lambda: client.client.get(url.format(attempt=attempt_id, exam=exam_id)))
    assert response.status_code in (200, 302)
    words = [word for word, _ in modes]
    first_write = words.index("UPDATE")  # the finish: UPDATE … WHERE state = 'in_progress'
    # The reads before it may be autocommitted; the finish and everything after it are not.
    assert not any(mode for _, mode in modes[first_write:]), modes
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.state == AttemptState.FINISHED and attempt.finish_reason == "overdue"
    assert attempt.score is not None and attempt.max_score is not None  # graded in the same transaction
    if url.startswith("/exams/{exam}"):
        page = response.get_data(as_text=True)
        # The page read the attempts once, before the hand-in, and shows this one finished,
        # with its score, and the second attempt on offer.
        assert "作答中" not in page and 'id="start-button"' in page and "未通过" in page
        assert "已用 1 次" in page


def test_a_hand_in_that_fails_half_way_on_a_marked_page_leaves_the_attempt_open(app, client, make, member_exam,
                                                                                  monkeypatch):
    """Were the finish's UPDATE autocommitted, a failure while grading would leave the
    attempt finished with no score and no credit. In one transaction nothing changes."""
    member, exam, _token = member_exam
    attempt_id = _overdue(make, member, exam)

    def power_cut(_attempt):
        raise RuntimeError("grading interrupted")

    monkeypatch.setattr(attempts, "_grade", power_cut)
    with pytest.raises(RuntimeError):
        contextvars.Context().run(client.client.get, f"/exams/attempts/{attempt_id}")
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.state == AttemptState.IN_PROGRESS and attempt.finished_at is None and attempt.score is None

    monkeypatch.undo()  # the next visit hands it in properly
    response = contextvars.Context().run(client.client.get, f"/exams/attempts/{attempt_id}")
    assert response.status_code == 302 and "/result" in response.headers["Location"]
    db.session.expire_all()
    assert db.session.get(Attempt, attempt_id).state == AttemptState.FINISHED


def test_the_connection_goes_back_to_the_pool_transactional(app, client, member_exam):
    """After marked requests, an ordinary request's writes are transactional again: a
    rollback undoes them."""
    member, exam, _token = member_exam
    exam_id = exam.id
    for _ in range(3):
        assert contextvars.Context().run(client.client.get, f"/exams/{exam_id}").status_code == 200
        assert contextvars.Context().run(client.client.get, "/healthz").status_code == 200
    with app.app_context():
        if _pg():
            assert not db.session.connection().connection.dbapi_connection.autocommit
        db.session.execute(type(exam).__table__.update().where(type(exam).id == exam.id).values(title="改过"))
        db.session.rollback()
    db.session.expire_all()
    assert db.session.get(type(exam), exam.id).title == "党章知识测试"


def test_an_unreachable_postgresql_still_gets_the_health_check_answer(tmp_path):
    """The hook connects before the view: when PostgreSQL is down, ``/healthz`` must still
    answer its own 503 (load balancers act on it), not the hook's error."""
    from school import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql://postgres@127.0.0.1:1/none", "SECRET_KEY": "x",
                      "INSTANCE_PATH": str(tmp_path / "i"), "JOBS_INLINE_WORKER": False})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unreachable"}
