"""Reminders that reach people: the on-site inbox always, e-mail and SMS as background jobs.

``send_reminder`` (called from a request) records the reminder with the member ids and
enqueues one job for it; nothing per member is written or sent in the web request. The job
first fans out (``fan_out``, once): per member the inbox message and one ``Delivery`` row per
channel the member can be reached by (e-mail when ``User.email`` is set and ``SMTP_URL``
configured; SMS when the member has a phone and ``SMS_WEBHOOK`` is configured), in bulk.

The job (``deliver_job`` → ``deliver_due``) claims the due rows with a conditional UPDATE
(``state IN (pending, retrying)`` → ``sending``), so two jobs never send the same row, and
works through them in chunks, one SMTP connection per chunk, committing after each chunk
(a background job has no request around it to commit for it). Each try is recorded on its
row: sent; failed at once for a final refusal (an SMTP 5xx, a webhook's 4xx); or, for a
passing trouble (timeouts, 4xx SMTP replies, 5xx from the webhook, no connection), tried
again after ``BACKOFF`` — the periodic sweep ``retry_due`` (``jobs.every``) enqueues a job
for reminders with rows due — until ``MAX_ATTEMPTS`` tries, then failed with the last reason.

The rule on volume: a member receives at most ``REMINDER_DAILY_LIMIT`` reminders (default 3)
per China day; members at the limit are skipped and named to the sender.
"""
from __future__ import annotations

import json
import smtplib
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app
from sqlalchemy import func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError

from school import jobs
from school.accounts.models import Role, User
from school.accounts.scoping import scoped_members
from school.extensions import db
from school.notices.models import Channel, Delivery, DeliveryState, Message, Reminder
from school.notices.services import DuplicateSend
from school.timeutil import local_date_to_utc, to_local, utcnow

MAX_ATTEMPTS = 3
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30))
CHUNK = 200
STUCK_AFTER = timedelta(minutes=15)  # a row "sending" this long lost its job (worker died mid-chunk)
HANDLER = "school.notices.delivery:deliver_job"


class ReminderError(ValueError):
    """A refusal shown to the sender, in Chinese."""


