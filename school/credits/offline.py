"""Offline and concentrated training (集中培训): record, approve by the parent organisation, credit.

A secretary records a session for members of an organisation in their scope; the
parent of that organisation approves it (admins, and secretaries whose scope contains
the parent — never the person who recorded it or last changed its values). Only the
creator changes the values: an edit by anyone else is a proposal that sends the record
back to the creator (state ``returned``) until they accept it or edit again. Approval is one conditional UPDATE
(``WHERE state='submitted'``), so a double click credits once; every attendee then gets
the hours through ``ledger.award`` with a key per session and member. A rejected record
carries the reason; the secretary corrects it and submits again. Every step is audited.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import and_, or_, select, update

from school.accounts.models import Organisation, Role, User
from school.accounts.scoping import org_in_scope, scope_root
from school.credits import attachments, keys, ledger
from school.credits.models import (
    SESSION_TYPE_LABELS,
    CreditKind,
    OfflineAttendee,
    OfflineAudit,
    OfflineSession,
    SessionState,
)
from school.credits.rules import current_rules
from school.extensions import db
from school.timeutil import to_local


class OfflineError(ValueError):
    """A refused action, with a message for the person."""


@dataclass
class SessionData:
    org: Organisation
    held_on: date
    hours: Decimal
    topic: str
    session_type: str
    place: str = ""
    evidence: str = ""
    attendee_ids: list[int] = field(default_factory=list)
    backfill: bool = False


# --- who may do what --------------------------------------------------------------------

OPEN_STATES = (SessionState.SUBMITTED, SessionState.RETURNED, SessionState.REJECTED)


def can_view(actor: User, session: OfflineSession) -> bool:
    return actor.role in (Role.SECRETARY, Role.ADMIN) and org_in_scope(actor, session.org)


def can_edit(actor: User, session: OfflineSession) -> bool:
    """Open records in scope. The creator's edits apply; anyone else's are proposals that
    wait for the creator (see ``resubmit``)."""
    return can_view(actor, session) and session.state in OPEN_STATES


def set_the_values(actor: User, session: OfflineSession) -> bool:
    """The creator, or whoever last changed the record's values (hours, date, attendees …)."""
    return actor.id in (session.created_by_id, session.changed_by_id)


def can_decide(actor: User, session: OfflineSession) -> bool:
    """Admins, or secretaries whose scope contains the approving (parent) organisation —
    never the person who recorded the record or last changed its values."""
    if set_the_values(actor, session):
        return False  # nobody approves hours they wrote themselves
    if actor.role == Role.ADMIN:
        return True
    return (actor.role == Role.SECRETARY and session.approver_org is not None
            and org_in_scope(actor, session.approver_org))


def creator_gone(session: OfflineSession) -> bool:
    """The creator can no longer act on the record (deactivated, moved away, no longer a
    secretary over it): otherwise a rejected or returned record would wait for them forever."""
    creator = session.created_by
    return creator is None or not creator.active or not can_view(creator, session)


def can_accept(actor: User, session: OfflineSession) -> bool:
    """Only the creator accepts changes someone else proposed."""
    return (session.state == SessionState.RETURNED and session.proposed is not None
            and session.created_by_id == actor.id and can_view(actor, session))


def _not_value_setter(actor: User):
    return and_(OfflineSession.created_by_id != actor.id,
                or_(OfflineSession.changed_by_id.is_(None), OfflineSession.changed_by_id != actor.id))


def visible_sessions(actor: User):
    """Sessions of organisations in the actor's scope, newest first."""
    query = select(OfflineSession).join(Organisation, OfflineSession.org_id == Organisation.id)
    root = scope_root(actor)
    if root is not None:
        query = query.where(Organisation.path.startswith(root.path, autoescape=True))
    return query.order_by(OfflineSession.submitted_at.desc(), OfflineSession.id.desc())


