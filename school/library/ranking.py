"""Ranking that knows what a law is: the catalogue of titles, and the second pass over the
best matches of the Whoosh query.

Whoosh (BM25F over title, headings, body, issuer, tags; rare words weighted up) finds and
scores the matches; the best ``DEPTH`` of them, plus the documents the query names, are then
ranked again here with what BM25 does not know:

* **the law the query names** — 劳动合同法, 民法典婚姻家庭编, 道交法 (an abbreviation whose
  characters appear in order in one title), laodonghetongfa / ldhtf (pinyin of titles):
  that document first; its 实施条例 and the court interpretations whose title names it come
  next and are listed under it (相关解释 / 配套法规); an article look-up (民法典第一千零七十九条)
  picks the part of the law that holds the article;
* **how much of the query the title covers**, each word weighted by its rarity in the corpus
  (an IDF: words most documents share, like 规定 or 管理, count for little) — a whole word
  found in the title counts fully, a word found only through its dictionary sub-words half;
* **the kind of document**: 法律 above 行政法规 above 部门规章 / 地方性法规 above 司法解释
  (``levels.LEVEL_PRIOR``);
* **versions**: of several documents with the same title, the newest is 现行有效 and the
  others 历史版本 (ranked lower, listed under the current one when both match).

The catalogue (one entry per indexed document, from stored fields) is built once per index
version per thread, with the searcher.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from school.library import levels
from school.library.analysis import sub_words

DEPTH = 100  # Whoosh matches ranked again
NAMED = 4.0  # the document the query names
NAMED_OTHER_PART = 2.5  # another part of a law named with one of its parts
ARTICLE_HELD = 1.5  # the part of a law that holds the article looked up
RELATED = 1.6  # a document whose title names the law the query names (实施条例, 解释)
COVERAGE = 1.8  # × the share of the query's weight the title covers
LEVEL = 1.0  # × levels.LEVEL_PRIOR
HISTORICAL = -0.8  # an older version of a title also present in a newer one
CITED = 1.2  # × the share of the best matches citing a law, for a query that names none
FEEDBACK_DEPTH = 10  # the best matches whose citations count
SUFFIXES = ("法", "条例", "规定", "办法", "细则", "解释")


@dataclass
class Entry:
    docnum: int
    id: int
    title: str
    short: str  # without 中华人民共和国 and without the part
    part: str
    level: str
    date: datetime | None
    articles: tuple[int, int] | None
    current: bool = True
    versions: int = 1
    cites: tuple[str, ...] = ()


@lru_cache(maxsize=50_000)
def pinyin_of(name: str) -> tuple[str, str]:
    """(full pinyin, initials) of a title, letters only: 劳动合同法 → laodonghetongfa, ldhtf."""
    from pypinyin import lazy_pinyin

    syllables = [s for s in lazy_pinyin(name, errors="ignore") if s.isascii() and s.isalpha()]
    return "".join(syllables).lower(), "".join(s[0] for s in syllables).lower()


class Catalog:
    """Every indexed document's title, level, date and articles, by document number."""

    def __init__(self, reader):
        self.entries: dict[int, Entry] = {}
        self.by_short: dict[str, list[int]] = {}
        for docnum, stored in reader.iter_docs():
            title = stored.get("title", "")
            articles = None
            if stored.get("articles"):
                a, _, b = stored["articles"].partition("-")
                articles = (int(a), int(b))
            entry = Entry(docnum, int(stored["id"]), title, levels.short_title(title), levels.part_of(title),
                          stored.get("level", ""), stored.get("date"), articles,
                          cites=tuple(n for n in (stored.get("cites") or "").split("|") if n))
            self.entries[docnum] = entry
            self.by_short.setdefault(entry.short, []).append(docnum)
        groups: dict[tuple[str, str], list[Entry]] = {}
        for entry in self.entries.values():
            groups.setdefault((entry.short, entry.part), []).append(entry)
        self.versions_of: dict[int, list[int]] = {}
        for group in groups.values():
            if len(group) > 1:
                group.sort(key=lambda e: (e.date or datetime.min, e.id), reverse=True)
                for older in group[1:]:
                    older.current = False
                for entry in group:
                    entry.versions = len(group)
                self.versions_of[group[0].docnum] = [e.docnum for e in group[1:]]
        self.current_of: dict[int, int] = {}  # an older version → the current one it is listed under
        for current, older in self.versions_of.items():
            for docnum in older:
                self.current_of.setdefault(docnum, current)
        # Names a member may type: short titles that read like the name of a law.
        self.names = sorted((n for n in self.by_short if len(n) >= 3 or (len(n) == 2 and n.endswith("法"))),
                            key=len, reverse=True)
        # The names by their first two characters and by their first one, in the order of
        # ``names``: a query is looked for only among the names that can be in it (each name
        # is two characters or more), not all 1,300 of them.
        self._by_start: dict[str, list[int]] = {}
        self._by_first: dict[str, list[str]] = {}
        for i, name in enumerate(self.names):
            self._by_start.setdefault(name[:2], []).append(i)
            self._by_first.setdefault(name[0], []).append(name)

    # --- which documents a query names -----------------------------------------------------

    def named_in(self, text: str, synonyms: dict[str, tuple[str, ...]] | None = None) -> list[str]:
        """The titles (short forms) written in ``text``, longest first, none inside another found."""
        found: list[tuple[int, int, str]] = []
        by_start = self._by_start
        at = set()
        for i in range(len(text) - 1):
            at.update(by_start.get(text[i:i + 2], ()))
        for name in [self.names[i] for i in sorted(at)]:  # those whose start is in ``text``, in order
            start = text.find(name)
            if start < 0:
                continue
            end = start + len(name)
            if any(s <= start and end <= e for s, e, _ in found):
                continue  # 劳动合同法 inside 劳动合同法实施条例
            found.append((start, end, name))
        names = [name for _, _, name in sorted(found)]
        if not names:
            names = self.abbreviated(text, synonyms or {})
        return names

    def abbreviated(self, text: str, synonyms: dict[str, tuple[str, ...]]) -> list[str]:
        """A short form of a title (道交法 → 道路交通安全法, 工伤条例 → 工伤保险条例): the
        query, 2–8 characters ending like a title, whose characters appear in that order in a
        title that starts with the same character; the shortest such title of the highest level."""
        for full in synonyms.get(text, ()):
            if full in self.by_short:
                return [full]
        if not (2 <= len(text) <= 8) or not text.endswith(SUFFIXES) or not re.fullmatch(r"[\u4e00-\u9fa5]+", text):
            return []
        suffix = next(s for s in SUFFIXES if text.endswith(s))
        matches = []
        for name in self._by_first.get(text[0], ()):  # the names starting as ``text``, in order
            if not name.endswith(suffix) or len(name) <= len(text):
                continue
            it = iter(name)
            if all(ch in it for ch in text):
                best_level = max(levels.LEVEL_PRIOR.get(self.entries[d].level, 0) for d in self.by_short[name])
                matches.append((-best_level, len(name), name))
        return [min(matches)[2]] if matches else []

    def pinyin_named(self, letters: str) -> list[str]:
        """Titles whose full pinyin or initials are ``letters`` (laodonghetongfa, ldhtf)."""
        exact, prefix = [], []
        for name in self.names:
            full, initials = pinyin_of(name)
            if letters in (full, initials):
                exact.append(name)
            elif len(letters) >= 6 and full.startswith(letters):
                prefix.append(name)
        return exact or sorted(prefix, key=len)[:3]

    def suggestions(self, text: str, letters: str | None, limit: int = 8) -> list[str]:
        """Titles for the search box: by pinyin for letters, else those containing the text."""
        if letters:
            names = [n for n in self.names if any(p.startswith(letters) for p in pinyin_of(n))]
        else:
            names = [n for n in self.names if text in n]
        def rank(name: str):
            prior = max(levels.LEVEL_PRIOR.get(self.entries[d].level, 0) for d in self.by_short[name])
            return (not name.startswith(text) if not letters else False, -prior, len(name), name)
        return sorted(names, key=rank)[:limit]