class DeliveryError(Exception):
    def __init__(self, reason: str, final: bool):
        super().__init__(reason)
        self.reason, self.final = reason, final


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (line breaks too) made one space: titles go into mail headers."""
    return " ".join((text or "").split())


def daily_limit() -> int:
    return int(current_app.config.get("REMINDER_DAILY_LIMIT", 3))


def _day_start(now: datetime) -> datetime:
    return local_date_to_utc(to_local(now).date())


def received_today(member_ids: list[int], now: datetime) -> dict[int, int]:
    if not member_ids:
        return {}
    rows = db.session.execute(
        select(Message.member_id, func.count(Message.id))
        .where(Message.member_id.in_(member_ids), Message.reminder_id.is_not(None),
               Message.created_at >= _day_start(now))
        .group_by(Message.member_id))
    return dict(rows.all())


@dataclass
class SendResult:
    reminder: Reminder
    queued: int  # members named; who is reached is decided by the job (``fan_out``)


def _chunks(ids: list[int], size: int = 10_000):
    # SQLite takes at most 32,766 parameters in a statement, PostgreSQL 65,535.
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def send_reminder(actor: User, member_ids: list[int], title: str, text: str, token: str, now: datetime,
                  source: str = "", link: str = "") -> SendResult:
    """Record the reminder and enqueue its one job; no per-member row is written here (a
    county's 10,000 members took seconds of inserts in the web request). Members must be in
    the actor's scope (``LookupError`` otherwise: the view answers 404). A send nobody can
    receive (everyone inactive or at the daily limit) is refused at once; the job re-checks
    the limit under a lock, since another send may come between."""
    title, text = one_line(title), (text or "").strip()
    if not text:
        raise ReminderError("请填写提醒内容")
    if len(text) > 500:
        raise ReminderError("提醒内容不能超过 500 字（短信按条计费）")
    ids = sorted({int(i) for i in member_ids})
    if not ids:
        raise ReminderError("请至少选择一名党员")
    existing = db.session.scalar(select(Reminder.id).where(Reminder.request_token == token))
    if existing is not None:
        raise DuplicateSend(existing)
    in_scope, active = 0, []
    for chunk in _chunks(ids):
        in_scope += db.session.scalar(select(func.count()).select_from(
            scoped_members(actor).where(User.id.in_(chunk)).subquery()))
        active += db.session.scalars(select(User.id).where(User.id.in_(chunk), User.active.is_(True)))
    if in_scope != len(ids):
        raise LookupError("member outside scope")
    limit, counts = daily_limit(), received_today(active, now)
    if not any(counts.get(i, 0) < limit for i in active):
        raise ReminderError(f"所选党员今天都已达到每日提醒上限（{limit} 条）或无法接收，没有发送"
                            if counts else "所选党员都无法接收提醒")
    reminder = Reminder(sender_id=actor.id, source=source[:60], title=(title or "学习提醒")[:200], text=text,
                        request_token=token, created_at=now, member_ids=json.dumps(ids),
                        link=link[:300])
    db.session.add(reminder)
    try:
        db.session.flush()
    except IntegrityError:  # the other click of a double click, at the same moment, got there first
        db.session.rollback()  # nothing of this request is written yet; the first send stands
        raise DuplicateSend(db.session.scalar(select(Reminder.id).where(Reminder.request_token == token)))
    reminder.job_id = jobs.enqueue(HANDLER, {"reminder_id": reminder.id}, now).id
    return SendResult(reminder, len(ids))


def fan_out(reminder_id: int) -> bool:
    """Write the reminder's inbox messages and deliveries in bulk, once (False if already done).

    The claim is a conditional UPDATE of the reminder: a second worker waits for the first's
    commit and then finds it done. The daily limit is counted once no other send to these
    members can be between its count and its commit: SQLite's write lock is held since that
    UPDATE; on PostgreSQL the members' rows are locked (in id order, so two fan-outs never
    wait for each other in a circle)."""
    claimed = db.session.execute(
        update(Reminder).where(Reminder.id == reminder_id, Reminder.fanned_out_at.is_(None))
        .values(fanned_out_at=utcnow()).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        db.session.rollback()
        return False
    reminder = db.session.get(Reminder, reminder_id)
    ids = json.loads(reminder.member_ids or "[]")
    active = set()
    for chunk in _chunks(ids):
        active.update(db.session.scalars(select(User.id).where(User.id.in_(chunk), User.active.is_(True))
                                         .order_by(User.id).with_for_update()))
    limit, counts = daily_limit(), received_today(sorted(active), reminder.created_at)
    reached = [i for i in ids if i in active and counts.get(i, 0) < limit]
    skipped = [[i, "账号已停用" if i not in active else
                f"今天已收到 {counts[i]} 条提醒，达到每日上限（{limit} 条），未再发送"]
               for i in sorted(set(ids) - set(reached))]
    if reached:
        db.session.execute(insert(Message), [
            dict(member_id=i, reminder_id=reminder.id, title=reminder.title, body=reminder.text,
                 link=reminder.link or "", created_at=reminder.created_at) for i in reached])
    config = current_app.config
    for channel, column, setting in ((Channel.EMAIL, User.email, "SMTP_URL"), (Channel.SMS, User.phone, "SMS_WEBHOOK")):
        if reached and config.get(setting):
            rows = (select(Message.id, literal(reminder.id), literal(str(channel)), column,
                           literal(str(DeliveryState.PENDING)), literal(0))
                    .join(User, User.id == Message.member_id)
                    .where(Message.reminder_id == reminder.id, column.is_not(None), column != "")
                    .order_by(Message.id))
            db.session.execute(insert(Delivery).from_select(
                ["message_id", "reminder_id", "channel", "address", "state", "attempts"], rows))
    reminder.reached, reminder.skipped = len(reached), json.dumps(skipped, ensure_ascii=False)
    db.session.commit()
    return True


# --- transports -------------------------------------------------------------------------


def open_smtp(url: str, timeout: float) -> smtplib.SMTP:
    """``smtp://user:pass@host:port`` (``?starttls=1`` to upgrade) or ``smtps://…`` (TLS from the start)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = parts.hostname or "localhost"
    try:
        if parts.scheme == "smtps":
            conn = smtplib.SMTP_SSL(host, parts.port or 465, timeout=timeout)
        else:
            conn = smtplib.SMTP(host, parts.port or 25, timeout=timeout)
            if query.get("starttls", ["0"])[0] in ("1", "true", "yes"):
                conn.starttls()
                conn.ehlo()
        if parts.username:
            conn.login(unquote(parts.username), unquote(parts.password or ""))
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"邮件服务器拒绝登录（{exc.smtp_code}）", final=False) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"邮件服务器拒绝连接（{exc.smtp_code} {_text(exc.smtp_error)}）", final=False) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"无法连接邮件服务器 {host}:{parts.port or 25}（{type(exc).__name__}: {exc}）",
                            final=False) from None
    return conn


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def send_email(conn: smtplib.SMTP, sender: str, address: str, subject: str, body: str) -> None:
    try:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, address, subject
        message.set_content(body + "\n\n—— 网上党校（请登录网站查看详情，本邮件无需回复）")
        conn.send_message(message)
    except ValueError as exc:  # a header the mail library refuses (a line break in it): this mail never can go
        raise DeliveryError(f"邮件内容无法发送（{exc}）", final=True) from None
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        raise DeliveryError(f"收件地址被邮件服务器拒绝（{code} {_text(reply)}）", final=code >= 500) from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"邮件服务器拒绝（{exc.smtp_code} {_text(exc.smtp_error)}）",
                            final=exc.smtp_code >= 500) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"发送邮件时连接中断（{type(exc).__name__}: {exc}）", final=False) from None


