"""Searching the library: the per-thread searcher, results pages, the query entry point.

``search(...)`` turns what a member typed into one page of hits with snippets. The index
itself (schema, rebuild, catching up) is ``index``'s; keeping it in step with the database
after each commit is ``following``'s. Each thread keeps its searcher open between searches,
with the documents each filter allows and the words containing a character, and replaces it
as soon as the database or the index moved on.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from whoosh import collectors
from whoosh import query as wq
from whoosh.searching import ResultsPage

from school.extensions import db
from school.library import index
from school.library.models import DocStatus, Document
from school.library.queries import ParsedQuery, build, parse, rarity_weights, single_character
from school.library.snippets import snippet

MAX_RELATED_WORDS = 20  # words that stand in for a one-character search


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
    path = index.index_dir()
    db_state = index.database_state()
    cached = getattr(_local, "searcher", None)
    if cached is not None and cached.path == path and cached.state == db_state and index.index_state(path) == db_state:
        return cached
    if cached is not None:
        cached.searcher.close()
    ix = index.open_current(db_state)
    _local.searcher = _CachedSearcher(path, db_state, ix.searcher())
    return _local.searcher


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
