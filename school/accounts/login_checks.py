"""The checks a request gets before its view — a member with a password set by someone else
must change it first (``password_refusal``) — and how a view can take them over.

Loading the signed-in user is a statement of its own. On PostgreSQL the exam autosave (most
of the requests of an exam rush) and the usual hand-in check the login session inside their
own statement instead (``auth.live_session_of``): their views are marked
``checks_login_itself``, so the before-request check leaves them alone, and when that statement
does not take the request the view calls ``login_checks()`` — the same checks, in the same
order, as any other view gets. The attempt page reads the user with its attempt, and start
with the exam and its attempts (``sign_in_by``), which spares each the user loader's statement.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable, Sequence

from flask import current_app, jsonify, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from school.accounts import auth

# While ``must_change_password`` is set only these open; everything else leads to the
# change-password page (scripts get 403 with a message instead of a redirect).
OPEN_WHILE_PASSWORD_MUST_CHANGE = {"accounts.change_password", "accounts.logout", "static"}
_MARK = "_checks_login_itself"


def checks_login_itself(view):
    """Mark a view that checks the login session in its own statement and calls
    ``login_checks()`` before anything else whenever that statement does not take the request."""
    setattr(view, _MARK, True)
    return view


def view_checks_login() -> bool:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    return bool(getattr(view, _MARK, False))


def password_refusal() -> ResponseReturnValue | None:
    """The change-password page (403 with a message for scripts) while the signed-in member's
    password is one someone else set; ``None`` otherwise. Loads the user."""
    if not (current_user.is_authenticated and current_user.must_change_password):
        return None
    endpoint = request.endpoint or ""
    if endpoint in OPEN_WHILE_PASSWORD_MUST_CHANGE or endpoint.endswith(".static"):
        return None
    message = "您的密码由他人设置，请先修改密码"
    if request.is_json or request.accept_mimetypes.best == "application/json" or "X-CSRFToken" in request.headers:
        return jsonify(error=message), 403
    return redirect(url_for("accounts.change_password"))


def login_checks() -> ResponseReturnValue | None:
    """For a view marked ``checks_login_itself``: what the before-request check and
    ``login_required`` would have answered (a response), or ``None`` to go on as the user."""
    refused = password_refusal()
    if refused is None and not current_user.is_authenticated:
        refused = current_app.login_manager.unauthorized()
    return refused


def _lifetime() -> timedelta:
    return timedelta(seconds=current_app.config["PERMANENT_SESSION_LIFETIME"])


def session_claim(now) -> auth.SessionClaim | None:
    """This request's login session as sent (Flask-Login keeps the token in ``_user_id``), unchecked."""
    return auth.session_claim(session.get("_user_id"), now, _lifetime())


def sign_in_by(read: Callable[[str | None, datetime, timedelta], Sequence | None], now: datetime) -> Sequence | None:
    """For a view marked ``checks_login_itself`` that reads the login session together with
    its own rows — ``read(token, now, max_age)``, such as ``notices.menu.read_page_session``
    with a statement of the view's: what ``read`` gave (a row or a tuple, the user first),
    its user made the request's user; or ``None`` when the view must call ``login_checks()``
    instead (no live session, or a password to change first)."""
    row = read(session.get("_user_id"), now, _lifetime())
    if row is None or row[0].must_change_password:
        return None
    current_app.login_manager._update_request_context_with_user(row[0])  # what the user loader's result becomes
    return row