def awaiting_decision(actor: User):
    """Submitted sessions the actor may approve or reject."""
    query = (select(OfflineSession).where(OfflineSession.state == SessionState.SUBMITTED, _not_value_setter(actor))
             .order_by(OfflineSession.submitted_at, OfflineSession.id))
    if actor.role == Role.ADMIN:
        return query
    root = scope_root(actor)
    return query.join(Organisation, OfflineSession.approver_org_id == Organisation.id).where(
        Organisation.path.startswith(root.path, autoescape=True))


def returned_to(actor: User):
    """Records the actor created that wait for them to accept (or redo) someone else's changes."""
    return (select(OfflineSession)
            .where(OfflineSession.state == SessionState.RETURNED, OfflineSession.created_by_id == actor.id)
            .order_by(OfflineSession.proposed_at, OfflineSession.id))


def stamp(session: OfflineSession) -> str:
    """When the values last changed, as the approve form carries it (empty: unknown)."""
    return session.changed_at.isoformat() if session.changed_at else ""


# --- validation -------------------------------------------------------------------------


def _validate(data: SessionData, actor: User, now: datetime) -> list[User]:
    if not org_in_scope(actor, data.org):
        raise OfflineError("只能为您管理范围内的党组织登记")
    hours = ledger.to_hours(data.hours or 0)
    limit = current_rules().offline_max_hours_per_session
    if hours <= 0:
        raise OfflineError("学时必须大于 0")
    if hours > limit:
        raise OfflineError(f"单次集中培训最多记 {limit:.2f} 学时")
    data.hours = hours
    if data.held_on is None or data.held_on > to_local(now).date():
        raise OfflineError("培训日期不能晚于今天")
    if data.held_on.year < 2000:
        raise OfflineError("培训日期不正确")
    data.topic = (data.topic or "").strip()
    if not data.topic:
        raise OfflineError("请填写培训主题")
    if data.session_type not in SESSION_TYPE_LABELS:
        raise OfflineError("请选择培训类型")
    data.place, data.evidence = (data.place or "").strip(), (data.evidence or "").strip()
    if data.backfill and not data.evidence:
        raise OfflineError("补录必须填写证明材料说明")
    ids = sorted(set(data.attendee_ids))
    if not ids:
        raise OfflineError("请至少选择一名参加人员")
    if data.backfill and len(ids) != 1:
        raise OfflineError("补录只能针对一名党员")
    members = list(db.session.scalars(
        select(User).join(Organisation, User.org_id == Organisation.id)
        .where(User.id.in_(ids), User.active.is_(True),
               Organisation.path.startswith(data.org.path, autoescape=True))))
    if len(members) != len(ids):
        raise OfflineError(f"所选人员必须是“{data.org.name}”及其下级组织的在册党员")
    return members


def _audit(session: OfflineSession, actor: User, now: datetime, action: str, detail: str,
           changes: list[dict] | None = None) -> None:
    db.session.add(OfflineAudit(session=session, actor_id=actor.id, at=now, action=action, detail=detail,
                                changes=changes or None))


def _describe(data: SessionData, members: list[User]) -> str:
    return (f"{SESSION_TYPE_LABELS[data.session_type]}“{data.topic}”，{data.held_on:%Y-%m-%d}，"
            f"{data.hours:.2f} 学时，{len(members)} 人" + (f"，地点：{data.place}" if data.place else ""))


def _attach(session: OfflineSession, attachment: attachments.Attachment | None) -> None:
    if attachment is not None:
        session.attachment_path = attachments.store(attachment)
        session.attachment_name = attachment.original_name
        session.attachment_type = attachment.mimetype


FIELDS = (("held_on", "日期"), ("hours", "学时"), ("topic", "主题"), ("session_type", "类型"),
          ("place", "地点"), ("evidence", "证明材料"))


def _show(name: str, value) -> str:
    if name == "session_type":
        return SESSION_TYPE_LABELS.get(value, value)
    if name == "hours":
        return f"{ledger.to_hours(value):.2f}"
    if name == "held_on":
        return f"{value:%Y-%m-%d}"
    return str(value or "")


