"""One study clock per member (DESIGN.md): every online activity — a video lesson in any
course, tab or device, a library document, a document lesson read in the library — asks this
module how much of the time since its last heartbeat to credit.

The rule, for a beat of ``tab`` on ``activity`` at ``now``:

* The member's ``study_lease`` row is locked first (an upsert, then ``SELECT … FOR UPDATE``):
  on PostgreSQL the upsert and the select hold the row lock until the caller commits; on
  SQLite the upsert is the transaction's first write, which takes the database's only write
  lock until the commit, so every read after it is current. Either way two beats of one
  member are applied one after the other, across tabs, devices and worker processes. Callers
  that read other rows of the member first call ``hold`` before reading them (lock order:
  the lease, then everything else) and hand its lease to ``beat``: one lock per beat.
* One activity holds the lease. Another page takes it when the member asks (``takeover``:
  pressing play, opening or returning to a page, "在此处继续学习"), when the holder is
  paused or hidden, or when the holder has gone silent (``max_gap``). Taking the lease
  credits nothing; every other page is answered ``elsewhere`` and earns nothing.
* The holder is credited ``[max(last beat, credited_until), now]`` — only if its last beat
  said it was active (playing / visible), the gap is at most ``max_gap``, and the activity's
  own rules accept the stretch (``earned``: e.g. the video did not seek) — cut at the moment
  "还在学习吗？" fell due while unanswered, and for reading at the last input + the input
  window. ``credited_until`` then moves to the end: credited intervals of a member never
  overlap, so credited time never exceeds wall-clock time.
* Every credited stretch is a ``study_interval`` row (extended while contiguous): the
  evidence a secretary can show.

The presence prompt is scheduled here, on the server: ``presence_due_at`` is a random moment
in the configured window after the first beat or after the last answer; a page that never
shows the prompt earns nothing after it. Neither a takeover nor a silence moves it: only an
answer does. The service flushes; the caller commits.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from school.credits.models import StudyInterval, StudyLease
from school.extensions import db
from school.tab_ids import TAB_ID_ERROR, tab_id  # noqa: F401  (the views' names for them)

MAX_GAP_SECONDS = 60  # a silence longer than this (sleeping phone, closed lid) earns nothing


@dataclass(frozen=True)
class Activity:
    key: str  # "lesson:<id>" or "document:<id>"
    title: str

    @classmethod
    def lesson(cls, lesson) -> Activity:
        return cls(f"lesson:{lesson.id}", f"{lesson.course.title} · {lesson.title}"[:200])

    @classmethod
    def document(cls, document) -> Activity:
        return cls(f"document:{document.id}", document.title[:200])


@dataclass
class Credit:
    seconds: float
    interval: StudyInterval | None
    # "ok", "started" (took the lease), "elsewhere" (another page holds it), "paused",
    # "gap", "refused" (the activity's rules refused the stretch), "presence" (unanswered
    # prompt), "no_input" (reading without input), "invalid"
    reason: str
    presence_due: bool = False  # the page must ask "还在学习吗？" now


def device_label(user_agent: str | None) -> str:
    """A short, human label for the device from the User-Agent (evidence, not security)."""
    ua = user_agent or ""
    if "MicroMessenger" in ua:
        app = "微信"
    elif "Edg/" in ua:
        app = "Edge"
    elif "Chrome/" in ua or "Chromium/" in ua:
        app = "Chrome"
    elif "Firefox/" in ua:
        app = "Firefox"
    elif "Safari/" in ua:
        app = "Safari"
    else:
        app = ""
    if "iPhone" in ua:
        system = "iPhone"
    elif "iPad" in ua:
        system = "iPad"
    elif "Android" in ua:
        system = "Android 平板" if "Mobile" not in ua else "Android 手机"
    elif "Windows" in ua:
        system = "Windows 电脑"
    elif "Mac OS X" in ua:
        system = "Mac 电脑"
    elif "Linux" in ua or "X11" in ua:
        system = "Linux 电脑"
    else:
        system = re.sub(r"[^\w ./-]", "", ua)[:30] or "未知设备"
    return f"{system} · {app}"[:60] if app else system[:60]


def hold(member_id: int, now: datetime) -> StudyLease:
    """Lock (creating if need be) the member's lease row until the caller commits."""
    dialect = db.session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(StudyLease).values(member_id=member_id, device="", active=False, presence_answers=0,
                                            updated_at=now)
    # The update is the lock: a row lock on PostgreSQL, the database write lock on SQLite.
    db.session.execute(stmt.on_conflict_do_update(index_elements=[StudyLease.member_id],
                                                  set_={"updated_at": stmt.excluded.updated_at}))
    return db.session.scalar(select(StudyLease).where(StudyLease.member_id == member_id).with_for_update()
                             .execution_options(populate_existing=True))


