"""A transaction that only read ends with COMMIT on PostgreSQL (``school/read_commit.py``).

psycopg drops a connection's prepared statements on every ROLLBACK, so pages rolled back at
the end of each request never had a statement prepared. Anything that wrote, failed or
raised is still rolled back; SQLite is left as it was.
"""
from __future__ import annotations

import contextvars

import pytest
from sqlalchemy import event, select, text, update
from sqlalchemy.exc import DBAPIError

from school import read_commit
from school.accounts.models import User
from school.extensions import db


def _pg() -> bool:
    return db.engine.dialect.name == "postgresql"


@pytest.fixture
def ends(app):
    """How each transaction of the block ended, in order, as SQLAlchemy ended it."""
    seen: list[str] = []
    listeners = [("commit", lambda _conn: seen.append("COMMIT")), ("rollback", lambda _conn: seen.append("ROLLBACK"))]
    for name, listener in listeners:
        event.listen(db.engine, name, listener)
    yield seen
    for name, listener in listeners:
        event.remove(db.engine, name, listener)


def _visits(client, path: str, times: int) -> list:
    """The request's drivers (psycopg connections), one per request."""
    drivers = []

    def record(conn, *_args):
        drivers.append(conn.connection.dbapi_connection)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        for _ in range(times):
            response = contextvars.Context().run(client.client.get, path)
            assert response.status_code == 200, response.status_code
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return drivers


def _prepared_on(driver) -> int:
    count = driver.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()[0]
    driver.commit()
    return count


@pytest.mark.parametrize("teardown", ["commit", "rollback"])
def test_a_page_that_only_read_keeps_its_prepared_statements(app, client, auth, make, ends, monkeypatch, teardown):
    """The purpose: statements a page runs on every visit get prepared once and stay. Without
    the COMMIT (the ``rollback`` case, Flask-SQLAlchemy's own teardown) every visit starts
    again from nothing, which is what this module is for."""
    if not _pg():
        pytest.skip("PostgreSQL only: psycopg's prepared statements (SQLite has no such cache here)")
    if teardown == "rollback":
        monkeypatch.setattr(app, "teardown_appcontext_funcs",
                            [f for f in app.teardown_appcontext_funcs if f is not read_commit.finish])
    auth.login(make.user(org=make.tree()["a1"]))
    ends.clear()
    drivers = _visits(client, "/courses/", 8)  # psycopg prepares a statement on its fifth run
    assert len({id(d) for d in drivers}) == 1  # one pooled connection served every visit
    if teardown == "commit":
        assert ends and set(ends) == {"COMMIT"}, ends
        assert _prepared_on(drivers[0]) > 0
    else:
        assert ends and set(ends) == {"ROLLBACK"}, ends
        assert _prepared_on(drivers[0]) == 0


def test_a_read_only_block_commits_on_postgresql_and_rolls_back_on_sqlite(app, make, ends):
    member_id = make.user().id
    ends.clear()
    with app.app_context():
        assert db.session.scalar(select(User.name).where(User.id == member_id))
    assert ends == (["COMMIT"] if _pg() else ["ROLLBACK"])


def test_an_uncommitted_core_write_is_rolled_back(app, make, ends):
    member_id = make.user(name="原名").id
    ends.clear()
    with app.app_context():
        db.session.scalar(select(User.name).where(User.id == member_id))
        db.session.execute(update(User).where(User.id == member_id).values(name="改名"))
    assert ends == ["ROLLBACK"]
    db.session.expire_all()
    assert db.session.get(User, member_id).name == "原名"


def test_an_unflushed_change_is_rolled_back_not_flushed(app, make, ends):
    member_id = make.user(name="原名").id
    ends.clear()
    with app.app_context():
        db.session.get(User, member_id).name = "改名"  # never flushed: COMMIT would flush it
    assert ends == ["ROLLBACK"]
    db.session.expire_all()
    assert db.session.get(User, member_id).name == "原名"


def test_a_failed_statement_caught_by_the_code_ends_in_a_rollback(app, make, ends):
    member_id = make.user().id
    ends.clear()
    with app.app_context():
        with pytest.raises(DBAPIError):
            db.session.execute(text("SELECT * FROM no_such_table"))  # a SELECT, but it failed
    assert ends == ["ROLLBACK"]
    with app.app_context():  # the pooled connection is usable again
        assert db.session.get(User, member_id) is not None


def test_a_block_that_raised_is_rolled_back(app, make, ends):
    member_id = make.user().id
    ends.clear()
    with pytest.raises(RuntimeError):
        with app.app_context():
            db.session.scalar(select(User.name).where(User.id == member_id))
            raise RuntimeError("the view failed")
    assert ends == ["ROLLBACK"]


def test_a_write_then_commit_then_reads_commits_only_the_reads(app, make, ends):
    """After a commit the next transaction starts read-only again."""
    member_id = make.user(name="原名").id
    ends.clear()
    with app.app_context():
        db.session.execute(update(User).where(User.id == member_id).values(name="改名"))
        db.session.commit()
        db.session.scalar(select(User.name).where(User.id == member_id))
    assert ends == (["COMMIT", "COMMIT"] if _pg() else ["COMMIT", "ROLLBACK"])
    db.session.expire_all()
    assert db.session.get(User, member_id).name == "改名"
