"""Passwords, login throttling and server-side login sessions.

Every function takes the time ``now`` explicitly so the rules are testable without a clock.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select

from school.accounts.models import AuthSession, LoginAttempt, User
from school.extensions import db

_hasher = PasswordHasher()  # argon2id with the library's recommended memory-hard parameters

MIN_PASSWORD_LENGTH = 8


class PasswordPolicyError(ValueError):
    pass


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher.hash(password)


def verify_password(user: User, password: str) -> bool:
    if not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(f"密码至少需要 {MIN_PASSWORD_LENGTH} 位")
    if password.isdigit() or password.isalpha():
        raise PasswordPolicyError("密码需同时包含字母和数字（或符号）")


def set_password(user: User, password: str, now: datetime) -> None:
    """Set a new password and end every login session of the user."""
    user.password_hash = hash_password(password)
    user.password_changed_at = now
    revoke_all_sessions(user)


def find_user_for_login(identifier: str) -> User | None:
    identifier = identifier.strip()
    if not identifier:
        return None
    return db.session.scalar(select(User).where(or_(User.member_no == identifier, User.phone == identifier)))


# --- throttling -------------------------------------------------------------------------


@dataclass(frozen=True)
class ThrottlePolicy:
    window: timedelta
    max_per_account: int
    max_per_ip: int


def _recent_failures(column, value: str, since: datetime) -> int:
    return db.session.scalar(
        select(func.count()).select_from(LoginAttempt).where(
            column == value, LoginAttempt.at >= since, LoginAttempt.success.is_(False)
        )
    ) or 0


def throttle_wait(identifier: str, ip: str, policy: ThrottlePolicy, now: datetime) -> timedelta | None:
    """How long the caller must wait before trying again, or ``None`` if a try is allowed.

    Failures are counted in the database, so the limit holds across gunicorn workers.
    """
    since = now - policy.window
    limits = (
        (LoginAttempt.identifier, identifier.strip().lower(), policy.max_per_account),
        (LoginAttempt.ip, ip, policy.max_per_ip),
    )
    for column, value, limit in limits:
        if _recent_failures(column, value, since) >= limit:
            oldest = db.session.scalar(
                select(func.min(LoginAttempt.at)).where(
                    column == value, LoginAttempt.at >= since, LoginAttempt.success.is_(False)
                )
            )
            return max(oldest + policy.window - now, timedelta(seconds=1))
    return None


def record_attempt(identifier: str, ip: str, success: bool, now: datetime, user: User | None = None) -> None:
    db.session.add(LoginAttempt(identifier=identifier.strip().lower()[:60], ip=ip, at=now,
                                success=success, user_id=user.id if user else None))
    if success:
        # A successful login clears this account's failures so a typo later starts afresh.
        db.session.execute(delete(LoginAttempt).where(
            LoginAttempt.identifier == identifier.strip().lower(), LoginAttempt.success.is_(False)))


class LoginError(Exception):
    """A refusal with a message fit to show the person."""

    def __init__(self, message: str, throttled: bool = False):
        super().__init__(message)
        self.throttled = throttled


def authenticate(identifier: str, password: str, ip: str, policy: ThrottlePolicy, now: datetime) -> User:
    wait = throttle_wait(identifier, ip, policy, now)
    if wait is not None:
        minutes = max(1, int(wait.total_seconds() // 60) + (1 if wait.total_seconds() % 60 else 0))
        raise LoginError(f"登录失败次数过多，请 {minutes} 分钟后再试", throttled=True)
    user = find_user_for_login(identifier)
    if user is None or not verify_password(user, password):
        record_attempt(identifier, ip, False, now)
        raise LoginError("党员编号/手机号或密码不正确")
    if not user.active:
        record_attempt(identifier, ip, False, now, user)
        raise LoginError("该账号已停用，请联系所在党组织")
    record_attempt(identifier, ip, True, now, user)
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


def load_session_user(token: str | None, now: datetime, max_age: timedelta) -> User | None:
    """The user of a live login session; expired, revoked or deactivated sessions give ``None``."""
    if not token:
        return None
    row = db.session.scalar(select(AuthSession).where(AuthSession.token_hash == _hash_token(token)))
    if row is None or not row.user.active or row.created_at < now - max_age:
        return None
    user = row.user
    user.auth_token = token
    return user


def end_session(token: str | None) -> None:
    if token:
        db.session.execute(delete(AuthSession).where(AuthSession.token_hash == _hash_token(token)))


def revoke_all_sessions(user: User) -> None:
    db.session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
