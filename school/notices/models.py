"""Announcements (通知公告), the member's inbox (消息), reminders and their deliveries, study plans."""
from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school.accounts.models import Organisation, User
from school.extensions import db
from school.timeutil import utcnow


class Notice(db.Model):
    """An announcement to an organisation's subtree; ``request_token`` makes a double-clicked send one notice."""

    __tablename__ = "notice"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")  # Markdown, rendered through safe_html
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    attachment_name: Mapped[str | None] = mapped_column(String(200))  # the uploaded name, shown only
    attachment_stored: Mapped[str | None] = mapped_column(String(100))  # our random name under media/notices
    attachment_mime: Mapped[str | None] = mapped_column(String(100))
    request_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    org: Mapped[Organisation] = relationship()
    created_by: Mapped[User | None] = relationship()


class NoticeRead(db.Model):
    __tablename__ = "notice_read"

    notice_id: Mapped[int] = mapped_column(ForeignKey("notice.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                           index=True)
    read_at: Mapped[datetime] = mapped_column(DateTime)


class Reminder(db.Model):
    """One send by a secretary: the text, where it came from, and one message per member reached."""

    __tablename__ = "reminder"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    source: Mapped[str] = mapped_column(String(60), default="")  # "notice:3", "plan:2", "behind:2026"
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    request_token: Mapped[str] = mapped_column(String(64), unique=True)
    job_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # The request records only whom to reach (JSON list of member ids); the job writes the
    # messages and deliveries (``delivery.fan_out``), sets ``fanned_out_at`` and the counts.
    member_ids: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(300), default="")  # copied onto each message
    fanned_out_at: Mapped[datetime | None] = mapped_column(DateTime)
    reached: Mapped[int | None] = mapped_column(Integer)
    skipped: Mapped[str | None] = mapped_column(Text)  # JSON [[member id, reason], …]

    sender: Mapped[User | None] = relationship()


class Message(db.Model):
    """A message in a member's on-site inbox (消息) — always written, whatever happens to e-mail and SMS."""

    __tablename__ = "message"
    __table_args__ = (Index("ix_message_member_created", "member_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reminder_id: Mapped[int | None] = mapped_column(ForeignKey("reminder.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(300), default="")  # a site path such as /notices/3
    created_at: Mapped[datetime] = mapped_column(DateTime)
    read_at: Mapped[datetime | None] = mapped_column(DateTime)

    member: Mapped[User] = relationship()
    reminder: Mapped[Reminder | None] = relationship()


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


CHANNEL_LABELS = {Channel.EMAIL: "邮件", Channel.SMS: "短信"}


class DeliveryState(StrEnum):
    PENDING = "pending"  # waiting for its first try
    SENDING = "sending"  # claimed by a job
    RETRYING = "retrying"  # failed for a passing reason; tried again at next_attempt_at
    SENT = "sent"
    FAILED = "failed"  # a final refusal, or the tries ran out


DELIVERY_STATE_LABELS = {DeliveryState.PENDING: "待发送", DeliveryState.SENDING: "发送中",
                         DeliveryState.RETRYING: "等待重试", DeliveryState.SENT: "已送达",
                         DeliveryState.FAILED: "失败"}


class Delivery(db.Model):
    """One message by one channel: its state, the tries made and the last reason."""

    __tablename__ = "delivery"
    __table_args__ = (UniqueConstraint("message_id", "channel"),
                      Index("ix_delivery_state_next", "state", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"))
    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminder.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime)

    message: Mapped[Message] = relationship()

    @property
    def state_label(self) -> str:
        return DELIVERY_STATE_LABELS.get(self.state, self.state)

    @property
    def channel_label(self) -> str:
        return CHANNEL_LABELS.get(self.channel, self.channel)


class StudyPlan(db.Model):
    """An organisation's study plan for a year, for its whole subtree."""

    __tablename__ = "study_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    title: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    org: Mapped[Organisation] = relationship()
    items: Mapped[list[PlanItem]] = relationship(back_populates="plan", cascade="all, delete-orphan",
                                                 order_by="PlanItem.due_on, PlanItem.id")


class PlanItem(db.Model):
    """One thing to do by a date: ``kind`` names an entry of ``plans.ITEM_KINDS`` (course, document, …)."""

    __tablename__ = "plan_item"
    __table_args__ = (UniqueConstraint("plan_id", "kind", "ref_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("study_plan.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    ref_id: Mapped[int] = mapped_column(Integer)  # the course / document / … id (no foreign key: kinds vary)
    title: Mapped[str] = mapped_column(String(300))  # as it was when assigned
    due_on: Mapped[date] = mapped_column(Date)
    # 心得体会 asked for this item (written and reviewed through school.training.reflections).
    reflection_required: Mapped[bool] = mapped_column(Boolean, default=False)
    reflection_min_chars: Mapped[int] = mapped_column(Integer, default=300)

    plan: Mapped[StudyPlan] = relationship(back_populates="items")
