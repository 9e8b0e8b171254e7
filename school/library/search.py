"""The Whoosh index of the library: built from the database, followed after each commit.

Changes to documents are collected on the SQLAlchemy session at flush time and written
to the index only after the commit succeeds (a rolled-back change never reaches it),
through one writer per process (a lock) and Whoosh's own file lock between processes.
A small ``state.json`` records what the index reflects (document count and newest
``updated_at``); a search that finds the index missing, unreadable or behind the
database rebuilds it first instead of failing.
"""
from __future__ import annotations

import gc
import json
import logging
import math
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterable, Iterator

from flask import current_app
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from whoosh import collectors
from whoosh import index as windex
from whoosh import query as wq
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, TEXT, Schema
from whoosh.searching import ResultsPage

from school.extensions import db
from school.library import index_builder
from school.library.analysis import FastPositions, chinese_analyzer
from school.library.models import DocStatus, Document
from school.library.queries import ParsedQuery, build, parse, rarity_weights, single_character
from school.library.snippets import snippet

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1
_writer_lock = threading.RLock()
_SESSION_KEY = "library_search_changes"
_DEFERRED_KEY = "library_search_deferred"
MAX_RELATED_WORDS = 20  # words that stand in for a one-character search
REBUILD_AT = 200  # changed documents from which a bulk import rebuilds the index instead
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


def _write_state(path: Path) -> None:
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
        _write_state(fresh)
        old = path.with_name(path.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            path.rename(old)
        fresh.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    return count


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


def _open_current(db_state: dict):
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
    return _open_current(database_state())


@dataclass
class _CachedSearcher:
    path: Path
    state: dict
    searcher: object
    filters: dict = field(default_factory=dict)
    lexicons: dict = field(default_factory=dict)  # field → every indexed term (bytes)
    containing: dict = field(default_factory=dict)  # character → words_containing()

    def words_containing(self, char: str) -> list[str]:
        """The indexed words of titles and bodies that contain ``char``, in the most documents
        first, at most ``MAX_RELATED_WORDS``: a one-character search (党) finds 党员, 共产党…,
        not only the places where the character stands as a word of its own."""
        found = self.containing.get(char)
        if found is None:
            needle = char.encode("utf-8")  # UTF-8 never matches inside another character
            frequency: dict[str, int] = {}
            for fieldname in ("title", "body"):
                if fieldname not in self.lexicons:
                    self.lexicons[fieldname] = list(self.searcher.reader().lexicon(fieldname))
                for tbytes in self.lexicons[fieldname]:
                    if needle in tbytes and tbytes != needle:
                        word = tbytes.decode("utf-8")
                        frequency[word] = max(frequency.get(word, 0), self.searcher.doc_frequency(fieldname, word))
            ranked = sorted(frequency.items(), key=lambda item: (-item[1], item[0]))
            found = self.containing[char] = [word for word, _ in ranked[:MAX_RELATED_WORDS]]
        return found


_local = threading.local()


def current_searcher() -> _CachedSearcher:
    """This thread's searcher, kept open between searches (opening one costs more than
    most queries) and replaced as soon as the database or the index moved on."""
    path = index_dir()
    db_state = database_state()
    cached = getattr(_local, "searcher", None)
    if cached is not None and cached.path == path and cached.state == db_state and index_state(path) == db_state:
        return cached
    if cached is not None:
        cached.searcher.close()
    ix = _open_current(db_state)
    _local.searcher = _CachedSearcher(path, db_state, ix.searcher())
    return _local.searcher


# --- following the database after commit -----------------------------------------------


def _collect(session: Session, flush_context) -> None:
    changes = session.info.setdefault(_SESSION_KEY, {})
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Document) and obj.id is not None:
            changes[obj.id] = snapshot_of(obj)
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


@contextmanager
def following_in_bulk():
    """For a bulk import: documents committed inside are collected rather than written to the
    index batch by batch, and written once at the end — by a rebuild when there are many, as
    building the whole index in one pass costs less than updating it a document at a time."""
    session = db.session()
    if _DEFERRED_KEY in session.info:  # already collecting
        yield
        return
    session.info[_DEFERRED_KEY] = {}
    try:
        yield
    finally:
        changes = session.info.pop(_DEFERRED_KEY)
        if changes:
            _write_changes(changes)


def _write_changes(changes: dict[int, dict | None]) -> None:
    try:
        if len(changes) >= REBUILD_AT:
            rebuild()
        else:
            apply_changes(changes)
    except Exception:  # the commit stands; a stale index is rebuilt on the next search
        log.exception("search index update failed; it will be rebuilt on the next search")
        try:
            _state_file(index_dir()).unlink(missing_ok=True)
        except Exception:
            pass


