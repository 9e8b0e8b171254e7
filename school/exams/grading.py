"""Scoring one response to one question, as a fraction 0…1 of the question's points.

Responses are stored in the question's own terms (original option indexes), whatever
order the member saw them in; ``attempts`` translates from the shown order.
"""
from __future__ import annotations

import re
import unicodedata
from decimal import Decimal

from school.exams.models import QuestionType

_SPACE = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """Fill-in answers compare without spaces, full-/half-width differences or letter case."""
    return _SPACE.sub("", unicodedata.normalize("NFKC", text or "")).casefold()


def _number(text) -> float | None:
    if text is None:
        return None
    try:
        value = float(unicodedata.normalize("NFKC", str(text)).strip().replace(",", ""))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _clamp(value: float) -> float:
    return max(0.0, min(1.0, value))


def correct_options(data: dict) -> set[int]:
    return {i for i, o in enumerate(data.get("options", [])) if float(o.get("weight", 0)) > 0}


def score(qtype: str, data: dict, response: dict | None) -> float:
    if not response:
        return 0.0
    if qtype == QuestionType.SINGLE:
        choice = response.get("choice")
        options = data.get("options", [])
        if not isinstance(choice, int) or not 0 <= choice < len(options):
            return 0.0
        return _clamp(float(options[choice].get("weight", 0)) / 100)
    if qtype == QuestionType.MULTIPLE:
        options = data.get("options", [])
        chosen = {c for c in response.get("choices", []) if isinstance(c, int) and 0 <= c < len(options)}
        if data.get("weighted"):
            return _clamp(sum(float(options[c].get("weight", 0)) for c in chosen) / 100)
        return 1.0 if chosen and chosen == correct_options(data) else 0.0
    if qtype == QuestionType.TRUEFALSE:
        value = response.get("value")
        return 1.0 if isinstance(value, bool) and value == bool(data.get("answer")) else 0.0
    if qtype == QuestionType.FILL:
        given = normalise_text(str(response.get("text", "")))
        if not given:
            return 0.0
        weights = [float(a.get("weight", 100)) for a in data.get("answers", []) if normalise_text(a["text"]) == given]
        return _clamp(max(weights, default=0) / 100)
    if qtype == QuestionType.NUMERIC:
        value = _number(response.get("value"))
        if value is None:
            return 0.0
        best = 0.0
        for answer in data.get("answers", []):
            if "min" in answer:
                ok = float(answer["min"]) <= value <= float(answer["max"])
            else:
                ok = abs(value - float(answer["value"])) <= float(answer.get("tolerance", 0)) + 1e-9
            if ok:
                best = max(best, float(answer.get("weight", 100)) / 100)
        return _clamp(best)
    if qtype == QuestionType.MATCHING:
        pairs = data.get("pairs", [])
        given = response.get("pairs", {}) or {}
        asked = [i for i, p in enumerate(pairs) if p.get("left")]  # a pair without left is a distractor
        if not asked:
            return 0.0
        # Several lefts may share one right text: compare texts, not indexes.
        right = 0
        for i in asked:
            pair = pairs[i]
            chosen = given.get(str(i))
            if isinstance(chosen, int) and 0 <= chosen < len(pairs) and pairs[chosen]["right"] == pair["right"]:
                right += 1
        return right / len(asked)
    return 0.0


def points_for(points: Decimal, fraction: float) -> Decimal:
    return (Decimal(str(points)) * Decimal(str(round(fraction, 4)))).quantize(Decimal("0.01"))


def passes(total: Decimal, maximum: Decimal | None, pass_percent) -> bool:
    """The verdict: at least ``pass_percent`` % of the paper's points (a paper worth 0 never passes).
    The one definition for hand-in, the last written answer graded and a regrade."""
    return bool(maximum) and total * 100 >= maximum * pass_percent


def correct_answer_text(qtype: str, data: dict) -> str:
    """The right answer in words, for review pages after finishing (never during an attempt)."""
    if qtype in (QuestionType.SINGLE, QuestionType.MULTIPLE):
        return "；".join(o["text"] for o in data.get("options", []) if float(o.get("weight", 0)) > 0)
    if qtype == QuestionType.TRUEFALSE:
        return "正确" if data.get("answer") else "错误"
    if qtype == QuestionType.FILL:
        return "；".join(a["text"] for a in data.get("answers", []) if float(a.get("weight", 100)) >= 100) or \
            "；".join(a["text"] for a in data.get("answers", []))
    if qtype == QuestionType.NUMERIC:
        parts = []
        for a in data.get("answers", []):
            if float(a.get("weight", 100)) < 100:
                continue
            if "min" in a:
                parts.append(f"{a['min']} ~ {a['max']}")
            elif float(a.get("tolerance", 0)):
                parts.append(f"{a['value']} ± {a['tolerance']}")
            else:
                parts.append(f"{a['value']}")
        return "；".join(parts)
    if qtype == QuestionType.MATCHING:
        return "；".join(f"{p['left']} → {p['right']}" for p in data.get("pairs", []) if p.get("left"))
    return ""
