"""Courses, lessons, uploads in progress and each member's verified watch state."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school.accounts.audience import AudienceMixin, audience_table
from school.accounts.models import Organisation
from school.extensions import db
from school.jobs import Job  # noqa: F401  (lesson.job_id refers to its table)
from school.timeutil import utcnow


class Track(StrEnum):
    THEORY = "theory"
    RURAL = "rural"


TRACK_LABELS = {Track.THEORY: "理论学习", Track.RURAL: "农村实用技术"}

# The practical-skills categories, in the order the home page shows their tiles.
RURAL_CATEGORIES = {
    "planting": "种植",
    "breeding": "养殖",
    "processing": "农产品加工",
    "ecommerce": "农村电商",
    "labour": "务工技能",
}


class CompletionMode(StrEnum):
    TIMED = "timed"
    EXAM = "exam"
    BOTH = "both"


COMPLETION_LABELS = {
    CompletionMode.TIMED: "看完全部课程",
    CompletionMode.EXAM: "通过课程测试",
    CompletionMode.BOTH: "看完并通过测试",
}


class LessonKind(StrEnum):
    VIDEO = "video"
    TEXT = "text"
    DOCUMENT = "document"  # a document of the library, read there


class MediaStatus(StrEnum):
    NONE = "none"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


course_audience_org = audience_table("course")


class Course(AudienceMixin, db.Model):
    __tablename__ = "course"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text, default="")
    cover_name: Mapped[str | None] = mapped_column(String(200))  # file under media/covers/
    track: Mapped[str] = mapped_column(String(20), default=Track.THEORY)
    category: Mapped[str | None] = mapped_column(String(20))  # a RURAL_CATEGORIES key
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    completion_mode: Mapped[str] = mapped_column(String(10), default=CompletionMode.TIMED)
    credit_hours: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))  # editor override
    sequential: Mapped[bool] = mapped_column(Boolean, default=False)
    no_seek_ahead: Mapped[bool] = mapped_column(Boolean, default=True)
    # "还在学习吗？" window for this course's videos (minutes); None: the school's credit rule.
    presence_min_minutes: Mapped[int | None] = mapped_column(Integer)
    presence_max_minutes: Mapped[int | None] = mapped_column(Integer)
    published: Mapped[bool] = mapped_column(Boolean, default=True)
    # 心得体会 asked of the course's learners (written and reviewed through school.training.reflections).
    reflection_required: Mapped[bool] = mapped_column(Boolean, default=False)
    reflection_min_chars: Mapped[int] = mapped_column(Integer, default=300)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    audience_orgs: Mapped[list[Organisation]] = relationship(secondary=course_audience_org)
    lessons: Mapped[list[Lesson]] = relationship(back_populates="course", order_by="Lesson.position",
                                                 cascade="all, delete-orphan")

    @property
    def track_label(self) -> str:
        return TRACK_LABELS.get(self.track, self.track)

    @property
    def category_label(self) -> str:
        return RURAL_CATEGORIES.get(self.category or "", "")


class Lesson(db.Model):
    __tablename__ = "lesson"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default=LessonKind.VIDEO)
    body_md: Mapped[str] = mapped_column(Text, default="")
    # Video: renditions live in media/videos/<media_key>/; a new transcode gets a new key,
    # so the files under one key never change and can be cached for long.
    media_key: Mapped[str | None] = mapped_column(String(40))
    media_status: Mapped[str] = mapped_column(String(12), default=MediaStatus.NONE)
    media_error: Mapped[str | None] = mapped_column(Text)
    source_name: Mapped[str | None] = mapped_column(String(200))  # the file the editor uploaded
    source_path: Mapped[str | None] = mapped_column(String(300))  # stored upload, relative to media/
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    has_video: Mapped[bool] = mapped_column(Boolean, default=True)
    ladder: Mapped[str] = mapped_column(String(100), default="")  # rendition heights, "240,360"
    subtitles_name: Mapped[str | None] = mapped_column(String(100))  # file under media/subtitles/
    # Its words, for /search only (courses.subtitles): deferred, so course pages do not load a lecture's text.
    subtitles_text: Mapped[str | None] = mapped_column(Text, deferred=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id", ondelete="SET NULL"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("library_document.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    course: Mapped[Course] = relationship(back_populates="lessons")
    document = relationship("Document")

    @property
    def is_video(self) -> bool:
        return self.kind == LessonKind.VIDEO

    @property
    def ready(self) -> bool:
        return self.kind != LessonKind.VIDEO or self.media_status == MediaStatus.READY

    @property
    def heights(self) -> list[int]:
        return [int(h) for h in self.ladder.split(",") if h]


class Upload(db.Model):
    """A chunked upload in progress; the bytes go to media/uploads/<token>.part."""

    __tablename__ = "course_upload"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class WatchState(db.Model):
    """What the server has verified of one member watching one lesson.

    ``intervals`` is the union of credited position ranges as JSON ``[[start, end], …]``.
    The ``last_*`` fields describe the last *accepted* heartbeat of the page that last took the
    lesson; which page may earn is the member's study clock (``credits.clock``).
    """

    __tablename__ = "watch_state"
    __table_args__ = (UniqueConstraint("member_id", "lesson_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), index=True)
    intervals: Mapped[str] = mapped_column(Text, default="[]")
    covered_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    credited_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # wall-clock time credited
    furthest_position: Mapped[float] = mapped_column(Float, default=0.0)
    resume_position: Mapped[float] = mapped_column(Float, default=0.0)
    tab: Mapped[str | None] = mapped_column(String(40))
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_position: Mapped[float] = mapped_column(Float, default=0.0)
    last_playing: Mapped[bool] = mapped_column(Boolean, default=False)
    clock_offset: Mapped[float] = mapped_column(Float, default=0.0)  # client clock − server clock, s
    # What is left of the fixed jitter of the current run of playing (since the last takeover,
    # pause or seek): a beat may advance max rate × elapsed plus this, and uses it up.
    slack_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CourseCompletion(db.Model):
    """The moment a member completed a course (lessons and/or its test, per the course's mode).

    Written once, when completion is first established; reports count these rows.
    """

    __tablename__ = "course_completion"
    __table_args__ = (UniqueConstraint("member_id", "course_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    completed_at: Mapped[datetime] = mapped_column(DateTime)
