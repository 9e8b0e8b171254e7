"""What a member does on a lesson page: the player's heartbeats (``record_heartbeat``), the
answer to "还在学习吗？" (``still_here``) and finishing a text or document lesson
(``complete_text_lesson``, ``finish_text_lesson``). The heartbeat rules themselves are the pure
``courses.progress``; the time credited is the member's study clock's (``credits.clock``);
this module locks the member's lease and watch state, asks the clock, applies the rules with
the current credit rules and completes the course when the last lesson is done.

Nothing here commits; the caller does. A member's first heartbeat on a lesson creates their
watch-state row, and two first heartbeats (two tabs) may race to create it: one gets an
``IntegrityError``, which propagates, and the caller rolls back and calls again.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from school.accounts.models import User
from school.courses import progress
from school.courses.completion import check_course_completion, watch_state
from school.courses.models import Lesson, WatchState
from school.credits import clock
from school.credits.rules import current_rules
from school.credits.rules import presence_window as presence_window_of
from school.extensions import db


@dataclass
class HeartbeatResult:
    outcome: progress.Outcome
    state: WatchState
    entry: object | None  # the course's credit, when this heartbeat completed the course


def presence_window(course, rules) -> tuple[float, float] | None:
    """The course's own "还在学习吗？" window when the editor set one, else the school's rule."""
    if course.presence_min_minutes is None:
        return rules.presence_window()
    return presence_window_of(course.presence_min_minutes,
                              course.presence_max_minutes if course.presence_max_minutes is not None
                              else course.presence_min_minutes)


def record_heartbeat(member: User, lesson: Lesson, beat: progress.Beat, now: datetime,
                     device: str = "") -> HeartbeatResult:
    """Apply one heartbeat of ``member`` watching ``lesson``; the caller commits.

    The member's study clock decides how much of the stretch is credited (and to which page);
    the heartbeat rules decide whether the stretch was real playing and what it covered.
    """
    lease = clock.hold(member.id, now)  # lock order: the member's lease first, then the watch state
    state = watch_state(member, lesson)
    # Lock the row so two concurrent heartbeats are applied one after the other.
    state = db.session.scalar(select(WatchState).where(WatchState.id == state.id)
                              .with_for_update().execution_options(populate_existing=True))
    rules = current_rules()
    duration, rate = lesson.duration_seconds, rules.playback_rate
    if progress.screen(state, beat, duration=duration, now=now):
        grant = None  # ignored before the clock is asked: apply_heartbeat answers why
    else:
        earned, _ = progress.stretch(state, beat, duration=duration, now=now, max_rate=rate)
        grant = clock.beat(member, clock.Activity.lesson(lesson), beat.tab, device, active=beat.playing,
                           takeover=beat.takeover or beat.seq == 1, now=now, earned=earned,
                           presence=presence_window(lesson.course, rules), lease=lease)
    outcome = progress.apply_heartbeat(state, beat, duration=duration, now=now,
                                       complete_ratio=float(rules.lesson_complete_ratio), max_rate=rate,
                                       grant=grant)
    entry = check_course_completion(member, lesson.course, now) if outcome.completed_now else None
    return HeartbeatResult(outcome, state, entry)


def still_here(member: User, lesson: Lesson, now: datetime) -> bool:
    """The member answered "还在学习吗？"; False when no prompt was due. The caller commits."""
    return clock.answer_presence(member, now, presence_window(lesson.course, current_rules()))


def complete_text_lesson(member: User, lesson: Lesson, now: datetime) -> WatchState:
    state = watch_state(member, lesson)
    if state.completed_at is None:
        state.completed_at = now
        state.updated_at = now
    return state


def finish_text_lesson(member: User, lesson: Lesson, now: datetime):
    """Mark a text (or document) lesson read; returns the course's credit if that completed the course."""
    complete_text_lesson(member, lesson, now)
    return check_course_completion(member, lesson.course, now)
