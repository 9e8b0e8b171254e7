"""专题班 (training classes): the class, its items, enrolments, items done, certificates,
reflections and the organisations' seals."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school.accounts.audience import AudienceMixin, audience_table
from school.accounts.models import Organisation, User
from school.extensions import db
from school.timeutil import utcnow


class EnrolMode(StrEnum):
    AUTO = "auto"  # everyone in the audience is enrolled
    OPEN = "open"  # a member in the audience enrols with one click (while seats last)
    APPROVAL = "approval"  # a member applies, the organiser approves


ENROL_MODE_LABELS = {EnrolMode.AUTO: "面向对象自动参加", EnrolMode.OPEN: "自愿报名（名额先到先得）",
                     EnrolMode.APPROVAL: "报名后由主办单位审核"}


class Floating(StrEnum):
    ALL = "all"
    ONLY = "only"
    EXCLUDE = "exclude"


FLOATING_LABELS = {Floating.ALL: "流动党员和其他党员都可参加", Floating.ONLY: "只面向流动党员",
                   Floating.EXCLUDE: "不含流动党员"}


class ItemKind(StrEnum):
    COURSE = "course"
    DOCUMENT = "document"
    TEXT = "text"


ITEM_KIND_LABELS = {ItemKind.COURSE: "课程", ItemKind.DOCUMENT: "文献", ItemKind.TEXT: "学习材料"}


class EnrolState(StrEnum):
    PENDING = "pending"
    ENROLLED = "enrolled"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


ENROL_STATE_LABELS = {EnrolState.PENDING: "待审核", EnrolState.ENROLLED: "已参加",
                      EnrolState.REJECTED: "未通过", EnrolState.WITHDRAWN: "已退出"}


class ReflectionState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    PASSED = "passed"
    EXCELLENT = "excellent"


REFLECTION_STATE_LABELS = {ReflectionState.DRAFT: "草稿", ReflectionState.SUBMITTED: "待审阅",
                           ReflectionState.RETURNED: "退回修改", ReflectionState.PASSED: "合格",
                           ReflectionState.EXCELLENT: "优秀"}

training_class_audience_org = audience_table("training_class")


class TrainingClass(AudienceMixin, db.Model):
    __tablename__ = "training_class"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    theme: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    cover_name: Mapped[str | None] = mapped_column(String(80))  # a checked picture (training/media.py)
    # The organiser: the organisation that created it; None is the whole school (admins only).
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(DateTime)
    ends_at: Mapped[datetime] = mapped_column(DateTime)
    enrol_opens_at: Mapped[datetime] = mapped_column(DateTime)
    enrol_closes_at: Mapped[datetime] = mapped_column(DateTime)
    capacity: Mapped[int | None] = mapped_column(Integer)  # None: no limit
    # Seats taken (enrolled members); changed only by a conditional UPDATE, so the capacity
    # holds in the database under parallel enrolments (services.take_seat).
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    enrol_mode: Mapped[str] = mapped_column(String(10), default=EnrolMode.OPEN)
    floating: Mapped[str] = mapped_column(String(10), default=Floating.ALL)
    electives_required: Mapped[int] = mapped_column(Integer, default=0)
    exam_id: Mapped[int | None] = mapped_column(ForeignKey("exam.id", ondelete="SET NULL"))
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal("0"))
    credit_kind: Mapped[str] = mapped_column(String(20), default="online")
    reflection_required: Mapped[bool] = mapped_column(Boolean, default=False)
    reflection_min_chars: Mapped[int] = mapped_column(Integer, default=300)
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    org: Mapped[Organisation | None] = relationship()
    audience_orgs: Mapped[list[Organisation]] = relationship(secondary=training_class_audience_org)
    items: Mapped[list[ClassItem]] = relationship(back_populates="training_class", order_by="ClassItem.position",
                                                  cascade="all, delete-orphan")
    exam = relationship("Exam")

    @property
    def organiser_name(self) -> str:
        return self.org.name if self.org is not None else "网上党校"

    @property
    def seats_left(self) -> int | None:
        return None if self.capacity is None else max(self.capacity - self.seats_taken, 0)


class ClassItem(db.Model):
    """One thing to study in a class: a course, a library document or a text, required or elective."""

    __tablename__ = "training_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("training_class.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(10))
    course_id: Mapped[int | None] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("library_document.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200), default="")
    body_md: Mapped[str] = mapped_column(Text, default="")
    required: Mapped[bool] = mapped_column(Boolean, default=True)

    training_class: Mapped[TrainingClass] = relationship(back_populates="items")
    course = relationship("Course")
    document = relationship("Document")

    @property
    def display_title(self) -> str:
        if self.kind == ItemKind.COURSE and self.course is not None:
            return self.course.title
        if self.kind == ItemKind.DOCUMENT and self.document is not None:
            return self.document.title
        return self.title

    @property
    def kind_label(self) -> str:
        return ITEM_KIND_LABELS.get(self.kind, self.kind)


class Enrolment(db.Model):
    __tablename__ = "training_enrolment"
    __table_args__ = (UniqueConstraint("class_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("training_class.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(12), default=EnrolState.PENDING)
    applied_at: Mapped[datetime] = mapped_column(DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(String(300), default="")
    completed_at: Mapped[datetime | None] = mapped_column(DateTime)

    training_class: Mapped[TrainingClass] = relationship()
    member: Mapped[User] = relationship(foreign_keys=[member_id])

    @property
    def state_label(self) -> str:
        return ENROL_STATE_LABELS.get(self.state, self.state)


class ItemDone(db.Model):
    """A text item the member marked as studied (courses and documents have their own records)."""

    __tablename__ = "training_item_done"

    item_id: Mapped[int] = mapped_column(ForeignKey("training_item.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    done_at: Mapped[datetime] = mapped_column(DateTime)


class Certificate(db.Model):
    """结业证书: issued once per member and class; what it certifies is kept as issued."""

    __tablename__ = "training_certificate"
    __table_args__ = (UniqueConstraint("class_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("training_class.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)  # 144 random bits, URL-safe
    holder_name: Mapped[str] = mapped_column(String(60))
    class_title: Mapped[str] = mapped_column(String(200))
    organiser_name: Mapped[str] = mapped_column(String(120))
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    issued_at: Mapped[datetime] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    revoke_reason: Mapped[str] = mapped_column(String(300), default="")

    training_class: Mapped[TrainingClass] = relationship()
    member: Mapped[User] = relationship(foreign_keys=[member_id])


class Seal(db.Model):
    """An organisation's seal (公章) picture for certificates, uploaded by an admin."""

    __tablename__ = "training_seal"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id", ondelete="CASCADE"), unique=True)
    image_name: Mapped[str] = mapped_column(String(80))
    uploaded_at: Mapped[datetime] = mapped_column(DateTime)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    org: Mapped[Organisation | None] = relationship()


