"""The Whoosh index of the library: its schema, where it lives, what it reflects, and every write.

The index can always be rebuilt from the database. A small ``state.json`` beside it records
what it reflects (schema version, document count and newest ``updated_at``); an index that
is merely behind the database catches up on the documents changed since, one that is
missing or unreadable is rebuilt (into a new directory, then swapped in).

All writing goes through this module under ``writing()``, one lock across threads, processes
and web nodes (several nodes may share one index on shared storage, ``SCHOOL_SEARCH_INDEX_DIR``):
``rebuild`` (the whole index, in one pass) and ``apply_changes`` (a few documents, then a quick
check; everything compared only when it fails). *When* to write — after a commit, once at the
end of a bulk import — is ``following``'s job; reading is ``search``'s, which reopens its
searcher when the index's ``generation`` (in ``state.json``) changed.
"""
from __future__ import annotations

import fcntl
import gc
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

from flask import current_app, g, has_request_context
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from whoosh import index as windex
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, STORED, TEXT, Schema
from whoosh.filedb.filestore import FileStorage

from school.extensions import db
from school.library import index_builder, levels
from school.library.analysis import FastPositions, chinese_analyzer
from school.library.models import Document

log = logging.getLogger(__name__)
SCHEMA_VERSION = 4  # 2: headings, level, region, articles, revision id; 3: regions; 4: cites
_writer_lock = threading.RLock()  # the threads of this process; ``writing()`` adds the other processes
_held = threading.local()  # how deep this thread is inside ``writing()``
# The PostgreSQL advisory lock every node takes to write the index (one index per database).
ADVISORY_LOCK_KEY = 0x5C400_1D3  # any constant: advisory locks are per database
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
        headings=TEXT(analyzer=analyzer),  # the 编, 章 and 节 lines of the text
        tags=KEYWORD(commas=True, lowercase=True, scorable=True),
        category=ID(stored=True),
        status=ID(stored=True),
        date=DATETIME(stored=True, sortable=True),
        year=NUMERIC(int, sortable=True),
        level=ID(stored=True),
        region=ID(stored=True),
        regions=KEYWORD(commas=True),  # 广东,广东 · 深圳: what the 地区 filter matches
        articles=STORED(),  # "first-last" article numbers, for 民法典第一千零七十九条
        rev=STORED(),
        cites=STORED(),  # the laws the text cites most (levels.cited_laws), for ranking's feedback  # which revision of the document the index holds (``revision_id``)
    )
    if analyzer is chinese_analyzer():
        for name in ("title", "body", "issuer", "headings"):
            schema[name].format = FastPositions(field_boost=schema[name].format.field_boost)
    return schema


HEADING_RE = re.compile(r"(?m)^#{1,6}[ \t]*(.+)$")


def fields_of(snapshot: dict) -> dict:
    published = snapshot["published_on"]
    when = datetime(published.year, published.month, published.day) if published else snapshot["created_at"]
    body = snapshot["body"] or ""
    level = snapshot.get("level") or levels.classify(snapshot["title"], snapshot.get("source_path"),
                                                      snapshot["issuer"] or "")
    return dict(id=str(snapshot["id"]), title=snapshot["title"], body=body,
                issuer=snapshot["issuer"] or "", tags=snapshot["tags"] or "", category=snapshot["category"],
                status=snapshot["status"], date=when, year=when.year,
                headings="\n".join(HEADING_RE.findall(body)), level=level, region=snapshot.get("region") or "",
                regions=",".join(levels.region_terms(snapshot.get("region") or "")),
                articles=levels.article_range(body), rev=snapshot.get("rev", ""),
                cites="|".join(levels.cited_laws(body)))


