"""Whoosh's scores for every document at once: the same numbers, computed with arrays.

A members' query is an OR of many terms over five fields, with proximity phrases, scored
for every match (``search._search_page``). Whoosh walks its tree of matchers one document
at a time — several Python calls per node per document, the coordination bonus recounting
the matching terms of the whole tree at each one — and an OR of three or more clauses
first reads every posting of its clauses one call at a time. That was about half the CPU
of a search page asked for the first time.

Here the same tree of matchers is built (Whoosh's own query classes pick its shape, with
the OR that Whoosh would preload left unread), and each node is evaluated once, for every
document together: a term's postings are read a block at a time and scored with the same
BM25F formula in the same order of operations (IEEE arithmetic: the same doubles), unions
add their two sides, intersections keep the documents of both, a phrase checks the
positions of the documents both words are in, ``CoordMatcher`` applies Whoosh's formula to
the number of matching term matchers as Whoosh counts them. ``top`` returns exactly what
``TopCollector(limit, usequality=False)`` collects — the same documents, scores, order and
total (``tests/library/test_scoring.py`` compares the two on every kind of query) — or
``None`` for a tree with a node it does not know, which Whoosh then runs as before.
"""
from __future__ import annotations

import logging
import math
from bisect import bisect_left
from contextlib import contextmanager
from itertools import accumulate
from pickle import loads

import numpy as np
from whoosh import collectors, matching
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3LeafMatcher
from whoosh.formats import Positions
from whoosh.matching import binary, wrappers
from whoosh.query import compound
from whoosh.scoring import BM25FScorer

log = logging.getLogger(__name__)


class Unsupported(Exception):
    """A node this module does not evaluate: Whoosh runs the query instead."""


class _Lazy(matching.Matcher):
    """What ``PreloadedOr`` builds (an ``ArrayUnionMatcher``), without reading anything."""

    def __init__(self, submatchers, boost):
        self.submatchers = submatchers
        self.boost = boost

    def children(self):
        return self.submatchers

    def is_active(self):
        return False


class _Or(wq.Or):
    """``Or`` choosing its matcher exactly as Whoosh does, with the preloading one left lazy."""

    def _matcher(self, subs, searcher, context):
        needs_current = context.needs_current if context else True
        matcher_type = self.matcher_type
        if matcher_type == self.AUTO_MATCHER:
            dc = searcher.doc_count_all()
            if len(subs) < self.TOO_MANY_CLAUSES and (needs_current or self.scale or len(subs) == 2 or dc > 5000):
                matcher_type = self.DEFAULT_MATCHER
            else:
                matcher_type = self.ARRAY_MATCHER
        if matcher_type == self.DEFAULT_MATCHER:
            return compound.DefaultOr(subs, boost=self.boost, minmatch=self.minmatch,
                                      scale=self.scale).matcher(searcher, context)
        if matcher_type == self.ARRAY_MATCHER:
            if not (context is None or context.weighting is not None):
                raise Unsupported("unscored preloaded OR")
            return _Lazy([q.matcher(searcher, context) for q in subs], self.boost)
        raise Unsupported(f"OR matcher {matcher_type}")


class _Near(matching.Matcher):
    """What ``Phrase`` builds (a ``SpanNear2Matcher`` over an intersection of its words'
    matchers), without looking for the first match as that matcher does when it is made."""

    def __init__(self, ms, slop, ordered, mindist):
        self.ms, self.slop, self.ordered, self.mindist = ms, slop, ordered, mindist

    def children(self):
        return self.ms

    def is_active(self):
        return False


class _Phrase(wq.Phrase):
    """``Phrase.matcher`` (Whoosh 2.7), with the ``SpanNear2Matcher`` left as a ``_Near``."""

    def matcher(self, searcher, context=None):
        fieldname = self.fieldname
        if fieldname not in searcher.schema:
            return matching.NullMatcher()
        field = searcher.schema[fieldname]
        if not field.format or not field.format.supports("positions"):
            raise Unsupported("phrase without positions")
        reader = searcher.reader()
        terms = []
        for word in self.words:
            try:
                word = field.to_bytes(word)
            except ValueError:
                return matching.NullMatcher()
            if (fieldname, word) not in reader:
                return matching.NullMatcher()
            terms.append(wq.Term(fieldname, word))
        m = _Near([t.matcher(searcher, context) for t in terms], slop=self.slop, ordered=True, mindist=1)
        if self.boost != 1.0:
            m = wrappers.WrappingMatcher(m, boost=self.boost)
        return m


