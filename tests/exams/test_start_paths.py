"""Start reads the member, the exam with its audience and the member's attempts at it in the
login session's statement (issue 17 item 4): three statements in all (that read, the
questions of the paper, the attempt's INSERT), never the user loader. So it must refuse
whatever the login checks refuse and open nothing then. On PostgreSQL that read also gives a
digest of a fixed paper's questions, and a process that has read them under that digest does
not read them again: two statements. Both databases run these tests.

On PostgreSQL the INSERT is alone in its transaction (the request runs in autocommit) and
commits without waiting for the WAL flush (``attempts._lazily_committed_insert``): only that
statement, never a later one on the same connection — saves and hand-ins stay durable."""
from __future__ import annotations

import contextvars
import re
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from school.exams import attempts
from school.exams.models import Attempt, AttemptState, Exam, Question, QuestionCategory
from school.extensions import db
from school.sqlcount import counting
from school.timeutil import utcnow
from tests.exams import helpers


def _start(client, exam_id, token):
    """POST start in a request of its own: the response and the statements it sent."""
    with counting(db.engine) as counter:
        response = contextvars.Context().run(client.post, f"/exams/{exam_id}/start", data={"csrf_token": token})
    return response, counter.statements


def _pg() -> bool:
    return db.engine.dialect.name == "postgresql"


def _attempts(member_id) -> int:
    return db.session.scalar(select(func.count()).select_from(Attempt).where(Attempt.member_id == member_id))


def _start_as_another(client, auth, make, org, exam_id) -> tuple[dict[int, dict], int]:
    """Sign in a new member of ``org`` and start ``exam_id``: the attempt's layout by question
    id, and the statements start sent."""
    auth.logout()
    auth.login(make.user(org=org))
    response, statements = _start(client.client, exam_id, client.token())
    assert response.status_code == 302, response.get_data(as_text=True)
    attempt = db.session.get(Attempt, int(re.search(r"/attempts/(\d+)$", response.headers["Location"]).group(1)))
    return {item["q"]: item for item in attempt.layout}, len(statements)


def _exam_questions(exam):
    return db.session.scalars(select(Question).where(Question.id.in_(exam.selection["fixed"]))).all()


@pytest.fixture
def signed_in(client, auth, make):
    """A member of a1 signed in, an exam for a1 and b1 (two audience rows to join), a CSRF token."""
    t = make.tree()
    member = make.user(org=t["a1"])
    exam = make.exam(make.questions(), utcnow(), audience_orgs=[t["a1"], t["b1"]], attempts_allowed=3)
    auth.login(member)
    return member, exam, client.token()


def test_start_reads_member_exam_and_attempts_with_the_login_session(client, make, signed_in):
    member, exam, token = signed_in
    other = make.user(org=member.org)  # has used all three attempts: none of them are the member's
    for _ in range(3):
        make.attempt(exam, other)
        db.session.execute(Attempt.__table__.update().values(state=AttemptState.FINISHED))
        db.session.commit()
    numbers = []
    for n in range(2):  # the second start sees the first attempt (joined beside two audience rows)
        first_id = db.session.scalar(select(Attempt.id).where(Attempt.member_id == member.id, Attempt.state == AttemptState.IN_PROGRESS))
        if first_id is not None:
            db.session.get(Attempt, first_id).state = AttemptState.FINISHED
            db.session.commit()
        response, statements = _start(client.client, exam.id, token)
        assert response.status_code == 302, response.get_data(as_text=True)
        attempt_id = int(re.search(r"/attempts/(\d+)$", response.headers["Location"]).group(1))
        numbers.append(db.session.get(Attempt, attempt_id).number)
        first = statements[0].lstrip()
        assert first.startswith("SELECT users.") and "exam_audience_org" in first and "exam_attempt.number" in first
        assert sum(s.lstrip().startswith("SELECT users.") for s in statements) == 1  # no user loader after it
        # The second start draws from the questions the first one read (PostgreSQL's digest).
        assert len(statements) == (2 if n and _pg() else 3), statements
    assert numbers == [1, 2]


def test_the_attempt_limit_counts_the_attempts_read_with_the_session(client, make, signed_in):
    member, exam, token = signed_in
    for _ in range(3):
        make.attempt(exam, member)
        db.session.execute(Attempt.__table__.update().values(state=AttemptState.FINISHED))
        db.session.commit()
    response, _ = _start(client.client, exam.id, token)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/exams/{exam.id}")
    assert _attempts(member.id) == 3
    assert "您的作答次数已用完" in client.client.get(f"/exams/{exam.id}").get_data(as_text=True)