# --- the second pass --------------------------------------------------------------------------


@dataclass
class Ranked:
    docnum: int
    score: float
    related: list[int] = field(default_factory=list)  # 实施条例, interpretations, listed under it
    versions: list[int] = field(default_factory=list)  # its 历史版本 that matched too


def _query_coverage(words: list[str], weights: dict[str, float]) -> tuple[float, list[tuple[str, float, list[str]]]]:
    """What ``_coverage`` needs of the query — its total weight, and each word with its weight
    and sub-words — worked out once per ranking, not once per title."""
    return sum(weights.get(w, 1.0) for w in words), [(w, weights.get(w, 1.0), sub_words(w)) for w in words]


def _coverage(title: str, words: list[str], weights: dict[str, float],
              query: tuple[float, list[tuple[str, float, list[str]]]] | None = None) -> float:
    total, terms = query or _query_coverage(words, weights)
    if not total:
        return 0.0
    got = 0.0
    for word, weight, parts in terms:
        if word in title:
            got += weight
        elif parts and all(p in title for p in parts):
            got += 0.5 * weight
    return got / total


def _cited(catalog: Catalog, scored: list[tuple[int, float]], allowed: set | None) -> dict[int, float]:
    """docnum → the share (by Whoosh score) of the best ``FEEDBACK_DEPTH`` matches that cite it."""
    best = sorted(scored, key=lambda item: -item[1])[:FEEDBACK_DEPTH]
    total = sum(score for _, score in best)
    votes: dict[str, float] = {}
    for docnum, score in best:
        entry = catalog.entries.get(docnum)
        for name in entry.cites if entry else ():
            if name != entry.short:
                votes[name] = votes.get(name, 0.0) + score
    shares: dict[int, float] = {}
    for name, vote in votes.items():
        for docnum in catalog.by_short.get(name, ()):
            if (allowed is None or docnum in allowed) and catalog.entries[docnum].current:
                shares[docnum] = max(shares.get(docnum, 0.0), vote / total if total else 0.0)
    return shares


