"""Counting the SQL statements a request sends (round trips are what PostgreSQL charges for).

``counting(engine)`` counts in a block (tests, bench); ``init_app`` adds an ``X-Statements``
response header to every request when ``SCHOOL_COUNT_STATEMENTS=1`` (``bench/exam_spike.py``
turns it on), and costs nothing otherwise. BEGIN/COMMIT are not statements the driver sends
through a cursor, so they are not counted; SQLite's connection PRAGMAs are not either.
"""
from __future__ import annotations

import os
from contextlib import contextmanager

from flask import Flask, g, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Engine


class Counter:
    def __init__(self):
        self.statements: list[str] = []

    def __len__(self) -> int:
        return len(self.statements)

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)


@contextmanager
def counting(engine: Engine):
    """Count (and keep) every statement ``engine`` executes inside the block."""
    counter = Counter()
    event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", counter)


def _per_request(conn, cursor, statement, parameters, context, executemany):
    if has_app_context() and "sql_statements" in g:
        g.sql_statements += 1


def init_app(app: Flask) -> None:
    if not (app.config.get("COUNT_STATEMENTS") or os.environ.get("SCHOOL_COUNT_STATEMENTS") == "1"):
        return
    if not event.contains(Engine, "before_cursor_execute", _per_request):
        event.listen(Engine, "before_cursor_execute", _per_request)

    @app.before_request
    def _start_count():
        g.sql_statements = 0

    @app.after_request
    def _report_count(response):
        response.headers["X-Statements"] = str(g.get("sql_statements", 0))
        return response
