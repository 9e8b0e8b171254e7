"""The ledger's idempotency keys, one builder per fact that earns hours.

A key names the fact, not the award: awarding the same fact twice (a retried request, a
second worker, a repaired signal) finds the first row. Every writer and every reader of a
key uses these builders, so the spelling cannot drift between them.
"""
from __future__ import annotations

from datetime import date


def reading(member_id: int, day: date, hundredths_awarded: int) -> str:
    """A step of reading credit: the member's day, and the hours (×100) credited before it."""
    return f"reading:{member_id}:{day.isoformat()}:{hundredths_awarded}"


def course_complete(course_id: int, member_id: int) -> str:
    return f"course-complete:{course_id}:{member_id}"


def exam_pass(exam_id: int, member_id: int) -> str:
    return f"exam-pass:{exam_id}:{member_id}"


def exam_pass_regrade(exam_id: int, member_id: int, regrade_id: int) -> str:
    """The exam pass awarded again by a regrade (exams/regrading.py) after its first award was reversed."""
    return f"{exam_pass(exam_id, member_id)}:regrade:{regrade_id}"


def exam_pass_prefix(exam_id: int, member_id: int) -> str:
    """What every key of the same exam pass other than ``exam_pass`` itself begins with."""
    return exam_pass(exam_id, member_id) + ":"


def is_exam_pass(key: str, exam_id: int, member_id: int) -> bool:
    """Whether ``key`` credits this exam pass: the first award or one awarded again by a regrade."""
    return key == exam_pass(exam_id, member_id) or key.startswith(exam_pass_prefix(exam_id, member_id))


def offline_session(session_id: int, member_id: int) -> str:
    return f"offline-session:{session_id}:member:{member_id}"


def class_complete(class_id: int, member_id: int) -> str:
    """A training class (专题班) completed: its top-up hours (training/completion.py)."""
    return f"class-complete:{class_id}:{member_id}"


def reflection(reflection_id: int) -> str:
    """A reflection (心得体会) reviewed 合格 or 优秀."""
    return f"reflection:{reflection_id}"


def reversal(entry_id: int) -> str:
    return f"reversal:{entry_id}"
