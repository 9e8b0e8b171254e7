"""Creating and editing classes and their content; who manages a class and who it is for.

Who manages: admins every class; a secretary the classes whose organiser is inside their
subtree (a whole-school class, ``org_id`` None, is the admins'). A secretary organises
classes only for organisations they manage: the organiser and every audience organisation
must be in their scope. Who reads a class's roster: its managers, and every secretary
whose subtree the audience reaches (their rows are then only their own members).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from school.accounts import audience
from school.accounts.models import Organisation, Role, User
from school.accounts.scoping import org_in_scope, scope_root
from school.extensions import db
from school.training.errors import TrainingError
from school.training.models import (
    ClassItem,
    EnrolMode,
    Floating,
    ItemKind,
    TrainingClass,
)


@dataclass
class ClassData:
    title: str
    starts_at: datetime
    ends_at: datetime
    enrol_opens_at: datetime
    enrol_closes_at: datetime
    org_id: int | None = None
    theme: str = ""
    description: str = ""
    capacity: int | None = None
    enrol_mode: str = EnrolMode.OPEN
    floating: str = Floating.ALL
    electives_required: int = 0
    exam_id: int | None = None
    hours: Decimal = Decimal("0")
    credit_kind: str = "online"
    reflection_required: bool = False
    reflection_min_chars: int = 300
    published: bool = False
    audience_org_ids: tuple[int, ...] = ()
    audience_categories: tuple[str, ...] = field(default_factory=tuple)


# --- who ----------------------------------------------------------------------------------


def can_manage(actor: User, cls: TrainingClass) -> bool:
    if actor.role == Role.ADMIN:
        return True
    if actor.role != Role.SECRETARY or actor.org is None:
        return False
    return cls.org is not None and org_in_scope(actor, cls.org)


def reaches_audience(actor: User, cls: TrainingClass) -> bool:
    """Does the class's audience reach into the secretary's subtree?"""
    if actor.role != Role.SECRETARY or actor.org is None:
        return actor.role == Role.ADMIN
    if not cls.audience_orgs:
        return True
    root = actor.org
    return any(o.path.startswith(root.path) or root.path.startswith(o.path) for o in cls.audience_orgs)


def can_read_roster(actor: User, cls: TrainingClass) -> bool:
    return can_manage(actor, cls) or (actor.role == Role.SECRETARY and reaches_audience(actor, cls))


def in_audience(cls: TrainingClass, member: User) -> bool:
    """The audience rule of ``accounts.audience`` plus the class's floating-member choice."""
    if cls.floating == Floating.ONLY and not member.is_floating:
        return False
    if cls.floating == Floating.EXCLUDE and member.is_floating:
        return False
    return audience.includes(cls.audience_orgs, cls.categories, member)


def visible_to(cls: TrainingClass, user: User) -> bool:
    if can_read_roster(user, cls):
        return True
    return cls.published and in_audience(cls, user)


def classes_for(member: User) -> list[TrainingClass]:
    """Published classes the member is in the audience of, newest first."""
    rows = db.session.scalars(select(TrainingClass).where(TrainingClass.published.is_(True))
                              .order_by(TrainingClass.starts_at.desc(), TrainingClass.id.desc()))
    return [c for c in rows if in_audience(c, member)]


def managed_classes(actor: User) -> list[TrainingClass]:
    """Classes the actor manages or whose roster they read, newest first."""
    rows = db.session.scalars(select(TrainingClass).order_by(TrainingClass.starts_at.desc(), TrainingClass.id.desc()))
    return [c for c in rows if can_read_roster(actor, c)]


# --- saving -------------------------------------------------------------------------------


def _check(data: ClassData, actor: User, cls: TrainingClass | None) -> tuple[Organisation | None, list[Organisation]]:
    if not data.title.strip():
        raise TrainingError("请填写专题班名称")
    if data.ends_at <= data.starts_at:
        raise TrainingError("学习结束时间必须晚于开始时间")
    if data.enrol_closes_at <= data.enrol_opens_at:
        raise TrainingError("报名截止时间必须晚于报名开始时间")
    if data.enrol_closes_at > data.ends_at:
        raise TrainingError("报名截止时间不能晚于学习结束时间")
    if data.capacity is not None and data.capacity < 1:
        raise TrainingError("名额至少为 1 人（不限名额请留空）")
    if cls is not None and data.capacity is not None and data.capacity < cls.seats_taken:
        raise TrainingError(f"已有 {cls.seats_taken} 人参加，名额不能少于这个人数")
    if data.enrol_mode not in set(EnrolMode):
        raise TrainingError("请选择报名方式")
    if data.floating not in set(Floating):
        raise TrainingError("请选择是否面向流动党员")
    if data.credit_kind not in ("online", "concentrated"):
        raise TrainingError("请选择学时类别")
    if not (Decimal("0") <= Decimal(data.hours) <= Decimal("200")):
        raise TrainingError("结业学时应在 0 到 200 之间")
    if data.electives_required < 0:
        raise TrainingError("选学项目数不能为负数")
    if data.reflection_min_chars < 0 or data.reflection_min_chars > 20000:
        raise TrainingError("心得体会最少字数应在 0 到 20000 之间")
    organiser = db.session.get(Organisation, data.org_id) if data.org_id else None
    if data.org_id and organiser is None:
        raise TrainingError("主办单位不存在")
    orgs = [db.session.get(Organisation, i) for i in dict.fromkeys(data.audience_org_ids)]
    if any(o is None for o in orgs):
        raise TrainingError("面向的党组织不存在")
    if scope_root(actor) is not None:  # a secretary: only for what they manage
        if organiser is None or not org_in_scope(actor, organiser):
            raise TrainingError("只能以您管理范围内的党组织名义举办专题班")
        if not orgs:
            raise TrainingError("请选择面向的党组织：您只能面向管理范围内的党组织举办专题班")
        outside = [o.name for o in orgs if not org_in_scope(actor, o)]
        if outside:
            raise TrainingError(f"“{'、'.join(outside)}”不在您的管理范围内，不能作为专题班的面向对象")
    if data.exam_id is not None:
        from school.exams.models import Exam
        if db.session.get(Exam, data.exam_id) is None:
            raise TrainingError(f"找不到编号为 {data.exam_id} 的考试")
    return organiser, orgs