def _lazy_ors(q):
    """``q`` with every plain ``Or`` as ``_Or`` (same subqueries, boost, scale, minmatch)."""
    if type(q) is wq.Or:
        out = _Or([_lazy_ors(s) for s in q.subqueries], boost=q.boost, minmatch=q.minmatch, scale=q.scale)
        out.matcher_type = q.matcher_type
        return out
    if type(q) in (wq.And, compound.AndMaybe):
        if type(q) is wq.And:
            return wq.And([_lazy_ors(s) for s in q.subqueries], boost=q.boost)
        return compound.AndMaybe(_lazy_ors(q.a), _lazy_ors(q.b))
    if type(q) is wq.Phrase:
        return _Phrase(q.fieldname, q.words, slop=q.slop, boost=q.boost, char_ranges=q.char_ranges)
    if type(q) is wq.Term:
        return q
    raise Unsupported(type(q).__name__)


# --- evaluating a tree of matchers ------------------------------------------------------------


class _Node:
    """A node's value for every document of a segment: score, whether it matches, and how
    many term matchers below it match (what ``CoordMatcher`` counts)."""

    __slots__ = ("score", "present", "count")

    def __init__(self, score, present, count):
        self.score, self.present, self.count = score, present, count


def _lengths(subsearcher, fieldname: str) -> np.ndarray:
    """Every document's length in ``fieldname`` (as the scorer reads it), kept on the searcher."""
    cache = subsearcher.__dict__.setdefault("_school_lengths", {})
    lengths = cache.get(fieldname)
    if lengths is None:
        reader = subsearcher.reader()
        dfl = reader.doc_field_length
        lengths = cache[fieldname] = np.array(
            [dfl(d, fieldname, 1) for d in range(reader.doc_count_all())], dtype=np.float64)
    return lengths