class Reflection(db.Model):
    """心得体会: one per member and target — a class, a course or a plan item (exactly one of
    the three ids is set) — autosaved as a draft, submitted, reviewed."""

    __tablename__ = "training_reflection"
    __table_args__ = (UniqueConstraint("class_id", "member_id"), UniqueConstraint("course_id", "member_id"),
                      UniqueConstraint("plan_item_id", "member_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int | None] = mapped_column(ForeignKey("training_class.id", ondelete="CASCADE"), index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("course.id", ondelete="CASCADE"), index=True)
    plan_item_id: Mapped[int | None] = mapped_column(ForeignKey("plan_item.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text, default="")
    images: Mapped[list] = mapped_column(JSON, default=list)  # names of checked pictures
    state: Mapped[str] = mapped_column(String(12), default=ReflectionState.DRAFT)
    revision: Mapped[int] = mapped_column(Integer, default=0)  # the autosave's last accepted revision
    saved_at: Mapped[datetime | None] = mapped_column(DateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    comment: Mapped[str] = mapped_column(String(1000), default="")
    featured: Mapped[bool] = mapped_column(Boolean, default=False)  # an excellent one shown to the class

    training_class: Mapped[TrainingClass | None] = relationship()
    course = relationship("Course")
    plan_item = relationship("PlanItem")
    member: Mapped[User] = relationship(foreign_keys=[member_id])

    @property
    def state_label(self) -> str:
        return REFLECTION_STATE_LABELS.get(self.state, self.state)

    @property
    def kind(self) -> str:
        """"class", "course" or "plan": which of the three targets this reflection is for."""
        if self.class_id is not None:
            return "class"
        return "course" if self.course_id is not None else "plan"

    @property
    def target_id(self) -> int:
        return self.class_id or self.course_id or self.plan_item_id
