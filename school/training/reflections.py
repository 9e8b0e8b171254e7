"""心得体会 for a class, a course or a plan item: a member writes (autosaved), submits; a
reviewer grades 优秀 / 合格 / 退回修改.

One code path for the three kinds: a ``Target`` (kind + the object) says whether a
reflection is asked, its minimum length, who may write it and who reviews it; the
``Reflection`` row carries exactly one of ``class_id`` / ``course_id`` / ``plan_item_id``.

Autosave: every save carries the page's revision counter; ``UPDATE … WHERE revision <
:new`` keeps a late, stale request from overwriting newer text. Submitting is a conditional
update from draft/returned to submitted, so a double-clicked submit submits once and the
second click is told so. A reflection reviewed 合格 or 优秀 earns the hours of the credit
rules (``reflection_pass_hours`` / ``reflection_excellent_hours``) once, keyed
``keys.reflection(id)``, whatever its kind. Services flush; callers commit.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update

from school.accounts.audience import org_ids_on_path
from school.accounts.models import Organisation, Role, User
from school.accounts.scoping import org_in_scope
from school.credits import keys, ledger
from school.credits.models import CreditSource
from school.credits.rules import current_rules
from school.extensions import db
from school.training import media
from school.training.classes import can_manage, visible_to
from school.training.errors import TrainingError
from school.training.models import Enrolment, EnrolState, Reflection, ReflectionState, TrainingClass
from school.training.rows import insert_once

KIND_LABELS = {"class": "专题班", "course": "课程", "plan": "学习计划任务"}
_COLUMNS = {"class": "class_id", "course": "course_id", "plan": "plan_item_id"}


@dataclass(frozen=True)
class Target:
    """What a reflection is written for: ``kind`` ("class", "course", "plan") and the object."""

    kind: str
    obj: object  # TrainingClass | Course | PlanItem

    @property
    def id(self) -> int:
        return self.obj.id

    @property
    def column(self):
        return getattr(Reflection, _COLUMNS[self.kind])

    @property
    def title(self) -> str:
        return self.obj.title

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def required(self) -> bool:
        return bool(self.obj.reflection_required)

    @property
    def min_chars(self) -> int:
        return self.obj.reflection_min_chars or 0

    def values(self) -> dict:
        return {_COLUMNS[self.kind]: self.obj.id}


def target(obj) -> Target:
    """A ``Target`` from a class, a course or a plan item (a ``Target`` is returned as it is)."""
    if isinstance(obj, Target):
        return obj
    if isinstance(obj, TrainingClass):
        return Target("class", obj)
    from school.courses.models import Course
    from school.notices.models import PlanItem
    if isinstance(obj, Course):
        return Target("course", obj)
    if isinstance(obj, PlanItem):
        return Target("plan", obj)
    raise TypeError(f"no reflections for {type(obj).__name__}")


def load(kind: str, target_id: int) -> Target | None:
    from school.courses.models import Course
    from school.notices.models import PlanItem
    model = {"class": TrainingClass, "course": Course, "plan": PlanItem}.get(kind)
    obj = db.session.get(model, target_id) if model is not None else None
    return Target(kind, obj) if obj is not None else None


def of_reflection(row: Reflection) -> Target:
    return Target(row.kind, {"class": row.training_class, "course": row.course, "plan": row.plan_item}[row.kind])


def _in_plan(item, member: User) -> bool:
    """The plan item is in the member's plans: its organisation is on the member's path."""
    return member.active and item.plan.org_id in org_ids_on_path(member)


def visible(t: Target, member: User) -> bool:
    """May ``member`` open the reflection page of ``t`` at all (else the page is a 404)."""
    if t.kind == "class":
        return visible_to(t.obj, member)
    if t.kind == "course":
        from school.courses.visibility import can_see
        return can_see(t.obj, member)
    return _in_plan(t.obj, member)

EDITABLE = (ReflectionState.DRAFT, ReflectionState.RETURNED)
MAX_CHARS = 20000
MAX_IMAGES = 6
VERDICTS = {"excellent": ReflectionState.EXCELLENT, "passed": ReflectionState.PASSED,
            "returned": ReflectionState.RETURNED}


def length(body: str) -> int:
    """Characters that count: everything but white space."""
    return len(re.sub(r"\s+", "", body or ""))


def reflection_of(obj, member: User) -> Reflection | None:
    t = target(obj)
    return db.session.scalar(select(Reflection).where(t.column == t.id, Reflection.member_id == member.id))


def _check_writer(t: Target, member: User) -> None:
    if not t.required:
        raise TrainingError(f"本{t.label}不要求提交心得体会")
    if t.kind == "class":
        enrolled = db.session.scalar(select(Enrolment.id).where(
            Enrolment.class_id == t.id, Enrolment.member_id == member.id, Enrolment.state == EnrolState.ENROLLED))
        if enrolled is None:
            raise TrainingError("参加本专题班后才能提交心得体会")
    elif not visible(t, member):
        raise TrainingError("本课程不面向您，不能提交心得体会" if t.kind == "course"
                            else "这项任务不在您的学习计划中，不能提交心得体会")


def ensure(obj, member: User, now: datetime) -> Reflection:
    t = target(obj)
    _check_writer(t, member)
    row = reflection_of(t, member)
    if row is not None:
        return row
    column = _COLUMNS[t.kind]
    insert_once(Reflection, [column, "member_id"], **t.values(), member_id=member.id, body="", images=[],
                state=ReflectionState.DRAFT, revision=0, saved_at=now, comment="", featured=False)
    return reflection_of(t, member)


def save_draft(obj, member: User, body: str, revision: int | None, now: datetime) -> Reflection:
    """Keep the text being written. ``revision`` is the page's counter (None: a plain form
    post, which always wins). A stale revision changes nothing."""
    if len(body or "") > MAX_CHARS:
        raise TrainingError(f"心得体会不能超过 {MAX_CHARS} 字")
    row = ensure(obj, member, now)
    if row.state not in EDITABLE:
        raise TrainingError("心得体会已提交，不能再修改")
    new_revision = row.revision + 1 if revision is None else revision
    db.session.execute(
        update(Reflection).where(Reflection.id == row.id, Reflection.state.in_(EDITABLE),
                                 Reflection.revision < new_revision)
        .values(body=body or "", revision=new_revision, saved_at=now).execution_options(synchronize_session=False))
    db.session.refresh(row)
    return row


def add_image(obj, member: User, data: bytes, now: datetime) -> str:
    row = ensure(obj, member, now)
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


def remove_image(obj, member: User, name: str) -> None:
    row = reflection_of(obj, member)
    if row is None or row.state not in EDITABLE:
        raise TrainingError("心得体会已提交，不能再修改")
    row.images = [n for n in (row.images or []) if n != name]
    db.session.flush()


def submit(obj, member: User, body: str, now: datetime) -> Reflection:
    t = target(obj)
    row = ensure(t, member, now)
    if row.state not in EDITABLE:
        raise TrainingError("心得体会已经提交，正在等待审阅，无需重复提交")
    count = length(body)
    if count < t.min_chars:  # the view keeps the text as a draft
        raise TrainingError(f"心得体会至少需要 {t.min_chars} 字，目前只有 {count} 字，已保存为草稿")
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
    """Never the author. A class: its managers and secretaries whose subtree holds the member.
    A course: editors, admins and those secretaries. A plan item: admins and the secretaries
    whose subtree holds the plan's organisation."""
    if actor is None or not getattr(actor, "is_authenticated", False) or actor.id == reflection.member_id:
        return False
    if actor.role == Role.ADMIN:
        return True
    kind = reflection.kind
    if kind == "class" and can_manage(actor, reflection.training_class):
        return True
    if kind == "course" and actor.role == Role.EDITOR:
        return True
    if actor.role != Role.SECRETARY or actor.org is None:
        return False
    if kind == "plan":
        return org_in_scope(actor, reflection.plan_item.plan.org)
    return org_in_scope(actor, reflection.member.org)


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
                featured=bool(feature and state == ReflectionState.EXCELLENT and reflection.kind == "class"))
        .execution_options(synchronize_session=False)).rowcount
    if moved != 1:
        raise TrainingError("这篇心得体会已经审阅过了（或尚未提交）")
    db.session.refresh(reflection)
    hours = hours_for(state)
    if hours is None or hours <= 0:
        return None
    t = of_reflection(reflection)
    return ledger.award(reflection.member_id, hours, "online", CreditSource.REFLECTION,
                        keys.reflection(reflection.id), now, description=f"{t.label}《{t.title}》心得体会"[:300],
                        actor=actor)


