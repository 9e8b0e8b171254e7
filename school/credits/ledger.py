"""The credit ledger: the one way any part of the school awards study hours (学时).

``award`` is idempotent on its key, also under concurrency: the insert is an
``INSERT … ON CONFLICT DO NOTHING … RETURNING`` on the unique key; the caller whose insert
wrote gets its row back from it, the others read the row with that key, so ten racing awards
leave exactly one row and all ten callers see it.
"""
from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from school import observability
from school.accounts.models import User
from school.credits import keys
from school.credits.models import CreditEntry, CreditKind, CreditSource
from school.extensions import db
from school.timeutil import local_year

CENT = Decimal("0.01")


class LedgerError(ValueError):
    pass


def to_hours(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def _insert_ignoring_duplicate(values: dict) -> CreditEntry | None:
    """The row this call wrote, returned whole by the INSERT (no read after it: one round trip
    less on PostgreSQL), or None when a row with the key was already there."""
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(CreditEntry).values(**values).on_conflict_do_nothing(
        index_elements=[CreditEntry.idempotency_key]).returning(CreditEntry)
    return db.session.scalars(stmt).first()


def award(member: User | int, hours, kind: str, source: str, key: str, now: datetime,
          description: str = "", actor: User | None = None, year: int | None = None) -> CreditEntry:
    """Credit ``hours`` to ``member`` once per ``key``; a repeated key returns the first row.

    The caller commits. ``year`` defaults to the study year of ``now`` in China.
    """
    hours = to_hours(hours)
    if hours <= 0:
        raise LedgerError("学时必须大于 0")
    if kind not in set(CreditKind):
        raise LedgerError(f"未知的学时类别：{kind}")
    if source not in set(CreditSource) or source == CreditSource.CORRECTION:
        raise LedgerError(f"未知的学时来源：{source}")
    if not key:
        raise LedgerError("缺少幂等键")
    member_id = member if isinstance(member, int) else member.id
    written = _insert_ignoring_duplicate(dict(
        member_id=member_id, year=year or local_year(now), kind=kind, hours=hours, source=source,
        idempotency_key=key, description=description[:300], created_at=now,
        created_by_id=actor.id if actor else None))
    if written is not None:
        observability.credit_awarded(kind, source, hours)  # counted when written (before the caller's commit)
        return written
    return db.session.scalar(
        select(CreditEntry).where(CreditEntry.idempotency_key == key).execution_options(populate_existing=True))


def reverse(entry: CreditEntry, reason: str, approver: User, now: datetime) -> CreditEntry:
    """Cancel ``entry`` with a reversing row. Reversing the same row again returns that reversal."""
    reason = reason.strip()
    if not reason:
        raise LedgerError("更正必须填写原因")
    if entry.reverses_id is not None:
        raise LedgerError("不能更正一条更正记录")
    key = keys.reversal(entry.id)
    written = _insert_ignoring_duplicate(dict(
        member_id=entry.member_id, year=entry.year, kind=entry.kind, hours=-entry.hours,
        source=CreditSource.CORRECTION, idempotency_key=key,
        description=f"更正：{entry.description}"[:300], created_at=now, created_by_id=approver.id,
        reverses_id=entry.id, reason=reason[:300], approved_by_id=approver.id))
    return written or db.session.scalar(select(CreditEntry).where(CreditEntry.idempotency_key == key))


def balance(member: User | int, year: int, kind: str | None = None) -> Decimal:
    member_id = member if isinstance(member, int) else member.id
    query = select(func.coalesce(func.sum(CreditEntry.hours), 0)).where(
        CreditEntry.member_id == member_id, CreditEntry.year == year)
    if kind:
        query = query.where(CreditEntry.kind == kind)
    return to_hours(db.session.scalar(query))


def balances_by_kind(member: User | int, year: int) -> dict[str, Decimal]:
    member_id = member if isinstance(member, int) else member.id
    rows = db.session.execute(
        select(CreditEntry.kind, func.sum(CreditEntry.hours))
        .where(CreditEntry.member_id == member_id, CreditEntry.year == year)
        .group_by(CreditEntry.kind))
    out = {kind.value: Decimal("0.00") for kind in CreditKind}
    out.update({kind: to_hours(total) for kind, total in rows})
    return out


def entries(member: User | int, year: int | None = None) -> list[CreditEntry]:
    member_id = member if isinstance(member, int) else member.id
    query = select(CreditEntry).where(CreditEntry.member_id == member_id)
    if year is not None:
        query = query.where(CreditEntry.year == year)
    return list(db.session.scalars(query.order_by(CreditEntry.created_at.desc(), CreditEntry.id.desc())))


def exam_pass_key(exam_id: int, member_id: int):
    """SQL: the entry's key credits this exam pass (``keys.is_exam_pass``): the first award or
    one awarded again by a regrade; reversals have keys of their own (``keys.reversal``)."""
    return (CreditEntry.idempotency_key == keys.exam_pass(exam_id, member_id)) | \
        CreditEntry.idempotency_key.startswith(keys.exam_pass_prefix(exam_id, member_id), autoescape=True)
