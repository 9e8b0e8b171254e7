"""Who a course or an exam is for: one rule, one SQL form of it, one way to store it.

An owner (a course, an exam, later a class) names organisations and member categories.
Storage is the same for every owner: an association table ``<owner>_audience_org``
(owner id, organisation id) and a comma-separated ``audience_categories`` column. The
rule: a member is in the audience when

- no organisation is named, or the member's organisation is inside the subtree of one of
  them (its path ``/1/4/9/`` holds the named id), and
- no category is named, or the member's category is one of them.

A member without an organisation is outside every audience that names organisations.
"""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import Column, ForeignKey, String, Table, and_, exists, literal, or_
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from school.accounts.models import Organisation, User
from school.extensions import db


def audience_table(owner_table: str) -> Table:
    """The association table of one owner kind, e.g. ``course_audience_org``."""
    return Table(
        f"{owner_table}_audience_org", db.metadata,
        Column(f"{owner_table}_id", ForeignKey(f"{owner_table}.id", ondelete="CASCADE"), primary_key=True),
        Column("org_id", ForeignKey("organisation.id", ondelete="CASCADE"), primary_key=True),
    )


class AudienceMixin:
    """The categories half of the storage (the organisations are the owner's relationship
    ``audience_orgs`` over its ``audience_table``)."""

    @declared_attr
    def audience_categories(cls) -> Mapped[str]:
        # Comma-separated member categories (full, probationary, …); empty means any.
        return mapped_column(String(200), default="")

    @property
    def categories(self) -> list[str]:
        return split_categories(self.audience_categories)


def join_categories(categories: Iterable[str]) -> str:
    return ",".join(sorted(set(categories)))


def split_categories(stored: str | None) -> list[str]:
    return [c for c in (stored or "").split(",") if c]


def org_ids_on_path(user: User) -> list[int]:
    """The organisations whose subtree holds the user: the ids on its path /1/4/9/."""
    return [int(part) for part in user.org.path.strip("/").split("/") if part] if user.org else []


def includes(orgs: Iterable[Organisation], categories: Iterable[str], user: User) -> bool:
    """The rule, on loaded objects."""
    orgs, categories = list(orgs), list(categories)
    if orgs and not (user.org is not None and any(user.org.path.startswith(o.path) for o in orgs)):
        return False
    if categories and user.category not in categories:
        return False
    return True


def condition(table: Table, owner_id, categories_column, user: User):
    """The same rule as one SQL condition over an owner's rows (``owner_id`` is its id column)."""
    owner_col, org_col = _columns(table)
    has_orgs = exists().where(owner_col == owner_id)
    in_orgs = exists().where(owner_col == owner_id, org_col.in_(org_ids_on_path(user)))
    categories_ok = or_(categories_column == "",
                        (literal(",") + categories_column + literal(","))
                        .contains(f",{user.category},", autoescape=True))
    return and_(or_(~has_orgs, in_orgs), categories_ok)


def names_org_under(table: Table, owner_id, root: Organisation):
    """SQL: the owner names an organisation inside ``root``'s subtree (what a secretary manages)."""
    owner_col, org_col = _columns(table)
    return exists().where(owner_col == owner_id, org_col == Organisation.id,
                          Organisation.path.startswith(root.path, autoescape=True))


def _columns(table: Table):
    owner_col = next(c for c in table.c if c.name != "org_id")
    return owner_col, table.c.org_id
