"""Searching the library: the per-thread searcher, results pages, the query entry point.

``search(...)`` turns what a member typed into one page of hits with snippets. The index
itself (schema, rebuild, catching up) is ``index``'s; keeping it in step with the database
after each commit is ``following``'s. Each thread keeps its searcher open between searches,
with the documents each filter allows and the words containing a character, and replaces it
as soon as the database moved on (checked at every search) or the index's ``generation`` changed
(checked at most every ``SEARCH_RECHECK_MS``): several nodes share one index on shared storage.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import bindparam, select
from whoosh import collectors
from whoosh import query as wq
from whoosh.searching import ResultsPage

from school.extensions import db
from school.library import index, levels, ranking, result_cache, scoring
from school.library.models import DocStatus, Document
from school.library.queries import ParsedQuery, build, parse, rarity_weights, simplified, single_character
from school.library.snippets import sentence_ends, snippet
from school.library.synonyms import SYNONYMS

MAX_RELATED_WORDS = 20  # words that stand in for a one-character search


@dataclass
class _CachedSearcher:
    path: Path
    state: dict
    searcher: object
    generation: str | None = None  # the index version it reads (``index.generation``): a cache key
    checked: float = 0.0  # time.monotonic() of the last look at the generation
    filters: dict = field(default_factory=dict)
    lexicons: dict = field(default_factory=dict)  # field → every indexed term (bytes)
    containing: dict = field(default_factory=dict)  # character → words_containing()
    _catalog: ranking.Catalog | None = None

    @property
    def catalog(self) -> ranking.Catalog:
        """Titles, levels, versions and articles of the indexed documents (``ranking``)."""
        if self._catalog is None:
            self._catalog = ranking.Catalog(self.searcher.reader())
        return self._catalog

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
    most queries) and replaced as soon as the database moved on, or the index did (another
    node's rebuild or merge: its generation, read from ``state.json`` at most every
    ``SEARCH_RECHECK_MS``)."""
    path = index.index_dir()
    db_state = index.database_state_of_request()
    cached = getattr(_local, "searcher", None)
    if cached is not None and cached.path == path and cached.state == db_state:
        now = time.monotonic()
        if now - cached.checked < current_app.config.get("SEARCH_RECHECK_MS", 500) / 1000:
            return cached
        state = index.read_state(path)
        if state is not None and state.get("generation") == cached.generation and index.reflected(state) == db_state:
            cached.checked = now
            return cached
    if cached is not None:
        try:
            cached.searcher.close()
        except OSError:  # its files went with another node's rebuild
            pass
    build = (index.read_state(path) or {}).get("build")  # before opening: a later rebuild only reopens again
    searcher = index.open_current(db_state).searcher()
    generation = f"{(index.read_state(path) or {}).get('build') if build is None else build}-{searcher.reader().generation()}"
    _local.searcher = _CachedSearcher(path, db_state, searcher, generation, time.monotonic())
    return _local.searcher


# --- searching --------------------------------------------------------------------------


@dataclass
class Hit:
    document: ListedDocument
    score: float
    snippet: str
    anchor: str | None
    current: bool | None = None  # True: 现行有效, False: 历史版本, None: the only version
    related: list[Document] = field(default_factory=list)  # 相关解释 / 配套法规 of the law
    versions: list[Document] = field(default_factory=list)  # its 历史版本 that matched too

    @property
    def version_label(self) -> str:
        return "" if self.current is None else ("现行有效" if self.current else "历史版本")

    @property
    def related_label(self) -> str:
        kinds = {d.level for d in self.related}
        if kinds <= {"interpretation"}:
            return "相关解释"
        return "配套法规" if "interpretation" not in kinds else "相关解释与配套法规"


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


def _best(searcher, query, limit: int, allowed: set | None) -> tuple[list[tuple[int, float]], int]:
    """``[(docnum, score)]`` of the best ``limit`` matches and the number of matches: what
    ``_search_page`` gives by relevance, computed with arrays (``scoring``, the same numbers),
    or by Whoosh when the query holds something ``scoring`` does not evaluate."""
    found = scoring.top(searcher, query, limit, allowed)
    if found is not None:
        return found
    top = _search_page(searcher, query, 1, limit, allowed, "relevance")
    return [(hit.docnum, hit.score or 0.0) for hit in top], len(top)