def set_featured(reflection: Reflection, actor: User, featured: bool) -> None:
    if not can_review(actor, reflection):
        raise TrainingError("您不能修改这篇心得体会")
    if featured and (reflection.state != ReflectionState.EXCELLENT or reflection.kind != "class"):
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


def review_queue(actor: User, kind: str | None = None, limit: int = 500) -> list[Reflection]:
    """Every handed-in reflection ``actor`` may review, of every kind (or one), the waiting ones
    first. The query narrows by the actor's reach; ``can_review`` has the last word."""
    from school.notices.models import PlanItem, StudyPlan
    query = select(Reflection).where(Reflection.state != ReflectionState.DRAFT)
    if kind in _COLUMNS:
        query = query.where(getattr(Reflection, _COLUMNS[kind]).is_not(None))
    if actor.role == Role.EDITOR:
        query = query.where(Reflection.course_id.is_not(None))
    elif actor.role == Role.SECRETARY and actor.org is not None:
        member_org = select(User.id).join(Organisation, Organisation.id == User.org_id).where(
            Organisation.path.startswith(actor.org.path, autoescape=True))
        plan_in_scope = (select(PlanItem.id).join(StudyPlan, StudyPlan.id == PlanItem.plan_id)
                         .join(Organisation, Organisation.id == StudyPlan.org_id)
                         .where(Organisation.path.startswith(actor.org.path, autoescape=True)))
        managed = select(TrainingClass.id).join(Organisation, Organisation.id == TrainingClass.org_id).where(
            Organisation.path.startswith(actor.org.path, autoescape=True))
        query = query.where(or_(Reflection.member_id.in_(member_org), Reflection.plan_item_id.in_(plan_in_scope),
                                Reflection.class_id.in_(managed)))
    elif actor.role != Role.ADMIN:
        return []
    waiting_first = (Reflection.state != ReflectionState.SUBMITTED)
    rows = db.session.scalars(query.order_by(waiting_first, Reflection.submitted_at.desc(), Reflection.id.desc())
                              .limit(limit))
    return [r for r in rows if can_review(actor, r)]


