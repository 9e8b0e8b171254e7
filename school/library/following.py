"""The index follows the database: changes are written after the commit, never before.

Changes to documents are collected on the SQLAlchemy session at flush time (a snapshot
per document, ``None`` for a deleted one) and written to the index only after the commit
succeeds — a rolled-back change never reaches it — through ``index``'s one writer. A write
that fails leaves the commit standing and the index marked stale, so the next search
rebuilds it from the database. A bulk import (``following_in_bulk``) writes once at the end.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import Session

from school.extensions import db
from school.library import index
from school.library.models import Document

log = logging.getLogger(__name__)
_SESSION_KEY = "library_search_changes"
_DEFERRED_KEY = "library_search_deferred"


def _collect(session: Session, flush_context) -> None:
    changes = session.info.setdefault(_SESSION_KEY, {})
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Document) and obj.id is not None:
            changes[obj.id] = index.snapshot_of(obj)
    for obj in session.deleted:
        if isinstance(obj, Document) and obj.id is not None:
            changes[obj.id] = None


def _discard(session: Session, previous_transaction) -> None:
    # A rolled-back savepoint (one failed file of an import) keeps the outer changes.
    if not previous_transaction.nested:
        session.info.pop(_SESSION_KEY, None)


def _apply_after_commit(session: Session) -> None:
    changes = session.info.pop(_SESSION_KEY, None)
    if not changes:
        return
    deferred = session.info.get(_DEFERRED_KEY)
    if deferred is not None:  # inside ``following_in_bulk``: written when it ends
        deferred.update(changes)
        return
    _write_changes(changes)


@dataclass
class BulkWrite:
    """What ``following_in_bulk`` did at its end: the index write's failure, if any (the
    documents stay committed; the index is marked stale and rebuilt on the next search)."""
    index_error: Exception | None = None


@contextmanager
def following_in_bulk():
    """For a bulk import: documents committed inside are collected rather than written to the
    index batch by batch, and written once at the end — by a rebuild when there are many, as
    building the whole index in one pass costs less than updating it a document at a time."""
    session = db.session()
    bulk = BulkWrite()
    if _DEFERRED_KEY in session.info:  # already collecting
        yield bulk
        return
    session.info[_DEFERRED_KEY] = {}
    try:
        yield bulk
    finally:
        changes = session.info.pop(_DEFERRED_KEY)
        # Even with nothing new: an earlier import may have been killed before writing the index.
        bulk.index_error = _write_changes(changes, compare_all=True)


def _write_changes(changes: dict[int, dict | None], compare_all: bool = False) -> Exception | None:
    """Write ``changes`` to the index; returns why that failed (logged, index marked stale) or None."""
    try:
        if len(changes) >= index.REBUILD_AT:  # a bulk import: one pass costs less
            index.rebuild()
        elif not index.apply_changes(changes) and compare_all:  # a quick check of the index, then
            index.reconcile()  # (imports) every document compared with the database
    except Exception as exc:  # the commit stands; a stale index is rebuilt on the next search
        log.exception("search index update failed; it will be rebuilt on the next search")
        try:
            index.mark_stale()
        except Exception:
            pass
        return exc
    return None


def init_app(app) -> None:
    app.config.setdefault("SEARCH_INDEX_DIR", str(Path(app.instance_path) / "search-index"))
    if not getattr(init_app, "_listening", False):
        event.listen(Session, "after_flush", _collect)
        event.listen(Session, "after_commit", _apply_after_commit)
        event.listen(Session, "after_soft_rollback", _discard)
        init_app._listening = True