def rerank(catalog: Catalog, scored: list[tuple[int, float]], *, words: list[str], weights: dict[str, float],
           named: list[str], part: str | None, article: int | None, allowed: set | None,
           group: bool = True, feedback: bool = False) -> list[Ranked]:
    """``scored``: (docnum, Whoosh score) of the best matches; returns them ranked again, the
    documents the query names added, related documents and older versions grouped.

    ``feedback`` (a question about a matter, naming no law): the laws the best matches cite
    (a court case on 加班费 cites 劳动合同法) gain by how many of them cite it — a question
    in a member's words often finds the cases and local rules written in such words first."""
    top = max((s for _, s in scored), default=0.0) or 1.0
    base = {docnum: score / top for docnum, score in scored}
    cited = _cited(catalog, scored, allowed) if feedback and not named else {}
    for docnum in cited:
        base.setdefault(docnum, 0.0)
    named_docs: set[int] = set()
    for name in named:
        for docnum in catalog.by_short.get(name, ()):
            if allowed is None or docnum in allowed:
                named_docs.add(docnum)
                base.setdefault(docnum, 0.0)
    scores: dict[int, float] = {}
    related_of: dict[int, str] = {}
    coverage = _query_coverage(words, weights)
    for docnum, b in base.items():
        entry = catalog.entries.get(docnum)
        if entry is None:
            continue
        score = b + COVERAGE * _coverage(entry.title, words, weights, coverage)
        score += LEVEL * levels.LEVEL_PRIOR.get(entry.level, 0.0)
        if docnum in named_docs:
            score += NAMED if not part or entry.part == part or not entry.part else NAMED_OTHER_PART
            if article is not None and entry.articles:
                if entry.articles[0] <= article <= entry.articles[1]:
                    score += ARTICLE_HELD
        else:
            for name in named:
                if name in entry.title:
                    score += RELATED
                    related_of[docnum] = name
                    break
        if not entry.current:
            score += HISTORICAL
        score += CITED * cited.get(docnum, 0.0)
        scores[docnum] = score
    order = sorted(scores, key=lambda d: (-scores[d], d))
    if not group:
        return [Ranked(d, scores[d]) for d in order]
    ranked: list[Ranked] = []
    placed: dict[int, Ranked] = {}
    heads: dict[str, Ranked] = {}
    for docnum in order:
        entry = catalog.entries[docnum]
        name = related_of.get(docnum)
        if name and name in heads:
            heads[name].related.append(docnum)
            continue
        if not entry.current:
            current = catalog.current_of.get(docnum)
            if current in placed:
                placed[current].versions.append(docnum)
                continue
        item = Ranked(docnum, scores[docnum])
        ranked.append(item)
        placed[docnum] = item
        if docnum in named_docs and entry.short not in heads:
            heads[entry.short] = item
    return ranked
