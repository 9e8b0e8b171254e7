"""Who may see and change what. Every query of members or organisations for a manager, and
every decision whether an actor may change an account, goes through here.

The scope is derived from the acting user on the server, never from a request parameter.
"""
from __future__ import annotations

from flask import abort
from sqlalchemy import Select, select

from school.accounts.models import ROLE_LABELS, Organisation, Role, User
from school.extensions import db


def scope_root(actor: User) -> Organisation | None:
    """The root of the subtree ``actor`` manages; ``None`` means the whole school (admins)."""
    if actor.role == Role.ADMIN:
        return None
    if actor.role == Role.SECRETARY and actor.org is not None:
        return actor.org
    abort(403)


def org_in_scope(actor: User, org: Organisation | None) -> bool:
    if org is None:
        return False
    root = scope_root(actor)
    return root is None or org.path.startswith(root.path)


def scoped_orgs(actor: User) -> Select:
    root = scope_root(actor)
    query = select(Organisation)
    if root is not None:
        query = query.where(Organisation.path.startswith(root.path, autoescape=True))
    return query


def scoped_members(actor: User) -> Select:
    root = scope_root(actor)
    query = select(User)
    if root is not None:
        query = query.join(Organisation, User.org_id == Organisation.id).where(
            Organisation.path.startswith(root.path, autoescape=True))
    return query


def get_org_or_404(actor: User, org_id: int) -> Organisation:
    org = db.session.get(Organisation, org_id)
    if not org_in_scope(actor, org):
        abort(404)
    return org


# --- the one rule for changing people ----------------------------------------------------
#
# Every change of a member — the member form, the reset and deactivate buttons, the member
# import (CSV/XLSX) and the terminal commands (which act as ``roles.system_actor()``, an
# admin) — asks ``change_refusal`` / ``can_manage_user`` below and nothing else.


def roles_assignable_by(actor: User) -> list[str]:
    """Nobody hands out a role above their own. An admin hands out every role; a secretary
    only 党员 (editors and admins are above a secretary, and secretaries are appointed by an
    admin); anybody else none."""
    if actor.role == Role.ADMIN:
        return list(Role)
    if actor.role == Role.SECRETARY and actor.org is not None:
        return [Role.MEMBER]
    return []


def _refusal(actor: User, user_id: int | None, role: str, org: Organisation | None) -> str | None:
    """Why ``actor`` could not manage an account with this id, role and organisation (``None``: may)."""
    if actor.role == Role.ADMIN:
        return None
    if actor.role != Role.SECRETARY or actor.org is None:
        return "无权管理账号"
    root = actor.org
    if user_id is not None and user_id == actor.id:
        return "不能修改自己的账号，请联系上级党组织"
    if org is None:
        return "该账号不属于任何党组织，只有全校管理员可以修改"
    if not org.path.startswith(root.path):
        return "该账号不在您的管理范围内"
    if role == Role.MEMBER:
        return None
    if role == Role.SECRETARY and org.path != root.path:
        return None  # the secretary of an organisation strictly below one's own
    return f"无权修改“{ROLE_LABELS.get(role, role)}”的账号"


def manage_refusal(actor: User, user: User) -> str | None:
    """Why ``actor`` may not change ``user`` (edit, deactivate, reset the password), in Chinese;
    ``None`` if they may.

    A secretary manages ordinary members of their subtree and the secretaries of
    organisations strictly below their own — never editors or admins, never accounts without
    an organisation, never themselves — so a secretary can never take over or disable a more
    powerful account. Admins manage everyone.
    """
    return _refusal(actor, user.id, user.role, user.org)


def can_manage_user(actor: User, user: User) -> bool:
    return manage_refusal(actor, user) is None


def change_refusal(actor: User, user: User | None, org: Organisation | None, role: str) -> str | None:
    """May ``actor`` create (``user`` is ``None``) or change ``user`` so that it ends up in
    ``org`` with ``role``? The reason in Chinese if not.

    Three questions, all of which must be answered yes:
    before — the account as it is now is one the actor manages;
    grant — a role that changes is one the actor may hand out (nobody grants above their own);
    after — the account as it will be is still one the actor manages, so nothing is moved
    or promoted out of (or into) the actor's reach.
    """
    if user is not None:
        reason = manage_refusal(actor, user)
        if reason:
            return reason
    if (user is None or user.role != role) and role not in roles_assignable_by(actor):
        return f"无权设置“{ROLE_LABELS.get(role, role)}”角色"
    if org is None and actor.role != Role.ADMIN:
        return "请选择您管理范围内的党组织"
    if org is not None and actor.role != Role.ADMIN and not org.path.startswith(actor.org.path):
        return "所在党组织不在您的管理范围内"
    return _refusal(actor, user.id if user is not None else None, role, org)


def get_member_or_404(actor: User, user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if scope_root(actor) is not None and not org_in_scope(actor, user.org):
        abort(404)
    return user
