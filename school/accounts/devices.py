"""Known devices: a signed cookie a browser receives when it logs in to an account.

The account lock (``auth.throttle_wait``) exists to stop a guessing run against one account;
without this, anybody who knows a member number could lock its owner out for good by typing
five wrong passwords every quarter hour — during the year-end exam week, say. A browser that
has logged in to the account before presents this cookie and keeps its own failure counter,
so the owner still gets in on their own phone while the stranger stays locked out. The cookie
proves a past successful login only: it never skips the password.
"""
from __future__ import annotations

import secrets

from flask import Request, Response, current_app
from itsdangerous import BadSignature, URLSafeSerializer

COOKIE = "school_device"
MAX_AGE = 400 * 24 * 3600  # a year and a bit: members log in about once a month
MAX_ACCOUNTS = 5  # a family's shared phone: each member who logs in on it keeps their device id


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="school-login-device")


def _held(request: Request) -> list[tuple[int, str]]:
    """The (account, device id) pairs of this browser's genuine cookie, most recent login first.
    Reads the one-account form of earlier cookies ({"u", "d"}) too."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return []
    try:
        value = _serializer().loads(raw)
    except BadSignature:
        return []
    if isinstance(value, dict) and "u" in value:
        value = {"a": [[value.get("u"), value.get("d")]]}
    pairs = value.get("a") if isinstance(value, dict) else None
    if not isinstance(pairs, list):
        return []
    return [(pair[0], pair[1][:32]) for pair in pairs[:MAX_ACCOUNTS]
            if isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], int) and isinstance(pair[1], str)]


def device_for(request: Request, user_id: int | None) -> str | None:
    """The device id this browser holds for account ``user_id``, if its cookie is genuine."""
    if user_id is None:
        return None
    return next((device for account, device in _held(request) if account == user_id), None)


def remember(response: Response, request: Request, user_id: int) -> None:
    """Give the browser (or keep) its device id for ``user_id`` after a successful login, beside the
    ids of the other accounts that logged in on it (the oldest dropped beyond ``MAX_ACCOUNTS``)."""
    held = _held(request)
    device = next((d for account, d in held if account == user_id), None) or secrets.token_hex(16)
    pairs = [[user_id, device]] + [[account, d] for account, d in held if account != user_id]
    response.set_cookie(COOKIE, _serializer().dumps({"a": pairs[:MAX_ACCOUNTS]}), max_age=MAX_AGE,
                        path="/login", httponly=True, samesite="Lax",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