class _Evaluator:
    def __init__(self, subsearcher):
        self.subsearcher = subsearcher
        self.size = subsearcher.reader().doc_count_all()
        self.postings: dict[tuple, tuple] = {}  # (field, term) → (ids, weights, values or None)

    def zeros(self) -> _Node:
        return _Node(np.zeros(self.size), np.zeros(self.size, dtype=bool), np.zeros(self.size, dtype=np.int64))

    def evaluate(self, m) -> _Node:
        kind = type(m)
        if kind is _Lazy:
            return self._preloaded(m)
        if kind is wrappers.WrappingMatcher:
            child = self.evaluate(m.child)
            return _Node(child.score * m.boost if m.boost != 1.0 else child.score, child.present, child.count)
        if kind is wrappers.CoordMatcher:
            return self._coord(m)
        if kind is binary.UnionMatcher:
            a, b = self.evaluate(m.a), self.evaluate(m.b)
            return _Node(a.score + b.score, a.present | b.present, a.count + b.count)
        if kind is binary.IntersectionMatcher:
            a, b = self.evaluate(m.a), self.evaluate(m.b)
            both = a.present & b.present
            return _Node(np.where(both, a.score + b.score, 0.0), both, np.where(both, a.count + b.count, 0))
        if kind is binary.AndMaybeMatcher:
            a, b = self.evaluate(m.a), self.evaluate(m.b)
            extra = a.present & b.present
            return _Node(np.where(extra, a.score + b.score, a.score), a.present,
                         np.where(a.present, a.count + np.where(extra, b.count, 0), 0))
        if kind is _Near:
            return self._phrase(m)
        if isinstance(m, matching.NullMatcherClass):
            return self.zeros()
        if kind is W3LeafMatcher or kind is matching.ListMatcher or kind is wrappers.FilterMatcher:
            return self._leaf(m)
        raise Unsupported(kind.__name__)

    def _intersection(self, ms) -> _Node:
        """``make_binary_tree(IntersectionMatcher, ms)``: the first half, then the second."""
        if len(ms) == 1:
            return self.evaluate(ms[0])
        half = len(ms) // 2
        a, b = self._intersection(ms[:half]), self._intersection(ms[half:])
        both = a.present & b.present
        return _Node(np.where(both, a.score + b.score, 0.0), both, np.where(both, a.count + b.count, 0))

    def _preloaded(self, m: _Lazy) -> _Node:
        # ArrayUnionMatcher: per document, 0 then + each clause's score × boost, in order; a
        # document matches when the sum is above 0; its clauses, read ahead, never count as
        # matching terms for a CoordMatcher above it.
        total = np.zeros(self.size)
        for sub in m.submatchers:
            node = self.evaluate(sub)
            total = np.where(node.present, total + node.score * m.boost, total)
        return _Node(total, total > 0, np.zeros(self.size, dtype=np.int64))

    def _coord(self, m) -> _Node:
        child = self.evaluate(m.child)
        termcount, scale = m._termcount, m._scale
        if termcount == 0 or termcount == scale:
            return _Node(np.zeros(self.size), child.present, child.count)
        # CoordMatcher._sqr, the same operations in the same order
        score = (child.score + ((child.count - 1) / (termcount - scale) ** 2)) * ((termcount - 1) / termcount)
        return _Node(np.where(child.present, score, 0.0), child.present, child.count)

    def _read(self, leaf, values: bool = False):
        """(docnums, weights, encoded values or None) of all a term's postings in this segment,
        read once per query: a body word's matcher, and those of the phrases it is in, share
        them. From the first posting: whatever a matcher skipped when it was made (an
        intersection, the documents not in both; a filter, the deleted ones) is not matched
        by it anyway, and ``_leaf`` leaves the deleted documents out."""
        key = leaf.term()
        got = self.postings.get(key)
        if got is not None and (got[2] is not None or not values):
            return got
        leaf.reset()
        ids, weights, vals = [], [], [] if values else None
        if type(leaf) is W3LeafMatcher and not leaf._byteids:
            # a block's ids are stored as the gaps between them (``_read_ids`` adds them up
            # one by one in Python): summed here by numpy, the same integers
            while leaf.is_active():
                if leaf._data is None:
                    leaf._read_data()
                if leaf._weights is None:
                    leaf._read_weights()
                i = leaf._i
                ids.append(np.cumsum(np.array(leaf._data[0], dtype=np.int64))[i:])
                weights.append(np.array(leaf._weights[i:], dtype=np.float64))
                if values:
                    if leaf._values is None:
                        leaf._read_values()
                    vals.extend(leaf._values[i:])
                leaf._next_block()
            got = self.postings[key] = (np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64),
                                        np.concatenate(weights) if weights else np.zeros(0), vals)
            return got
        if type(leaf) is W3LeafMatcher:
            while leaf.is_active():
                if leaf._ids is None:
                    leaf._read_ids()
                if leaf._weights is None:
                    leaf._read_weights()
                i = leaf._i
                ids.extend(leaf._ids[i:])
                weights.extend(leaf._weights[i:])
                if values:
                    if leaf._values is None:
                        leaf._read_values()
                    vals.extend(leaf._values[i:])
                leaf._next_block()
        else:
            while leaf.is_active():
                ids.append(leaf.id())
                weights.append(leaf.weight())
                if values:
                    vals.append(leaf.value())
                leaf.next()
        got = self.postings[key] = (np.array(ids, dtype=np.int64), np.array(weights, dtype=np.float64), vals)
        return got

    def _leaf(self, m) -> _Node:
        leaf, deleted = m, None
        if type(m) is wrappers.FilterMatcher:
            if not m._exclude:
                raise Unsupported("including filter")
            leaf, deleted = m.child, m._ids
            if type(leaf) not in (W3LeafMatcher, matching.ListMatcher):
                raise Unsupported(type(leaf).__name__)
        scorer = leaf.scorer if type(leaf) is W3LeafMatcher else leaf._scorer
        if type(scorer) is not BM25FScorer:
            raise Unsupported(type(scorer).__name__)
        fmt = leaf.format if type(leaf) is W3LeafMatcher else leaf._format
        # with the positions when the field has them: a phrase of this word reads them too
        ids, weights, _ = self._read(leaf, values=bool(fmt and fmt.supports("positions")))
        if deleted:
            keep = ~np.isin(ids, np.fromiter(deleted, dtype=np.int64))
            ids, weights = ids[keep], weights[keep]
        fl = _lengths(self.subsearcher, leaf.term()[0])[ids]
        # whoosh.scoring.bm25, the same operations in the same order
        idf, avgfl, B, K1 = scorer.idf, scorer.avgfl, scorer.B, scorer.K1
        scores = idf * ((weights * (K1 + 1)) / (weights + K1 * ((1 - B) + B * fl / avgfl)))
        node = self.zeros()
        node.score[ids] = scores
        node.present[ids] = True
        node.count[ids] = 1
        return node

    def _phrase(self, m) -> _Node:
        leaves = []
        for leaf in m.ms:  # read with their positions first: a leaf is read once
            inner = leaf.child if type(leaf) is wrappers.FilterMatcher else leaf
            if type(inner) not in (W3LeafMatcher, matching.ListMatcher):
                raise Unsupported(type(inner).__name__)
            fmt = inner.format if type(inner) is W3LeafMatcher else inner._format
            if type(fmt).decode_positions is not _DECODE_POSITIONS:
                raise Unsupported(type(fmt).__name__)
            leaves.append(self._read(inner, values=True))
        child = self._intersection(m.ms)
        docs = np.flatnonzero(child.present)
        if not len(docs):
            return child
        positions = []
        for ids, _, vals in leaves:
            at = np.searchsorted(ids, docs)
            positions.append([vals[i] for i in at.tolist()])
        keep = np.zeros(len(docs), dtype=bool)
        slop, mindist, ordered = m.slop, m.mindist, m.ordered
        for k in range(len(docs)):
            keep[k] = _near([_decode(p[k]) for p in positions], slop, mindist, ordered)
        present = np.zeros(self.size, dtype=bool)
        present[docs[keep]] = True
        return _Node(np.where(present, child.score, 0.0), present, np.where(present, child.count, 0))