@pytest.mark.parametrize("change, goes_to, _json_status", helpers.SESSION_BREAKERS)
def test_start_needs_the_members_live_session(client, signed_in, change, goes_to, _json_status):
    """Logged out elsewhere, expired, disabled, a password to change first: the login page or
    the change-password page, and no attempt."""
    member, exam, token = signed_in
    change(member.id)
    db.session.commit()
    response, _ = _start(client.client, exam.id, token)
    assert response.status_code == 302 and goes_to in response.headers["Location"]
    assert _attempts(member.id) == 0


def test_a_made_up_session_token_opens_nothing(client, signed_in):
    member, exam, token = signed_in
    with client.client.session_transaction() as session:
        session["_user_id"] = "made-up-token"
    response, _ = _start(client.client, exam.id, token)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert _attempts(member.id) == 0


def test_a_stranger_with_a_csrf_token_gets_the_login_page(app, signed_in):
    _member, exam, _token = signed_in
    stranger = app.test_client()
    page = contextvars.Context().run(stranger.get, "/login").get_data(as_text=True)
    stranger_token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    response, _ = _start(stranger, exam.id, stranger_token)
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(Attempt)) == 0


def test_an_unknown_exam_is_not_found_and_a_missing_token_refused(client, signed_in):
    member, exam, _token = signed_in
    assert _start(client.client, 10**6, _token)[0].status_code == 404
    assert _start(client.client, exam.id, "")[0].status_code == 400
    assert _attempts(member.id) == 0


@pytest.mark.parametrize("change, reason", [
    ({"published": False}, "考试尚未发布"),  # a draft whose id was guessed
    ({"opens_at": timedelta(hours=1)}, "考试尚未开始"),
    ({"closes_at": -timedelta(minutes=1)}, "考试已结束"),
])
def test_a_crafted_start_outside_the_exams_window_opens_nothing(client, signed_in, change, reason):
    """Posted directly (not from the exam page's button): the exam read with the session is
    checked as before — the reason, and no attempt."""
    member, exam, token = signed_in
    for field, value in change.items():
        setattr(exam, field, utcnow() + value if isinstance(value, timedelta) else value)
    db.session.commit()
    response, _ = _start(client.client, exam.id, token)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/exams/{exam.id}")
    assert _attempts(member.id) == 0
    with client.client.session_transaction() as session:
        assert reason in str(session.get("_flashes"))


def test_a_fixed_paper_is_read_again_after_any_change_to_its_questions(client, auth, make, signed_in):
    """What a process remembers of a fixed paper is used only under the digest start reads with
    the session. A question changed (as an editor on another node would: straight in the
    database, nothing in this process told), or a question taken off the paper: the next start
    reads the questions and draws from what they are now."""
    member, exam, _token = signed_in
    single = next(q for q in _exam_questions(exam) if q.qtype == "single")

    def start_as_another():
        return _start_as_another(client, auth, make, member.org, exam.id)

    first, reads = start_as_another()
    assert reads == 3 and len(first[single.id]["opts"]) == 3
    _same, reads = start_as_another()
    assert reads == (2 if _pg() else 3) and _same.keys() == first.keys()

    data = dict(single.data, options=[*single.data["options"], {"text": "1927", "weight": 0}])
    db.session.execute(Question.__table__.update().where(Question.id == single.id).values(data=data))
    db.session.commit()
    changed, reads = start_as_another()
    assert reads == 3 and sorted(changed[single.id]["opts"]) == [0, 1, 2, 3]
    _again, reads = start_as_another()
    assert reads == (2 if _pg() else 3)

    kept = [qid for qid in exam.selection["fixed"] if qid != single.id]
    db.session.execute(Exam.__table__.update().where(Exam.id == exam.id).values(selection={"fixed": kept}))
    db.session.commit()
    fewer, reads = start_as_another()
    assert reads == 3 and sorted(fewer) == sorted(kept)


def test_a_paper_drawn_by_rules_is_read_at_every_start(client, auth, make):
    """No digest for rules: each member's paper is drawn from the category afresh."""
    t = make.tree()
    bank = make.questions()
    category = QuestionCategory(name="党史", path="党史")
    db.session.add(category)
    db.session.flush()
    for question in bank:
        question.category_id = category.id
    exam = make.exam(bank, utcnow())
    exam.selection = {"draw": [{"category_id": category.id, "count": 4}]}
    db.session.commit()
    counts = [_start_as_another(client, auth, make, t["a1"], exam.id)[1] for _ in range(2)]
    assert counts[0] == counts[1] >= 4  # the read, the pool, the shapes, the INSERT


