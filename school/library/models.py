"""Documents with their revision history, thematic columns, and members' reading state."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school.accounts.models import User
from school.extensions import db
from school.library.categories import category_label
from school.timeutil import utcnow


class DocStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


STATUS_LABELS = {DocStatus.DRAFT: "草稿", DocStatus.PUBLISHED: "已发布"}


class Document(db.Model):
    __tablename__ = "library_document"
    __table_args__ = (Index("ix_library_document_category_status", "category", "status"),
                      Index("ix_library_document_level_region", "level", "region"))

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(20))
    issuer: Mapped[str] = mapped_column(String(200), default="")
    published_on: Mapped[date | None] = mapped_column(Date)
    tags: Mapped[str] = mapped_column(String(500), default="")  # comma-separated
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown
    status: Mapped[str] = mapped_column(String(20), default=DocStatus.DRAFT)
    content_hash: Mapped[str] = mapped_column(String(64), index=True, default="")
    # Where a bulk import found it (relative path), so a changed file becomes a new revision.
    source_path: Mapped[str | None] = mapped_column(String(500), unique=True)
    # An uploaded PDF kept for download: the original name and the server-generated one.
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_stored: Mapped[str | None] = mapped_column(String(100))
    read_count: Mapped[int] = mapped_column(Integer, default=0)
    # What kind of document it is (``levels.LEVELS``: law, regulation …) and, for a local
    # regulation, its province (and city): decided at import, shown with every search result.
    level: Mapped[str] = mapped_column(String(20), default="", server_default="")
    region: Mapped[str] = mapped_column(String(40), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    revisions: Mapped[list["DocumentRevision"]] = relationship(
        back_populates="document", order_by="DocumentRevision.number.desc()", cascade="all, delete-orphan")

    @property
    def category_label(self) -> str:
        return category_label(self.category)

    @property
    def level_label(self) -> str:
        from school.library.levels import classify, level_label

        return level_label(self.level or classify(self.title, self.source_path, self.issuer))

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def is_published(self) -> bool:
        return self.status == DocStatus.PUBLISHED

    @property
    def tag_list(self) -> list[str]:
        return [t for t in (s.strip() for s in self.tags.split(",")) if t]


class DocumentRevision(db.Model):
    """A full copy of the document as saved: who, when, what; restoring copies one back."""

    __tablename__ = "library_revision"
    __table_args__ = (Index("ix_library_revision_document_number", "document_id", "number", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("library_document.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    category: Mapped[str] = mapped_column(String(20))
    issuer: Mapped[str] = mapped_column(String(200), default="")
    published_on: Mapped[date | None] = mapped_column(Date)
    tags: Mapped[str] = mapped_column(String(500), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    document: Mapped[Document] = relationship(back_populates="revisions")
    created_by: Mapped[User | None] = relationship()


class LibraryColumn(db.Model):
    """A 专栏: an editor-curated, ordered collection with an introduction."""

    __tablename__ = "library_column"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    introduction: Mapped[str] = mapped_column(Text, default="")  # Markdown
    position: Mapped[int] = mapped_column(Integer, default=0)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    items: Mapped[list["ColumnItem"]] = relationship(
        order_by="ColumnItem.position", cascade="all, delete-orphan", back_populates="column")


class ColumnItem(db.Model):
    __tablename__ = "library_column_item"

    column_id: Mapped[int] = mapped_column(ForeignKey("library_column.id", ondelete="CASCADE"), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("library_document.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    column: Mapped[LibraryColumn] = relationship(back_populates="items")
    document: Mapped[Document] = relationship()


class ReadingPosition(db.Model):
    """Where a member last was in a document (an article anchor and a scroll fraction)."""

    __tablename__ = "library_reading_position"

    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("library_document.id", ondelete="CASCADE"), primary_key=True)
    anchor: Mapped[str] = mapped_column(String(60), default="")
    fraction: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0"))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ReadingDay(db.Model):
    """A member's reading on one local (Asia/Shanghai) day: seconds counted, hours awarded,
    and the last accepted heartbeat (per member, so two open tabs cannot count double)."""

    __tablename__ = "library_reading_day"

    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    seconds: Mapped[int] = mapped_column(Integer, default=0)
    awarded_hours: Mapped[Decimal] = mapped_column(Numeric(8, 2), default=Decimal("0"))
    last_beat_at: Mapped[datetime | None] = mapped_column(DateTime)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)


class RenderedBody(db.Model):
    """A document's body as rendered HTML (``rendering.render``: Markdown → nh3 → anchors),
    kept so that reading a document does not run Markdown on every view. ``body_hash`` is
    the SHA-256 of the renderer's version and the body: a new revision (or a new renderer)
    no longer matches and is rendered once, on its first view."""

    __tablename__ = "library_rendered"

    document_id: Mapped[int] = mapped_column(ForeignKey("library_document.id", ondelete="CASCADE"), primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64))
    html: Mapped[str] = mapped_column(Text)
    toc: Mapped[str] = mapped_column(Text, default="[]")  # JSON: [[level, text, anchor], …]
    articles: Mapped[str] = mapped_column(Text, default="[]")  # JSON: ["第一条", …]
    rendered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
