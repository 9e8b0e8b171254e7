"""The Whoosh index of the library: its schema, where it lives, what it reflects, and every write.

The index can always be rebuilt from the database. A small ``state.json`` beside it records
what it reflects (schema version, document count and newest ``updated_at``); an index that
is merely behind the database catches up on the documents changed since, one that is
missing or unreadable is rebuilt (into a new directory, then swapped in).

All writing goes through this module under one process lock (``_writer_lock``) plus
Whoosh's own file lock between processes: ``rebuild`` (the whole index, in one pass) and
``apply_changes`` (a few documents). *When* to write — after a commit, once at the end of a
bulk import — is ``following``'s job; reading is ``search``'s.
"""
from __future__ import annotations

import gc
import json
import logging
import shutil
import threading
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

from flask import current_app
from sqlalchemy import func, select
from whoosh import index as windex
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, TEXT, Schema

from school.extensions import db
from school.library import index_builder
from school.library.analysis import FastPositions, chinese_analyzer
from school.library.models import Document

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1
_writer_lock = threading.RLock()
# Postings a rebuild holds in memory before it writes them out as a segment (≈ 170 bytes
# each): the 1,561 laws of bench/search.py make 1.07 million, so one segment.
MAX_POSTINGS_IN_MEMORY = 2_000_000


def make_schema(analyzer=None) -> Schema:
    analyzer = analyzer or chinese_analyzer()
    schema = Schema(
        id=ID(stored=True, unique=True),
        title=TEXT(analyzer=analyzer, stored=True),
        body=TEXT(analyzer=analyzer),
        issuer=TEXT(analyzer=analyzer),
        tags=KEYWORD(commas=True, lowercase=True, scorable=True),
        category=ID(stored=True),
        status=ID(stored=True),
        date=DATETIME(stored=True, sortable=True),
        year=NUMERIC(int, sortable=True),
    )
    if analyzer is chinese_analyzer():
        for name in ("title", "body", "issuer"):
            schema[name].format = FastPositions(field_boost=schema[name].format.field_boost)
    return schema


def fields_of(snapshot: dict) -> dict:
    published = snapshot["published_on"]
    when = datetime(published.year, published.month, published.day) if published else snapshot["created_at"]
    return dict(id=str(snapshot["id"]), title=snapshot["title"], body=snapshot["body"] or "",
                issuer=snapshot["issuer"] or "", tags=snapshot["tags"] or "", category=snapshot["category"],
                status=snapshot["status"], date=when, year=when.year)


def snapshot_of(doc: Document) -> dict:
    return dict(id=doc.id, title=doc.title, body=doc.body, issuer=doc.issuer, tags=doc.tags,
                category=doc.category, status=doc.status, published_on=doc.published_on,
                created_at=doc.created_at or datetime(1970, 1, 1))


# --- where the index lives and what it reflects ----------------------------------------


def index_dir() -> Path:
    return Path(current_app.config["SEARCH_INDEX_DIR"])


def _state_file(path: Path) -> Path:
    return path / "state.json"


def database_state() -> dict:
    with db.engine.connect() as conn:
        count, newest = conn.execute(select(func.count(Document.id), func.max(Document.updated_at))).one()
    return {"schema": SCHEMA_VERSION, "count": count, "newest": newest.isoformat() if newest else None}


def write_state(path: Path) -> None:
    """Record that the index in ``path`` reflects the database as it is now."""
    _state_file(path).write_text(json.dumps(database_state()))


def index_state(path: Path | None = None) -> dict | None:
    path = path or index_dir()
    try:
        return json.loads(_state_file(path).read_text())
    except (OSError, ValueError):
        return None


def is_current() -> bool:
    path = index_dir()
    return windex.exists_in(str(path)) and index_state(path) == database_state()


def mark_stale() -> None:
    """Forget what the index reflects (a write failed), so the next search rebuilds it."""
    _state_file(index_dir()).unlink(missing_ok=True)


