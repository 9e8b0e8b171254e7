"""Users, the organisation tree, server-side login sessions and login attempts."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school.extensions import db
from school.timeutil import utcnow


class Role(StrEnum):
    MEMBER = "member"
    EDITOR = "editor"
    SECRETARY = "secretary"
    ADMIN = "admin"


ROLE_LABELS = {
    Role.MEMBER: "党员",
    Role.EDITOR: "内容编辑",
    Role.SECRETARY: "支部书记/组织管理员",
    Role.ADMIN: "全校管理员",
}


class Category(StrEnum):
    FULL = "full"
    PROBATIONARY = "probationary"
    COMMITTEE = "committee"
    CADRE = "cadre"


CATEGORY_LABELS = {
    Category.FULL: "正式党员",
    Category.PROBATIONARY: "预备党员",
    Category.COMMITTEE: "支部书记/委员",
    Category.CADRE: "领导干部",
}


class OrgKind(StrEnum):
    COMMITTEE = "committee"
    GENERAL_BRANCH = "general_branch"
    BRANCH = "branch"


ORG_KIND_LABELS = {
    OrgKind.COMMITTEE: "党委",
    OrgKind.GENERAL_BRANCH: "党总支",
    OrgKind.BRANCH: "党支部",
}


class Organisation(db.Model):
    """A node of the tree. ``path`` is the materialised path ``/1/4/9/``: a subtree is a prefix match."""

    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20), default=OrgKind.BRANCH)
    path: Mapped[str] = mapped_column(String(500), default="", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    parent: Mapped[Organisation | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Organisation]] = relationship(back_populates="parent", order_by="Organisation.name")

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    @property
    def kind_label(self) -> str:
        return ORG_KIND_LABELS.get(self.kind, self.kind)

    def contains(self, other: Organisation) -> bool:
        return other.path.startswith(self.path)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    member_no: Mapped[str] = mapped_column(String(40), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    email: Mapped[str | None] = mapped_column(String(200))  # reminders by e-mail when set
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=Role.MEMBER)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    category: Mapped[str] = mapped_column(String(20), default=Category.FULL)
    is_floating: Mapped[bool] = mapped_column(Boolean, default=False)
    floating_place: Mapped[str | None] = mapped_column(String(120))
    floating_contact: Mapped[str | None] = mapped_column(String(120))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    large_text: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Set when someone else chose the password (a reset, an import, an operator): until the
    # member sets their own, every page but the change-password page redirects there.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    org: Mapped[Organisation | None] = relationship()

    # Flask-Login: the id it keeps in the cookie is the *login session* token, set by
    # the user loader, so a server-side revocation refuses a replayed cookie.
    auth_token = None  # plain attribute, not a column

    def get_id(self) -> str | None:
        return self.auth_token

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def category_label(self) -> str:
        return CATEGORY_LABELS.get(self.category, self.category)

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


class AuthSession(db.Model):
    """One row per logged-in browser; deleting it logs that browser out for good."""

    __tablename__ = "auth_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    user: Mapped[User] = relationship()


class LoginAttempt(db.Model):
    """Failed and successful logins, counted per account and per IP across all workers.

    ``identifier`` holds the account key (``user:<id>``, or ``name:<identifier>`` for names
    that match no account), see ``auth.account_key``."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_identifier_at", "identifier", "at"),
        Index("ix_login_attempt_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier: Mapped[str] = mapped_column(String(60))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    user_id: Mapped[int | None] = mapped_column(Integer)
    device: Mapped[str | None] = mapped_column(String(32))  # known device (devices.py), if any
