"""What a member does on a lesson page: the player's heartbeats (``record_heartbeat``), the
answer to "还在学习吗？" (``still_here``) and finishing a text or document lesson
(``complete_text_lesson``, ``finish_text_lesson``). The heartbeat rules themselves are the pure
``courses.progress``; this module loads and locks the member's row, applies them with the
current credit rules and completes the course when the last lesson is done.

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
from school.credits.rules import current_rules
from school.extensions import db


@dataclass
class HeartbeatResult:
    outcome: progress.Outcome
    state: WatchState
    entry: object | None  # the course's credit, when this heartbeat completed the course


def record_heartbeat(member: User, lesson: Lesson, beat: progress.Beat, now: datetime) -> HeartbeatResult:
    """Apply one heartbeat of ``member`` watching ``lesson``; the caller commits."""
    state = watch_state(member, lesson)
    # Lock the row so two concurrent heartbeats are applied one after the other.
    state = db.session.scalar(select(WatchState).where(WatchState.id == state.id)
                              .with_for_update().execution_options(populate_existing=True))
    rules = current_rules()
    outcome = progress.apply_heartbeat(state, beat, duration=lesson.duration_seconds, now=now,
                                       complete_ratio=float(rules.lesson_complete_ratio),
                                       idle_minutes=lesson.course.idle_check_minutes)
    entry = check_course_completion(member, lesson.course, now) if outcome.completed_now else None
    return HeartbeatResult(outcome, state, entry)


def still_here(member: User, lesson: Lesson, now: datetime) -> None:
    """The member answered the idle prompt; the caller commits."""
    progress.acknowledge_idle(watch_state(member, lesson), now)


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