def _schedule(now: datetime, window: tuple[float, float] | None, rng) -> datetime | None:
    if window is None:
        return None
    low, high = window
    return now + timedelta(seconds=rng.uniform(low, high) if high > low else low)


def _stale(lease: StudyLease, now: datetime, max_gap: float) -> bool:
    return lease.last_beat_at is None or (now - lease.last_beat_at).total_seconds() > max_gap


def beat(member, activity: Activity, tab: str, device: str, *, active: bool, takeover: bool, now: datetime,
         earned: bool = True, presence: tuple[float, float] | None = None, input_at: datetime | None = None,
         input_window: float | None = None, max_gap: float = MAX_GAP_SECONDS, rng=random,
         lease: StudyLease | None = None) -> Credit:
    """One heartbeat of ``tab`` on ``activity``; returns what the member is credited for it.

    ``active``: the page is playing / visible from now on. ``takeover``: the member asked to
    study here. ``earned``: the activity's own rules accept the stretch since this page's
    previous beat. ``presence``: the prompt window in seconds (None: off). ``input_at`` and
    ``input_window`` (reading): the page's last input and how long after it time still counts.
    ``lease``: the member's lease as ``hold`` returned it, for a caller that locked it already
    (one lock per beat).
    """
    member_id = member if isinstance(member, int) else member.id
    if lease is None:
        lease = hold(member_id, now)
    elif lease.member_id != member_id:
        raise ValueError("another member's lease")
    if tab_id(tab) is None or not activity.key:
        return Credit(0.0, None, "invalid")
    if lease.last_beat_at is not None and now < lease.last_beat_at:
        return Credit(0.0, None, "invalid")  # the server's clock went back: never credit twice
    device = (device or "")[:60]
    holder = lease.activity == activity.key and lease.tab == tab
    if not holder:
        if not (takeover or lease.activity is None or not lease.active or _stale(lease, now, max_gap)):
            return Credit(0.0, None, "elsewhere")
        fresh = _stale(lease, now, max_gap)
        lease.activity, lease.tab, lease.device = activity.key, tab, device
        lease.active, lease.last_beat_at, lease.interval_id = active, now, None
        lease.last_input_at = now  # opening or returning to the page is the member's input
        if fresh:  # a new study session (as after a silence on the same page)
            lease.presence_answers = 0
        if lease.presence_due_at is None:
            lease.presence_due_at = _schedule(now, presence, rng)
        # Otherwise the prompt, pending or due, stays where it was — after a takeover, even by a
        # page with prompts off, and after a silence: passing through a page must not clear it,
        # and a script that goes quiet for a minute before each prompt could fall due must not
        # push it back for ever (a due one is answered on return: one tap).
        lease.updated_at = now
        db.session.flush()
        return Credit(0.0, None, "started", presence_due=_due(lease, now, presence))

    if _stale(lease, now, max_gap):
        # Back after a long silence (a sleeping phone woken up): a new study session, as at a start
        # (the prompt keeps its moment, as above).
        lease.last_input_at, lease.interval_id, lease.presence_answers = now, None, 0
    if input_at is not None:
        lease.last_input_at = max(lease.last_input_at or input_at, min(input_at, now))
    if active and not lease.active:
        lease.last_input_at = now  # pressing play / returning to the page is the member's input
    if presence is not None and lease.presence_due_at is None:
        lease.presence_due_at = _schedule(now, presence, rng)  # the prompt was switched on meanwhile
    start = max(lease.last_beat_at, lease.credited_until or lease.last_beat_at)
    end = now
    reason = "ok"
    if not lease.active:
        reason = "paused"
    elif (now - lease.last_beat_at).total_seconds() > max_gap:
        reason = "gap"
    elif not earned:
        reason = "refused"
    else:
        if presence is not None and lease.presence_due_at is not None and lease.presence_due_at < end:
            end, reason = lease.presence_due_at, "presence"
        if input_window is not None and lease.last_input_at is not None:
            quiet_from = lease.last_input_at + timedelta(seconds=input_window)
            if quiet_from < end:
                end, reason = quiet_from, "no_input"
    seconds = max(0.0, (end - start).total_seconds()) if reason in ("ok", "presence", "no_input") else 0.0
    interval = None
    if seconds > 0:
        interval = _record(lease, activity, member_id, start, end, seconds)
        lease.credited_until = end
    lease.last_beat_at, lease.active, lease.device, lease.updated_at = now, active, device or lease.device, now
    db.session.flush()
    return Credit(round(seconds, 3), interval, reason, presence_due=_due(lease, now, presence))


