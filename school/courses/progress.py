"""Watch credit the server can defend (DESIGN.md, "Watch credit is measured by the server"
and "One study clock per member").

The player sends a heartbeat every few seconds: its tab id, a per-tab sequence number,
the position, whether it is playing, its playback rate and its own clock. The server judges
a heartbeat against the previous *accepted* one of the same tab:

* only if the previous heartbeat said "playing" (a pause earns nothing);
* the position may have advanced at most ``max_rate`` (a credit rule, default 2×) × the
  elapsed time, plus what is left of a fixed ``JITTER_SECONDS`` per run of playing (reset
  by a takeover, pause or seek, used up by every beat that needs it) — so it cannot
  compound beat by beat with the minimum gap, and slow playing or a pause banks nothing;
  anything further is a seek, which earns nothing;
* only the position range between the two, and only the part not covered before
  (the union of intervals), never past the duration;
* the time credited is what the member's study clock (``credits.clock``) granted for the
  stretch — at most the wall-clock time, never for two pages at once, never after an
  unanswered "还在学习吗？" — and at most the position newly covered.

A lesson is complete when its covered positions reach ``complete_ratio`` of the duration
*and* its credited time reaches ``complete_ratio`` × duration / ``max_rate``: covering a
lesson faster than the highest playback rate cannot complete it.

Replayed (old sequence), too-frequent, negative/out-of-range and clock-skewed heartbeats
(the client clock drifted from the one it showed at the start of the tab) are ignored.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone

from school.courses.models import WatchState
from school.tab_ids import tab_id

MIN_GAP_SECONDS = 2.0
MAX_RATE = 2.0  # the default of the ``max_playback_rate`` credit rule
JITTER_SECONDS = 1.5  # buffering/rounding, allowed once per run of playing, not per beat
MAX_CLOCK_DRIFT_SECONDS = 30.0


@dataclass(frozen=True)
class Beat:
    tab: str
    seq: int
    position: float
    playing: bool
    sent_at: float  # client clock, seconds since the epoch
    rate: float = 1.0
    takeover: bool = False  # the member pressed play or "在此处继续学习" on this page


@dataclass
class Outcome:
    accepted: bool
    # "ok", "takeover", "seek", "superseded" (another page holds the member's study clock),
    # "replay", "too_frequent", "clock_skew", "invalid"
    reason: str
    covered: float = 0.0  # position seconds newly covered by this heartbeat
    credited: float = 0.0  # watch time credited by this heartbeat
    presence_prompt: bool = False  # the page must ask "还在学习吗？"
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


def screen(state: WatchState, beat: Beat, *, duration: float, now: datetime) -> str | None:
    """Why a heartbeat is ignored altogether (before the study clock is asked), or None."""
    if (tab_id(beat.tab) is None or beat.seq < 1 or not math.isfinite(beat.position)
            or not math.isfinite(beat.sent_at) or beat.position < 0 or beat.position > duration + 1):
        return "invalid"
    if state.tab != beat.tab:
        return None
    if beat.seq <= state.last_seq:
        return "replay"
    if state.last_at is not None and (now - state.last_at).total_seconds() < MIN_GAP_SECONDS:
        return "too_frequent"
    if abs((beat.sent_at - epoch(now)) - state.clock_offset) > MAX_CLOCK_DRIFT_SECONDS:
        return "clock_skew"
    return None


def stretch(state: WatchState, beat: Beat, *, duration: float, now: datetime,
            max_rate: float = MAX_RATE) -> tuple[bool, str]:
    """Whether the stretch since this tab's previous accepted beat may earn, and why not ("seek")."""
    if state.tab != beat.tab or state.last_at is None:
        return False, "takeover"
    if not state.last_playing:
        return False, "ok"
    position = min(beat.position, duration)
    if position < state.last_position:
        return False, "seek"  # went back: the next range starts here
    if _excess(state, position, now, max_rate) > state.slack_seconds:
        return False, "seek"
    return True, "ok"


def _excess(state: WatchState, position: float, now: datetime, max_rate: float) -> float:
    """How far the position ran ahead of max rate × the time since the last accepted beat."""
    return position - state.last_position - max_rate * max(0.0, (now - state.last_at).total_seconds())


def apply_heartbeat(state: WatchState, beat: Beat, *, duration: float, now: datetime, complete_ratio: float,
                    max_rate: float = MAX_RATE, grant=None) -> Outcome:
    """Apply one heartbeat to ``state`` (which the caller stores); pure apart from ``state``.

    ``grant`` is the study clock's answer for this beat (``credits.clock.Credit``: seconds,
    reason, presence_due). Without one (tests of these rules alone) the page is taken to hold
    the clock and the whole elapsed time is granted; a second tab then takes over only with
    its first heartbeat.
    """
    refused = screen(state, beat, duration=duration, now=now)
    if refused:
        return Outcome(False, refused)
    prompt = bool(grant is not None and grant.presence_due)
    if grant is not None and grant.reason in ("elsewhere", "invalid"):
        return Outcome(False, "superseded" if grant.reason == "elsewhere" else "invalid")
    position = min(beat.position, duration)

    if state.tab != beat.tab or (grant is not None and grant.reason == "started"):
        if grant is None and state.tab is not None and beat.seq != 1:
            return Outcome(False, "superseded")
        # This page takes the lesson: a fresh anchor, nothing earned now.
        if state.tab != beat.tab:
            state.clock_offset = beat.sent_at - epoch(now)
        state.tab, state.last_seq, state.last_at = beat.tab, beat.seq, now
        state.last_position, state.last_playing = position, beat.playing
        state.resume_position = position
        state.updated_at = now
        state.slack_seconds = JITTER_SECONDS
        return Outcome(True, "takeover", presence_prompt=prompt)

    earned, reason = stretch(state, beat, duration=duration, now=now, max_rate=max_rate)
    outcome = Outcome(True, reason, presence_prompt=prompt)
    elapsed = max(0.0, (now - state.last_at).total_seconds())
    granted = elapsed if grant is None else min(elapsed, grant.seconds)
    if earned and granted > 0:
        start, end = state.last_position, position
        if granted < elapsed:  # the clock cut the stretch short: only its share of the range
            end = start + (end - start) * granted / elapsed
        merged, new = merge(intervals_of(state), start, end)
        state.intervals = json.dumps([[round(s, 3), round(e, 3)] for s, e in merged])
        outcome.covered = round(new, 3)
        outcome.credited = round(min(new, granted), 3)
        state.covered_seconds = round(sum(e - s for s, e in merged), 3)
        state.credited_seconds = round(state.credited_seconds + outcome.credited, 3)
        state.furthest_position = max(state.furthest_position, contiguous_from_start(merged))

    if earned:
        state.slack_seconds = max(0.0, state.slack_seconds - max(0.0, _excess(state, position, now, max_rate)))
    else:
        state.slack_seconds = JITTER_SECONDS  # a new run of playing starts here (after a pause or seek)
    state.last_seq, state.last_at = beat.seq, now
    state.last_position, state.last_playing = position, beat.playing
    state.resume_position = position
    state.updated_at = now
    if state.completed_at is None and is_complete(state, duration, complete_ratio, max_rate):
        state.completed_at = now
        outcome.completed_now = True
    return outcome


def is_complete(state: WatchState, duration: float, complete_ratio: float, max_rate: float = MAX_RATE) -> bool:
    """Covered enough of the lesson, in no less credited time than the highest playback rate allows."""
    if duration <= 0:
        return False
    return (state.covered_seconds >= complete_ratio * duration - 0.01
            and state.credited_seconds >= complete_ratio * duration / max_rate - 0.01)