def test_a_change_committed_between_starts_two_statements_is_not_kept_under_the_old_digest(client, auth, make, signed_in):
    """An editor commits a change after start read the digest and before it read the questions,
    then undoes it. The process keeps the questions it read under their own digest, so the next
    start (whose digest is the undone paper's again) reads them afresh instead of drawing from
    the changed ones."""
    if not _pg():
        pytest.skip("PostgreSQL only: SQLite reads the questions at every start")
    member, exam, _token = signed_in
    single = next(q for q in _exam_questions(exam) if q.qtype == "single")
    original = dict(single.data)
    changed = dict(original, options=[*original["options"], {"text": "1927", "weight": 0}])
    armed = [True]

    def edit_in_between(conn, cursor, statement, *_args):
        if armed[0] and " AS digest" in statement:  # start's second statement, about to run
            armed[0] = False
            with db.engine.begin() as editor:  # another connection: an editor's commit
                editor.execute(Question.__table__.update().where(Question.id == single.id).values(data=changed))

    def options_drawn():
        layout, statements = _start_as_another(client, auth, make, member.org, exam.id)
        return len(layout[single.id]["opts"]), statements

    event.listen(db.engine, "before_cursor_execute", edit_in_between)
    try:
        # Read after the editor's commit: the changed question (the count includes the editor's).
        assert options_drawn()[0] == 4
    finally:
        event.remove(db.engine, "before_cursor_execute", edit_in_between)
    assert not armed[0]
    db.session.execute(Question.__table__.update().where(Question.id == single.id).values(data=original))
    db.session.commit()  # the undo
    assert options_drawn() == (3, 3)  # the undone paper's digest finds nothing kept: read again
    assert options_drawn() == (3, 2)


def _setting(driver) -> str:
    """``synchronous_commit`` as a statement sent now on this psycopg connection sees it."""
    return driver.execute("SHOW synchronous_commit").fetchone()[0]


def test_the_start_alone_commits_without_waiting_for_the_wal(client, make, signed_in):
    """The INSERT runs in autocommit with the setting turned off inside it; right after it, on
    the same connection, the setting is the server's again, so the member's saves that follow
    on that pooled connection commit durably — and flush the start's WAL with theirs."""
    if not _pg():
        pytest.skip("PostgreSQL only: SQLite's commits are already lazy (WAL, synchronous=NORMAL)")
    member, exam, token = signed_in
    with db.engine.connect() as fresh:
        configured = fresh.exec_driver_sql("SHOW synchronous_commit").scalar()
    seen = []

    def after(conn, cursor, statement, *_args):
        if statement.startswith("INSERT INTO exam_attempt"):
            driver = conn.connection.dbapi_connection
            seen.append((driver.autocommit, "set_config" in statement, _setting(driver)))

    event.listen(db.engine, "after_cursor_execute", after)
    try:
        response, _ = _start(client.client, exam.id, token)
    finally:
        event.remove(db.engine, "after_cursor_execute", after)
    assert response.status_code == 302
    assert seen == [(True, True, configured)]
    assert configured != "off"  # else this test proves nothing
    attempt = db.session.scalar(select(Attempt).where(Attempt.member_id == member.id))
    assert (attempt.number, attempt.state, len(attempt.layout)) == (1, AttemptState.IN_PROGRESS, len(exam.selection["fixed"]))


def test_the_lazy_insert_turns_the_setting_off_for_its_own_transaction_only(app, make):
    """What the statement does inside a transaction, where it can be looked at: the setting is
    off until that transaction ends, then back (``set_config``'s third argument: local)."""
    if not _pg():
        pytest.skip("PostgreSQL only")
    member = make.user()
    exam = make.exam(make.questions(), utcnow())
    values = {"exam_id": exam.id, "member_id": member.id, "number": 1, "state": AttemptState.IN_PROGRESS,
              "started_at": utcnow(), "deadline_at": None, "layout": [{"q": 1}]}
    db.session.commit()
    with db.engine.connect() as conn:
        driver = conn.connection.dbapi_connection
        before = _setting(driver)
        with conn.begin():
            attempt_id = conn.execute(attempts._lazily_committed_insert(), values).scalar_one()
            assert _setting(driver) == "off"
        assert _setting(driver) == before != "off"
    assert db.session.get(Attempt, attempt_id).member_id == member.id


def test_a_start_inside_a_transaction_is_an_ordinary_insert(app, make):
    """Not in autocommit (a CLI, a retry after a lost race, SQLite): whatever else the
    transaction holds must stay durable, so the INSERT is the ORM's own."""
    member = make.user()
    exam = make.exam(make.questions(), utcnow())
    with counting(db.engine) as counter:
        attempt = attempts.start(exam, member, utcnow())
    inserts = [s for s in counter.statements if s.lstrip().startswith("INSERT INTO exam_attempt")]
    assert len(inserts) == 1 and "set_config" not in inserts[0]
    assert db.session.get(Attempt, attempt.id).state == AttemptState.IN_PROGRESS