_DECODE_POSITIONS = Positions.decode_positions


def _decode(value: bytes) -> list[int]:
    """``Positions.decode_positions``: a count, then the pickled gaps between positions."""
    if not value.endswith(b"."):
        value += b"."
    return list(accumulate(loads(value[4:])))


def _near(lists: list[list[int]], slop: int, mindist: int, ordered: bool) -> bool:
    """Whether ``SpanNear2Matcher._get_spans`` finds a span: each word within ``slop``
    positions of the span of the words before it (single positions; spans as (start, end))."""
    if len(lists) == 2 and ordered and mindist >= 1:
        # two words in order: some position b of the second with mindist <= b - a <= slop
        first, second = lists
        if not second:
            return False
        last = len(second)
        for a in first:
            j = bisect_left(second, a + mindist)
            if j < last and second[j] <= a + slop:
                return True
        return False
    aspans = [(p, p) for p in lists[0]]
    for positions in lists[1:]:
        if not aspans:
            return False
        spans = set()
        for astart, aend in aspans:
            start = astart if ordered else max(0, astart - slop)
            j = bisect_left(positions, start)
            while j < len(positions):
                b = positions[j]
                j += 1
                if b < astart - slop or (ordered and astart > b):
                    continue
                if b > aend + slop:
                    break
                # Span.distance_to: 0 when they overlap, else the gap between them
                if astart <= b <= aend:
                    dist = 0
                elif aend < b:
                    dist = b - aend
                else:
                    dist = astart - b
                if mindist <= dist <= slop:
                    spans.add((min(astart, b), max(aend, b)))
        aspans = sorted(spans)
    return bool(aspans)


# --- one search's term look-ups -----------------------------------------------------------------


class _LookedUpOnce:
    """A segment's term table (Whoosh's ``HashReader``) for the length of one search: each
    term is looked up in the table once. A search asks for the same ≈ 15 terms ≈ 70 times —
    whether the index has it, its frequencies for the rarity weights and the scorer, its
    size for ordering the OR, its postings — and each look-up hashes the term and probes the
    table in Python. Nothing is kept from one search to the next (``terms_looked_up_once``)."""

    def __init__(self, table):
        self.table = table
        self.found: dict[bytes, list[tuple[int, int]]] = {}

    def _ranges(self, key: bytes) -> list[tuple[int, int]]:
        got = self.found.get(key)
        if got is None:
            got = self.found[key] = list(self.table.ranges_for_key(key))
        return got

    def ranges_for_key(self, key):
        return iter(self._ranges(key))

    def range_for_key(self, key):
        ranges = self._ranges(key)
        if not ranges:
            raise KeyError(key)
        return ranges[0]

    def all(self, key):
        return (self.table.dbfile.get(pos, length) for pos, length in self._ranges(key))

    def get(self, key, default=None):
        ranges = self._ranges(key)
        return self.table.dbfile.get(*ranges[0]) if ranges else default

    def __contains__(self, key) -> bool:
        return bool(self._ranges(key))

    def __getitem__(self, key):
        ranges = self._ranges(key)
        if not ranges:
            raise KeyError(key)
        return self.table.dbfile.get(*ranges[0])

    def __getattr__(self, name):  # everything else (lexicons, cursors) as the table does it
        return getattr(self.table, name)


