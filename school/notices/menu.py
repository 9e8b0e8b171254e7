"""The menu's unread counts, read with the signed-in user on PostgreSQL.

Every page's menu shows two counts: unread notices and unread messages. On PostgreSQL each
statement is a round trip, and during an exam rush each one waits for a free core. So a
page's login-session read (``accounts.auth``) carries the counts as two more columns, which
saves the page one statement. SQLite has no round trips: there the counts stay a statement of
their own, run when the menu is rendered (``services.unread_counts``). A view may read its own
rows in the same statement too (``read_page_session``; the attempt page does).

The counts hold what was true when the session was read. A request that then changes what
they count (opening a notice or a message, before rendering the page) must not show the old
figures. So any flush of a notice, a read mark or a message drops them, and the menu reads
them again when it is rendered.
"""
from __future__ import annotations

import functools
from datetime import datetime, timedelta
from itertools import chain

from flask import g, has_request_context
from sqlalchemy import Integer, Row, any_, bindparam, cast, event, exists, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased

from school.accounts import auth
from school.accounts.models import Organisation, User
from school.extensions import db
from school.notices import services
from school.notices.models import Message, Notice, NoticeRead

KEY = "notice_summary"  # in ``flask.g``: {"unread_notices": n, "unread_messages": m}


@functools.cache
def page_session_statement(dialect: str):
    """``auth.session_statement`` for a page (the user with the organisation), and on
    PostgreSQL the menu's two counts (``services.unread_counts``) as two more columns. The
    member's organisation and those above it are the ids on its path (/1/4/9/), taken apart in
    SQL so the notices are found through their ``org_id`` index. A view may add its own
    columns after these (``read_page_session``)."""
    statement = auth.session_statement(with_org=True)
    if dialect != "postgresql":
        return statement
    mine = aliased(Organisation)
    on_path = cast(func.string_to_array(func.btrim(mine.path, "/"), "/"), postgresql.ARRAY(Integer))
    # Two levels down: the notice from the count, the member from the page's row.
    read = exists().where(NoticeRead.notice_id == Notice.id, NoticeRead.member_id == User.id).correlate_except(NoticeRead)
    notices = (select(func.count(Notice.id))
               .where(mine.id == User.org_id, Notice.org_id == any_(on_path),
                      services.live(bindparam("now", type_=Notice.expires_at.type)), ~read)
               .scalar_subquery())
    messages = (select(func.count(Message.id))
                .where(Message.member_id == User.id, Message.read_at.is_(None)).scalar_subquery())
    return statement.add_columns(notices, messages)


def read_page_session(token: str | None, now: datetime, max_age: timedelta, statement=None,
                      params: dict | None = None) -> Row | None:
    """The live login session's row (``auth.read_session``), the user first, read by
    ``page_session_statement`` or by ``statement`` — that one with a view's own columns after
    its own. On PostgreSQL the menu's counts in the row are kept for the request."""
    dialect = db.session.get_bind().dialect.name
    statement = page_session_statement(dialect) if statement is None else statement
    row = auth.read_session(token, now, max_age, statement, dict(params or {}, now=now))
    if row is not None and dialect == "postgresql":
        setattr(g, KEY, {"unread_notices": int(row[1] or 0), "unread_messages": int(row[2] or 0)})
    return row


def load_page_user(token: str | None, now: datetime, max_age: timedelta) -> User | None:
    """The user of a live login session (as ``auth.load_session_user``) for a page."""
    row = read_page_session(token, now, max_age)
    return row[0] if row is not None else None


@event.listens_for(Session, "after_flush")
def _forget_counts_on_change(session, _context):
    if not has_request_context() or KEY not in g:
        return
    changed = chain(session.new, session.dirty, session.deleted)
    if any(isinstance(obj, (Notice, NoticeRead, Message)) for obj in changed):
        g.pop(KEY, None)
