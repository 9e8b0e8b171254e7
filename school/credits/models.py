"""The append-only credit ledger and the annual requirements it is measured against."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import DateTime, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school.accounts.models import User
from school.extensions import db
from school.timeutil import utcnow


class CreditKind(StrEnum):
    ONLINE = "online"
    CONCENTRATED = "concentrated"


KIND_LABELS = {CreditKind.ONLINE: "网络学习", CreditKind.CONCENTRATED: "集中培训"}


class CreditSource(StrEnum):
    VIDEO = "video"
    READING = "reading"
    EXAM = "exam"
    OFFLINE = "offline"
    BACKFILL = "backfill"
    CORRECTION = "correction"


SOURCE_LABELS = {
    CreditSource.VIDEO: "视频课程",
    CreditSource.READING: "文献阅读",
    CreditSource.EXAM: "在线考试",
    CreditSource.OFFLINE: "集中培训",
    CreditSource.BACKFILL: "补录",
    CreditSource.CORRECTION: "更正",
}


class CreditEntry(db.Model):
    """One row per award or correction. Never updated or deleted: balances are sums."""

    __tablename__ = "credit_entry"
    __table_args__ = (Index("ix_credit_entry_member_year", "member_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    hours: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    source: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Corrections: a reversing row points at the row it cancels, with reason and approver.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("credit_entry.id"), unique=True)
    reason: Mapped[str | None] = mapped_column(String(300))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    member: Mapped[User] = relationship(foreign_keys=[member_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    reverses: Mapped[CreditEntry | None] = relationship(remote_side=[id], foreign_keys=[reverses_id])

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS.get(self.source, self.source)


class AnnualRequirement(db.Model):
    """Hours a member of a category must earn in a year. A year without rows uses the defaults."""

    __tablename__ = "annual_requirement"
    __table_args__ = (UniqueConstraint("year", "category", name="uq_annual_requirement_year_category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(20))
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CreditSetting(db.Model):
    """An admin's override of one crediting rule (see ``credits.rules``)."""

    __tablename__ = "credit_setting"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(60))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