def revision_id(updated_at, content_hash, status, level, region) -> str:
    """What identifies the state of a document for the index: it changes with every save."""
    text = "|".join(str(v or "") for v in (updated_at.isoformat() if updated_at else "", content_hash, status,
                                            level, region))
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def snapshot_of(doc: Document) -> dict:
    return dict(id=doc.id, title=doc.title, body=doc.body, issuer=doc.issuer, tags=doc.tags,
                category=doc.category, status=doc.status, published_on=doc.published_on,
                created_at=doc.created_at or datetime(1970, 1, 1), level=doc.level, region=doc.region,
                source_path=doc.source_path,
                rev=revision_id(doc.updated_at, doc.content_hash, doc.status, doc.level, doc.region))


# --- where the index lives and what it reflects ----------------------------------------


def index_dir() -> Path:
    return Path(current_app.config["SEARCH_INDEX_DIR"])


def _state_file(path: Path) -> Path:
    return path / "state.json"


# Built once, and as two scalar subqueries: SQLite answers ``count(*)`` alone from the
# table's b-tree and ``max`` alone from the index on updated_at, but ``count(id), max(…)``
# together scans every row of that index (≈ 25× the time for 1,561 documents). Every search
# page reads it. ``id`` is the primary key, never NULL: ``count(*)`` is ``count(id)``.
_DATABASE_STATE = select(select(func.count()).select_from(Document.__table__).scalar_subquery(),
                         select(func.max(Document.updated_at)).scalar_subquery())


def database_state() -> dict:
    with db.engine.connect() as conn:
        count, newest = conn.execute(_DATABASE_STATE).one()
    return {"schema": SCHEMA_VERSION, "count": count, "newest": newest.isoformat() if newest else None}


def database_state_of_request() -> dict:
    """``database_state()`` read once per request, for the pages that only read: a search page
    looks at it twice (the 地区 choices kept per state, then the searcher). Outside a request
    (commands, jobs, tests calling services) it is read each time, as is every write's."""
    if not has_request_context():
        return database_state()
    state = g.get("_library_database_state")
    if state is None:
        state = g._library_database_state = database_state()
    return state


def write_state(path: Path) -> None:
    """Record that the index in ``path`` reflects the database as it is now."""
    _save_state(path, database_state())


def read_state(path: Path | None = None) -> dict | None:
    """``state.json`` as written: what the index reflects, its build and its generation."""
    path = path or index_dir()
    try:
        return json.loads(_state_file(path).read_text())
    except (OSError, ValueError):
        return None


def index_state(path: Path | None = None) -> dict | None:
    """What the index reflects (schema, count, newest): comparable with ``database_state()``."""
    return reflected(read_state(path))


def reflected(state: dict | None) -> dict | None:
    """The part of a ``read_state`` that says what the index reflects."""
    return {k: v for k, v in state.items() if k not in ("build", "generation")} if state is not None else None


def is_current() -> bool:
    path = index_dir()
    return windex.exists_in(str(path)) and index_state(path) == database_state()


def mark_stale() -> None:
    """Forget what the index reflects (a write failed), so the next search rebuilds it."""
    _state_file(index_dir()).unlink(missing_ok=True)


@contextmanager
def writing():
    """Hold the index's one writer lock: this process's threads (``_writer_lock``), then the
    other processes and nodes — a PostgreSQL advisory lock when the database is PostgreSQL
    (every node shares it), otherwise ``fcntl.flock`` on ``<index>.lock`` beside the index
    (processes of one machine). Re-entrant within a thread: ``rebuild`` inside ``reconcile``
    inside ``apply_changes`` takes it once."""
    with _writer_lock:
        depth = getattr(_held, "depth", 0)
        _held.depth = depth + 1
        try:
            if depth:
                yield
            elif db.engine.dialect.name == "postgresql":
                with db.engine.connect() as conn:  # a connection of its own, held while writing
                    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
                    conn.commit()
                    try:
                        yield
                    finally:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
                        conn.commit()
            else:
                path = index_dir()
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path.with_name(path.name + ".lock"), "a+b") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                    try:
                        yield
                    finally:
                        fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            _held.depth = depth