# --- the member's home page -------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """A course or plan-item reflection the member still has to write or to revise."""

    kind: str  # "course" or "plan"
    target_id: int
    title: str
    state: str | None  # None: not started; draft; returned
    comment: str = ""

    @property
    def label(self) -> str:
        return KIND_LABELS[self.kind]

    @property
    def state_label(self) -> str:
        return {None: "待写", ReflectionState.DRAFT: "草稿未提交", ReflectionState.RETURNED: "退回修改"}[self.state]


def pending_for(member: User, now: datetime) -> list[Pending]:
    """The reflections waiting for ``member`` outside classes (a class's own reflection is its
    "继续学习" step on the home page): those returned for revision first, then the ones to write
    — a plan item of this year's plans asking for one, or a course asking for one that the
    member completed or began a reflection for — with no reflection yet or only a draft.
    Two statements."""
    from school.courses.models import Course, CourseCompletion
    from school.courses.visibility import visible_condition
    from school.notices.models import PlanItem, StudyPlan
    from school.timeutil import to_local

    open_states = (ReflectionState.DRAFT, ReflectionState.RETURNED)
    found: list[Pending] = []
    mine = select(Reflection).where(Reflection.member_id == member.id).subquery()
    ids = org_ids_on_path(member) if member.active else []
    if ids:
        rows = db.session.execute(
            select(PlanItem.id, PlanItem.title, mine.c.state, mine.c.comment)
            .join(StudyPlan, StudyPlan.id == PlanItem.plan_id)
            .outerjoin(mine, mine.c.plan_item_id == PlanItem.id)
            .where(StudyPlan.org_id.in_(ids), StudyPlan.year == to_local(now).year,
                   PlanItem.reflection_required.is_(True),
                   or_(mine.c.id.is_(None), mine.c.state.in_(open_states)))
            .order_by(PlanItem.due_on, PlanItem.id))
        found += [Pending("plan", i, title, state, comment or "") for i, title, state, comment in rows]
    completed = select(CourseCompletion.course_id).where(CourseCompletion.member_id == member.id)
    rows = db.session.execute(
        select(Course.id, Course.title, mine.c.state, mine.c.comment)
        .outerjoin(mine, mine.c.course_id == Course.id)
        .where(Course.reflection_required.is_(True), visible_condition(member),
               or_(mine.c.state.in_(open_states), and_(mine.c.id.is_(None), Course.id.in_(completed))))
        .order_by(Course.title, Course.id))
    found += [Pending("course", i, title, state, comment or "") for i, title, state, comment in rows]
    return sorted(found, key=lambda p: p.state != ReflectionState.RETURNED)  # stable: returned first