def search(text: str | None, *, include_drafts: bool = False, category: str | None = None,
           year_from: int | None = None, year_to: int | None = None, sort: str = "relevance",
           page: int = 1, per_page: int = 10, with_snippets: bool = True, region: str | None = None) -> Results:
    """One page of hits for ``text``; ``region`` (广东, or 广东 · 深圳) keeps the local
    regulations of that province or city only. A page asked before, of the same version of
    the index, comes from ``result_cache`` (its documents read again)."""
    text = result_cache.normal_text(text)
    parsed = parse(text)
    results = Results(query=parsed, page=max(1, page), per_page=per_page)
    if not parsed.text:
        results.message = "请输入要查找的内容。"
        return results
    if parsed.empty and not parsed.letters:
        results.message = "没有可以查找的词语，请换个说法（标点和“的、怎么办”等虚词不参与查找）。"
        return results
    region = region.strip() if region else None
    cached = current_searcher()
    version = result_cache.version_of(cached)
    key = (version, text, include_drafts, category, year_from, year_to, region, sort, results.page, per_page,
           with_snippets)
    kept = result_cache.get(key)
    if kept is None:
        with scoring.terms_looked_up_once(cached.searcher):
            kept = _search(cached, parsed, results, version, include_drafts=include_drafts, category=category,
                           year_from=year_from, year_to=year_to, sort=sort, with_snippets=with_snippets,
                           region=region)
        result_cache.put(key, kept)
    _restore(results, kept, version)
    return results


def _search(cached: _CachedSearcher, parsed: ParsedQuery, results: Results, version: tuple, *,
            include_drafts: bool, category: str | None, year_from: int | None, year_to: int | None, sort: str,
            with_snippets: bool, region: str | None) -> result_cache.KeptPage:
    """The page of ``results`` as computed from the index: ids, scores and snippets."""
    per_page = results.per_page
    filters = []
    if not include_drafts:
        filters.append(wq.Term("status", DocStatus.PUBLISHED.value))
    if category:
        filters.append(wq.Term("category", category))
    if year_from or year_to:
        filters.append(wq.NumericRange("year", year_from, year_to))
    if region:
        filters.append(wq.Term("regions", region))
    searcher = cached.searcher
    key = (include_drafts, category, year_from, year_to, region)
    if filters and key not in cached.filters:  # the allowed documents, computed once per index version
        cached.filters[key] = set(searcher.docs_for_query(wq.And(filters)))
    allowed = cached.filters[key] if filters else None
    if allowed is not None and not allowed:
        # nothing passes the filters (Whoosh would read an empty set as "no filter")
        return result_cache.KeptPage((), 0, results.page, results.message)

    doc_count = searcher.doc_count()

    def doc_frequency(word: str) -> int:
        return max(searcher.doc_frequency("body", word), searcher.doc_frequency("title", word))

    char = single_character(parsed)
    related = {char: cached.words_containing(char)} if char else None
    weights = rarity_weights(parsed.words, doc_frequency, doc_count)
    query = build(parsed, weights, related)
    if sort == "date" and query is not None:
        dated = scoring.by_date(searcher, query, results.page, per_page, allowed)
        if dated is not None:  # the same page, computed with arrays
            page_hits, results.total = dated
            results.page = min(results.page, results.pages)
        else:
            found = _search_page(searcher, query, results.page, per_page, allowed, sort)
            results.total = len(found)
            if results.page > results.pages:
                results.page = results.pages
                found = _search_page(searcher, query, results.page, per_page, allowed, sort)
            page_hits = [(hit.docnum, hit.score) for hit in found]
        ranked = [ranking.Ranked(docnum, key or 0.0) for docnum, key in page_hits]
    else:
        ranked = _ranked(cached, searcher, parsed, query, weights, allowed, results)
    hits = _kept_hits(cached.catalog, ranked, parsed, with_snippets, version)
    message = results.message
    if parsed.truncated:
        message = "查询内容过长，只按前 200 个字查找。"
    elif related and related[char]:
        message = f"按单字“{char}”查找，也包括含有它的词语，如{'、'.join(related[char][:5])}。"
    return result_cache.KeptPage(tuple(hits), results.total, results.page, message)