def _diff(session: OfflineSession, data: SessionData, members: list[User],
          attachment_name: str | None) -> list[dict]:
    """Every value ``data`` would change, as ``{"field", "before", "after"}`` in words."""
    changes = []
    for name, label in FIELDS:
        before, after = getattr(session, name), getattr(data, name)
        if name == "hours":
            before = ledger.to_hours(before)
        if before != after:
            changes.append({"field": label, "before": _show(name, before), "after": _show(name, after)})
    old_ids = {a.member_id for a in session.attendees}
    new_ids = {m.id for m in members}
    if old_ids != new_ids:
        names = {u.id: u.name for u in db.session.scalars(select(User).where(User.id.in_(old_ids | new_ids)))}
        added = "、".join(names[i] for i in sorted(new_ids - old_ids))
        removed = "、".join(names[i] for i in sorted(old_ids - new_ids))
        how = "；".join(p for p in (f"增加 {added}" if added else "", f"减少 {removed}" if removed else "") if p)
        changes.append({"field": "参加人员", "before": f"{len(old_ids)} 人", "after": f"{len(new_ids)} 人（{how}）"})
    if attachment_name is not None:
        changes.append({"field": "附件", "before": session.attachment_name or "无", "after": attachment_name})
    return changes


def changes_text(changes: list[dict]) -> str:
    return "；".join(f"{c['field']}：{c['before']} → {c['after']}" for c in changes)


def _apply(session: OfflineSession, data: SessionData, members: list[User]) -> None:
    for name, _label in FIELDS:
        setattr(session, name, getattr(data, name))
    new_ids = {m.id for m in members}
    old_ids = {a.member_id for a in session.attendees}
    if old_ids != new_ids:
        session.attendees = [a for a in session.attendees if a.member_id in new_ids] + [
            OfflineAttendee(member_id=i) for i in sorted(new_ids - old_ids)]


