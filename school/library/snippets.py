"""Highlighted snippets cut at Chinese sentence punctuation, with the article they sit in."""
from __future__ import annotations

import html
import re

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


def snippet(body: str, terms: list[str], fallback: str = "") -> tuple[str, str | None]:
    """``(safe HTML, article anchor or None)`` for the sentence that best matches ``terms``."""
    body = body or ""
    lowered = [t.lower() for t in terms if t]
    best, best_score = None, 0
    for match in SENTENCE_RE.finditer(body):
        sentence = match.group(0)
        low = sentence.lower()
        score = sum(len(t) for t in lowered if t in low)
        if score > best_score:
            best, best_score = match, score
    if best is None:
        text = (fallback or body).strip()
        first = SENTENCE_RE.search(re.sub(r"^[#\s]+", "", text))
        return html.escape(_shorten(first.group(0), 0) if first else ""), None
    sentence = best.group(0)
    stripped = sentence.lstrip("# ").strip()
    low = stripped.lower()
    first_hit = min((low.find(t) for t in lowered if t in low), default=0)
    return highlight(_shorten(stripped, first_hit), terms), article_of(body, best.start())
