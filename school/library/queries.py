"""From what a member typed to a Whoosh query, with a defined answer for every input.

No Whoosh query syntax is parsed: quotes (ASCII or Chinese, balanced) make phrases,
everything else is segmented into words. Each word — and its full forms from the synonym
table — is searched in title (boosted), body, issuer and tags; the words are OR-grouped
with a coordination bonus, so a whole question ("农民工工资被拖欠怎么办") ranks the
documents matching most of its words first without requiring every one of them.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache

from whoosh import query as wq

from school.library.analysis import INDEX_STOP_WORDS, query_words, sub_words, word_positions
from school.library.levels import ARTICLE_RE, chinese_number
from school.library.synonyms import expansions


@lru_cache(maxsize=1)
def _converter():
    try:
        import opencc
    except ImportError:  # pragma: no cover - opencc is a dependency; without it queries stay as typed
        return None
    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """Traditional characters as simplified ones (勞動合同法 → 劳动合同法); the library is in simplified."""
    converter = _converter()
    return converter.convert(text) if converter and text else text

MAX_QUERY_CHARS = 200
MAX_WORDS = 24
FIELD_BOOSTS = {"title": 3.0, "headings": 1.5, "body": 1.0, "issuer": 0.5, "tags": 2.0}
PROXIMITY_BOOST = 0.5  # two neighbouring words of the query close together in the text
PROXIMITY_SLOP = 5
LETTERS_RE = re.compile(r"[A-Za-z]+(?:\s+[A-Za-z]+)*")
QUOTE_RE = re.compile(r'["“”„「」『』]([^"“”„「」『』]+)["“”„「」『』]')
QUOTE_CHARS_RE = re.compile(r'["“”„「」『』]')


@dataclass
class ParsedQuery:
    text: str
    phrases: list[list[str]] = field(default_factory=list)
    phrase_slops: list[int] = field(default_factory=list)  # 2 where a stop word was dropped inside
    words: list[str] = field(default_factory=list)
    truncated: bool = False
    compact: str = ""  # simplified, without spaces and punctuation: where titles are looked for
    letters: str = ""  # the query when it is only Latin letters (pinyin: laodonghetongfa, ldhtf)
    article: int | None = None  # 第十条 → 10
    article_text: str = ""

    @property
    def empty(self) -> bool:
        return not self.phrases and not self.words

    def highlight_terms(self) -> list[str]:
        terms = ["".join(p) for p in self.phrases] + ([self.article_text] if self.article_text else [])
        for word in self.words:
            terms.append(word)
            terms.extend(expansions(word))
        return sorted({t for t in terms if t}, key=len, reverse=True)


def _phrase_words(text: str) -> tuple[list[str], bool]:
    """A phrase's words as indexed; whether an index stop word was dropped from the middle."""
    words = [w.lower() for w, _, _, _ in word_positions(text, search=False)]
    kept = [w for w in words if w not in INDEX_STOP_WORDS]
    return kept, len(kept) != len(words)


def parse(text: str | None) -> ParsedQuery:
    text = (text or "").strip()
    truncated = len(text) > MAX_QUERY_CHARS
    text = text[:MAX_QUERY_CHARS]
    parsed = ParsedQuery(text=text, truncated=truncated)
    text = simplified(text)
    if LETTERS_RE.fullmatch(text):
        parsed.letters = re.sub(r"\s+", "", text).lower()
    article = ARTICLE_RE.search(text)
    if article and chinese_number(article.group(1)):
        parsed.article, parsed.article_text = chinese_number(article.group(1)), article.group(0)
        text = text[:article.start()] + " " + text[article.end():]
    parsed.compact = "".join(ch for ch in QUOTE_CHARS_RE.sub("", text) if ch.isalnum())
    for match in QUOTE_RE.finditer(text):
        words, gap = _phrase_words(match.group(1))
        if words:
            parsed.phrases.append(words)
            parsed.phrase_slops.append(2 if gap else 1)
    rest = QUOTE_CHARS_RE.sub(" ", QUOTE_RE.sub(" ", text))  # unbalanced quotes are ignored
    parsed.words = query_words(rest)[:MAX_WORDS]
    return parsed