def _move(session: OfflineSession, from_states, to_state: str, *conditions) -> None:
    """Change the state only if it still is one of ``from_states`` (a conditional UPDATE, so
    two people acting at once cannot both win); then the caller changes the rest."""
    result = db.session.execute(
        update(OfflineSession)
        .where(OfflineSession.id == session.id, OfflineSession.state.in_(list(from_states)), *conditions)
        .values(state=to_state).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise OfflineError("这条记录已被处理或修改，请刷新页面查看最新状态")
    session.state = to_state


def _clear_proposal(session: OfflineSession) -> None:
    session.proposed, session.proposed_by_id, session.proposed_at = None, None, None


# --- the workflow -----------------------------------------------------------------------


def submit(data: SessionData, actor: User, now: datetime,
           attachment: attachments.Attachment | None = None) -> OfflineSession:
    members = _validate(data, actor, now)
    duplicate = db.session.scalar(select(OfflineSession.id).where(
        OfflineSession.org_id == data.org.id, OfflineSession.held_on == data.held_on,
        OfflineSession.topic == data.topic, OfflineSession.backfill.is_(data.backfill),
        OfflineSession.state != SessionState.REJECTED,
        or_(OfflineSession.backfill.is_(False),
            OfflineSession.attendees.any(OfflineAttendee.member_id == members[0].id))))
    if duplicate is not None:
        raise OfflineError(f"已有同一天、同一主题的记录（编号 {duplicate}），请勿重复登记")
    session = OfflineSession(
        org=data.org, approver_org_id=data.org.parent_id, backfill=data.backfill, held_on=data.held_on,
        hours=data.hours, topic=data.topic[:200], session_type=data.session_type, place=data.place[:200],
        evidence=data.evidence[:500], state=SessionState.SUBMITTED, created_by_id=actor.id,
        created_at=now, submitted_at=now, changed_by_id=actor.id, changed_at=now)
    session.attendees = [OfflineAttendee(member_id=m.id) for m in members]
    _attach(session, attachment)
    db.session.add(session)
    _audit(session, actor, now, "submit", ("补录：" if data.backfill else "登记：") + _describe(data, members)
           + (f"；证明材料：{data.evidence}" if data.evidence else "")
           + (f"；附件：{attachment.original_name}" if attachment else ""))
    db.session.flush()  # the caller commits; the id is known from here on
    return session


def resubmit(session: OfflineSession, data: SessionData, actor: User, now: datetime,
             attachment: attachments.Attachment | None = None) -> OfflineSession:
    """Correct an open record. The creator's changes apply and the record goes (back) to the
    approver; anyone else's changes are only proposed (see ``propose``)."""
    if not can_edit(actor, session):
        raise OfflineError("该记录已审批通过，不能再修改")
    data.backfill = session.backfill
    members = _validate(data, actor, now)
    if session.created_by_id != actor.id:
        if not creator_gone(session):
            return _propose(session, data, members, actor, now, attachment)
        # Whoever in scope corrects it now takes the creator's place (and so cannot approve it).
        _audit(session, actor, now, "take_over",
               f"原登记人{session.created_by.name if session.created_by else ''}已无法处理该记录，由本人接管", [])
        session.created_by_id = actor.id
        session.created_by = actor
    changes = _diff(session, data, members, attachment.original_name if attachment else None)
    was_rejected = session.state == SessionState.REJECTED
    declined = session.proposed_by.name if session.state == SessionState.RETURNED and session.proposed_by else None
    _move(session, OPEN_STATES, SessionState.SUBMITTED)
    _apply(session, data, members)
    _attach(session, attachment)
    if changes:
        session.changed_by_id, session.changed_at = actor.id, now
    _clear_proposal(session)
    session.submitted_at = now
    _audit(session, actor, now, "resubmit" if was_rejected else "edit",
           (changes_text(changes) if changes else "内容未改动") + (f"；未采纳{declined}提出的修改" if declined else "")
           + ("，重新提交审批" if was_rejected else ""), changes)
    return session


def _propose(session: OfflineSession, data: SessionData, members: list[User], actor: User, now: datetime,
             attachment: attachments.Attachment | None) -> OfflineSession:
    """Someone other than the creator changes a record: the values stay as they are, the
    change waits for the creator (state ``returned``), and nobody can approve meanwhile."""
    changes = _diff(session, data, members, attachment.original_name if attachment else None)
    if not changes:
        raise OfflineError("内容未改动，无需提交")
    _move(session, OPEN_STATES, SessionState.RETURNED)
    stored = None
    if attachment is not None:
        stored = {"path": attachments.store(attachment), "name": attachment.original_name,
                  "type": attachment.mimetype}
    session.proposed = {
        "id": secrets.token_hex(8), "held_on": data.held_on.isoformat(), "hours": str(data.hours),
        "topic": data.topic[:200], "session_type": data.session_type, "place": data.place[:200],
        "evidence": data.evidence[:500], "attendee_ids": [m.id for m in members], "attachment": stored,
        "changes": changes}
    session.proposed_by_id, session.proposed_at = actor.id, now
    _audit(session, actor, now, "propose", f"提出修改，退回登记人确认：{changes_text(changes)}", changes)
    return session


def accept(session: OfflineSession, proposal_id: str, actor: User, now: datetime) -> OfflineSession:
    """The creator takes over the proposed values (``proposal_id`` is the one they saw) and
    becomes the last to have changed them; the record goes to the approver again."""
    if not can_accept(actor, session):
        raise OfflineError("只有登记人本人可以确认待确认的修改")
    proposal = session.proposed
    if proposal.get("id") != proposal_id:
        raise OfflineError("修改内容已更新，请查看最新的修改后再确认")
    data = SessionData(org=session.org, held_on=date.fromisoformat(proposal["held_on"]),
                       hours=Decimal(proposal["hours"]), topic=proposal["topic"],
                       session_type=proposal["session_type"], place=proposal["place"],
                       evidence=proposal["evidence"], attendee_ids=list(proposal["attendee_ids"]),
                       backfill=session.backfill)
    members = _validate(data, actor, now)  # still within the limit, the members still active …
    stored = proposal.get("attachment")
    changes = _diff(session, data, members, stored["name"] if stored else None)
    proposer = session.proposed_by
    _move(session, (SessionState.RETURNED,), SessionState.SUBMITTED,
          OfflineSession.proposed_at == session.proposed_at)
    _apply(session, data, members)
    if stored:
        session.attachment_path, session.attachment_name, session.attachment_type = (
            stored["path"], stored["name"], stored["type"])
    session.changed_by_id, session.changed_at = actor.id, now
    _clear_proposal(session)
    session.submitted_at = now
    _audit(session, actor, now, "accept",
           f"采纳{proposer.name if proposer else ''}提出的修改：{changes_text(changes) or '内容未改动'}，重新提交审批",
           changes)
    return session


def _decide(session: OfflineSession, actor: User, now: datetime, state: str, reason: str | None) -> bool:
    """Move a submitted session to ``state`` exactly once; False when someone else got there
    first, or when the values changed (or the actor became one who set them) since they were read."""
    result = db.session.execute(
        update(OfflineSession)
        .where(OfflineSession.id == session.id, OfflineSession.state == SessionState.SUBMITTED,
               _not_value_setter(actor), OfflineSession.changed_at == session.changed_at)
        .values(state=state, decided_by_id=actor.id, decided_at=now, reject_reason=reason)
        .execution_options(synchronize_session=False))
    db.session.refresh(session)
    return result.rowcount == 1


REFUSED = "您不能审批这条记录（由上级党组织审批；登记人和最后修改学时、日期或参加人员的人不能审批）"


def _check_decision(session: OfflineSession, actor: User, seen: str | None) -> None:
    if not can_decide(actor, session):
        raise OfflineError(REFUSED)
    if session.state == SessionState.RETURNED:
        raise OfflineError("这条记录有待登记人确认的修改，确认前不能审批")
    if seen is not None and seen != stamp(session):
        raise OfflineError("记录在您打开页面后已被修改，请核对最新内容后再审批")


def approve(session: OfflineSession, actor: User, now: datetime, seen: str | None = None) -> int:
    """Approve and credit every attendee; returns how many were credited by this call.
    ``seen`` is the ``stamp`` of the values the approver looked at, when known."""
    _check_decision(session, actor, seen)
    if not _decide(session, actor, now, SessionState.APPROVED, None):
        raise OfflineError("这条记录已被处理或修改，请刷新页面查看最新状态")
    label = "补录" if session.backfill else session.type_label
    for attendee in session.attendees:
        ledger.award(attendee.member_id, session.hours, CreditKind.CONCENTRATED, session.source,
                     key=keys.offline_session(session.id, attendee.member_id), now=now,
                     description=f"{label}：{session.topic}（{session.held_on:%Y-%m-%d}）", actor=actor,
                     year=session.held_on.year)
    _audit(session, actor, now, "approve",
           f"审批通过，{len(session.attendees)} 人各记集中培训 {session.hours:.2f} 学时")
    return len(session.attendees)


def reject(session: OfflineSession, reason: str, actor: User, now: datetime, seen: str | None = None) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise OfflineError("退回时必须填写原因")
    _check_decision(session, actor, seen)
    if not _decide(session, actor, now, SessionState.REJECTED, reason[:500]):
        raise OfflineError("这条记录已被处理或修改，请刷新页面查看最新状态")
    _audit(session, actor, now, "reject", f"退回，原因：{reason[:500]}")


ACTION_LABELS = {"submit": "提交", "edit": "修改", "resubmit": "更正后重新提交", "approve": "审批通过",
                 "reject": "退回", "propose": "提出修改（退回登记人确认）", "accept": "登记人采纳修改", "take_over": "接管登记"}


def audit_trail(session: OfflineSession) -> list[OfflineAudit]:
    return list(db.session.scalars(select(OfflineAudit).where(OfflineAudit.session_id == session.id)
                                   .order_by(OfflineAudit.at, OfflineAudit.id)))