@contextmanager
def terms_looked_up_once(searcher):
    """For the ``with`` block: every segment's term table of ``searcher`` (this thread's own,
    ``search.current_searcher``) answers each term from one look-up; as before afterwards."""
    swapped = []
    try:
        for subsearcher, _ in searcher.leaf_searchers():
            terms = getattr(subsearcher.reader(), "_terms", None)
            table = getattr(terms, "_tindex", None)
            if table is not None and type(table) is not _LookedUpOnce and hasattr(table, "ranges_for_key"):
                terms._tindex = _LookedUpOnce(table)
                swapped.append(terms)
    except AttributeError:  # Whoosh's internals changed (another version): look terms up as it does
        log.exception("scoring could not reach Whoosh's term table")
    try:
        yield
    finally:
        for terms in swapped:
            terms._tindex = terms._tindex.table


# --- the top documents ------------------------------------------------------------------------


def _matches(searcher, query) -> list[tuple[object, int, np.ndarray, np.ndarray]] | None:
    """Per segment: (sub-searcher, its first document number, the matching documents by their
    number in the segment, their scores); ``None`` when the query holds a node this module
    does not evaluate."""
    try:
        q = _lazy_ors(query)
        context = searcher.context()
        out = []
        for subsearcher, offset in searcher.leaf_searchers():
            node = _Evaluator(subsearcher).evaluate(q.matcher(subsearcher, context))
            found = np.flatnonzero(node.present)
            out.append((subsearcher, offset, found, node.score[found]))
        return out
    except Unsupported:
        return None
    except AttributeError:  # Whoosh's internals changed (another version): its own way still works
        log.exception("scoring could not read Whoosh's matchers: Whoosh runs the query")
        return None


def _allowed(docnums: np.ndarray, allowed: set | None) -> np.ndarray:
    if allowed is None:
        return np.ones(len(docnums), dtype=bool)
    return np.isin(docnums, np.fromiter(allowed, dtype=np.int64, count=len(allowed)))


def top(searcher, query, limit: int, allowed: set | None) -> tuple[list[tuple[int, float]], int] | None:
    """``[(docnum, score)]`` of the best ``limit`` matches (score descending, then docnum)
    and the number of matches among the ``allowed`` documents (all when ``None``), as
    ``TopCollector(limit, usequality=False)`` under a ``FilterCollector`` gives them; ``None``
    when the query holds something this module does not evaluate."""
    found = _matches(searcher, query)
    if found is None:
        return None
    docnums = np.concatenate([sub + offset for _, offset, sub, _ in found] or [np.zeros(0, dtype=np.int64)])
    scores = np.concatenate([scores for _, _, _, scores in found] or [np.zeros(0)])
    keep = _allowed(docnums, allowed)
    docnums, scores = docnums[keep], scores[keep]
    order = np.lexsort((docnums, -scores))[:limit]
    return list(zip(docnums[order].tolist(), scores[order].tolist())), len(docnums)


def by_date(searcher, query, page: int, per_page: int, allowed: set | None) -> tuple[list[tuple[int, object]], int] | None:
    """One page of the matches among the ``allowed`` documents, newest first — ``[(docnum,
    sort key)]`` (of the last page when ``page`` is beyond it) and the number of matches — as
    ``SortingCollector("date", reverse=True)`` under a ``FilterCollector``, read through a
    ``ResultsPage``, gives them; ``None`` when the query holds something this module does
    not evaluate."""
    categorizer = collectors.SortingCollector("date", reverse=True).sortfacet.categorizer(searcher)
    if categorizer.needs_current:
        return None
    found = _matches(searcher, query)
    if found is None:
        return None
    items = []
    for subsearcher, offset, sub, _ in found:
        sub = sub[_allowed(sub + offset, allowed)]
        categorizer.set_searcher(subsearcher, offset)
        key_for = categorizer.key_for
        items.extend((key_for(None, d), d + offset) for d in sub.tolist())
    items.sort(reverse=True)
    total = len(items)
    page = min(math.ceil(total / per_page), page)
    start = (page - 1) * per_page
    return ([(docnum, key) for key, docnum in items[start:start + per_page]] if total else []), total
