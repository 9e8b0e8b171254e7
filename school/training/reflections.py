"""心得体会: a member writes (autosaved), submits; a reviewer grades 优秀 / 合格 / 退回修改.

Autosave: every save carries the page's revision counter; ``UPDATE … WHERE revision <
:new`` keeps a late, stale request from overwriting newer text. Submitting is a conditional
update from draft/returned to submitted, so a double-clicked submit submits once and the
second click is told so. A reflection reviewed 合格 or 优秀 earns the hours of the credit
rules (``reflection_pass_hours`` / ``reflection_excellent_hours``) once, keyed
``keys.reflection(id)``. Services flush; callers commit.
"""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update

from school.accounts.models import Role, User
from school.accounts.scoping import org_in_scope
from school.credits import keys, ledger
from school.credits.models import CreditSource
from school.credits.rules import current_rules
from school.extensions import db
from school.training import media
from school.training.classes import can_manage
from school.training.errors import TrainingError
from school.training.models import Enrolment, EnrolState, Reflection, ReflectionState, TrainingClass
from school.training.rows import insert_once

EDITABLE = (ReflectionState.DRAFT, ReflectionState.RETURNED)
MAX_CHARS = 20000
MAX_IMAGES = 6
VERDICTS = {"excellent": ReflectionState.EXCELLENT, "passed": ReflectionState.PASSED,
            "returned": ReflectionState.RETURNED}


def length(body: str) -> int:
    """Characters that count: everything but white space."""
    return len(re.sub(r"\s+", "", body or ""))


def reflection_of(cls: TrainingClass, member: User) -> Reflection | None:
    return db.session.scalar(select(Reflection).where(Reflection.class_id == cls.id,
                                                      Reflection.member_id == member.id))


def _check_writer(cls: TrainingClass, member: User) -> None:
    if not cls.reflection_required:
        raise TrainingError("本专题班不要求提交心得体会")
    enrolled = db.session.scalar(select(Enrolment.id).where(
        Enrolment.class_id == cls.id, Enrolment.member_id == member.id, Enrolment.state == EnrolState.ENROLLED))
    if enrolled is None:
        raise TrainingError("参加本专题班后才能提交心得体会")


def ensure(cls: TrainingClass, member: User, now: datetime) -> Reflection:
    _check_writer(cls, member)
    row = reflection_of(cls, member)
    if row is not None:
        return row
    insert_once(Reflection, ["class_id", "member_id"], class_id=cls.id, member_id=member.id, body="", images=[],
                state=ReflectionState.DRAFT, revision=0, saved_at=now, comment="", featured=False)
    return reflection_of(cls, member)


def save_draft(cls: TrainingClass, member: User, body: str, revision: int | None, now: datetime) -> Reflection:
    """Keep the text being written. ``revision`` is the page's counter (None: a plain form
    post, which always wins). A stale revision changes nothing."""
    if len(body or "") > MAX_CHARS:
        raise TrainingError(f"心得体会不能超过 {MAX_CHARS} 字")
    row = ensure(cls, member, now)
    if row.state not in EDITABLE:
        raise TrainingError("心得体会已提交，不能再修改")
    new_revision = row.revision + 1 if revision is None else revision
    db.session.execute(
        update(Reflection).where(Reflection.id == row.id, Reflection.state.in_(EDITABLE),
                                 Reflection.revision < new_revision)
        .values(body=body or "", revision=new_revision, saved_at=now).execution_options(synchronize_session=False))
    db.session.refresh(row)
    return row


def add_image(cls: TrainingClass, member: User, data: bytes, now: datetime) -> str:
    row = ensure(cls, member, now)
    if row.state not in EDITABLE:
        raise TrainingError("心得体会已提交，不能再修改")
    if len(row.images or []) >= MAX_IMAGES:
        raise TrainingError(f"最多附 {MAX_IMAGES} 张图片")
    name = media.save_picture(data)  # raises ImageError with the reason
    if name not in (row.images or []):
        row.images = [*(row.images or []), name]
    row.saved_at = now
    db.session.flush()
    return name


