"""Passwords, login throttling and server-side login sessions.

Every function takes the time ``now`` explicitly so the rules are testable without a clock.
"""
from __future__ import annotations

import functools
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import Row, bindparam, delete, func, select
from sqlalchemy.orm import joinedload
from sqlalchemy.sql.elements import ColumnElement

from school import jobs
from school.accounts.models import AuthSession, LoginAttempt, User
from school.extensions import db

_hasher = PasswordHasher()  # argon2id with the library's recommended memory-hard parameters

MIN_PASSWORD_LENGTH = 8


class PasswordPolicyError(ValueError):
    pass


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher.hash(password)


@functools.cache
def _dummy_hash() -> str:
    """A hash of a random password, made once with the same parameters as real ones, so that
    an unknown account (or one without a password) costs the same time as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


def verify_password(user: User | None, password: str) -> bool:
    """Check ``password``; with no user or no password still spend one argon2 verification."""
    stored = user.password_hash if user is not None else None
    try:
        return _hasher.verify(stored or _dummy_hash(), password) and bool(stored)
    except (VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"密码至少需要 {MIN_PASSWORD_LENGTH} 位")
    if password.isdigit() or password.isalpha():
        raise PasswordPolicyError("密码需同时包含字母和数字（或符号）")


def set_password(user: User, password: str, now: datetime, *, by_owner: bool = False) -> None:
    """Set a new password and end every login session of the user.

    Only the member's own change (``by_owner=True``) clears ``must_change_password``; a
    password set by anyone else (a manager's reset, an operator's ``school user
    set-password``) must be changed at the next login.
    """
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    user.must_change_password = not by_owner
    revoke_all_sessions(user)


def normalise_identifier(identifier: str) -> str:
    """Full-width digits and letters (as Chinese input methods type them) → ASCII; no spaces."""
    return unicodedata.normalize("NFKC", identifier).strip()


def find_user_for_login(identifier: str) -> User | None:
    """The account whose member number is ``identifier``, else the one whose phone number is.

    Member number first (letter case aside: OUT01 and out01 are one number): one account's member number equal to another's phone number (refused
    by ``members.validate`` now, possible in older data) never makes the answer depend on row order.
    """
    identifier = normalise_identifier(identifier)
    if not identifier:
        return None
    from school.accounts.members import find_by_member_no  # members imports this module

    return find_by_member_no(identifier) or db.session.scalar(select(User).where(User.phone == identifier))


# --- throttling -------------------------------------------------------------------------
#
# Failed logins are rows of ``login_attempt`` (shared by every gunicorn worker). Each row
# names the *account key* — ``user:<id>`` when the identifier resolves to an account, so the
# member number and the phone number share one counter, ``name:<identifier>`` otherwise —
# and the client address.
#
# 1. Account: ``max_per_account`` failures within the window lock the account for everybody,
#    even with the right password (a guessing run against one account stops there).
# 2. Address: an address with ``max_per_ip`` failures within the window is *busy*. From a busy
#    address each account gets only ``max_per_account_from_busy_ip`` failures (default 2)
#    before tries of that account from that address are refused unchecked. Accounts without
#    failures from the address are checked as usual, so a member behind the same village NAT
#    who types the right password still gets in; a guessing run from the address is cut to
#    that many guesses per account, and it never locks an account it has not tried.
# 3. Known device: a browser that logged in to the account before (``devices.py``) is not
#    held by rules 1 and 2, only by its own counter of ``max_per_account`` failures, so a
#    stranger who locks an account does not lock its owner out of their own phone.
# Refusals that come from these limits are answered without checking the password, the same
# way for existing and unknown accounts.


@dataclass(frozen=True)
class ThrottlePolicy:
    window: timedelta
    max_per_account: int
    max_per_ip: int
    max_per_account_from_busy_ip: int = 2


def account_key(identifier: str, user: User | None) -> str:
    """One failure counter per account, whichever identifier was typed."""
    if user is not None and user.id is not None:
        return f"user:{user.id}"
    return f"name:{normalise_identifier(identifier).lower()}"[:60]


def _failures(since: datetime, *conditions: ColumnElement) -> tuple[int, datetime | None]:
    """How many failures match since ``since``, and when the oldest of them was."""
    count, oldest = db.session.execute(
        select(func.count(), func.min(LoginAttempt.at)).where(
            *conditions, LoginAttempt.at >= since, LoginAttempt.success.is_(False))
    ).one()
    return count or 0, oldest


def _recent_failures(column, value: str, since: datetime) -> int:
    return _failures(since, column == value)[0]


def throttle_wait(key: str, ip: str, policy: ThrottlePolicy, now: datetime,
                  device: str | None = None) -> timedelta | None:
    """How long the caller must wait before trying account ``key`` again from ``ip`` (on known
    device ``device``), or ``None`` if a try is allowed (see the rules above)."""
    since = now - policy.window
    if device is not None:
        count, oldest = _failures(since, LoginAttempt.identifier == key, LoginAttempt.device == device)
        return max(oldest + policy.window - now, timedelta(seconds=1)) if count >= policy.max_per_account else None
    count, oldest = _failures(since, LoginAttempt.identifier == key)
    if count >= policy.max_per_account:
        return max(oldest + policy.window - now, timedelta(seconds=1))
    if _failures(since, LoginAttempt.ip == ip)[0] >= policy.max_per_ip:
        count, oldest = _failures(since, LoginAttempt.identifier == key, LoginAttempt.ip == ip)
        if count >= policy.max_per_account_from_busy_ip:
            return max(oldest + policy.window - now, timedelta(seconds=1))
    return None


def record_attempt(key: str, ip: str, success: bool, now: datetime, user: User | None = None,
                   device: str | None = None) -> None:
    db.session.add(LoginAttempt(identifier=key[:60], ip=ip[:64], at=now, success=success,
                                user_id=user.id if user else None, device=device))
    if success:
        # A successful login clears this account's failures so a typo later starts afresh; on a
        # known device only that device's own, or the owner's daily login would hand a stranger
        # who is guessing a fresh set of tries.
        mine = [LoginAttempt.device == device] if device is not None else []
        db.session.execute(delete(LoginAttempt).where(
            LoginAttempt.identifier == key[:60], LoginAttempt.success.is_(False), *mine))


class LoginError(Exception):
    """A refusal with a message fit to show the person."""

    def __init__(self, message: str, throttled: bool = False):
        super().__init__(message)
        self.throttled = throttled


def authenticate(identifier: str, password: str, ip: str, policy: ThrottlePolicy, now: datetime,
                 known_device: Callable[[int | None], str | None] = lambda user_id: None) -> User:
    """The account for ``identifier`` and ``password``; ``known_device(user_id)`` gives the
    device id the caller's browser holds for that account, if any."""
    user = find_user_for_login(identifier)
    key = account_key(identifier, user)
    device = known_device(user.id) if user is not None else None
    wait = throttle_wait(key, ip, policy, now, device)
    if wait is not None:
        minutes = max(1, int(wait.total_seconds() // 60) + (1 if wait.total_seconds() % 60 else 0))
        raise LoginError(f"登录失败次数过多，请 {minutes} 分钟后再试", throttled=True)
    if not verify_password(user, password):  # one argon2 verification, known account or not
        record_attempt(key, ip, False, now, user, device)
        raise LoginError("党员编号/手机号或密码不正确")
    if not user.active:
        record_attempt(key, ip, False, now, user, device)
        raise LoginError("该账号已停用，请联系所在党组织")
    record_attempt(key, ip, True, now, user, device)
    return user


# --- server-side sessions ---------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, now: datetime, ip: str | None, user_agent: str | None) -> str:
    token = secrets.token_urlsafe(32)
    db.session.add(AuthSession(token_hash=_hash_token(token), user_id=user.id, created_at=now,
                               ip=ip, user_agent=(user_agent or "")[:300]))
    user.auth_token = token
    return token


@functools.cache
def session_statement(with_org: bool):
    """The user of a live session in one statement, built once (the token and the oldest
    start still alive as parameters): every signed-in request pays for it. The session's rules
    — not expired, user active — are in the WHERE, so only the user's columns come back: on
    PostgreSQL each result column costs the driver Python work, and this read was the largest
    single part of an exam autosave's CPU. ``with_org`` also loads the user's organisation
    (a page's menu and audience checks need it; a JSON call such as an autosave does not, and
    should it touch ``user.org`` after all, the organisation is loaded then)."""
    columns = AuthSession.__table__.c
    stmt = select(User).join(AuthSession, AuthSession.user_id == User.id).where(
        AuthSession.token_hash == bindparam("token_hash", type_=columns.token_hash.type),
        AuthSession.created_at >= bindparam("oldest", type_=columns.created_at.type),
        User.active)
    return stmt.options(joinedload(User.org)) if with_org else stmt


@dataclass(frozen=True)
class SessionClaim:
    """A request's login session, not yet checked: what a statement needs to check it itself
    (``live_session_of``) instead of loading the user first."""

    token_hash: str
    oldest: datetime  # sessions started before this have expired


def live_session_of(member: str) -> str:
    """The rules of ``session_statement`` (and of ``require_own_password``: no password to
    change first) as an SQL condition on the member ``member`` (a column or a parameter), for a
    statement that saves a round trip by not loading the user: the autosave's and the
    hand-in's (``exams.attempts``). Parameters ``:token_hash`` and ``:oldest``."""
    return f"""EXISTS (
    SELECT 1 FROM auth_session JOIN users ON users.id = auth_session.user_id
    WHERE auth_session.token_hash = :token_hash AND auth_session.user_id = {member}
      AND auth_session.created_at >= :oldest AND users.active AND NOT users.must_change_password)"""


def session_claim(token: object, now: datetime, max_age: timedelta) -> SessionClaim | None:
    """The claim of the login-session token ``token`` (Flask-Login's ``session["_user_id"]``),
    or ``None`` when the request carries none."""
    if not isinstance(token, str) or not token:
        return None
    return SessionClaim(_hash_token(token), now - max_age)


def load_session_user(token: str | None, now: datetime, max_age: timedelta, with_org: bool = True) -> User | None:
    """The user of a live login session; expired, revoked or deactivated sessions give ``None``."""
    row = read_session(token, now, max_age, session_statement(with_org))
    return row[0] if row is not None else None


def read_session(token: str | None, now: datetime, max_age: timedelta, statement, params: dict | None = None,
                 every_row: bool = False) -> Row | list[Row] | None:
    """``statement`` — ``session_statement`` with more columns, ``params`` theirs — for the
    login session ``token``: the row (the user first), or ``None`` as ``load_session_user``.
    Lets a page read what it shows of the user's along with the session, in one round trip.
    ``every_row``: all the rows, made unique (for a statement that joins a collection, whose
    rows repeat), or ``None`` when there are none."""
    if not token:
        return None
    result = db.session.execute(statement, {"token_hash": _hash_token(token), "oldest": now - max_age,
                                            **(params or {})})
    rows = result.unique().all() if every_row else result.first()
    if not rows:
        return None
    (rows[0] if every_row else rows)[0].auth_token = token
    return rows


def end_session(token: str | None) -> None:
    if token:
        db.session.execute(delete(AuthSession).where(AuthSession.token_hash == _hash_token(token)))


def revoke_all_sessions(user: User) -> None:
    db.session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))


# --- housekeeping -----------------------------------------------------------------------

ATTEMPTS_KEPT = timedelta(days=90)  # long after any throttling window: for looking into an incident


def prune_logins(now: datetime, session_max_age: timedelta, attempts_kept: timedelta = ATTEMPTS_KEPT) -> tuple[int, int]:
    """Delete login sessions past their lifetime (they no longer sign anyone in) and login
    attempts older than ``attempts_kept``; both tables otherwise grow with every login."""
    sessions = db.session.execute(delete(AuthSession).where(AuthSession.created_at < now - session_max_age))
    attempts = db.session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - attempts_kept))
    return sessions.rowcount, attempts.rowcount


def _prune_task(now: datetime) -> None:
    prune_logins(now, timedelta(seconds=current_app.config["PERMANENT_SESSION_LIFETIME"]))


jobs.every(3600, "accounts-prune-logins", _prune_task)
