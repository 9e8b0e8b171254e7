"""PostgreSQL: the requests of an exam rush run on an autocommit connection.

On PostgreSQL a transaction costs two round trips — BEGIN before the first statement, COMMIT
or ROLLBACK at the end — each with psycopg's per-statement Python on the web node's cores;
SQLite pays neither for reads. For the exam page, the attempt page, start, the autosave and
``/healthz`` those are 2 of 3–10 round trips. Views marked ``@autocommit.reads`` therefore run
on an autocommit connection: every statement is its own transaction with its own snapshot,
which is what READ COMMITTED (PostgreSQL's default) gives each statement of a transaction
anyway, so a page of reads sees nothing different.

A write of more than one statement must still be one transaction: the code that makes one
calls ``end()`` first (``attempts.finish`` and ``attempts.save_own`` do), and the rest of
the request runs in a transaction. A single statement — ``start``'s INSERT, the autosave's one
statement — is atomic by itself. SQLite is left as it is.
"""
from __future__ import annotations

from flask import Flask, request
from sqlalchemy.exc import SQLAlchemyError

from school.extensions import db

_MARK = "_autocommit_reads"


def reads(view):
    """Mark a view whose request may run in autocommit (see the module docstring): its
    statements are reads or single-statement writes, and multi-statement writes call ``end()``."""
    setattr(view, _MARK, True)
    return view


def init_app(app: Flask) -> None:
    def _for_marked_views():
        view = app.view_functions.get(request.endpoint) if request.endpoint else None
        if view is not None and getattr(view, _MARK, False):
            begin()

    # First of all the app's before-request functions, before anything reads the login
    # session (``require_own_password`` does), so that read needs no BEGIN either.
    app.before_request_funcs.setdefault(None, []).insert(0, _for_marked_views)


def begin() -> None:
    """PostgreSQL: run the rest of this request's session on an autocommit connection."""
    if db.session.get_bind().dialect.name != "postgresql" or db.session().in_transaction():
        return
    try:
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    except SQLAlchemyError:
        # The database is unreachable: the view meets the same error at its first statement
        # and answers as it always does (``/healthz`` with its 503), not a hook's error page.
        db.session.rollback()


def end() -> None:
    """Back to transactions for the rest of the request. The connection's isolation level is
    put back by SQLAlchemy when it returns to the pool (``_reset_characteristics``)."""
    if active():
        _driver().autocommit = False  # psycopg sends BEGIN before the next statement


def active() -> bool:
    """Whether this request's statements are running in autocommit now (PostgreSQL, after
    ``begin()`` and before ``end()``): a statement sent now is its own transaction."""
    if not db.session().in_transaction() or db.session.get_bind().dialect.name != "postgresql":
        return False  # (sqlite3's own ``autocommit`` attribute, Python 3.12+, means something else)
    return bool(_driver().autocommit)


def _driver():
    return db.session.connection().connection.dbapi_connection