def _database_snapshots(batch: int = 200) -> Iterator[dict]:
    """Every document, in id order, a page at a time (keyset pagination keeps memory flat)."""
    last_id = 0
    while True:
        docs = db.session.scalars(select(Document).where(Document.id > last_id)
                                  .order_by(Document.id).limit(batch)).all()
        if not docs:
            return
        for doc in docs:
            yield snapshot_of(doc)
        last_id = docs[-1].id
        db.session.expire_all()


# --- writing ----------------------------------------------------------------------------


def write_new_index(directory: Path, snapshots: Iterable[dict], max_postings: int = MAX_POSTINGS_IN_MEMORY) -> int:
    """Create an index in ``directory`` holding ``snapshots``, in one pass (``BulkWriter``),
    as one segment per ``max_postings`` postings."""
    ix = windex.create_in(str(directory), make_schema())
    # The pool holds a few objects per posting (millions for a large library) and none of them
    # can form a cycle: the garbage collector would only walk them again and again (~5 % of
    # the build). Process-wide, but only for the seconds a rebuild takes.
    collecting = gc.isenabled()
    gc.disable()
    try:
        writer = index_builder.BulkWriter(ix)
        count = 0
        try:
            for snap in snapshots:
                writer.add_document(**fields_of(snap))
                count += 1
                if writer.postings >= max_postings:
                    writer.commit()
                    writer = index_builder.BulkWriter(ix)
            writer.commit()
        except BaseException:
            writer.cancel()
            raise
    finally:
        if collecting:
            gc.enable()
        ix.close()
    return count


def rebuild() -> int:
    """Recreate the index from the database in a new directory, then swap it in."""
    path = index_dir()
    fresh = path.with_name(path.name + ".new")
    with _writer_lock:
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        count = write_new_index(fresh, _database_snapshots())
        write_state(fresh)
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            path.rename(old)
        fresh.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    return count


def apply_changes(changes: dict[int, dict | None]) -> None:
    """Write changed documents (id → snapshot, or ``None`` for a deleted one) to the index."""
    path = index_dir()
    with _writer_lock:
        if not windex.exists_in(str(path)) or not changes:
            return  # nothing to follow yet: the first search builds the index from the database
        ix = windex.open_dir(str(path))
        writer = ix.writer(timeout=30, codec=index_builder.codec())
        try:
            for doc_id, snap in changes.items():
                if snap is None:
                    writer.delete_by_term("id", str(doc_id))
                else:
                    writer.update_document(**fields_of(snap))
            writer.commit()
        except Exception:
            writer.cancel()
            raise
        finally:
            ix.close()
        write_state(path)


# --- opening ----------------------------------------------------------------------------


def _catch_up(path: Path, state: dict) -> bool:
    """Bring an index that is merely behind (another worker's commit not yet written, or a
    write that failed) up to date with the documents changed since; ``False`` when that
    cannot make it current (e.g. documents were deleted) and a rebuild is needed."""
    if state.get("schema") != SCHEMA_VERSION or not state.get("newest"):
        return False
    since = datetime.fromisoformat(state["newest"])
    with db.engine.connect() as conn:
        ids = list(conn.scalars(select(Document.id).where(Document.updated_at >= since)))
    docs = db.session.scalars(select(Document).where(Document.id.in_(ids))).all() if ids else []
    apply_changes({doc.id: snapshot_of(doc) for doc in docs})
    return index_state(path) == database_state()


def open_current(db_state: dict):
    """The index as of ``db_state``: caught up when behind, rebuilt when missing or unreadable."""
    path = index_dir()
    with _writer_lock:
        state = index_state(path) if windex.exists_in(str(path)) else None
        if state != db_state:
            if state is None or not _catch_up(path, state):
                log.warning("search index missing or stale: rebuilding from the database")
                rebuild()
        try:
            return windex.open_dir(str(path))
        except Exception:  # a corrupt index is rebuilt rather than shown as an error page
            log.exception("search index unreadable: rebuilding")
            rebuild()
            return windex.open_dir(str(path))


def open_index():
    return open_current(database_state())
