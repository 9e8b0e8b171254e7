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


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="school-login-device")


def device_for(request: Request, user_id: int | None) -> str | None:
    """The device id this browser holds for account ``user_id``, if its cookie is genuine."""
    raw = request.cookies.get(COOKIE)
    if not raw or user_id is None:
        return None
    try:
        value = _serializer().loads(raw)
    except BadSignature:
        return None
    if not isinstance(value, dict) or value.get("u") != user_id or not isinstance(value.get("d"), str):
        return None
    return value["d"][:32]


def remember(response: Response, request: Request, user_id: int) -> None:
    """Give the browser (or keep) its device cookie for ``user_id`` after a successful login."""
    device = device_for(request, user_id) or secrets.token_hex(16)
    response.set_cookie(COOKIE, _serializer().dumps({"u": user_id, "d": device}), max_age=MAX_AGE,
                        path="/login", httponly=True, samesite="Lax",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
