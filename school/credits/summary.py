"""The per-member, per-year summary of the ledger (``credit_year_summary``).

The database keeps it (a trigger on ``credit_entry``, see ``models.CreditYearSummary``); this
module reads the ledger's own aggregate and puts the summary back in line with it
(``school credits rebuild-summary``), reporting every row it had to fix. A difference means
the trigger was bypassed (rows loaded with triggers off, a restore of a partial dump).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import case, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from school.credits.ledger import to_hours
from school.credits.models import CreditEntry, CreditKind, CreditYearSummary
from school.extensions import db

Totals = tuple[Decimal, Decimal, int]  # online, concentrated, entries
NOTHING: Totals = (Decimal("0.00"), Decimal("0.00"), 0)


@dataclass(frozen=True)
class Difference:
    member_id: int
    year: int
    summary: Totals | None  # None: no summary row
    ledger: Totals | None  # None: no ledger row (the summary row is removed)

    def describe(self) -> str:
        def show(t):
            return "无" if t is None else f"网络学习 {t[0]} / 集中培训 {t[1]} / {t[2]} 条"
        return f"党员 {self.member_id} {self.year} 年：汇总 {show(self.summary)} → 台账 {show(self.ledger)}"


def ledger_totals():
    """``SELECT member_id, year, online, concentrated, entries`` summed from the ledger."""
    return (select(CreditEntry.member_id, CreditEntry.year,
                   func.sum(case((CreditEntry.kind == CreditKind.ONLINE.value, CreditEntry.hours), else_=0)),
                   func.sum(case((CreditEntry.kind == CreditKind.CONCENTRATED.value, CreditEntry.hours), else_=0)),
                   func.count())
            .group_by(CreditEntry.member_id, CreditEntry.year))


def _read(query) -> dict[tuple[int, int], Totals]:
    # Rounded to cents: SQLite sums NUMERIC in floating point.
    return {(m, y): (to_hours(on or 0), to_hours(co or 0), int(n))
            for m, y, on, co, n in db.session.execute(query.execution_options(yield_per=10_000))}


def _lock() -> None:
    """Hold off awards until the caller commits, so the ledger read here is the one the
    summary must match (PostgreSQL: SHARE blocks INSERT, not reads; SQLite: the write lock,
    taken by the first writing statement)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE credit_entry IN SHARE MODE"))
    else:
        db.session.execute(delete(CreditYearSummary).where(CreditYearSummary.year < 0))


def differences() -> list[Difference]:
    """Rows where the summary and the ledger's aggregate disagree (read-only)."""
    ledger = _read(ledger_totals())
    summary = _read(select(CreditYearSummary.member_id, CreditYearSummary.year, CreditYearSummary.online,
                           CreditYearSummary.concentrated, CreditYearSummary.entries))
    out = []
    for key in sorted(ledger.keys() | summary.keys()):
        have, want = summary.get(key), ledger.get(key)
        if have != want:
            out.append(Difference(key[0], key[1], have, want))
    return out


def rebuild() -> list[Difference]:
    """Put the summary in line with the ledger and return what was fixed. The caller commits."""
    _lock()
    found = differences()
    stale = [d for d in found if d.ledger is None]
    for d in stale:
        db.session.execute(delete(CreditYearSummary).where(
            CreditYearSummary.member_id == d.member_id, CreditYearSummary.year == d.year))
    rows = [dict(member_id=d.member_id, year=d.year, online=d.ledger[0], concentrated=d.ledger[1],
                 entries=d.ledger[2]) for d in found if d.ledger is not None]
    if rows:
        module = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
        stmt = module.insert(CreditYearSummary)
        stmt = stmt.on_conflict_do_update(
            index_elements=[CreditYearSummary.member_id, CreditYearSummary.year],
            set_=dict(online=stmt.excluded.online, concentrated=stmt.excluded.concentrated,
                      entries=stmt.excluded.entries))
        for start in range(0, len(rows), 5_000):
            db.session.execute(stmt, rows[start:start + 5_000])
    return found
