"""Who "everyone behind" is, for a reminder sent from a long list (a plan, a class roster).

A county's behind list is tens of thousands of members: too many to send back as checkboxes.
The form names its source instead (``plan:7``, ``class:3``) and the package that owns the list
computes it here, for the sender and within their scope. A finder raises ``LookupError`` for
a source the sender may not see (the view answers 404, as for a member outside scope).
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from school.accounts.models import User

Finder = Callable[[User, int, datetime], list[int]]
_finders: dict[str, Finder] = {}


def register(kind: str, finder: Finder) -> None:
    _finders[kind] = finder


def everyone_behind(source: str, actor: User, now: datetime) -> list[int] | None:
    """The member ids behind in ``source`` (``kind:id``), or ``None`` when the source names no
    list that has such a finder."""
    kind, _, ref = source.partition(":")
    finder = _finders.get(kind)
    if finder is None or not ref.isdigit():
        return None
    return finder(actor, int(ref), now)
