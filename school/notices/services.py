"""Announcements (通知公告) and the inbox (消息): who sees what, reading, the sender's unread list.

A notice is addressed to an organisation and reaches its whole subtree. A member sees the
notices of their organisation and of every organisation above it, until the notice expires;
the sender (a secretary or an admin) may address only organisations in their scope
(``accounts.scoping``), and the list of who has not read it is scoped the same way.
Services flush; the caller commits.
"""
from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import and_, bindparam, exists, func, or_, select
from sqlalchemy.exc import IntegrityError

from school import diskspace
from school.accounts.audience import org_ids_on_path
from school.accounts.models import Organisation, Role, User
from school.accounts.scoping import org_in_scope, scope_root, scoped_members
from school.credits import attachments
from school.extensions import db
from school.notices.models import Message, Notice, NoticeRead


class NoticeError(ValueError):
    """A refusal shown to the sender, in Chinese."""


class DuplicateSend(Exception):
    """The same form was submitted twice (a double click): the first send stands."""

    def __init__(self, existing_id: int):
        super().__init__(existing_id)
        self.existing_id = existing_id


def new_token() -> str:
    """A fresh token for a send form; the second submission of the same form is recognised by it."""
    return secrets.token_urlsafe(24)


def live(now):
    """Notices not expired at ``now`` (a time, or a bound parameter for a statement built once)."""
    return or_(Notice.expires_at.is_(None), Notice.expires_at > now)


def visible_notices(member: User, now: datetime, limit: int | None = None) -> list[tuple[Notice, bool]]:
    """The member's notices (pinned first, newest first) that have not expired, each with "read"."""
    ids = org_ids_on_path(member)
    if not ids:
        return []
    read = exists().where(NoticeRead.notice_id == Notice.id, NoticeRead.member_id == member.id)
    query = (select(Notice, read.label("read")).where(Notice.org_id.in_(ids), live(now))
             .order_by(Notice.pinned.desc(), Notice.created_at.desc(), Notice.id.desc()))
    if limit:
        query = query.limit(limit)
    return [(row[0], bool(row[1])) for row in db.session.execute(query)]


def unread_count(member: User, now: datetime) -> int:
    ids = org_ids_on_path(member)
    if not ids:
        return 0
    read = exists().where(NoticeRead.notice_id == Notice.id, NoticeRead.member_id == member.id)
    return db.session.scalar(select(func.count(Notice.id)).where(Notice.org_id.in_(ids), live(now), ~read)) or 0


@functools.cache
def _unread_counts_statement():
    """Built once: SQLAlchemy keeps a statement's cache key, so each page only binds the
    member, their organisations and the time instead of building it all again."""
    member = bindparam("member", type_=Message.member_id.type)
    read = exists().where(NoticeRead.notice_id == Notice.id, NoticeRead.member_id == member)
    notices = (select(func.count(Notice.id))
               .where(Notice.org_id.in_(bindparam("orgs", expanding=True)),
                      live(bindparam("now", type_=Notice.expires_at.type)), ~read).scalar_subquery())
    messages = select(func.count(Message.id)).where(Message.member_id == member,
                                                     Message.read_at.is_(None)).scalar_subquery()
    return select(notices, messages)


def unread_counts(member: User, now: datetime) -> tuple[int, int]:
    """(unread notices, unread messages) in one query: the menu shows both on every page."""
    ids = org_ids_on_path(member) or [-1]
    row = db.session.execute(_unread_counts_statement(), {"member": member.id, "orgs": ids, "now": now}).one()
    return int(row[0] or 0), int(row[1] or 0)


def in_audience(member: User, notice: Notice) -> bool:
    return member.org is not None and member.org.path.startswith(notice.org.path)


def manages(actor: User, notice: Notice) -> bool:
    """Secretaries whose scope holds the notice's organisation, and admins."""
    if actor.role not in (Role.SECRETARY, Role.ADMIN) or (actor.role == Role.SECRETARY and actor.org is None):
        return False
    return org_in_scope(actor, notice.org)


def can_view(actor: User, notice: Notice, now: datetime) -> bool:
    if manages(actor, notice):
        return True
    live = notice.expires_at is None or notice.expires_at > now
    return live and in_audience(actor, notice)


def mark_read(member: User, notice: Notice, now: datetime) -> bool:
    """Record that the member read it (once; a second tab is harmless). True if this was the first time."""
    if not in_audience(member, notice):
        return False
    if db.session.get(NoticeRead, (notice.id, member.id)) is not None:
        return False
    db.session.add(NoticeRead(notice_id=notice.id, member_id=member.id, read_at=now))
    return True