def _save_state(path: Path, state: dict, build: str | None = None) -> None:
    """Write ``state.json`` (what the index reflects, plus its ``generation``) atomically:
    readers on other nodes read it at every check, never half-written."""
    previous = read_state(path) or {}
    build = build or previous.get("build") or secrets.token_hex(4)
    toc = windex.TOC._latest_generation(FileStorage(str(path)), windex._DEF_INDEX_NAME)
    full = dict(state, build=build, generation=f"{build}-{toc}")
    partial = _state_file(path).with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(full))
    partial.replace(_state_file(path))


def generation(path: Path | None = None) -> str | None:
    """Which version of the index is on disk: the build (a rebuild starts a new one) and
    Whoosh's TOC generation (each commit adds one), as recorded in ``state.json``; ``None``
    when it is missing (being rebuilt, or marked stale)."""
    state = read_state(path)
    return state.get("generation") if state else None


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
    with writing():
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        try:
            state = database_state()
            count = write_new_index(fresh, _database_snapshots())
            _save_state(fresh, state, build=secrets.token_hex(4))
        except BaseException:  # (a full disk) the half-written index must not keep the space
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        old = path.with_name(path.name + ".old")
        # The index before this one stays as ``.old`` until the next rebuild: a node reading it
        # from shared storage (NFS gives no file a reader still holds) reopens within a moment.
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            path.rename(old)
        fresh.rename(path)
        _verified.add(str(path))
    return count


def apply_changes(changes: dict[int, dict | None]) -> bool:
    """Write changed documents (id → snapshot, or ``None`` for a deleted one) to the index,
    then check it against the database: when it holds as many documents as the database and
    the newest ones at their current revision, it records that state; otherwise (a killed
    import, a failed write, an earlier stale mark) it compares every document (``reconcile``).
    The state it records is what it was checked to hold, never the database's word for it.
    Returns whether every document was compared (or there is no index to compare)."""
    path = index_dir()
    with writing():
        if not windex.exists_in(str(path)):
            return True  # nothing to follow yet: the first search builds the index from the database
        before = index_state(path)
        if changes:
            _write(path, changes)
        state = database_state()  # before reading the index: a later commit leaves it stale
        if before is not None and before.get("schema") == SCHEMA_VERSION and _holds_newest(path, state):
            _save_state(path, state)
            return False
        reconcile(path)
        return True


def _holds_newest(path: Path, state: dict) -> bool:
    """Whether the index in ``path`` holds ``state``'s number of documents and the newest
    documents of the database at their current revision — what its recorded state claims."""
    with db.engine.connect() as conn:
        newest = conn.execute(select(Document.id, Document.updated_at, Document.content_hash, Document.status,
                                     Document.level, Document.region)
                              .where(Document.updated_at == select(func.max(Document.updated_at))
                                     .scalar_subquery())).all()
    ix = windex.open_dir(str(path))
    try:
        if ix.doc_count() != state["count"]:
            return False
        with ix.searcher() as searcher:
            for row in newest:
                held = searcher.document(id=str(row[0]))
                if held is None or held.get("rev") != revision_id(*row[1:]):
                    return False
        return True
    finally:
        ix.close()


def _write(path: Path, changes: dict[int, dict | None]) -> None:
    ix = windex.open_dir(str(path))
    before = set(path.iterdir())
    writer = ix.writer(timeout=30, codec=index_builder.codec())
    try:
        for doc_id, snap in changes.items():
            if snap is None:
                writer.delete_by_term("id", str(doc_id))
            else:
                writer.update_document(**fields_of(snap))
        writer.commit()
    except Exception:
        try:
            writer.cancel()
        except Exception:
            # Cancelling writes too, and fails the same way on a full disk: remove the half-made
            # segment ourselves while the write lock is still held (no other writer is at work).
            for leftover in set(path.iterdir()) - before:
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                elif not leftover.name.endswith("WRITELOCK"):
                    leftover.unlink(missing_ok=True)
            writer._finish()  # closes the temporary storage and releases the write lock
        raise
    finally:
        ix.close()


