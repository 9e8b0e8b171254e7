"""Enrolment: automatic for the audience, one click while seats last, or apply → approve.

The capacity holds in the database: a seat is taken only by
``UPDATE training_class SET seats_taken = seats_taken + 1 WHERE id = ? AND (capacity IS NULL
OR seats_taken < capacity)`` — PostgreSQL's row lock and SQLite's single writer order
parallel enrolments, and the one that finds the class full changes no row and is refused.
One member has one enrolment row per class (unique), so a double click cannot enrol twice.
Services flush; the caller commits, or rolls back on ``TrainingError``.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update

from school.accounts.models import User
from school.accounts.scoping import scoped_members
from school.extensions import db
from school.timeutil import format_local
from school.training.classes import can_manage, in_audience
from school.training.errors import TrainingError
from school.training.models import Enrolment, EnrolMode, EnrolState, TrainingClass
from school.training.rows import insert_once

ACTIVE = (EnrolState.PENDING, EnrolState.ENROLLED)


def enrolment_of(cls: TrainingClass, member: User) -> Enrolment | None:
    return db.session.scalar(select(Enrolment).where(Enrolment.class_id == cls.id, Enrolment.member_id == member.id))


def full_message(cls: TrainingClass) -> str:
    return f"本专题班名额已满（共 {cls.capacity} 个名额），不能再报名"


def why_not_enrol(cls: TrainingClass, member: User, now: datetime) -> str | None:
    """``None`` when ``member`` may enrol (or apply) now, else the reason in Chinese."""
    if not cls.published:
        return "专题班尚未发布"
    if not in_audience(cls, member):
        return "您不在本专题班的面向范围内"
    existing = enrolment_of(cls, member)
    if existing is not None and existing.state == EnrolState.ENROLLED:
        return "您已参加本专题班"
    if existing is not None and existing.state == EnrolState.PENDING:
        return "您已报名，正在等待主办单位审核"
    if now < cls.enrol_opens_at:
        return f"报名尚未开始，{format_local(cls.enrol_opens_at)} 开始报名"
    if now >= cls.enrol_closes_at:
        return f"报名已于 {format_local(cls.enrol_closes_at)} 截止，不能再报名"
    if _full(cls):
        return full_message(cls)
    return None


def take_seat(cls: TrainingClass) -> None:
    """One seat, atomically; refused (``TrainingError``) when the class is full."""
    result = db.session.execute(
        update(TrainingClass)
        .where(TrainingClass.id == cls.id,
               or_(TrainingClass.capacity.is_(None), TrainingClass.seats_taken < TrainingClass.capacity))
        .values(seats_taken=TrainingClass.seats_taken + 1)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.refresh(cls)
        raise TrainingError(full_message(cls))
    db.session.refresh(cls)


def give_back_seat(cls: TrainingClass) -> None:
    db.session.execute(update(TrainingClass).where(TrainingClass.id == cls.id, TrainingClass.seats_taken > 0)
                       .values(seats_taken=TrainingClass.seats_taken - 1)
                       .execution_options(synchronize_session=False))
    db.session.refresh(cls)


def _row_for(cls: TrainingClass, member: User, now: datetime, state: str, seat: bool) -> Enrolment:
    """The member's enrolment row in ``state`` (a new one, or a withdrawn/rejected one
    reopened), taking a seat first when ``seat``. Two taps at once: one changes the row, the
    other is told it is done and gives its seat back (the caller rolls back anyway)."""
    if seat:
        take_seat(cls)
    existing = enrolment_of(cls, member)
    if existing is not None:
        changed = db.session.execute(
            update(Enrolment).where(Enrolment.id == existing.id, Enrolment.state.not_in(ACTIVE))
            .values(state=state, applied_at=now, decided_at=now if seat else None, decided_by_id=None, reason="")
            .execution_options(synchronize_session=False)).rowcount == 1
    else:
        changed = insert_once(Enrolment, ["class_id", "member_id"], class_id=cls.id, member_id=member.id,
                              state=state, applied_at=now, decided_at=now if seat else None, reason="")
    if not changed:
        if seat:
            give_back_seat(cls)
        raise TrainingError("您已报名本专题班，无需重复报名")
    row = enrolment_of(cls, member)
    db.session.refresh(row)
    return row


def enrol(cls: TrainingClass, member: User, now: datetime) -> Enrolment:
    """Enrol (open or automatic classes) or apply (classes with approval)."""
    reason = why_not_enrol(cls, member, now)
    if reason is not None:
        raise TrainingError(reason)
    if cls.enrol_mode == EnrolMode.APPROVAL:
        return _row_for(cls, member, now, EnrolState.PENDING, seat=False)
    return _row_for(cls, member, now, EnrolState.ENROLLED, seat=True)


def ensure_auto(cls: TrainingClass, member: User, now: datetime) -> Enrolment | None:
    """An automatic class enrols its audience: the member's row, made on first sight while
    enrolment is open (a member who withdrew stays out). Returns the row or None."""
    existing = enrolment_of(cls, member)
    if existing is not None or cls.enrol_mode != EnrolMode.AUTO or why_not_enrol(cls, member, now) is not None:
        return existing
    try:
        return enrol(cls, member, now)
    except TrainingError:
        return None


def _full(cls: TrainingClass) -> bool:
    return cls.capacity is not None and cls.seats_taken >= cls.capacity


def sync_auto(cls: TrainingClass, actor: User, now: datetime) -> int:
    """Enrol every member of the audience the actor can see (saving the class calls this), as
    far as seats last. Returns how many were enrolled. Nothing is read while enrolment is
    not open or the class is full: no member could be enrolled then."""
    if cls.enrol_mode != EnrolMode.AUTO or not cls.published:
        return 0
    if not cls.enrol_opens_at <= now < cls.enrol_closes_at or _full(cls):
        return 0
    have = set(db.session.scalars(select(Enrolment.member_id).where(Enrolment.class_id == cls.id)))
    count = 0
    for member in db.session.scalars(scoped_members(actor).where(User.active.is_(True))):
        if member.id in have or not in_audience(cls, member):
            continue
        try:
            enrol(cls, member, now)  # takes the seat first: a refusal leaves nothing behind
            count += 1
        except TrainingError:
            if _full(cls):
                break
    return count


def approve(enrolment: Enrolment, actor: User, now: datetime) -> None:
    cls = enrolment.training_class
    if not can_manage(actor, cls):
        raise TrainingError("只有主办单位可以审核报名")
    moved = db.session.execute(
        update(Enrolment).where(Enrolment.id == enrolment.id, Enrolment.state == EnrolState.PENDING)
        .values(state=EnrolState.ENROLLED, decided_at=now, decided_by_id=actor.id)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise TrainingError("这条报名已经处理过了")
    try:
        take_seat(cls)
    except TrainingError:
        raise TrainingError(f"名额已满（共 {cls.capacity} 个名额），不能再批准报名") from None
    db.session.refresh(enrolment)


def reject(enrolment: Enrolment, actor: User, reason: str, now: datetime) -> None:
    if not can_manage(actor, enrolment.training_class):
        raise TrainingError("只有主办单位可以审核报名")
    reason = (reason or "").strip()
    if not reason:
        raise TrainingError("请填写不予通过的原因")
    moved = db.session.execute(
        update(Enrolment).where(Enrolment.id == enrolment.id, Enrolment.state == EnrolState.PENDING)
        .values(state=EnrolState.REJECTED, decided_at=now, decided_by_id=actor.id, reason=reason[:300])
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise TrainingError("这条报名已经处理过了")
    db.session.refresh(enrolment)


def withdraw(enrolment: Enrolment, member: User, now: datetime) -> None:
    if enrolment.member_id != member.id:
        raise TrainingError("只能退出自己参加的专题班")
    if enrolment.completed_at is not None:
        raise TrainingError("您已结业，不能退出")
    # The state is decided by the UPDATE that changes the row, not by what was read before it:
    # an approval between the two would otherwise leave its seat taken by nobody. Enrolled is
    # tried again last: an approval may land between the tries (pending → enrolled, never back).
    for state in (EnrolState.ENROLLED, EnrolState.PENDING, EnrolState.ENROLLED):
        moved = db.session.execute(
            update(Enrolment).where(Enrolment.id == enrolment.id, Enrolment.state == state)
            .values(state=EnrolState.WITHDRAWN, decided_at=now)
            .execution_options(synchronize_session=False)).rowcount
        if moved == 1:
            if state == EnrolState.ENROLLED:
                give_back_seat(enrolment.training_class)
            db.session.refresh(enrolment)
            return
    raise TrainingError("您已不在本专题班中")