@dataclass
class NoticeData:
    org: Organisation | None
    title: str
    body: str
    pinned: bool = False
    expires_at: datetime | None = None


def _store(attachment: attachments.Attachment) -> str:
    root = Path(current_app.config["MEDIA_DIR"]) / "notices"
    root.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{attachment.extension}"
    diskspace.write_bytes(root / name, attachment.data)  # a full disk leaves no half-written file
    return name


def attachment_path(notice: Notice) -> Path | None:
    if not notice.attachment_stored:
        return None
    root = (Path(current_app.config["MEDIA_DIR"]) / "notices").resolve()
    path = (root / notice.attachment_stored).resolve()
    return path if path.parent == root and path.is_file() else None


def check_attachment(filename: str, data: bytes) -> attachments.Attachment:
    """The sign-in sheets' check, reused: JPEG, PNG or PDF, judged by content, at most 10 MB."""
    try:
        return attachments.check(filename, data)
    except attachments.AttachmentError as exc:
        raise NoticeError(str(exc)) from None


def create_notice(actor: User, data: NoticeData, token: str, now: datetime,
                  attachment: attachments.Attachment | None = None) -> Notice:
    if not data.title.strip():
        raise NoticeError("请填写通知标题")
    if data.org is None or not org_in_scope(actor, data.org):
        raise NoticeError("只能向您管理范围内的党组织发布通知")
    if data.expires_at is not None and data.expires_at <= now:
        raise NoticeError("截止时间应晚于现在")
    existing = db.session.scalar(select(Notice.id).where(Notice.request_token == token))
    if existing is not None:
        raise DuplicateSend(existing)
    notice = Notice(org_id=data.org.id, org=data.org, title=data.title.strip()[:200], body=data.body or "",
                    pinned=data.pinned, expires_at=data.expires_at, request_token=token,
                    created_by_id=actor.id, created_at=now)
    db.session.add(notice)
    try:
        db.session.flush()
    except IntegrityError:  # the other click of a double click, at the same moment, got there first
        db.session.rollback()  # nothing of this request is written yet; the first notice stands
        raise DuplicateSend(db.session.scalar(select(Notice.id).where(Notice.request_token == token)))
    if attachment is not None:
        notice.attachment_stored = _store(attachment)
        notice.attachment_name = attachment.original_name
        notice.attachment_mime = attachment.mimetype
    return notice


def managed_notices(actor: User, limit: int = 200) -> list[Notice]:
    """Notices addressed to organisations in the actor's scope (all of them for admins), newest first."""
    root = scope_root(actor)
    query = select(Notice).join(Organisation, Organisation.id == Notice.org_id)
    if root is not None:
        query = query.where(Organisation.path.startswith(root.path, autoescape=True))
    return list(db.session.scalars(query.order_by(Notice.created_at.desc(), Notice.id.desc()).limit(limit)))


def read_counts(notices: list[Notice]) -> dict[int, int]:
    if not notices:
        return {}
    rows = db.session.execute(select(NoticeRead.notice_id, func.count()).where(
        NoticeRead.notice_id.in_([n.id for n in notices])).group_by(NoticeRead.notice_id))
    return dict(rows.all())


def unread_members(actor: User, notice: Notice) -> list[User]:
    """Active members of the notice's audience within the actor's scope who have not opened it."""
    read = exists().where(NoticeRead.notice_id == notice.id, NoticeRead.member_id == User.id)
    query = scoped_members(actor)
    if scope_root(actor) is None:  # admins: scoped_members joined nothing
        query = query.join(Organisation, User.org_id == Organisation.id)
    query = query.where(User.active.is_(True), Organisation.path.startswith(notice.org.path, autoescape=True),
                        ~read).order_by(Organisation.path, User.name, User.id)
    return list(db.session.scalars(query))


# --- the inbox --------------------------------------------------------------------------


def inbox(member: User, limit: int = 100) -> list[Message]:
    return list(db.session.scalars(select(Message).where(Message.member_id == member.id)
                                   .order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)))


def unread_messages(member: User) -> int:
    return db.session.scalar(select(func.count(Message.id)).where(
        and_(Message.member_id == member.id, Message.read_at.is_(None)))) or 0


def open_message(member: User, message: Message, now: datetime) -> None:
    if message.member_id == member.id and message.read_at is None:
        message.read_at = now
