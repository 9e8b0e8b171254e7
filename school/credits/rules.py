"""Every crediting rule of the school in one place, with the national-plan defaults.

Rules are read at award time; an award stores the hours it gave, so changing a rule
affects only future awards. Admins override a rule through ``set_rule`` (the value is
kept as text in ``credit_setting``); anything not overridden uses ``DEFAULTS``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from sqlalchemy import select

from school.credits.models import CreditSetting
from school.extensions import db


@dataclass(frozen=True)
class CreditRules:
    # Courses: a lesson of >= 30 minutes counts 1 学时, 15–30 minutes 0.5; under 15 minutes in
    # proportion to its length (0.25 × minutes / 15), never more than its length in hours.
    lesson_long_minutes: int = 30
    lesson_long_hours: Decimal = Decimal("1.00")
    lesson_medium_minutes: int = 15
    lesson_medium_hours: Decimal = Decimal("0.50")
    lesson_short_hours: Decimal = Decimal("0.25")
    course_test_bonus_hours: Decimal = Decimal("0.50")
    lesson_complete_ratio: Decimal = Decimal("0.95")
    # Reading: 1 学时 per 45 minutes of verified reading, at most 1 学时 a day.
    reading_minutes_per_hour: int = 45
    reading_daily_cap_hours: Decimal = Decimal("1.00")
    # Exams: hours for passing an exam unless the exam sets its own.
    exam_default_hours: Decimal = Decimal("1.00")
    # Offline (concentrated) sessions: the most one session may credit.
    offline_max_hours_per_session: Decimal = Decimal("8.00")
    # The study clock (credits.clock): a video's position may advance at most this rate ×
    # elapsed time, and a lesson needs duration / rate of credited time to complete.
    max_playback_rate: Decimal = Decimal("2.00")
    # "还在学习吗？" falls due at a random moment this many minutes after the last answer
    # (video and reading; a course may set its own); 0 turns it off.
    presence_min_minutes: Decimal = Decimal("20.00")
    presence_max_minutes: Decimal = Decimal("30.00")
    # Reading earns nothing later than this long after the page's last scroll, touch or key.
    reading_input_minutes: Decimal = Decimal("10.00")
    # Reflections (心得体会) of training classes: hours for one reviewed 合格 / 优秀 (0: none).
    reflection_pass_hours: Decimal = Decimal("0.50")
    reflection_excellent_hours: Decimal = Decimal("1.00")

    def lesson_hours(self, duration_seconds: float) -> Decimal:
        """The ladder; below its first step (15 minutes) hours in proportion to the length —
        the short-lesson hours × length / first step — and never more than the lesson's own
        length in hours (a 10-second video earns 0, a 6-minute one 0.10)."""
        minutes = duration_seconds / 60
        if minutes >= self.lesson_long_minutes:
            return self.lesson_long_hours
        if minutes >= self.lesson_medium_minutes:
            return self.lesson_medium_hours
        length = Decimal(str(max(duration_seconds, 0))) / 3600
        step = Decimal(self.lesson_medium_minutes) / 60
        share = self.lesson_short_hours * length / step if step > 0 else self.lesson_short_hours
        return min(share, length, self.lesson_short_hours).quantize(Decimal("0.01"), rounding=ROUND_DOWN)

    def reading_hours(self, seconds: float) -> Decimal:
        return (Decimal(str(seconds)) / Decimal(self.reading_minutes_per_hour * 60)).quantize(Decimal("0.01"))

    def presence_window(self) -> tuple[float, float] | None:
        """Seconds (earliest, latest) after an answer at which the next prompt falls due; None: off."""
        return presence_window(self.presence_min_minutes, self.presence_max_minutes)

    @property
    def playback_rate(self) -> float:
        return max(1.0, float(self.max_playback_rate))  # below 1× a lesson could never be completed


def presence_window(low_minutes, high_minutes) -> tuple[float, float] | None:
    low = float(low_minutes or 0)
    if low <= 0:
        return None
    return low * 60, max(low, float(high_minutes or 0)) * 60


DEFAULTS = CreditRules()

LABELS = {
    "lesson_long_minutes": "长课时长下限（分钟）",
    "lesson_long_hours": "长课学时",
    "lesson_medium_minutes": "中课时长下限（分钟）",
    "lesson_medium_hours": "中课学时",
    "lesson_short_hours": "短课学时（不足中课时长的按时长比例折算，且不超过实际时长）",
    "course_test_bonus_hours": "课程测试通过加计学时",
    "lesson_complete_ratio": "视为看完的比例（0–1）",
    "reading_minutes_per_hour": "阅读多少分钟计 1 学时",
    "reading_daily_cap_hours": "每日阅读学时上限",
    "exam_default_hours": "考试通过默认学时",
    "offline_max_hours_per_session": "单次集中培训最多学时",
    "max_playback_rate": "最高播放倍速（进度最多按此倍速前进）",
    "presence_min_minutes": "“还在学习吗？”间隔下限（分钟，0 表示不提醒）",
    "presence_max_minutes": "“还在学习吗？”间隔上限（分钟）",
    "reading_input_minutes": "阅读页无操作多久后停止计时（分钟）",
    "reflection_pass_hours": "心得体会评为合格计学时",
    "reflection_excellent_hours": "心得体会评为优秀计学时",
}


def _convert(name: str, text: str):
    kind = type(getattr(DEFAULTS, name))
    return kind(text) if kind is not Decimal else Decimal(text).quantize(Decimal("0.01"))


def current_rules() -> CreditRules:
    overrides = {row.key: _convert(row.key, row.value)
                 for row in db.session.scalars(select(CreditSetting))
                 if row.key in {f.name for f in fields(CreditRules)}}
    return replace(DEFAULTS, **overrides)


def set_rule(name: str, value, actor, now: datetime) -> None:
    if name not in {f.name for f in fields(CreditRules)}:
        raise ValueError(f"未知的规则：{name}")
    converted = _convert(name, str(value))
    if converted < 0:
        raise ValueError("规则的值不能为负数")
    row = db.session.get(CreditSetting, name)
    if row is None:
        row = CreditSetting(key=name)
        db.session.add(row)
    row.value = str(converted)
    row.updated_at = now
    row.updated_by_id = actor.id if actor else None
