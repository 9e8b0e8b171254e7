"""The roster of a class for its organiser and the secretaries in scope: each enrolled
member's progress per item, last study, completed or not; who is behind; XLSX.

Rows are always filtered by ``accounts.scoping.scoped_members(actor)``: a branch
secretary reading a township class sees their own members only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from school.accounts.models import Organisation, User
from school.accounts.scoping import scoped_members
from school.export_cells import XlsxBook, xlsx_bytes
from school.extensions import db
from school.notices import recipients
from school.timeutil import format_local
from school.training.classes import can_read_roster
from school.training.completion import Progress, Shape, progress_for
from school.training.models import REFLECTION_STATE_LABELS, Enrolment, EnrolState, TrainingClass


@dataclass(slots=True)
class OrgName:
    name: str


@dataclass(slots=True)
class RosterMember:
    """What the roster shows of a member (plain values: building 100,000 ORM accounts was
    most of a county class's roster time)."""

    id: int
    name: str
    member_no: str | None
    org: OrgName | None


@dataclass(slots=True)
class RosterEnrolment:
    id: int
    completed_at: datetime | None


@dataclass
class RosterRow:
    member: RosterMember
    enrolment: RosterEnrolment
    progress: Progress
    percent: int
    behind: bool


def expected_percent(cls: TrainingClass, now: datetime) -> int:
    """How far a member should be by ``now``: the share of the study period gone."""
    if now <= cls.starts_at:
        return 0
    if now >= cls.ends_at:
        return 100
    return int((now - cls.starts_at) / (cls.ends_at - cls.starts_at) * 100)


def is_behind(percent: int, completed: bool, cls: TrainingClass, now: datetime) -> bool:
    """Not completed, and less done than the share of the study period already gone."""
    return not completed and percent < expected_percent(cls, now)


def rows(cls: TrainingClass, actor: User, now: datetime) -> list[RosterRow]:
    members = scoped_members(actor).subquery()
    condition = (Enrolment.class_id == cls.id, Enrolment.state == EnrolState.ENROLLED,
                 Enrolment.member_id.in_(select(members.c.id)))
    # One statement with the organisation's name: the page and the export show it per row.
    found = db.session.execute(
        select(User.id, User.name, User.member_no, User.org_id, Organisation.name, Enrolment.id, Enrolment.completed_at)
        .join(Enrolment, Enrolment.member_id == User.id).outerjoin(Organisation, Organisation.id == User.org_id)
        .where(*condition).order_by(User.name, User.id)).all()
    # Progress selects the same members by the same condition, one statement per table.
    progress = progress_for(cls, [row[0] for row in found], select(Enrolment.member_id).where(*condition))
    shape, orgs = Shape.of(cls), {}
    out = []
    for member_id, name, member_no, org_id, org_name, enrolment_id, completed_at in found:
        org = None if org_id is None else orgs.setdefault(org_id, OrgName(org_name))
        p = progress[member_id]
        percent = 100 if completed_at else p.percent(cls, shape)
        out.append(RosterRow(RosterMember(member_id, name, member_no, org), RosterEnrolment(enrolment_id, completed_at),
                             p, percent, is_behind(percent, completed_at is not None, cls, now)))
    return out


def behind(cls: TrainingClass, actor: User, now: datetime) -> list[RosterRow]:
    return behind_of(rows(cls, actor, now))


def behind_of(found: list[RosterRow]) -> list[RosterRow]:
    """The rows behind, least done first."""
    return sorted((r for r in found if r.behind), key=lambda r: (r.percent, r.member.name))


@dataclass(frozen=True)
class Summary:
    """The whole roster in numbers, shown above whichever page of it is listed."""

    members: int
    completed: int
    behind: int
    average_percent: int


def summary(found: list[RosterRow]) -> Summary:
    total = sum(r.percent for r in found)
    return Summary(len(found), sum(r.enrolment.completed_at is not None for r in found),
                   sum(r.behind for r in found), round(total / len(found)) if found else 0)


def xlsx(cls: TrainingClass, actor: User, now: datetime) -> bytes:
    return xlsx_bytes(lambda book: write_xlsx(book, cls, actor, now))


def write_xlsx(book: XlsxBook, cls: TrainingClass, actor: User, now: datetime) -> None:
    # Constant memory: each row goes to the sheet's temporary file as the next one starts, so
    # a county's class (100,000 rows) keeps no cell per value in memory.
    ws = book.sheet("学员名单")
    ws.append([f"专题班：{cls.title}"], book.style(bold=True, font_size=14))
    ws.append([f"主办单位：{cls.organiser_name}", f"导出时间：{format_local(now)}"])
    items = list(cls.items)
    header = ["姓名", "党员编号", "所在党组织"] + [f"{'必学' if i.required else '选学'}：{i.display_title}" for i in items]
    if cls.exam_id is not None:
        header.append("结业考试")
    if cls.reflection_required:
        header.append("心得体会")
    header += ["完成进度(%)", "最近学习", "是否结业", "结业时间", "是否落后"]
    ws.append(header, book.style(bold=True))
    for r in rows(cls, actor, now):
        line = [r.member.name, r.member.member_no, r.member.org.name if r.member.org else ""]
        line += ["已学" if i.id in r.progress.done else "未学" for i in items]
        if cls.exam_id is not None:
            line.append("通过" if r.progress.exam_passed else "未通过")
        if cls.reflection_required:
            line.append(REFLECTION_STATE_LABELS.get(r.progress.reflection_state, "未写"))
        line += [r.percent, format_local(r.progress.last_study), "是" if r.enrolment.completed_at else "否",
                 format_local(r.enrolment.completed_at), "是" if r.behind else "否"]
        ws.append(line)


def _behind_in_class(actor: User, class_id: int, now: datetime) -> list[int]:
    cls = db.session.get(TrainingClass, class_id)
    if cls is None or not can_read_roster(actor, cls):
        raise LookupError("class outside scope")
    return [r.member.id for r in behind(cls, actor, now)]


recipients.register("class", _behind_in_class)
