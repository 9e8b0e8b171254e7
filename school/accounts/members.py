"""Creating, editing, deactivating members and resetting their passwords.

Whether the actor may do it is asked of ``scoping.change_refusal`` / ``manage_refusal`` —
the one rule shared by the forms, the import and the terminal commands.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from school.accounts import auth
from school.accounts.models import Category, Organisation, Role, User
from school.accounts.scoping import change_refusal, manage_refusal, org_in_scope, roles_assignable_by
from school.extensions import db

PHONE_RE = re.compile(r"^1\d{10}$")
# An address reminders can be mailed to: one @, a dotted domain, no spaces or quotes.
EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$")
MEMBER_NO_RE = re.compile(r"^[0-9A-Za-z\-_]{2,40}$")


class MemberError(ValueError):
    pass


@dataclass
class MemberData:
    name: str
    member_no: str
    org: Organisation | None
    phone: str | None = None
    email: str | None = None  # reminders are also mailed here when set
    category: str = Category.FULL
    role: str = Role.MEMBER
    is_floating: bool = False
    floating_place: str | None = None
    floating_contact: str | None = None
    active: bool = True


__all__ = ["MemberData", "MemberError", "create_member", "deactivate", "deactivate_member",
           "find_by_member_no", "reset_password", "roles_assignable_by", "update_member", "validate"]


def validate(data: MemberData, actor: User, existing: User | None = None) -> None:
    if not data.name.strip():
        raise MemberError("姓名不能为空")
    if not MEMBER_NO_RE.match(data.member_no):
        raise MemberError("党员编号应为 2–40 位字母、数字或 -_")
    if data.phone and not PHONE_RE.match(data.phone):
        raise MemberError("手机号应为 11 位数字")
    if data.email and (len(data.email) > 200 or not EMAIL_RE.match(data.email)):
        raise MemberError(f"电子邮箱“{data.email}”格式不正确，应形如 name@example.com（可不填）")
    if data.category not in set(Category):
        raise MemberError("人员类别不正确")
    if data.role not in set(Role):
        raise MemberError("角色不正确")
    refusal = change_refusal(actor, existing, data.org, data.role)
    if refusal:
        raise MemberError(refusal)
    if data.org is None and data.role not in (Role.ADMIN, Role.EDITOR):
        raise MemberError("请选择所在党组织")
    # OUT01 and out01 are one member number (login and import find either by both).
    clash = _other(select(User).where(func.lower(User.member_no) == data.member_no.lower()), existing)
    if clash is not None:
        raise MemberError(f"党员编号 {data.member_no} 已被{_who(actor, clash)}使用")
    # Member numbers and phone numbers are both login names: one must never be the other's.
    clash = _other(select(User).where(User.phone == data.member_no), existing)
    if clash is not None:
        raise MemberError(f"党员编号 {data.member_no} 与{_who(actor, clash)}的手机号相同，不能用作党员编号")
    if data.phone:
        clash = db.session.scalar(select(User).where(User.phone == data.phone))
        if clash is not None and clash is not existing:
            raise MemberError(f"手机号 {data.phone} 已被{_who(actor, clash)}使用")
        clash = _other(select(User).where(func.lower(User.member_no) == data.phone.lower()), existing)
        if clash is not None:
            raise MemberError(f"手机号 {data.phone} 与{_who(actor, clash)}的党员编号相同，不能用作手机号")


def _who(actor: User, other: User) -> str:
    """The account a number clashes with, named only to someone whose scope holds it: a
    secretary must not learn who outside their branch owns a phone number by typing it in."""
    visible = actor.role == Role.ADMIN or (
        actor.role == Role.SECRETARY and other.org is not None and org_in_scope(actor, other.org))
    return f" {other.name} " if visible else "其他党组织的一名党员"


def find_by_member_no(member_no: str) -> User | None:
    """The account with this member number, letter case aside; an exact match comes first
    (older data may hold two numbers that differ only in case)."""
    if not member_no:
        return None
    return db.session.scalars(select(User).where(func.lower(User.member_no) == member_no.lower())
                              .order_by((User.member_no == member_no).desc(), User.id).limit(1)).first()


def _other(query, existing: User | None) -> User | None:
    """The first account ``query`` finds that is not ``existing``."""
    if existing is not None and existing.id is not None:
        query = query.where(User.id != existing.id)
    return db.session.scalars(query.limit(1)).first()


def _apply(user: User, data: MemberData) -> None:
    user.name = data.name.strip()
    user.member_no = data.member_no
    user.phone = data.phone or None
    user.email = data.email or None
    user.org = data.org
    user.category = data.category
    user.role = data.role
    user.is_floating = data.is_floating
    user.floating_place = (data.floating_place or None) if data.is_floating else None
    user.floating_contact = (data.floating_contact or None) if data.is_floating else None


def create_member(data: MemberData, actor: User, password: str | None = None,
                  now: datetime | None = None) -> User:
    """A new account. A password given here is chosen by someone else (a manager, an import,
    an operator at the terminal), so the member must change it at the first login."""
    validate(data, actor)
    user = User()
    _apply(user, data)
    user.active = data.active
    if password:
        user.password_hash = auth.hash_password(password)
        user.password_changed_at = now
        user.must_change_password = True
    db.session.add(user)
    db.session.flush()
    return user


def update_member(user: User, data: MemberData, actor: User) -> None:
    validate(data, actor, existing=user)
    _apply(user, data)
    if user.active and not data.active:
        deactivate(user)
    user.active = data.active


def _require_manageable(actor: User, user: User) -> None:
    refusal = manage_refusal(actor, user)
    if refusal:
        raise MemberError(refusal)


def deactivate_member(user: User, actor: User) -> None:
    """Deactivate ``user`` if ``actor`` manages them (the rule in ``scoping``)."""
    _require_manageable(actor, user)
    deactivate(user)


def reset_password(user: User, actor: User, password: str, now: datetime) -> None:
    """Set a password for someone else: every session of theirs ends and they must choose
    their own password at the next login."""
    _require_manageable(actor, user)
    auth.set_password(user, password, now, by_owner=False)


def deactivate(user: User) -> None:
    """Stop the account and end its sessions at once; its ledger and history stay."""
    user.active = False
    auth.revoke_all_sessions(user)
