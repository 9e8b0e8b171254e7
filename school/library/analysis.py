"""The Chinese analyzer for Whoosh: words from rjieba (jieba as a fallback).

Token positions are numbered per *word* of the ordinary segmentation. When indexing,
the "search mode" sub-words of a long word (人民, 共和国 inside 中华人民共和国: its
two- and three-character substrings that are dictionary words, as jieba's search mode
defines them) are added at the position of the word they belong to, so a query for a
sub-word finds the document while a quoted phrase still needs its words to be adjacent.
Queries are segmented in the ordinary mode only. The dictionary loads once per process
(rjieba and jieba both keep one module-level segmenter).
"""
from __future__ import annotations

from functools import lru_cache
from operator import sub
from pickle import dumps

from whoosh.analysis import LowercaseFilter, StopFilter, Token, Tokenizer
from whoosh.formats import Positions
from whoosh.system import pack_uint

try:  # rjieba is jieba-rs: the same dictionary and algorithm, an order of magnitude faster
    import rjieba as _engine

    def _tokenize(text: str):
        return _engine.tokenize(text)

    def cut(text: str) -> list[str]:
        return _engine.cut(text)

    has_word = _engine.has_word
except ImportError:  # pragma: no cover - exercised only where rjieba has no wheel
    import jieba as _engine

    def _tokenize(text: str):
        return list(_engine.tokenize(text))

    def cut(text: str) -> list[str]:
        return list(_engine.cut(text))

    def has_word(word: str) -> bool:
        _engine.dt.check_initialized()
        return bool(_engine.dt.FREQ.get(word))

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


@lru_cache(maxsize=200_000)
def _sub_words(word: str) -> tuple[tuple[str, int], ...]:
    """``(sub-word, offset)`` for a word's dictionary sub-words: its two-character substrings
    when it is longer than two characters, then its three-character ones when longer than
    three (jieba's search mode, computed per word so it can be cached)."""
    n = len(word)
    if n < 3:
        return ()
    grams = [(word[i:i + 2], i) for i in range(n - 1)]
    if n > 3:
        grams += [(word[i:i + 3], i) for i in range(n - 2)]
    return tuple((gram, i) for gram, i in grams if has_word(gram))


def word_positions(text: str, search: bool = True):
    """``(word, position, start, end)`` for every word; with ``search`` a word's sub-words
    come just before it, at its position. Punctuation and spaces keep a position of their own."""
    for pos, (word, start, end) in enumerate(_tokenize(text)):
        if not is_word(word):
            continue
        if search:
            for part, offset in _sub_words(word):
                if is_word(part):
                    yield part, pos, start + offset, start + offset + len(part)
        yield word, pos, start, end


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
    return [part for part, _ in _sub_words(word) if is_word(part)]


def query_words(text: str) -> list[str]:
    """The meaningful words of what a member typed, in order, without duplicates."""
    seen: dict[str, None] = {}
    for word, _, _, _ in word_positions(text, search=False):
        word = word.lower()
        if word not in QUERY_STOP_WORDS:
            seen.setdefault(word, None)
    return list(seen)


_TERMS: dict[str, tuple[str, ...]] = {}


def _terms_of(word: str) -> tuple[str, ...]:
    """The index terms one word of the text yields, as the analyzer chain would (sub-words,
    then the word; lower-cased; no punctuation or stop words)."""
    terms = _TERMS.get(word)
    if terms is None:
        words = [part for part, _ in _sub_words(word)] + [word] if is_word(word) else []
        terms = tuple(w.lower() for w in words if is_word(w) and w.lower() not in INDEX_STOP_WORDS)
        if len(_TERMS) > 500_000:
            _TERMS.clear()
        _TERMS[word] = terms
    return terms


def term_positions(text: str) -> dict[str, list[int]]:
    """What the analyzer chain yields when indexing, grouped by term: term → positions.

    Indexing a large library spends most of its time in per-token Python objects; this
    one loop over the plain segmentation gives Whoosh the same postings (same words,
    lower-cased, same stop words, same positions) without them, looking each distinct
    word up once. ``test_analysis`` checks the two agree.
    """
    out: dict[str, list[int]] = {}
    terms_of = _TERMS.get
    for pos, word in enumerate(cut(text)):
        terms = terms_of(word)
        if terms is None:
            terms = _terms_of(word)
        for term in terms:
            positions = out.get(term)
            if positions is None:
                out[term] = [pos]
            else:
                positions.append(pos)
    return out


class FastPositions(Positions):
    """Whoosh's ``Positions`` format, fed by ``term_positions`` for our analyzer."""

    def word_values(self, value, analyzer, **kwargs):
        if not self.is_fast(analyzer) or kwargs.get("mode") == "query":
            yield from super().word_values(value, analyzer, **kwargs)
            return
        for tbytes, freq, weight, encoded in self.index_postings(value):
            yield tbytes.decode("utf-8"), freq, weight, encoded

    @staticmethod
    def is_fast(analyzer) -> bool:
        return isinstance(getattr(analyzer, "items", [None])[0], ChineseTokenizer)

    def index_postings(self, value: str) -> list[tuple[bytes, int, float, bytes]]:
        """``(term bytes, frequency, weight, encoded positions)`` per term of ``value``: what
        ``Field.index`` yields, in one loop (``BulkWriter`` calls it for every document)."""
        boost = self.field_boost
        single = _SINGLE_POSITION
        out = []
        for word, positions in term_positions(value).items():
            n = len(positions)
            # Whoosh's encoding (count, then the pickled gaps between positions), inline, as
            # this runs once per term per document; most terms occur once in a document.
            if n == 1:
                encoded = single.get(positions[0])
                if encoded is None:
                    encoded = single[positions[0]] = pack_uint(1) + dumps(positions, 2)
            else:
                encoded = pack_uint(n) + dumps(list(map(sub, positions, [0] + positions[:-1])), 2)
            out.append((word.encode("utf-8"), n, n * boost, encoded))
        return out


_SINGLE_POSITION: dict[int, bytes] = {}  # position → its encoding, for terms that occur once