def _due(lease: StudyLease, now: datetime, presence) -> bool:
    return presence is not None and lease.presence_due_at is not None and lease.presence_due_at <= now


def _record(lease: StudyLease, activity: Activity, member_id: int, start: datetime, end: datetime,
            seconds: float) -> StudyInterval:
    """Extend the open interval when this stretch continues it, else start a row."""
    row = db.session.get(StudyInterval, lease.interval_id) if lease.interval_id else None
    if row is None or row.activity != activity.key or row.tab != lease.tab or row.end_at != start:
        row = StudyInterval(member_id=member_id, activity=activity.key, title=activity.title, tab=lease.tab,
                            device=lease.device, start_at=start, end_at=end, seconds=0.0)
        db.session.add(row)
    row.end_at = end
    row.seconds = round(row.seconds + seconds, 3)
    row.presence_answers = lease.presence_answers
    db.session.flush()
    lease.interval_id = row.id
    return row


def answer_presence(member, now: datetime, presence: tuple[float, float] | None, rng=random) -> bool:
    """The member answered "还在学习吗？". Only a prompt that is due can be answered: time
    counts again from now (not from before), and the next prompt is scheduled. The caller commits."""
    member_id = member if isinstance(member, int) else member.id
    lease = hold(member_id, now)
    if lease.presence_due_at is None or lease.presence_due_at > now:
        return False
    lease.presence_answers += 1
    lease.presence_due_at = _schedule(now, presence, rng)
    if lease.last_beat_at is None or lease.last_beat_at < now:
        lease.last_beat_at = now  # the time between the prompt and the answer earns nothing
    lease.last_input_at = now
    lease.updated_at = now
    db.session.flush()
    return True


def intervals(member_id: int, start: datetime | None = None, end: datetime | None = None) -> list[StudyInterval]:
    """The member's credited intervals, oldest first (``start``/``end`` bound the start time)."""
    query = select(StudyInterval).where(StudyInterval.member_id == member_id)
    if start is not None:
        query = query.where(StudyInterval.start_at >= start)
    if end is not None:
        query = query.where(StudyInterval.start_at < end)
    return list(db.session.scalars(query.order_by(StudyInterval.start_at, StudyInterval.id)))


# --- evidence -----------------------------------------------------------------------------


@dataclass
class EvidenceDay:
    day: object  # a local date
    seconds: float
    rows: list[StudyInterval]

    @property
    def minutes(self) -> str:
        return f"{self.seconds / 60:.1f}"


def evidence_days(member_id: int, year: int) -> list[EvidenceDay]:
    """The member's credited intervals of a study year, grouped by local (Asia/Shanghai) day, newest first."""
    from datetime import date

    from school.timeutil import local_date_to_utc, to_local

    days: dict = {}
    for row in intervals(member_id, local_date_to_utc(date(year, 1, 1)), local_date_to_utc(date(year + 1, 1, 1))):
        day = to_local(row.start_at).date()
        days.setdefault(day, EvidenceDay(day, 0.0, [])).rows.append(row)
        days[day].seconds += row.seconds
    return sorted(days.values(), key=lambda d: d.day, reverse=True)


ACTIVITY_LABELS = {"lesson": "视频课", "document": "文献阅读"}


def activity_label(key: str) -> str:
    return ACTIVITY_LABELS.get(key.split(":", 1)[0], key)
