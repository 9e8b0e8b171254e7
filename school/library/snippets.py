"""Highlighted snippets cut at Chinese sentence punctuation, with the article they sit in."""
from __future__ import annotations

import html
import re
from array import array
from bisect import bisect_left
from collections.abc import Sequence
from itertools import islice

from school.library.analysis import cut
from school.library.rendering import article_of

SENTENCE_RE = re.compile(r"[^。！？；\n]+[。！？；]?")
MAX_CHARS = 150


def _shorten(sentence: str, first_hit: int) -> str:
    """Keep at most ``MAX_CHARS`` around the first hit, cutting at commas or word ends."""
    if len(sentence) <= MAX_CHARS:
        return sentence
    start = max(0, first_hit - MAX_CHARS // 3)
    comma = max(sentence.rfind("，", 0, start + 1), sentence.rfind("、", 0, start + 1))
    start = comma + 1 if comma >= 0 and start - comma < 40 else start
    piece = sentence[start:]
    out, length = [], 0
    for word in cut(piece):  # whole words only, so the cut never splits one
        if length + len(word) > MAX_CHARS:
            break
        out.append(word)
        length += len(word)
    text = "".join(out)
    return ("…" if start else "") + text + ("…" if len(text) < len(piece) else "")


def highlight(text: str, terms: list[str]) -> str:
    if not terms:
        return html.escape(text)
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.I)
    out, last = [], 0
    for match in pattern.finditer(text):
        out.append(html.escape(text[last:match.start()]))
        out.append(f"<mark>{html.escape(match.group(0))}</mark>")
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


SENTENCE_ENDS = "。！？；\n"
SENTENCE_END_RE = re.compile("[" + SENTENCE_ENDS + "]")
MAX_CANDIDATES = 300


def _sentence_around(body: str, offset: int, since: int = 0) -> tuple[int, int]:
    """``(start, end)`` of the sentence holding ``offset``. Its start is the last sentence end
    before ``offset``, looked for back to ``since`` first (the previous sentence's end, so
    the text between two hits is scanned once, in C by ``rfind``), then further back; its end
    the first one from ``offset`` on. Only the sentences of the hits are found, not every
    sentence end up to the last hit (hundreds in a long law)."""
    rfind = body.rfind
    before = max(rfind("。", since, offset), rfind("！", since, offset), rfind("？", since, offset),
                 rfind("；", since, offset), rfind("\n", since, offset))
    if before < 0 and since > 0:
        before = max(rfind(ch, 0, since) for ch in SENTENCE_ENDS)
    after = SENTENCE_END_RE.search(body, offset)
    end = after.end() if after else len(body)
    if end < len(body) and body[end - 1] == "\n":
        end -= 1
    return before + 1, end


def sentence_ends(body: str) -> array:
    """Where every sentence of ``body`` ends (its 。！？；or line end), in order: listed once per
    document and kept with it (``search``'s bodies), so that a snippet finds the sentence of
    each hit by bisection instead of scanning the text around it."""
    return array("i", [m.start() for m in SENTENCE_END_RE.finditer(body)])


def snippet(body: str, terms: list[str], fallback: str = "", ends: Sequence[int] | None = None) -> tuple[str, str | None]:
    """``(safe HTML, article anchor or None)`` for the sentence that best matches ``terms``.

    Hits are found with one regular expression (fast even in the 民法典); only the
    sentences around the first few hundred hits are scored, the first best one kept: once a
    sentence holds every term none can do better, so the rest are not looked at. ``ends``
    is ``sentence_ends(body)`` when the caller keeps it; the same sentences are found
    without it.
    """
    body = body or ""
    lowered = [t.lower() for t in terms if t]
    best, best_score = None, 0
    if lowered:
        pattern = re.compile("|".join(re.escape(t) for t in sorted(lowered, key=len, reverse=True)), re.I)
        most = sum(len(t) for t in lowered)  # every term in one sentence: no later one can score more
        size = len(body)
        span = None
        for match in islice(pattern.finditer(body), MAX_CANDIDATES):
            offset = match.start()
            if span is not None and offset < span[1]:
                continue  # in the sentence just scored (the offsets only grow)
            if ends is None:
                span = _sentence_around(body, offset, span[1] - 1 if span else 0)
            else:  # the same span as ``_sentence_around``'s, from the listed ends
                i = bisect_left(ends, offset)
                end = ends[i] + 1 if i < len(ends) else size
                if end < size and body[end - 1] == "\n":
                    end -= 1
                span = (ends[i - 1] + 1 if i else 0, end)
            low = body[span[0]:span[1]].lower()
            score = sum(len(t) for t in lowered if t in low)
            if score > best_score:
                best, best_score = span, score
                if score == most:
                    break
    if best is None:
        text = (fallback or body).strip()
        first = SENTENCE_RE.search(re.sub(r"^[#\s]+", "", text))
        return html.escape(_shorten(first.group(0), 0) if first else ""), None
    sentence = body[best[0]:best[1]]
    stripped = sentence.lstrip("# ").strip()
    low = stripped.lower()
    first_hit = min((low.find(t) for t in lowered if t in low), default=0)
    return highlight(_shorten(stripped, first_hit), terms), article_of(body, best[0])