def remove_image(cls: TrainingClass, member: User, name: str) -> None:
    row = reflection_of(cls, member)
    if row is None or row.state not in EDITABLE:
        raise TrainingError("心得体会已提交，不能再修改")
    row.images = [n for n in (row.images or []) if n != name]
    db.session.flush()


def submit(cls: TrainingClass, member: User, body: str, now: datetime) -> Reflection:
    row = ensure(cls, member, now)
    if row.state not in EDITABLE:
        raise TrainingError("心得体会已经提交，正在等待审阅，无需重复提交")
    count = length(body)
    if count < cls.reflection_min_chars:  # the view keeps the text as a draft
        raise TrainingError(f"心得体会至少需要 {cls.reflection_min_chars} 字，目前只有 {count} 字，已保存为草稿")
    if len(body) > MAX_CHARS:
        raise TrainingError(f"心得体会不能超过 {MAX_CHARS} 字")
    moved = db.session.execute(
        update(Reflection).where(Reflection.id == row.id, Reflection.state.in_(EDITABLE))
        .values(body=body, state=ReflectionState.SUBMITTED, submitted_at=now, saved_at=now,
                revision=Reflection.revision + 1)
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise TrainingError("心得体会已经提交，正在等待审阅，无需重复提交")
    db.session.refresh(row)
    return row


# --- review -------------------------------------------------------------------------------


def can_review(actor: User, reflection: Reflection) -> bool:
    """The class's managers, and secretaries whose subtree holds the member; never the author."""
    if actor.id == reflection.member_id:
        return False
    if can_manage(actor, reflection.training_class):
        return True
    return actor.role == Role.SECRETARY and actor.org is not None and org_in_scope(actor, reflection.member.org)


def hours_for(state: str):
    rules = current_rules()
    return {ReflectionState.PASSED: rules.reflection_pass_hours,
            ReflectionState.EXCELLENT: rules.reflection_excellent_hours}.get(state)


def review(reflection: Reflection, actor: User, verdict: str, comment: str, now: datetime,
           feature: bool = False):
    """Grade a submitted reflection; returns the ledger row when it earned hours."""
    if not can_review(actor, reflection):
        raise TrainingError("您不能审阅这篇心得体会")
    state = VERDICTS.get(verdict)
    if state is None:
        raise TrainingError("请选择审阅结果：优秀、合格或退回修改")
    comment = (comment or "").strip()
    if state == ReflectionState.RETURNED and not comment:
        raise TrainingError("退回修改时请写明需要修改的地方")
    moved = db.session.execute(
        update(Reflection).where(Reflection.id == reflection.id, Reflection.state == ReflectionState.SUBMITTED)
        .values(state=state, reviewed_at=now, reviewer_id=actor.id, comment=comment[:1000],
                featured=bool(feature and state == ReflectionState.EXCELLENT))
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise TrainingError("这篇心得体会已经审阅过了（或尚未提交）")
    db.session.refresh(reflection)
    hours = hours_for(state)
    if hours is None or hours <= 0:
        return None
    cls = reflection.training_class
    return ledger.award(reflection.member_id, hours, "online", CreditSource.REFLECTION,
                        keys.reflection(reflection.id), now, description=f"专题班《{cls.title}》心得体会"[:300],
                        actor=actor)


def set_featured(reflection: Reflection, actor: User, featured: bool) -> None:
    if not can_review(actor, reflection):
        raise TrainingError("您不能修改这篇心得体会")
    if featured and reflection.state != ReflectionState.EXCELLENT:
        raise TrainingError("只有评为优秀的心得体会可以在班内展示")
    reflection.featured = featured
    db.session.flush()


def featured(cls: TrainingClass) -> list[Reflection]:
    return list(db.session.scalars(select(Reflection).where(
        Reflection.class_id == cls.id, Reflection.state == ReflectionState.EXCELLENT,
        Reflection.featured.is_(True)).order_by(Reflection.reviewed_at.desc())))


def for_review(cls: TrainingClass, actor: User) -> list[Reflection]:
    rows = db.session.scalars(select(Reflection).where(Reflection.class_id == cls.id,
                                                       Reflection.state != ReflectionState.DRAFT)
                              .order_by(Reflection.submitted_at))
    return [r for r in rows if can_review(actor, r)]