# --- what the index holds -----------------------------------------------------------------


def database_revisions() -> dict[int, str]:
    """Every document's id and revision id, from one query over small columns."""
    with db.engine.connect() as conn:
        rows = conn.execute(select(Document.id, Document.updated_at, Document.content_hash, Document.status,
                                   Document.level, Document.region))
        return {row[0]: revision_id(*row[1:]) for row in rows}


def index_revisions(path: Path | None = None) -> dict[int, str]:
    """The documents the index in ``path`` holds, and which revision of each."""
    ix = windex.open_dir(str(path or index_dir()))
    try:
        with ix.searcher() as searcher:
            return {int(fields["id"]): fields.get("rev", "") for fields in searcher.all_stored_fields()}
    finally:
        ix.close()


def reconcile(path: Path | None = None) -> int:
    """Compare the documents and revisions the index holds with the database and write the
    difference — documents missing or out of date, documents deleted — however it arose (an
    import killed before it wrote the index, a failed write, another worker's commit). Then
    record the state. Returns how many documents were written or removed."""
    path = path or index_dir()
    with writing():
        state = database_state()  # before reading the revisions: a later commit leaves it stale
        wanted = database_revisions()
        held = index_revisions(path)
        stale = [doc_id for doc_id, rev in wanted.items() if held.get(doc_id) != rev]
        gone = [doc_id for doc_id in held if doc_id not in wanted]
        if len(stale) + len(gone) >= REBUILD_AT:
            log.warning("search index misses %d documents: rebuilding", len(stale) + len(gone))
            rebuild()
            return len(stale) + len(gone)
        if stale or gone:
            log.warning("search index out of step with the database: writing %d, removing %d documents",
                        len(stale), len(gone))
            changes: dict[int, dict | None] = dict.fromkeys(gone)
            # A session of its own: this may run just after a commit (``following``), when the
            # caller's session can no longer query.
            with Session(db.engine) as session:
                for start in range(0, len(stale), 200):
                    ids = stale[start:start + 200]
                    changes.update({doc.id: snapshot_of(doc) for doc in
                                    session.scalars(select(Document).where(Document.id.in_(ids)))})
            _write(path, changes)
        _save_state(path, state)
        _verified.add(str(path))
        return len(stale) + len(gone)


REBUILD_AT = 200  # documents to write (out of step, or changed by an import) from which rewriting the whole
#                   index costs less than writing them one at a time
_verified: set[str] = set()  # index folders this process has compared with the database


# --- opening ----------------------------------------------------------------------------


def _needs_writing(path: Path, db_state: dict) -> bool:
    state = read_state(path) if windex.exists_in(str(path)) else None
    return state is None or reflected(state) != db_state or str(path) not in _verified or "generation" not in state


def open_current(db_state: dict):
    """The index as of ``db_state``: compared with the database and completed when behind or
    when this process has not checked it yet (start), rebuilt when missing or unreadable.
    An index already current (another node wrote it) is opened without taking the lock."""
    path = index_dir()
    if not _needs_writing(path, db_state):
        try:
            return windex.open_dir(str(path))
        except Exception:  # removed by a rebuild on another node a moment ago: check under the lock
            pass
    with writing():
        state = index_state(path) if windex.exists_in(str(path)) else None
        if state is None or state.get("schema") != SCHEMA_VERSION:
            log.warning("search index missing or of another version: rebuilding from the database")
            rebuild()
        elif state != db_state or str(path) not in _verified:
            try:
                reconcile(path)
            except Exception:
                log.exception("search index could not be checked: rebuilding")
                rebuild()
        elif "generation" not in (read_state(path) or {}):  # written before generations were recorded
            _save_state(path, state, build=secrets.token_hex(4))
        try:
            return windex.open_dir(str(path))
        except Exception:  # a corrupt index is rebuilt rather than shown as an error page
            log.exception("search index unreadable: rebuilding")
            rebuild()
            return windex.open_dir(str(path))