def send_sms(url: str, phone: str, text: str, timeout: float) -> None:
    """POST ``{"phone": …, "text": …}`` as JSON; any 2xx answer counts as accepted."""
    body = json.dumps({"phone": phone, "text": text}, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        final = 400 <= exc.code < 500 and exc.code not in (408, 429)
        raise DeliveryError(f"短信平台拒绝（HTTP {exc.code}）", final=final) from None
    except (TimeoutError, socket.timeout):
        raise DeliveryError(f"短信平台无响应（超过 {timeout:g} 秒）", final=False) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, (TimeoutError, socket.timeout)):
            raise DeliveryError(f"短信平台无响应（超过 {timeout:g} 秒）", final=False) from None
        raise DeliveryError(f"无法连接短信平台（{exc.reason}）", final=False) from None
    except OSError as exc:
        raise DeliveryError(f"无法连接短信平台（{type(exc).__name__}: {exc}）", final=False) from None


# --- the job ----------------------------------------------------------------------------


def _due(now: datetime):
    return or_(Delivery.state == DeliveryState.PENDING,
               (Delivery.state == DeliveryState.RETRYING) & (Delivery.next_attempt_at <= now))


def _claim(reminder_id: int, now: datetime) -> list[int]:
    candidates = list(db.session.scalars(select(Delivery.id).where(Delivery.reminder_id == reminder_id, _due(now))
                                         .order_by(Delivery.id).limit(CHUNK)))
    if not candidates:
        return []
    claimed = db.session.execute(
        update(Delivery).where(Delivery.id.in_(candidates), _due(now))
        .values(state=DeliveryState.SENDING, next_attempt_at=now).returning(Delivery.id)
        .execution_options(synchronize_session=False)).scalars().all()
    db.session.commit()
    return sorted(claimed)


def _record(delivery: Delivery, now: datetime, error: DeliveryError | None) -> None:
    delivery.attempts += 1
    if error is None:
        delivery.state, delivery.delivered_at, delivery.last_error, delivery.next_attempt_at = (
            DeliveryState.SENT, now, None, None)
    elif error.final:
        delivery.state, delivery.last_error, delivery.next_attempt_at = DeliveryState.FAILED, error.reason, None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.state, delivery.next_attempt_at = DeliveryState.FAILED, None
        delivery.last_error = f"{error.reason}；已尝试 {delivery.attempts} 次，不再重试"
    else:
        delivery.state, delivery.last_error = DeliveryState.RETRYING, error.reason
        delivery.next_attempt_at = now + BACKOFF[min(delivery.attempts - 1, len(BACKOFF) - 1)]


