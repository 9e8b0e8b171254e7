"""Reading credit: only time the page is really being read, measured by the server.

The reading page sends a heartbeat every ``HEARTBEAT_SECONDS`` while it is visible, and
one last beat (``visible: false``) when it is hidden or closed. The time credited is what the
member's study clock (``credits.clock``) grants: at most the wall-clock time since the
page's last accepted beat, only while the page holds the member's one lease (a video playing
elsewhere, another document or another tab does not count twice), nothing after a silence
longer than ``MAX_GAP_SECONDS`` (a closed laptop, a hidden tab) or after a "hidden" beat,
nothing after an unanswered "还在学习吗？", and nothing later than the credit rule's
``reading_input_minutes`` after the page's last scroll, touch or key. Seconds accumulate per
local day; hours follow the rule in ``credits.rules`` (default 1 学时 per 45 minutes, at most
1 学时 a day). While the page is visible, hours reach the ledger in steps of
``AWARD_STEP`` (so the ledger does not get a row every 30 seconds); the "hidden" beat
that ends a session credits whatever is left of at least ``FINAL_STEP`` (0.01 学时), so
the last minutes of a session are not lost. Every award is capped by the day's limit and
keyed ``reading:<member>:<day>:<hours already awarded that day, in hundredths>``: the
day's total only grows, so keys are unique per award and a repeated beat awards nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.exc import IntegrityError

from school.credits import clock, keys, ledger
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
DEFAULT_TAB = "reader"  # the tab id of a heartbeat that names none


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
    credit: clock.Credit | None = None  # the study clock's answer (elsewhere, presence prompt …)


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
                     rules: CreditRules | None = None, tab: str = DEFAULT_TAB, device: str = "",
                     takeover: bool = False, input_at: datetime | None = None) -> BeatResult:
    """Count one heartbeat of ``member`` reading ``document``; the caller commits.

    ``tab`` names the page, ``takeover`` says the member opened it or came back to it, and
    ``input_at`` is the page's last scroll, touch or key as the page reports it.
    """
    rules = rules or current_rules()
    input_minutes = float(rules.reading_input_minutes)
    credit = clock.beat(member, clock.Activity.document(document), tab, device, active=visible,
                        takeover=takeover, now=now, presence=rules.presence_window(), input_at=input_at,
                        input_window=input_minutes * 60 if input_minutes > 0 else None, max_gap=MAX_GAP_SECONDS)
    day = to_local(now).date()
    row = _day_row(member.id, day)  # after the lease: the lock order of every heartbeat
    seconds = int(credit.seconds)
    row.seconds += seconds
    row.last_beat_at = now
    row.paused = not visible
    due = hours_due(row.seconds, row.awarded_hours, rules, step=AWARD_STEP if visible else FINAL_STEP)
    if due > 0:
        key = keys.reading(member.id, day, int(row.awarded_hours * 100))
        ledger.award(member, due, CreditKind.ONLINE, CreditSource.READING, key, now,
                     description=f"文献阅读 {day.month} 月 {day.day} 日（{document.title[:40]}）")
        row.awarded_hours += due
    return BeatResult(seconds, due, row.awarded_hours, row.seconds, credit)


def page_report(payload: dict, now: datetime, device: str) -> dict:
    """The reading page's own report ("I was opened / came back", seconds since the last
    scroll, touch or key) as ``record_heartbeat`` arguments; nonsense is ignored. Its tab id
    is the view's to check (``clock.tab_id``): a malformed one is refused, not ignored."""
    try:
        quiet = float(payload.get("idle_for"))
    except (TypeError, ValueError):
        quiet = None
    input_at = now - timedelta(seconds=quiet) if quiet is not None and 0 <= quiet < 86400 else None
    return dict(device=device,
                takeover=payload.get("takeover") is True, input_at=input_at)


def still_here(member, now: datetime) -> bool:
    """The member answered "还在学习吗？" on a reading page; the caller commits."""
    return clock.answer_presence(member, now, current_rules().presence_window())
