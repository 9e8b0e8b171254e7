"""``INSERT … ON CONFLICT DO NOTHING`` on a unique key, for rows made once (an enrolment, a
certificate, a reflection) when two requests may race to make them.

Not a SAVEPOINT: with Python's sqlite3 driver a SAVEPOINT that opens the transaction
(no write before it) is committed by its RELEASE, so a later rollback would not undo it.
"""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite

from school.extensions import db


def insert_once(model, key_columns: list[str], **values) -> bool:
    """Insert the row unless one with the same key exists; True if this call inserted it."""
    module = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    key = getattr(model, key_columns[0])
    statement = (module.insert(model).values(**values).on_conflict_do_nothing(index_elements=key_columns)
                 .returning(key))
    return db.session.execute(statement).first() is not None