def deliver_due(reminder_id: int, now: datetime) -> dict[str, int]:
    """Try every delivery of the reminder that is due at ``now``; commits after each chunk."""
    config = current_app.config
    timeout = float(config.get("DELIVERY_TIMEOUT_SECONDS", 10))
    tally = {"sent": 0, "failed": 0, "retrying": 0}
    while ids := _claim(reminder_id, now):
        deliveries = list(db.session.scalars(select(Delivery).where(Delivery.id.in_(ids)).order_by(Delivery.id)))
        smtp: smtplib.SMTP | None = None
        smtp_error: DeliveryError | None = None
        for delivery in deliveries:
            error = None
            try:
                if delivery.channel == Channel.EMAIL:
                    if not config.get("SMTP_URL"):
                        raise DeliveryError("未配置邮件服务器（SCHOOL_SMTP_URL）", final=True)
                    if smtp is None and smtp_error is None:
                        try:
                            smtp = open_smtp(config["SMTP_URL"], timeout)
                        except DeliveryError as exc:
                            smtp_error = exc
                    if smtp_error is not None:
                        raise smtp_error
                    send_email(smtp, config.get("SMTP_FROM") or "noreply@localhost", delivery.address,
                               delivery.message.title, delivery.message.body)
                else:
                    if not config.get("SMS_WEBHOOK"):
                        raise DeliveryError("未配置短信平台（SCHOOL_SMS_WEBHOOK）", final=True)
                    send_sms(config["SMS_WEBHOOK"], delivery.address,
                             f"【网上党校】{delivery.message.title}：{delivery.message.body}", timeout)
            except DeliveryError as exc:
                error = exc
            _record(delivery, now, error)
            tally["sent" if delivery.state == DeliveryState.SENT else
                  "failed" if delivery.state == DeliveryState.FAILED else "retrying"] += 1
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
        db.session.commit()
    return tally


def deliver_job(payload: dict, progress) -> None:
    """The job handler: the reminder's messages and deliveries (once), then its due deliveries, now."""
    fan_out(int(payload["reminder_id"]))
    progress(5)
    deliver_due(int(payload["reminder_id"]), utcnow())


def retry_due(now: datetime) -> int:
    """The sweep: a job for each reminder with deliveries due again (or stuck) and no job waiting."""
    db.session.execute(
        update(Delivery).where(Delivery.state == DeliveryState.SENDING, Delivery.next_attempt_at < now - STUCK_AFTER)
        .values(state=DeliveryState.RETRYING, next_attempt_at=now).execution_options(synchronize_session=False))
    reminder_ids = set(db.session.scalars(select(Delivery.reminder_id).where(_due(now)).distinct()))
    # A reminder whose job ended before writing its messages (a crash, a lost worker).
    reminder_ids.update(db.session.scalars(select(Reminder.id).where(Reminder.fanned_out_at.is_(None))))
    queued = 0
    for reminder_id in sorted(reminder_ids):
        reminder = db.session.get(Reminder, reminder_id)
        job = db.session.get(jobs.Job, reminder.job_id) if reminder.job_id else None
        if job is not None and job.state in (jobs.QUEUED, jobs.RUNNING):
            continue
        reminder.job_id = jobs.enqueue(HANDLER, {"reminder_id": reminder_id}, now).id
        queued += 1
    return queued


jobs.every(60, "notices-deliveries", retry_due)


# --- what the sender sees ---------------------------------------------------------------


def sent_by(actor: User, limit: int = 100) -> list[Reminder]:
    query = select(Reminder).order_by(Reminder.created_at.desc(), Reminder.id.desc()).limit(limit)
    if actor.role != Role.ADMIN:
        query = query.where(Reminder.sender_id == actor.id)
    return list(db.session.scalars(query))


@dataclass
class MemberStatus:
    member: User
    message: Message
    deliveries: dict[str, Delivery]


def skipped_members(reminder: Reminder, limit: int = 200) -> tuple[int, list[tuple[User, str]]]:
    """(how many the job skipped, the first ``limit`` of them with the reason)."""
    skipped = json.loads(reminder.skipped or "[]")
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_([i for i, _ in skipped[:limit]])))}
    return len(skipped), [(users[i], reason) for i, reason in skipped[:limit] if i in users]


def status(reminder: Reminder) -> list[MemberStatus]:
    messages = list(db.session.scalars(select(Message).where(Message.reminder_id == reminder.id)
                                       .order_by(Message.id)))
    by_message: dict[int, dict[str, Delivery]] = {m.id: {} for m in messages}
    for delivery in db.session.scalars(select(Delivery).where(Delivery.reminder_id == reminder.id)):
        by_message[delivery.message_id][delivery.channel] = delivery
    return [MemberStatus(m.member, m, by_message[m.id]) for m in messages]
