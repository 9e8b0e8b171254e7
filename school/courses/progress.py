"""Watch credit the server can defend (DESIGN.md, "Watch credit is measured by the server").

The player sends a heartbeat every few seconds: its tab id, a per-tab sequence number,
the position, whether it is playing, its playback rate and its own clock. The server
credits a heartbeat only against the previous *accepted* one of the same tab:

* only if the previous heartbeat said "playing" (a pause earns nothing);
* only the position range between the two, and only the part not covered before
  (the union of intervals), never past the duration;
* only if that range could have been played in the wall-clock time between them at no
  more than 2× speed — otherwise it was a seek, which earns nothing;
* the watch time added is at most that wall-clock time.

Replayed (old sequence), too-frequent, negative/out-of-range and clock-skewed heartbeats
(the client clock drifted from the one it showed at the start of the tab) are ignored.
One tab holds the lease: a new tab (sequence 1) takes it over without earning, and the
old tab's heartbeats are refused as superseded. With an idle check, time after an
unanswered "还在学习吗？" earns nothing.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from school.courses.models import WatchState

MIN_GAP_SECONDS = 2.0
MAX_RATE = 2.0
POSITION_SLACK_SECONDS = 3.0  # buffering/rounding between two heartbeats
MAX_CLOCK_DRIFT_SECONDS = 30.0


@dataclass(frozen=True)
class Beat:
    tab: str
    seq: int
    position: float
    playing: bool
    sent_at: float  # client clock, seconds since the epoch
    rate: float = 1.0


@dataclass
class Outcome:
    accepted: bool
    reason: str  # "ok", "takeover", "seek", "superseded", "replay", "too_frequent", "clock_skew", "invalid"
    covered: float = 0.0  # position seconds newly covered by this heartbeat
    credited: float = 0.0  # watch time credited by this heartbeat
    idle_prompt: bool = False
    completed_now: bool = False


def epoch(now: datetime) -> float:
    return now.replace(tzinfo=timezone.utc).timestamp()


def merge(intervals: list[list[float]], start: float, end: float) -> tuple[list[list[float]], float]:
    """Add [start, end] to a sorted union of intervals; return the new union and the newly covered length."""
    before = sum(e - s for s, e in intervals)
    out: list[list[float]] = []
    for s, e in sorted(intervals + [[start, end]]):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out, max(0.0, sum(e - s for s, e in out) - before)


def intervals_of(state: WatchState) -> list[list[float]]:
    return json.loads(state.intervals or "[]")


def contiguous_from_start(intervals: list[list[float]], slack: float = 1.0) -> float:
    """How far the member has watched without gaps from the beginning (the no-seek-ahead limit)."""
    reach = 0.0
    for s, e in sorted(intervals):
        if s > reach + slack:
            break
        reach = max(reach, e)
    return reach


def idle_due(state: WatchState, idle_minutes: int) -> datetime | None:
    if idle_minutes <= 0 or state.idle_ack_at is None:
        return None
    return state.idle_ack_at + timedelta(minutes=idle_minutes)


def apply_heartbeat(state: WatchState, beat: Beat, *, duration: float, now: datetime,
                    complete_ratio: float, idle_minutes: int = 0) -> Outcome:
    """Apply one heartbeat to ``state`` (which the caller stores); pure apart from ``state``."""
    if (not beat.tab or len(beat.tab) > 40 or beat.seq < 1 or not math.isfinite(beat.position)
            or not math.isfinite(beat.sent_at) or beat.position < 0 or beat.position > duration + 1):
        return Outcome(False, "invalid")
    position = min(beat.position, duration)

    if state.tab != beat.tab:
        if beat.seq != 1:
            return Outcome(False, "superseded")
        # A new page or device takes the lease. It starts a fresh anchor and earns nothing now.
        state.tab, state.last_seq, state.last_at = beat.tab, 1, now
        state.last_position, state.last_playing = position, beat.playing
        state.clock_offset = beat.sent_at - epoch(now)
        state.idle_ack_at = now
        state.resume_position = position
        state.updated_at = now
        return Outcome(True, "takeover")

    if beat.seq <= state.last_seq:
        return Outcome(False, "replay")
    if state.last_at is not None and (now - state.last_at).total_seconds() < MIN_GAP_SECONDS:
        return Outcome(False, "too_frequent")
    if abs((beat.sent_at - epoch(now)) - state.clock_offset) > MAX_CLOCK_DRIFT_SECONDS:
        return Outcome(False, "clock_skew")

    outcome = Outcome(True, "ok")
    creditable_until = now
    due = idle_due(state, idle_minutes)
    if due is not None and now > due:
        outcome.idle_prompt = True
        creditable_until = max(state.last_at, min(now, due))
    elapsed = max(0.0, (creditable_until - state.last_at).total_seconds())

    if state.last_playing and elapsed > 0:
        start, end = state.last_position, position
        if end < start:
            outcome.reason = "seek"  # went back: the next range starts here
        elif end - start > elapsed * MAX_RATE + POSITION_SLACK_SECONDS:
            outcome.reason = "seek"
        else:
            merged, new = merge(intervals_of(state), start, end)
            state.intervals = json.dumps([[round(s, 3), round(e, 3)] for s, e in merged])
            outcome.covered = round(new, 3)
            outcome.credited = round(min(new, elapsed), 3)
            state.covered_seconds = round(sum(e - s for s, e in merged), 3)
            state.credited_seconds = round(state.credited_seconds + outcome.credited, 3)
            state.furthest_position = max(state.furthest_position, contiguous_from_start(merged))

    state.last_seq, state.last_at = beat.seq, now
    state.last_position, state.last_playing = position, beat.playing and not outcome.idle_prompt
    state.resume_position = position
    state.updated_at = now
    if state.completed_at is None and duration > 0 and state.covered_seconds >= complete_ratio * duration - 0.01:
        state.completed_at = now
        outcome.completed_now = True
    return outcome


def acknowledge_idle(state: WatchState, now: datetime) -> None:
    """The member answered "还在学习吗？": time counts again from now, not from before the prompt."""
    state.idle_ack_at = now
    state.last_at = now
    state.updated_at = now
