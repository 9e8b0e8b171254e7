"""Search result pages kept per process, so a query asked again costs a dictionary look-up.

A page is kept under the version of the index it was computed from (the index folder, the
database state its searcher reflects and the index generation it reads,
``search.current_searcher``), the query as normalised
(``normal_text``), the filters, the sort and the page. Any change to the documents moves the
database state on, so pages of the old version are never found again (they age out of the LRU);
nothing has to be told to forget them. What is kept does not depend on who asked: document ids,
scores, snippets — the documents are listed from ``documents``, per index version too — and
whether drafts were included is part of the key, so a page an editor saw (drafts included)
is never shown to a member.

``SEARCH_PAGES_KEPT`` (``SCHOOL_SEARCH_PAGES_KEPT``, default 2000; 0 turns the cache off)
bounds the pages each process keeps, the least recently used going first.

Also kept per process: the bodies of the documents whose snippets were cut (``bodies``), with
their sentence ends — per revision of each document, not per query: under the document's id,
``content_hash`` (of the body, among others) and ``updated_at``, read with the document on each
search, so a saved document is read again. ``SEARCH_BODIES_KEPT_CHARS`` bounds their size.
"""
from __future__ import annotations

import json
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass

from flask import current_app

DEFAULT_KEPT = 2000
DEFAULT_BODY_CHARS = 8_000_000  # the 1,561 laws of the corpus hold 8.5 million: ≈ 16 MB of text


@dataclass(frozen=True)
class KeptHit:
    doc_id: int
    score: float
    snippet: str
    anchor: str | None
    current: bool | None
    related: tuple[int, ...]  # document ids, in the order shown
    versions: tuple[int, ...]


@dataclass(frozen=True)
class KeptPage:
    hits: tuple[KeptHit, ...]
    total: int
    page: int
    message: str


class PageCache:
    """A bounded LRU shared by the threads of one process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pages: OrderedDict[tuple, KeptPage] = OrderedDict()

    def get(self, key: tuple) -> KeptPage | None:
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key: tuple, page: KeptPage, limit: int) -> None:
        if limit <= 0:
            return
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > limit:
                self._pages.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()

    def __len__(self) -> int:
        return len(self._pages)


pages = PageCache()
# Documents as search results show them (``search._documents``), per index version: small
# (no body), at most this many per process.
documents = PageCache()
DOCUMENTS_KEPT = 10_000


def limit() -> int:
    return int(current_app.config.get("SEARCH_PAGES_KEPT", DEFAULT_KEPT))


@dataclass(frozen=True)
class KeptBody:
    body: str
    ends: array  # ``snippets.sentence_ends(body)``


class BodyCache:
    """Documents' bodies for snippets, a bounded LRU (in characters) shared by the threads of
    one process. The key holds the document's revision (``search._bodies``), so a document
    saved since is a new key; the old one ages out."""

    def __init__(self):
        self._lock = threading.Lock()
        self._bodies: OrderedDict[tuple, KeptBody] = OrderedDict()
        self.chars = 0

    def get(self, key: tuple) -> KeptBody | None:
        with self._lock:
            kept = self._bodies.get(key)
            if kept is not None:
                self._bodies.move_to_end(key)
            return kept

    def put(self, key: tuple, kept: KeptBody, limit: int) -> None:
        if len(kept.body) > limit:
            return
        with self._lock:
            old = self._bodies.pop(key, None)
            self.chars += len(kept.body) - (len(old.body) if old else 0)
            self._bodies[key] = kept
            while self.chars > limit:
                _, gone = self._bodies.popitem(last=False)
                self.chars -= len(gone.body)

    def clear(self) -> None:
        with self._lock:
            self._bodies.clear()
            self.chars = 0

    def __len__(self) -> int:
        return len(self._bodies)


bodies = BodyCache()


def body_chars() -> int:
    return int(current_app.config.get("SEARCH_BODIES_KEPT_CHARS", DEFAULT_BODY_CHARS))


def normal_text(text: str | None) -> str:
    """The query as searched: runs of white space as one space, none at the ends (the words
    found, and so the page, are the same)."""
    return " ".join((text or "").split())


def version_of(searcher) -> tuple:
    """What the pages computed with ``searcher`` (a ``search._CachedSearcher``) reflect: the
    database, the index folder, the database state the searcher was opened for and the index
    generation it reads (another node's rebuild or merge of a shared index moves it on)."""
    return (current_app.config.get("SQLALCHEMY_DATABASE_URI", ""), str(searcher.path),
            json.dumps(searcher.state, sort_keys=True, default=str), getattr(searcher, "generation", None))


def get(key: tuple) -> KeptPage | None:
    return pages.get(key) if limit() > 0 else None


def put(key: tuple, page: KeptPage) -> None:
    pages.put(key, page, limit())


_by_state: dict[tuple, object] = {}
_by_state_lock = threading.Lock()


def by_database_state(name: str, compute):
    """``compute()``, computed again only when the library's documents changed (the database
    state of ``index.database_state``): for what every search page shows beside the results,
    such as the 地区 filter's choices. One value per name and database is kept."""
    from school.library import index

    uri = current_app.config.get("SQLALCHEMY_DATABASE_URI", "")
    state = json.dumps(index.database_state_of_request(), sort_keys=True, default=str)
    slot = (uri, name)
    with _by_state_lock:
        kept = _by_state.get(slot)
    if kept is not None and kept[0] == state:
        return kept[1]
    value = compute()
    with _by_state_lock:
        if len(_by_state) > 64:  # many databases in one process: tests
            _by_state.clear()
        _by_state[slot] = (state, value)
    return value