def _fields_query(words: list[str], boost: float = 1.0, slop: int = 1) -> wq.Query:
    """The words (one word, or a phrase) in any searched field."""
    parts = []
    for fieldname, field_boost in FIELD_BOOSTS.items():
        if fieldname == "tags":
            parts.append(wq.Term("tags", "".join(words), boost=field_boost * boost))
        elif len(words) == 1:
            parts.append(wq.Term(fieldname, words[0], boost=field_boost * boost))
        else:
            parts.append(wq.Phrase(fieldname, words, slop=slop, boost=field_boost * boost))
    return wq.Or(parts)


def _parts_query(parts: list[str], boost: float) -> wq.Query:
    """All parts of a long word in one field (劳动合同 in a title indexed as 劳动 + 合同法)."""
    return wq.Or([wq.And([wq.Term(fieldname, part) for part in parts], boost=field_boost * boost)
                  for fieldname, field_boost in FIELD_BOOSTS.items() if fieldname != "tags"])


def _word_query(word: str, weight: float = 1.0, related: list[str] = ()) -> wq.Query:
    alternatives = [_fields_query([word], boost=weight)]
    for other in related:  # the indexed words that contain a single-character query (党 → 党员)
        alternatives.append(_fields_query([other], boost=0.5 * weight))
    parts = sub_words(word)
    if len(parts) >= 2:
        alternatives.append(_parts_query(parts, boost=0.6 * weight))
    for full in expansions(word):
        words, gap = _phrase_words(full)
        if words:
            alternatives.append(_fields_query(words, boost=0.9 * weight, slop=2 if gap else 1))
    return alternatives[0] if len(alternatives) == 1 else wq.Or(alternatives)


def rarity_weights(words: list[str], doc_frequency, doc_count: int) -> dict[str, float]:
    """Extra weight for rare words, so the one telling word of a question (宅基地 in
    “宅基地怎么申请”) outweighs a common one that happens to be in many titles (申请)."""
    weights = {}
    for word in words:
        frequency = doc_frequency(word)
        for full in expansions(word):
            frequency = min(frequency, doc_frequency(full)) if frequency else doc_frequency(full)
        weights[word] = 1.0 + math.log((doc_count + 1) / (frequency + 1))
    return weights


def single_character(parsed: ParsedQuery) -> str | None:
    """The character, when a member searched for one Chinese character alone (党)."""
    if not parsed.phrases and len(parsed.words) == 1:
        word = parsed.words[0]
        if len(word) == 1 and not word.isascii() and word.isalpha():
            return word
    return None


def build(parsed: ParsedQuery, weights: dict[str, float] | None = None,
          related: dict[str, list[str]] | None = None) -> wq.Query | None:
    """``related``: for a word, other indexed words that count as matching it (see ``single_character``)."""
    if parsed.empty:
        return None
    weights, related = weights or {}, related or {}
    required = [_fields_query(words, slop=slop) for words, slop in zip(parsed.phrases, parsed.phrase_slops)]
    optional = [_word_query(word, weights.get(word, 1.0), related.get(word, ())) for word in parsed.words]
    words = parsed.words
    for first, second in list(zip(words, words[1:]))[:4]:  # neighbouring words close together
        optional.append(wq.Phrase("body", [first, second], slop=PROXIMITY_SLOP,
                                  boost=PROXIMITY_BOOST * min(weights.get(first, 1.0), weights.get(second, 1.0))))
    words_query = wq.Or(optional, scale=0.9) if optional else None
    if not required:
        return words_query
    must = required[0] if len(required) == 1 else wq.And(required)
    return wq.AndMaybe(must, words_query) if words_query is not None else must
