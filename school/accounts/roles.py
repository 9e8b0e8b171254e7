"""Roles in one place: which roles edit content, manage people or read results, the view
decorators that enforce them, and the signed-in actor that services are handed.

Scope (which organisations a manager reaches) is a different question and lives in
``accounts.scoping``; this module only answers "may this role do this kind of thing".
"""
from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from school.accounts.models import Role, User

EDITOR_ROLES = (Role.EDITOR, Role.ADMIN)  # content: library, courses, question banks, exams
MANAGER_ROLES = (Role.SECRETARY, Role.ADMIN)  # people and credits, within their scope
RESULT_READERS = (Role.EDITOR, Role.SECRETARY, Role.ADMIN)  # exam results (rows scoped for secretaries)


def current_actor() -> User:
    """The signed-in user as a plain model object, to hand to services as ``actor``."""
    return current_user._get_current_object()


def system_actor(name: str = "命令行") -> User:
    """The unsaved admin that a terminal command or the demo loader acts as: full rights,
    and nothing in the database to point at (audit rows name no user for it)."""
    return User(name=name, member_no="-", role=Role.ADMIN)


def is_editor(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.role in EDITOR_ROLES)


def can_manage(actor) -> bool:
    """Secretaries with an organisation to manage, and admins."""
    return bool(getattr(actor, "is_authenticated", False) and actor.role in MANAGER_ROLES
                and (actor.role == Role.ADMIN or actor.org is not None))


def roles_required(*roles):
    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def manager_required(view):
    """Secretaries (scoped to their subtree) and admins."""
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not can_manage(current_user):
            abort(403)
        return view(*args, **kwargs)
    return wrapped


admin_required = roles_required(Role.ADMIN)
editor_required = roles_required(*EDITOR_ROLES)
result_reader_required = roles_required(*RESULT_READERS)
