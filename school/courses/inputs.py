"""Reading what the browser sent to the courses' JSON endpoints (heartbeat, uploads) without
ever failing on it: whatever arrives is a mapping or nothing, and text and numbers are checked
against what the database columns can hold. A value that does not fit raises ``ValueError``,
which the views answer with a Chinese 400."""
from __future__ import annotations

import re
from collections.abc import Mapping

from flask import request

INT32_MAX = 2**31 - 1  # an Integer column on PostgreSQL
# NUL (PostgreSQL text cannot hold it) and lone surrogates (not encodable as UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def json_object(form_fallback: bool = False) -> Mapping:
    """The request's JSON object; anything else (a list, a number, broken or absurdly deeply
    nested JSON) is an empty mapping — or the submitted form, for endpoints that take both."""
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        data = None
    if isinstance(data, dict):
        return data
    return request.form if form_fallback else {}


def text(value, limit: int) -> str:
    """``value`` as text of at most ``limit`` characters; refused if a database cannot store it."""
    value = str(value)
    if _UNSTORABLE.search(value):
        raise ValueError("unstorable character")
    return value[:limit]


def integer(value, low: int | None = None, high: int | None = None) -> int:
    """``int(value)``, within [low, high] when given; infinities and NaN are refused."""
    try:
        number = int(value)
    except OverflowError as exc:  # int(float("inf"))
        raise ValueError("not a finite number") from exc
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError("out of range")
    return number


def real(value) -> float:
    """``float(value)``; an integer too large for a float is refused (NaN and ±inf pass: the rules reject them)."""
    try:
        return float(value)
    except OverflowError as exc:
        raise ValueError("too large") from exc

