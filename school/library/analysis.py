"""The Chinese analyzer for Whoosh: words from rjieba (jieba as a fallback).

Token positions are numbered per *word* of the ordinary segmentation. When indexing,
the finer "search mode" sub-words of a long word (人民, 共和国 inside 中华人民共和国)
are added at the position of the word they belong to, so a query for a sub-word finds
the document while a quoted phrase still needs its words to be adjacent.
Queries are segmented in the ordinary mode only. The dictionary loads once per process
(rjieba and jieba both keep one module-level segmenter).
"""
from __future__ import annotations

from functools import lru_cache

from whoosh.analysis import LowercaseFilter, StopFilter, Token, Tokenizer
from whoosh.formats import Positions

try:  # rjieba is jieba-rs: the same dictionary and algorithm, an order of magnitude faster
    import rjieba as _engine

    def _tokenize(text: str, search: bool):
        return _engine.tokenize(text, mode="search" if search else "default")

    def cut(text: str) -> list[str]:
        return _engine.cut(text)
except ImportError:  # pragma: no cover - exercised only where rjieba has no wheel
    import jieba as _engine

    def _tokenize(text: str, search: bool):
        return list(_engine.tokenize(text, mode="search" if search else "default"))

    def cut(text: str) -> list[str]:
        return list(_engine.cut(text))

# Words so common they only cost index space; removed from both the index and queries.
INDEX_STOP_WORDS = frozenset("的 了 和 与 及 或 是 在 被 把 对 为 于 之 其 等 而 也 就 都 并 由 从 以 向 该 这 那".split())
# Words a member adds to a question that say nothing about what they are looking for.
QUERY_STOP_WORDS = INDEX_STOP_WORDS | frozenset(
    "怎么办 怎么 怎样 如何 什么 哪些 哪个 哪里 吗 呢 啊 吧 呀 请问 我 我们 你 您 他 她 它 他们 "
    "能不能 能否 可以 可不可以 是否 应该 应当 为什么 有没有 有 没有 要 会 需要 想 还 又 个 些 "
    "谁 多少 几 啥 咋 咋办 办".split())


def is_word(text: str) -> bool:
    """Punctuation and spaces are not words (CJK characters count as alphanumeric)."""
    return any(ch.isalnum() for ch in text)


class ChineseTokenizer(Tokenizer):
    """Whoosh tokenizer; ``mode == "query"`` (set by Whoosh when parsing) skips sub-words."""

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            token.original = token.text = value
            token.boost = 1.0
            if positions:
                token.pos = start_pos
            if chars:
                token.startchar, token.endchar = start_char, start_char + len(value)
            yield token
            return
        for word, pos, start, end in word_positions(value, search=(mode != "query")):
            token.text = word
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                token.original = word
            if positions:
                token.pos = start_pos + pos
            if chars:
                token.startchar, token.endchar = start_char + start, start_char + end
            yield token


def word_positions(text: str, search: bool = True):
    """``(word, position, start, end)`` for every word; sub-words share their word's position.

    In search mode rjieba/jieba emit a long word's sub-words just before the word itself,
    all inside its span, so walking backwards the word opens a group that its sub-words join.
    """
    tokens = _tokenize(text, search)
    groups = [0] * len(tokens)
    group, span_start, span_end = 0, -1, -1
    for i in range(len(tokens) - 1, -1, -1):
        _, start, end = tokens[i]
        if not (span_start <= start and end <= span_end):
            group += 1
            span_start, span_end = start, end
        groups[i] = group
    for (word, start, end), g in zip(tokens, groups):
        if is_word(word):
            yield word, group - g, start, end


@lru_cache(maxsize=1)
def chinese_analyzer():
    """One analyzer object per process (it is pickled into the index schema by reference)."""
    return ChineseAnalyzer()


def ChineseAnalyzer():  # noqa: N802 - named like Whoosh's own analyzer factories
    return ChineseTokenizer() | LowercaseFilter() | StopFilter(stoplist=INDEX_STOP_WORDS, minsize=1, renumber=False)


def sub_words(word: str) -> list[str]:
    """The dictionary words inside a long word (劳动合同 → 劳动, 合同), for words of 4+ characters."""
    if len(word) < 4:
        return []
    return [w for w, _, _ in _tokenize(word, True) if w != word and len(w) >= 2 and is_word(w)]


def query_words(text: str) -> list[str]:
    """The meaningful words of what a member typed, in order, without duplicates."""
    seen: dict[str, None] = {}
    for word, _, _, _ in word_positions(text, search=False):
        word = word.lower()
        if word not in QUERY_STOP_WORDS:
            seen.setdefault(word, None)
    return list(seen)


_TERM_CACHE: dict[str, str | None] = {}


def _term(word: str) -> str | None:
    """The indexed form of a word (lower-cased), or ``None`` for punctuation and stop words."""
    term = _TERM_CACHE.get(word, "")
    if term == "":
        term = word.lower() if is_word(word) and word.lower() not in INDEX_STOP_WORDS else None
        if len(_TERM_CACHE) > 500_000:
            _TERM_CACHE.clear()
        _TERM_CACHE[word] = term
    return term


def term_positions(text: str) -> dict[str, list[int]]:
    """What the analyzer chain yields when indexing, grouped by term: term → positions.

    Indexing a large library spends most of its time in per-token Python objects; this
    one loop gives Whoosh the same postings (same words, lower-cased, same stop words,
    same positions) without them. ``test_analysis`` checks the two agree.
    """
    tokens = _tokenize(text, True)
    count = len(tokens)
    groups = [0] * count
    group, span_start, span_end = 0, -1, -1
    for i in range(count - 1, -1, -1):  # the same grouping as ``word_positions``
        _, start, end = tokens[i]
        if not (span_start <= start and end <= span_end):
            group += 1
            span_start, span_end = start, end
        groups[i] = group
    out: dict[str, list[int]] = {}
    term_of = _term
    for (word, _, _), g in zip(tokens, groups):
        term = term_of(word)
        if term is None:
            continue
        positions = out.get(term)
        if positions is None:
            out[term] = [group - g]
        else:
            positions.append(group - g)
    return out


class FastPositions(Positions):
    """Whoosh's ``Positions`` format, fed by ``term_positions`` for our analyzer."""

    def word_values(self, value, analyzer, **kwargs):
        first = getattr(analyzer, "items", [None])[0]
        if not isinstance(first, ChineseTokenizer) or kwargs.get("mode") == "query":
            yield from super().word_values(value, analyzer, **kwargs)
            return
        boost = self.field_boost
        for word, positions in term_positions(value).items():
            yield word, len(positions), len(positions) * boost, self.encode(positions)
