"""Time helpers: everything is stored as naive UTC and shown in Asia/Shanghai."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """Naive UTC, the form stored in the database (SQLite keeps no time zone)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def to_local(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(LOCAL_TZ)


def local_year(now: datetime) -> int:
    """The study year an event at ``now`` (naive UTC) belongs to, in China's calendar."""
    return to_local(now).year


def format_local(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    local = to_local(dt)
    return local.strftime(fmt) if local else ""


def local_to_utc(value: datetime | None) -> datetime | None:
    """A naive wall-clock time in Asia/Shanghai (what a person typed) → naive UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)


def local_date_to_utc(day: date) -> datetime:
    """The first instant of a local calendar day, in naive UTC (a period's bound)."""
    return local_to_utc(datetime.combine(day, time()))