def save_class(data: ClassData, actor: User, now: datetime, cls: TrainingClass | None = None) -> TrainingClass:
    """Create (``cls`` None) or update a class; the caller commits."""
    if cls is not None and not can_manage(actor, cls):
        raise TrainingError("您不能修改这个专题班")
    organiser, orgs = _check(data, actor, cls)
    if cls is None:
        cls = TrainingClass(created_at=now, created_by_id=actor.id, seats_taken=0)
        db.session.add(cls)
    cls.title = data.title.strip()[:200]
    cls.theme = data.theme.strip()[:200]
    cls.description = data.description
    cls.org = organiser
    cls.starts_at, cls.ends_at = data.starts_at, data.ends_at
    cls.enrol_opens_at, cls.enrol_closes_at = data.enrol_opens_at, data.enrol_closes_at
    cls.capacity = data.capacity
    cls.enrol_mode = data.enrol_mode
    cls.floating = data.floating
    cls.electives_required = data.electives_required
    cls.exam_id = data.exam_id
    cls.hours = Decimal(data.hours).quantize(Decimal("0.01"))
    cls.credit_kind = data.credit_kind
    cls.reflection_required = data.reflection_required
    cls.reflection_min_chars = data.reflection_min_chars
    cls.published = data.published
    cls.audience_orgs = orgs
    cls.audience_categories = audience.join_categories(data.audience_categories)
    db.session.flush()
    return cls


def rule_problems(cls: TrainingClass) -> list[str]:
    """What makes the completion rule impossible, for the organiser's page."""
    problems = []
    electives = sum(1 for i in cls.items if not i.required)
    if cls.electives_required > electives:
        problems.append(f"要求至少完成 {cls.electives_required} 个选学项目，但只有 {electives} 个选学项目")
    if not cls.items and cls.exam_id is None:
        problems.append("还没有学习内容，也没有结业考试")
    return problems


# --- content ------------------------------------------------------------------------------


def _next_position(cls: TrainingClass) -> int:
    return (db.session.scalar(select(func.max(ClassItem.position)).where(ClassItem.class_id == cls.id)) or 0) + 1


def add_item(cls: TrainingClass, actor: User, kind: str, required: bool, *, course_id: int | None = None,
             document_ref: str = "", title: str = "", body: str = "") -> ClassItem:
    if not can_manage(actor, cls):
        raise TrainingError("您不能修改这个专题班")
    fields: dict = {}
    if kind == ItemKind.COURSE:
        from school.courses.models import Course
        course = db.session.get(Course, course_id) if course_id else None
        if course is None:
            raise TrainingError("请选择课程")
        fields["course"] = course
    elif kind == ItemKind.DOCUMENT:
        from school.library.models import Document
        ref = (document_ref or "").strip()
        doc = db.session.get(Document, int(ref)) if ref.isdigit() and len(ref) < 10 else db.session.scalar(
            select(Document).where(Document.title == ref))
        if doc is None:
            raise TrainingError(f"图书馆中找不到文献“{ref}”（请填写文献编号或完整标题）")
        fields["document"] = doc
    elif kind == ItemKind.TEXT:
        if not title.strip() or not body.strip():
            raise TrainingError("学习材料需要标题和正文")
        fields.update(title=title.strip()[:200], body_md=body)
    else:
        raise TrainingError("未知的学习内容类型")
    item = ClassItem(class_id=cls.id, kind=kind, required=required, position=_next_position(cls), **fields)
    db.session.add(item)
    db.session.flush()
    db.session.refresh(cls)  # its ordered list of items
    return item


def move_item(item: ClassItem, actor: User, direction: str) -> None:
    cls = item.training_class
    if not can_manage(actor, cls):
        raise TrainingError("您不能修改这个专题班")
    items = list(cls.items)
    index = items.index(item)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(items):
        items[index], items[other] = items[other], items[index]
        for position, each in enumerate(items, start=1):
            each.position = position
    db.session.flush()


def delete_item(item: ClassItem, actor: User) -> None:
    if not can_manage(actor, item.training_class):
        raise TrainingError("您不能修改这个专题班")
    db.session.delete(item)
    db.session.flush()