def _ranked(cached: _CachedSearcher, searcher, parsed: ParsedQuery, query, weights: dict[str, float],
            allowed: set | None, results: Results) -> list[ranking.Ranked]:
    """The page of ``results``, ranked by ``ranking.rerank`` over the best ``DEPTH`` matches."""
    catalog = cached.catalog
    depth = max(ranking.DEPTH, results.page * results.per_page)
    scored, matched = [], 0
    if query is not None:
        scored, matched = _best(searcher, query, depth, allowed)
    if parsed.letters:
        named = catalog.pinyin_named(parsed.letters)
    else:
        named = catalog.named_in(parsed.compact, SYNONYMS)
    parts = {catalog.entries[d].part for n in named for d in catalog.by_short.get(n, ()) if catalog.entries[d].part}
    part = next((p for p in sorted(parts, key=len, reverse=True)
                 if p in parsed.compact or p.rstrip("编") in parsed.compact), None)
    ranked = ranking.rerank(catalog, scored, words=parsed.words, weights=weights, named=named, part=part,
                            article=parsed.article, allowed=allowed,
                            feedback=_about_a_matter(parsed))
    grouped = sum(len(r.related) + len(r.versions) for r in ranked)
    added = len(ranked) + grouped - len(scored)
    results.total = max(len(ranked), matched + added - grouped)
    if results.page > results.pages:
        results.page = results.pages
    start = (results.page - 1) * results.per_page
    return ranked[start:start + results.per_page]


def _about_a_matter(parsed: ParsedQuery) -> bool:
    """A question about a matter, not a document looked up: no article, pinyin or phrase, and
    not ending like the name of a document (…法, …条例, …解释)."""
    return (parsed.article is None and not parsed.letters and not parsed.phrases
            and not parsed.compact.endswith(ranking.SUFFIXES))


class ListedDocument:
    """A document as search results show it: every column but the body, and ``Document``'s
    properties (``level_label``, ``is_published`` …). Kept per process and index version
    (``_documents``), shared by the threads: read-only."""

    __slots__ = tuple(c.name for c in Document.__table__.c if c.name != "body")
    category_label = Document.category_label
    level_label = Document.level_label
    status_label = Document.status_label
    is_published = Document.is_published
    tag_list = Document.tag_list

    def __init__(self, row):
        for name, value in row._mapping.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __repr__(self) -> str:
        return f"<ListedDocument {self.id} {self.title!r}>"


# Built once: SQLAlchemy keeps a statement's cache key, so each search only binds its ids
# (building the select and its key again cost about as much as running it on SQLite).
_BODIES = select(Document.id, Document.body).where(Document.id.in_(bindparam("ids", expanding=True)))
_LISTED = select(*(c for c in Document.__table__.c if c.name != "body")).where(
    Document.id.in_(bindparam("ids", expanding=True)))


def _documents(ids, version: tuple) -> dict[int, ListedDocument]:
    """The documents of ``ids`` without their bodies, kept per process under the index
    version the page was computed from (``result_cache.version_of``: the database state,
    which every saved, added or deleted document moves, and the index generation). On
    SQLite their columns after the body (status, level, region, dates) cost a walk through
    the body's overflow pages: ≈ 1 ms for the 25 documents of a page."""
    found, missing = {}, []
    for doc_id in ids:
        kept = result_cache.documents.get((version, doc_id))
        if kept is None:
            missing.append(doc_id)
        else:
            found[doc_id] = kept
    if missing:
        for row in db.session.execute(_LISTED, {"ids": missing}):
            found[row.id] = doc = ListedDocument(row)
            result_cache.documents.put((version, row.id), doc, result_cache.DOCUMENTS_KEPT)
    return found


