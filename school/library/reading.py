"""Reading credit: only time the page is really being read, measured by the server.

The reading page sends a heartbeat every ``HEARTBEAT_SECONDS`` while it is visible, and
one last beat (``visible: false``) when it is hidden or closed. The server credits at most
the wall-clock time since the member's last accepted beat — per member, not per page, so
two open tabs count once — and nothing after a silence longer than ``MAX_GAP_SECONDS``
(a closed laptop, a hidden tab) or after a "hidden" beat. Seconds accumulate per local
day; hours follow the rule in ``credits.rules`` (default 1 学时 per 45 minutes, at most
1 学时 a day). While the page is visible, hours reach the ledger in steps of
``AWARD_STEP`` (so the ledger does not get a row every 30 seconds); the "hidden" beat
that ends a session credits whatever is left of at least ``FINAL_STEP`` (0.01 学时), so
the last minutes of a session are not lost. Every award is capped by the day's limit and
keyed ``reading:<member>:<day>:<hours already awarded that day, in hundredths>``: the
day's total only grows, so keys are unique per award and a repeated beat awards nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from school.credits import keys, ledger
from school.credits.models import CreditKind, CreditSource
from school.credits.rules import CreditRules, current_rules
from school.extensions import db
from school.library.models import Document, ReadingDay, ReadingPosition
from school.safe_html import valid_text
from school.timeutil import to_local

HEARTBEAT_SECONDS = 30
MAX_GAP_SECONDS = 75
AWARD_STEP = Decimal("0.10")  # while the page is visible
FINAL_STEP = Decimal("0.01")  # on the "hidden" beat that ends a session


def accepted_seconds(last_beat_at: datetime | None, paused: bool, now: datetime,
                     max_gap: int = MAX_GAP_SECONDS) -> int:
    """Seconds of reading a beat at ``now`` proves since the last accepted one."""
    if last_beat_at is None or paused:
        return 0
    gap = (now - last_beat_at).total_seconds()
    if gap <= 0 or gap > max_gap:
        return 0
    return int(gap)


def hours_due(seconds: int, awarded: Decimal, rules: CreditRules, step: Decimal = AWARD_STEP) -> Decimal:
    """Hours to add to the ledger now, given the day's seconds and what it already got:
    nothing until at least ``step`` is due (or the day's cap is reached)."""
    earned = min(rules.reading_daily_cap_hours, rules.reading_hours(seconds))
    delta = earned - awarded
    if delta <= 0:
        return Decimal("0.00")
    if delta >= step or earned >= rules.reading_daily_cap_hours:
        return delta
    return Decimal("0.00")


@dataclass
class BeatResult:
    credited_seconds: int
    awarded_hours: Decimal
    today_hours: Decimal
    today_seconds: int


def _day_row(member_id: int, day: date) -> ReadingDay:
    row = db.session.get(ReadingDay, (member_id, day), with_for_update=True)
    if row is not None:
        return row
    try:
        with db.session.begin_nested():
            row = ReadingDay(member_id=member_id, day=day, seconds=0, awarded_hours=Decimal("0"), paused=False)
            db.session.add(row)
    except IntegrityError:  # another tab created it a moment ago
        row = db.session.get(ReadingDay, (member_id, day), with_for_update=True, populate_existing=True)
    return row


def remember_position(member, document: Document, anchor: str, fraction, now: datetime) -> None:
    position = db.session.get(ReadingPosition, (member.id, document.id))
    if position is None:
        position = ReadingPosition(member_id=member.id, document_id=document.id)
        db.session.add(position)
    position.anchor = valid_text(anchor or "")[:60]
    try:
        position.fraction = min(max(Decimal(str(fraction or 0)), Decimal("0")), Decimal("1")).quantize(Decimal("0.0001"))
    except ArithmeticError:
        position.fraction = Decimal("0")
    position.updated_at = now


def record_heartbeat(member, document: Document, now: datetime, visible: bool = True,
                     rules: CreditRules | None = None) -> BeatResult:
    """Count one heartbeat of ``member`` reading ``document``; the caller commits."""
    rules = rules or current_rules()
    day = to_local(now).date()
    row = _day_row(member.id, day)
    seconds = accepted_seconds(row.last_beat_at, row.paused, now)
    row.seconds += seconds
    row.last_beat_at = now
    row.paused = not visible
    due = hours_due(row.seconds, row.awarded_hours, rules, step=AWARD_STEP if visible else FINAL_STEP)
    if due > 0:
        key = keys.reading(member.id, day, int(row.awarded_hours * 100))
        ledger.award(member, due, CreditKind.ONLINE, CreditSource.READING, key, now,
                     description=f"文献阅读 {day.month} 月 {day.day} 日（{document.title[:40]}）")
        row.awarded_hours += due
    return BeatResult(seconds, due, row.awarded_hours, row.seconds)
