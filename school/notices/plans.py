"""Study plans (学习计划): an organisation assigns items with due dates to its subtree for a year.

What an item can be is the registry ``ITEM_KINDS``: each kind names how to find the thing by
its number and which members have done it, as ``SELECT member_id, ref_id``. Courses (done:
a ``CourseCompletion`` row, written by ``courses.completion``) and library documents (done:
the reading page reported a position — ``library.models.ReadingPosition`` — i.e. the member
had it open and visible for at least one heartbeat) are registered here; another package (a
专题班 class, say) appends its own ``ItemKind`` the same way (``training.plan_kind`` registers "class": a 专题班 is done
when the member's enrolment is completed).

A member's plan is the plans of their organisation and every organisation above it for the
year. The branch report gets two columns through ``credits.reports.METRICS``: items
assigned and items done, per member, summed per organisation.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Callable

from sqlalchemy import Integer, String, and_, case, cast, func, literal, or_, select, union_all

from school.accounts.audience import org_ids_on_path
from school.accounts.models import Organisation, User
from school.accounts.scoping import org_in_scope, scope_root
from school.credits.reports import METRICS, Metric
from school.extensions import db
from school.notices import recipients
from school.notices.models import PlanItem, StudyPlan
from school.timeutil import to_local


class PlanError(ValueError):
    """A refusal shown to the secretary, in Chinese."""


@dataclass(frozen=True)
class ItemKind:
    key: str
    label: str
    find: Callable[[int], tuple[int, str] | None]  # ref id → (id, title), None if no such thing
    done: Callable[[], object]  # SELECT member_id, ref_id of everything done
    link: Callable[[int], str]  # the page where the member does it (endpoint resolved at render)


ITEM_KINDS: dict[str, ItemKind] = {}


def register(kind: ItemKind) -> None:
    ITEM_KINDS[kind.key] = kind


def _course_find(ref: int):
    from school.courses.models import Course
    course = db.session.get(Course, ref)
    return (course.id, course.title) if course is not None else None


def _course_done():
    from school.courses.models import CourseCompletion
    return select(CourseCompletion.member_id.label("member_id"), CourseCompletion.course_id.label("ref_id"))


def _document_find(ref: int):
    from school.library.models import DocStatus, Document
    doc = db.session.get(Document, ref)
    return (doc.id, doc.title) if doc is not None and doc.status == DocStatus.PUBLISHED else None


def _document_done():
    from school.library.models import ReadingPosition
    return select(ReadingPosition.member_id.label("member_id"), ReadingPosition.document_id.label("ref_id"))


register(ItemKind("course", "课程", _course_find, _course_done, lambda ref: f"/courses/{ref}"))
register(ItemKind("document", "图书馆文献", _document_find, _document_done, lambda ref: f"/library/doc/{ref}"))


def done_pairs(only: dict[str, set[int]] | None = None):
    """``(member_id, kind, ref_id)`` of every done thing, over every registered kind; with
    ``only``, of those kinds and ref ids alone (a plan's items: fewer rows to read)."""
    parts = []
    for kind in ITEM_KINDS.values():
        if only is not None and kind.key not in only:
            continue
        inner = kind.done().subquery()
        part = select(inner.c.member_id.label("member_id"), cast(literal(kind.key), String(20)).label("kind"),
                      cast(inner.c.ref_id, Integer).label("ref_id"))
        if only is not None:
            part = part.where(inner.c.ref_id.in_(sorted(only[kind.key])))
        parts.append(part)
    return union_all(*parts).subquery("done")


# --- editing ----------------------------------------------------------------------------


def create_plan(actor: User, org: Organisation | None, year: int, title: str, now: datetime) -> StudyPlan:
    if org is None or not org_in_scope(actor, org):
        raise PlanError("只能为您管理范围内的党组织制定学习计划")
    if not 2000 <= year <= 2100:
        raise PlanError("年度不正确")
    if not (title or "").strip():
        raise PlanError("请填写计划名称")
    plan = StudyPlan(org_id=org.id, org=org, year=year, title=title.strip()[:200], created_by_id=actor.id,
                     created_at=now)
    db.session.add(plan)
    db.session.flush()
    return plan


def add_item(plan: StudyPlan, kind: str, ref: int | None, due_on: date | None,
             reflection_required: bool = False, reflection_min_chars: int = 300) -> PlanItem:
    """``reflection_required``: the item also asks for a 心得体会 of at least that many characters."""
    if kind not in ITEM_KINDS:
        raise PlanError("请选择任务类型")
    if due_on is None or due_on.year != plan.year:
        raise PlanError(f"完成期限应在 {plan.year} 年内")
    found = ITEM_KINDS[kind].find(ref) if ref else None
    if found is None:
        raise PlanError(f"没有编号为 {ref or '（空）'} 的{ITEM_KINDS[kind].label}")
    if any(i.kind == kind and i.ref_id == found[0] for i in plan.items):
        raise PlanError(f"“{found[1]}”已在计划中")
    if not 0 <= (reflection_min_chars or 0) <= 20000:
        raise PlanError("心得体会最少字数应在 0 到 20000 之间")
    item = PlanItem(plan=plan, kind=kind, ref_id=found[0], title=found[1][:300], due_on=due_on,
                    reflection_required=bool(reflection_required), reflection_min_chars=reflection_min_chars or 0)
    db.session.add(item)
    db.session.flush()
    return item


def managed_plans(actor: User) -> list[StudyPlan]:
    root = scope_root(actor)
    query = select(StudyPlan).join(Organisation, Organisation.id == StudyPlan.org_id)
    if root is not None:
        query = query.where(Organisation.path.startswith(root.path, autoescape=True))
    return list(db.session.scalars(query.order_by(StudyPlan.year.desc(), StudyPlan.id.desc())))


# --- progress ---------------------------------------------------------------------------


@dataclass
class Task:
    item: PlanItem
    done: bool
    overdue: bool
    this_month: bool

    @property
    def kind_label(self) -> str:
        kind = ITEM_KINDS.get(self.item.kind)
        return kind.label if kind else self.item.kind

    @property
    def link(self) -> str:
        kind = ITEM_KINDS.get(self.item.kind)
        return kind.link(self.item.ref_id) if kind else ""


def member_tasks(member: User, now: datetime) -> list[Task]:
    """Every item of the member's plans for the current (China) year, with done / overdue / this month."""
    today = to_local(now).date()
    ids = org_ids_on_path(member)
    if not ids:
        return []
    items = list(db.session.scalars(
        select(PlanItem).join(StudyPlan).where(StudyPlan.org_id.in_(ids), StudyPlan.year == today.year)
        .order_by(PlanItem.due_on, PlanItem.id)))
    done = done_pairs()
    finished = {(k, r) for k, r in db.session.execute(
        select(done.c.kind, done.c.ref_id).where(done.c.member_id == member.id))}
    return [Task(i, (i.kind, i.ref_id) in finished, (i.kind, i.ref_id) not in finished and i.due_on < today,
                 i.due_on.year == today.year and i.due_on.month == today.month) for i in items]


def home_tasks(member: User, now: datetime) -> dict:
    tasks = member_tasks(member, now)
    return {"overdue": [t for t in tasks if t.overdue],
            "month": [t for t in tasks if t.this_month and not t.done and not t.overdue],
            "total": len(tasks), "done": sum(t.done for t in tasks)}


@dataclass(frozen=True, slots=True)
class PlanMember:
    """What the plan page shows of a member: plain values, not an ORM account (a county's
    plan has 100,000 members; building an account object each was most of the page's time)."""

    id: int
    name: str
    member_no: str
    org_name: str


@dataclass(slots=True)
class MemberProgress:
    member: PlanMember
    done: int
    missing: list[PlanItem]  # shared between members who miss the same items: read, never changed


def plan_progress(actor: User, plan: StudyPlan) -> list[MemberProgress]:
    """Per active member of the plan's subtree (within the actor's scope): items done and missing.

    One statement: each member with one 0/1 column per plan item (done or not), the done
    things aggregated per member in the database. Python then only looks the member's
    pattern up (a few distinct patterns, whatever the members): a county's plan is 100,000
    members and ~350,000 done rows, and reading those rows into per-member sets was most of
    the page's time on PostgreSQL (2.4× the bare SQL)."""
    from school.accounts.scoping import scoped_members
    query = scoped_members(actor)
    if scope_root(actor) is None:
        query = query.join(Organisation, User.org_id == Organisation.id)
    query = query.where(User.active.is_(True), Organisation.path.startswith(plan.org.path, autoescape=True))
    items = list(plan.items)
    columns = [User.id, User.name, User.member_no, Organisation.name]
    if items:
        wanted: dict[str, set[int]] = {}
        for item in items:
            wanted.setdefault(item.kind, set()).add(item.ref_id)
        done = done_pairs(wanted)
        # The members by the same condition as a subquery, not their ids as parameters: a county's
        # plan has 100,000 members, more than PostgreSQL (65,535) or SQLite (32,766) take in one statement.
        ids = query.with_only_columns(User.id).subquery()
        flags = [func.max(case((and_(done.c.kind == i.kind, done.c.ref_id == i.ref_id), 1), else_=0)).label(f"i{n}")
                 for n, i in enumerate(items)]
        per_member = (select(done.c.member_id, *flags).where(done.c.member_id.in_(select(ids.c.id)))
                      .group_by(done.c.member_id).subquery("per_member"))
        query = query.outerjoin(per_member, per_member.c.member_id == User.id)
        columns += [per_member.c[f"i{n}"] for n in range(len(items))]
    statement = query.with_only_columns(*columns).order_by(Organisation.path, User.name, User.id)
    # Core rows (the session's connection): no ORM row processing for 100,000 plain tuples.
    found = db.session.connection().execute(statement).all()
    patterns: dict[tuple, tuple[int, list[PlanItem]]] = {}
    rows = []
    for row in found:
        flags_of = row[4:]
        known = patterns.get(flags_of)
        if known is None:
            missing = [i for i, flag in zip(items, flags_of) if not flag]
            known = patterns[flags_of] = (len(items) - len(missing), missing)
        rows.append(MemberProgress(PlanMember(row[0], row[1], row[2] or "", row[3] or ""), known[0], known[1]))
    return rows


# --- report columns ---------------------------------------------------------------------


def _org_plans(period):
    """``(org_id, plan_id)``: each organisation with every plan of the year over it (its own and
    its ancestors'). Joined at the organisation level (plans × organisations, a few thousand
    pairs), so the members are then joined by ``users.org_id`` alone: comparing every member's
    organisation path with every plan's path by ``LIKE`` cost SQLite 38 s for 100,000 members.
    GROUP BY keeps SQLite from flattening it back into the members' join (it materialises it)."""
    member_org, plan_org = Organisation.__table__.alias("member_org"), Organisation.__table__.alias("plan_org")
    return (select(member_org.c.id.label("org_id"), StudyPlan.id.label("plan_id"))
            .select_from(StudyPlan)
            .join(plan_org, plan_org.c.id == StudyPlan.org_id)
            .join(member_org, member_org.c.path.startswith(plan_org.c.path))
            .where(StudyPlan.year == period.year)
            .group_by(member_org.c.id, StudyPlan.id)
            .subquery("org_plan"))


def _assigned(period):
    org_plan = _org_plans(period)
    return (select(User.id.label("member_id"), func.count(PlanItem.id).label("value"))
            .join(org_plan, org_plan.c.org_id == User.org_id)
            .join(PlanItem, PlanItem.plan_id == org_plan.c.plan_id)
            .group_by(User.id))


def _done_exists(member_id, kind_column, ref_column):
    """Whether the member has done the item: per registered kind, an EXISTS on that kind's own
    table by (member, ref). Searched from the member's side through each table's
    (member_id, ref) index; joined to the union of every kind's done rows instead, SQLite
    searched that union by (kind, ref) for each organisation's plan item — every member who
    did it, 2,956 organisations × 5 items × ~50,000 rows — and the root's report at 100,000
    members did not finish in 10 minutes."""
    tests = []
    for kind in ITEM_KINDS.values():
        done = kind.done().subquery()
        tests.append(and_(kind_column == kind.key, select(literal(1)).select_from(done).where(
            done.c.member_id == member_id, done.c.ref_id == ref_column).exists()))
    return or_(*tests) if tests else literal(False)


def _done(period):
    org_plan = _org_plans(period)
    return (select(User.id.label("member_id"), func.count(PlanItem.id).label("value"))
            .join(org_plan, org_plan.c.org_id == User.org_id)
            .join(PlanItem, PlanItem.plan_id == org_plan.c.plan_id)
            .where(_done_exists(User.id, PlanItem.kind, PlanItem.ref_id))
            .group_by(User.id))


METRICS.append(Metric("plan_items", "学习计划任务", _assigned))
METRICS.append(Metric("plan_done", "已完成计划任务", _done))


def _behind_in_plan(actor: User, plan_id: int, now: datetime) -> list[int]:
    plan = db.session.get(StudyPlan, plan_id)
    if plan is None or not org_in_scope(actor, plan.org):
        raise LookupError("plan outside scope")
    return [p.member.id for p in plan_progress(actor, plan) if p.missing]


recipients.register("plan", _behind_in_plan)
