"""PostgreSQL: a request that only read ends its transaction with COMMIT, not ROLLBACK.

psycopg forgets every prepared statement of a connection on each ROLLBACK (a rolled-back
transaction may have dropped what they refer to) and sends ``DEALLOCATE ALL`` before the
connection's next statement: one more round trip, and the statement counts start again. A
page that reads in a transaction and is rolled back at the end, as Flask-SQLAlchemy does for
every request, therefore never has a statement prepared (a statement is prepared after its
fifth run on a connection): PostgreSQL parses and plans each of its statements every time,
on the same cores as the web processes. COMMIT of a transaction that wrote nothing costs the
same one round trip as ROLLBACK and keeps them.

Only a transaction known to have written nothing is committed: every statement it sent
began with SELECT, none failed, and the session holds no unflushed changes. Anything else
(a view that raised, a write left uncommitted, an aborted transaction) is rolled back as
before. SQLite is left as it is.
"""
from __future__ import annotations

from flask import Flask
from psycopg.pq import TransactionStatus
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

from school.extensions import db

_READ_ONLY = "school_read_only"  # on the pooled connection's info: this transaction only read


def _on_begin(conn) -> None:
    conn.info[_READ_ONLY] = True


def _on_statement(conn, _cursor, statement, _parameters, _context, _executemany) -> None:
    # The head only: statements run to kilobytes. Long leading space reads as a write (safe side).
    if statement[:16].lstrip()[:6].upper() != "SELECT":
        conn.info[_READ_ONLY] = False


def _on_error(context) -> None:
    if context.connection is not None:
        context.connection.info[_READ_ONLY] = False


def finish(exc: BaseException | None = None) -> None:
    """Commit the app context's transaction when it only read (see the module docstring);
    otherwise leave it to Flask-SQLAlchemy's teardown, which rolls it back."""
    if exc is not None:
        return
    session = db.session()
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return
    try:
        conn = session.connection()
        driver = conn.connection.dbapi_connection
        if conn.dialect.name != "postgresql" or not conn.info.get(_READ_ONLY, False):
            return
        if driver.info.transaction_status != TransactionStatus.INTRANS:
            return  # no statement sent (nothing to end) or a failed one (ROLLBACK is all it takes)
        session.commit()
    except SQLAlchemyError:
        session.rollback()


def init_app(app: Flask) -> None:
    """After ``db.init_app``: teardown functions run in reverse order, so ``finish`` runs
    before Flask-SQLAlchemy's ``session.remove()``."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "postgresql":
        return
    if not event.contains(engine, "begin", _on_begin):
        event.listen(engine, "begin", _on_begin)
        event.listen(engine, "before_cursor_execute", _on_statement)
        event.listen(engine, "handle_error", _on_error)
    app.teardown_appcontext(finish)
