from functools import wraps

from flask import abort
from flask_login import current_user, login_required

from school.accounts.models import Role
from school.accounts.scoping import can_manage


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
