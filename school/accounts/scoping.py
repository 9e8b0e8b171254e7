"""Who may see what. Every query of members or organisations for a manager goes through here.

The scope is derived from the acting user on the server, never from a request parameter.
"""
from __future__ import annotations

from flask import abort
from sqlalchemy import Select, select

from school.accounts.models import Organisation, Role, User
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


def can_manage_user(actor: User, user: User) -> bool:
    """May ``actor`` change ``user`` (edit, deactivate, reset the password)?

    A secretary manages ordinary members of their subtree and the secretaries of
    organisations strictly below their own — never editors or admins, so a secretary can
    never take over a more powerful account by resetting its password.
    """
    root = scope_root(actor)
    if root is None:
        return True
    if user.id == actor.id or not org_in_scope(actor, user.org):
        return False
    if user.role == Role.MEMBER:
        return True
    return user.role == Role.SECRETARY and user.org.path != root.path


def get_member_or_404(actor: User, user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if scope_root(actor) is not None and not org_in_scope(actor, user.org):
        abort(404)
    return user