def apply_changes(changes: dict[int, dict | None]) -> None:
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
        _write_state(path)


def init_app(app) -> None:
    app.config.setdefault("SEARCH_INDEX_DIR", str(Path(app.instance_path) / "search-index"))
    if not getattr(init_app, "_listening", False):
        event.listen(Session, "after_flush", _collect)
        event.listen(Session, "after_commit", _apply_after_commit)
        event.listen(Session, "after_soft_rollback", _discard)
        init_app._listening = True


# --- searching --------------------------------------------------------------------------


@dataclass
class Hit:
    document: Document
    score: float
    snippet: str
    anchor: str | None


@dataclass
class Results:
    query: ParsedQuery
    hits: list[Hit] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 10
    message: str = ""

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


SORTS = {"relevance": "按相关度", "date": "按日期（新的在前）"}


def _search_page(searcher, query, page: int, per_page: int, allowed: set | None, sort: str) -> ResultsPage:
    """One page of hits and the exact total, in one pass over the matches.

    Whoosh's default collector skips postings blocks that cannot reach the top of the page,
    then has to run the query a second time to count the matches. Members' queries are OR
    groups of many words where little can be skipped, so scoring every match once and
    counting as it goes is faster (``bench/search.py``: p95 35 → 25 ms). The scores are
    exact too: the skipping collector also drops the smaller parts of some OR scores."""
    limit = page * per_page
    if sort == "date":
        collector = collectors.SortingCollector("date", limit=limit, reverse=True)
    else:
        collector = collectors.TopCollector(limit, usequality=False, replace=0)
    if allowed is not None:
        collector = collectors.FilterCollector(collector, allowed)
    searcher.search_with_collector(query, collector)
    return ResultsPage(collector.results(), page, per_page)


def search(text: str | None, *, include_drafts: bool = False, category: str | None = None,
           year_from: int | None = None, year_to: int | None = None, sort: str = "relevance",
           page: int = 1, per_page: int = 10, with_snippets: bool = True) -> Results:
    parsed = parse(text)
    results = Results(query=parsed, page=max(1, page), per_page=per_page)
    if not parsed.text:
        results.message = "请输入要查找的内容。"
        return results
    if parsed.empty:
        results.message = "没有可以查找的词语，请换个说法（标点和“的、怎么办”等虚词不参与查找）。"
        return results
    filters = []
    if not include_drafts:
        filters.append(wq.Term("status", DocStatus.PUBLISHED.value))
    if category:
        filters.append(wq.Term("category", category))
    if year_from or year_to:
        filters.append(wq.NumericRange("year", year_from, year_to))
    cached = current_searcher()
    searcher = cached.searcher
    key = (include_drafts, category, year_from, year_to)
    if filters and key not in cached.filters:  # the allowed documents, computed once per index version
        cached.filters[key] = set(searcher.docs_for_query(wq.And(filters)))
    allowed = cached.filters[key] if filters else None
    if allowed is not None and not allowed:
        return results  # nothing passes the filters (Whoosh would read an empty set as "no filter")

    def doc_frequency(word: str) -> int:
        return max(searcher.doc_frequency("body", word), searcher.doc_frequency("title", word))

    char = single_character(parsed)
    related = {char: cached.words_containing(char)} if char else None
    query = build(parsed, rarity_weights(parsed.words, doc_frequency, searcher.doc_count()), related)
    page_hits = _search_page(searcher, query, results.page, per_page, allowed, sort)
    results.total = len(page_hits)
    if results.page > results.pages:
        results.page = results.pages
        page_hits = _search_page(searcher, query, results.page, per_page, allowed, sort)
    scored = [(int(hit["id"]), hit.score or 0.0) for hit in page_hits]
    docs = {d.id: d for d in db.session.scalars(select(Document).where(Document.id.in_([i for i, _ in scored])))}
    terms = parsed.highlight_terms()
    for doc_id, score in scored:
        doc = docs.get(doc_id)
        if doc is None:
            continue  # deleted since the index last heard: skip rather than fail
        if with_snippets:
            html, anchor = snippet(doc.body, terms, fallback=doc.summary)
        else:
            html, anchor = "", None
        results.hits.append(Hit(doc, round(score, 3), html, anchor))
    if parsed.truncated:
        results.message = "查询内容过长，只按前 200 个字查找。"
    elif related and related[char]:
        results.message = f"按单字“{char}”查找，也包括含有它的词语，如{'、'.join(related[char][:5])}。"
    return results