def _bodies(docs: list[ListedDocument]) -> dict[int, result_cache.KeptBody]:
    """The bodies of ``docs`` with their sentence ends, kept per process under each document's
    revision (its ``content_hash`` covers the body, ``updated_at`` moves with every save), so
    a long law is not read and scanned again for every query that shows it; the bodies of
    documents saved since, or not kept, are read."""
    uri = current_app.config.get("SQLALCHEMY_DATABASE_URI", "")
    keys = {doc.id: (uri, doc.id, doc.content_hash, doc.updated_at) for doc in docs}
    found = {}
    for doc_id, key in keys.items():
        kept = result_cache.bodies.get(key)
        if kept is not None:
            found[doc_id] = kept
    missing = [doc_id for doc_id in keys if doc_id not in found]
    if missing:
        limit = result_cache.body_chars()
        for row in db.session.execute(_BODIES, {"ids": missing}):
            body = row.body or ""
            found[row.id] = kept = result_cache.KeptBody(body, sentence_ends(body))
            result_cache.bodies.put(keys[row.id], kept, limit)
    return found


def _kept_hits(catalog: ranking.Catalog, ranked: list[ranking.Ranked], parsed: ParsedQuery,
               with_snippets: bool, version: tuple) -> list[result_cache.KeptHit]:
    """The page's hits as ids, scores and snippets. Only the bodies of the documents shown
    are read (for their snippets), not those of the related documents and versions listed
    under them."""
    entries = catalog.entries
    shown = [(r, entries[r.docnum]) for r in ranked if r.docnum in entries]
    related = [(tuple(entries[d].id for d in r.related[:5] if d in entries),
                tuple(entries[d].id for d in r.versions if d in entries)) for r, _ in shown]
    texts = {}
    if with_snippets:
        docs = _documents([entry.id for _, entry in shown], version)
        texts = _bodies([docs[entry.id] for _, entry in shown if entry.id in docs])
    terms = parsed.highlight_terms()
    hits = []
    for (r, entry), (related_ids, version_ids) in zip(shown, related):
        html, anchor = "", None
        if with_snippets:
            text = texts.get(entry.id)
            if text is None:
                continue  # deleted since the index last heard: skip rather than fail
            html, anchor = snippet(text.body, terms, fallback=docs[entry.id].summary, ends=text.ends)
        hits.append(result_cache.KeptHit(
            entry.id, round(r.score, 3), html, anchor, None if entry.versions == 1 else entry.current,
            related_ids, version_ids))
    return hits


def _restore(results: Results, kept: result_cache.KeptPage, version: tuple) -> None:
    """``results`` from a page's ids: its documents (without their bodies), as they are in
    this index version."""
    results.total, results.page = kept.total, kept.page
    results.message = kept.message or results.message
    wanted = {h.doc_id: None for h in kept.hits}
    for h in kept.hits:
        wanted.update(dict.fromkeys(h.related + h.versions))
    docs = _documents(list(wanted), version)
    for h in kept.hits:
        doc = docs.get(h.doc_id)
        if doc is None:
            continue  # deleted since the index last heard: skip rather than fail
        hit = Hit(doc, h.score, h.snippet, h.anchor, current=h.current)
        hit.related = [docs[d] for d in h.related if d in docs]
        hit.versions = [docs[d] for d in h.versions if d in docs]
        results.hits.append(hit)


def suggest(text: str | None, limit: int = 8) -> list[str]:
    """Titles for the search box as a member types: by pinyin (laodong, ldht) or by the
    (simplified) characters; the full title of each document, the most important first."""
    parsed = parse(text)
    if not parsed.compact or (len(parsed.compact) < 2 and not parsed.letters):
        return []
    catalog = current_searcher().catalog
    names = catalog.suggestions(simplified(parsed.compact), parsed.letters or None, limit)
    out = []
    for name in names:
        entry = catalog.entries[catalog.by_short[name][0]]
        out.append(levels.short_title(entry.title) if entry.part else entry.title)
    return list(dict.fromkeys(out))
