"""Reminders reach people: the inbox always; e-mail through a real SMTP server and SMS through a
real local webhook, as background jobs with retries and a per-member daily limit."""
from __future__ import annotations

import random
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from school import jobs
from school.accounts.models import Role, User
from school.extensions import db
from school.notices import delivery, services
from school.notices.models import Delivery, DeliveryState, Message, Reminder
from school.timeutil import utcnow


@pytest.fixture
def channels(app, smtp_server, sms_webhook):
    app.config.update(SMTP_URL=smtp_server.url, SMTP_FROM="school@example.org", SMS_WEBHOOK=sms_webhook.url,
                      DELIVERY_TIMEOUT_SECONDS=0.5)
    return smtp_server, sms_webhook


def _people(make):
    t = make.tree()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    member = make.user(org=t["a1"], name="张三", email="zhangsan@example.org", phone="13800000001")
    return t, secretary, member


def _deliveries(reminder_id):
    db.session.expire_all()
    return {d.channel: d for d in db.session.scalars(select(Delivery).where(Delivery.reminder_id == reminder_id))}


def test_reminder_lands_in_inbox_and_is_delivered_by_email_and_sms(make, channels):
    smtp, hook = channels
    _, secretary, member = _people(make)
    reminder = make.reminder(secretary, [member], text="请在月底前完成党章学习")
    # Nothing was sent in the request: the inbox copy exists, the deliveries wait for the job.
    assert smtp.messages == [] and hook.posts == []
    assert db.session.scalar(select(func.count(Message.id)).where(Message.member_id == member.id)) == 1
    assert {d.state for d in _deliveries(reminder.id).values()} == {DeliveryState.PENDING}

    assert [state for _, state in jobs.run_until_empty()] == [jobs.DONE]
    found = _deliveries(reminder.id)
    assert found["email"].state == DeliveryState.SENT and found["sms"].state == DeliveryState.SENT
    assert found["email"].attempts == 1 and found["email"].delivered_at is not None
    (mail_from, rcpts, content), = smtp.messages
    assert mail_from == "school@example.org" and rcpts == ["zhangsan@example.org"]
    assert "请在月底前完成党章学习" in content or "=E8" in content  # the text, in the mail's transfer encoding
    assert hook.posts == [{"phone": "13800000001", "text": "【网上党校】学习提醒：请在月底前完成党章学习"}]


def test_a_member_without_address_gets_the_inbox_copy_only(make, channels):
    _, secretary, _ = _people(make)
    plain = make.user(org=secretary.org)
    reminder = make.reminder(secretary, [plain])
    assert _deliveries(reminder.id) == {}
    assert services.unread_messages(plain) == 1
    assert [state for _, state in jobs.run_until_empty()] == [jobs.DONE]  # the job finds nothing to send
    assert _deliveries(reminder.id) == {}


def test_smtp_refusing_the_recipient_fails_at_once_with_the_reason(make, channels):
    smtp, _ = channels
    smtp.mode = "reject"
    _, secretary, member = _people(make)
    reminder = make.reminder(secretary, [member])
    jobs.run_until_empty()
    email = _deliveries(reminder.id)["email"]
    assert email.state == DeliveryState.FAILED and email.attempts == 1
    assert "收件地址被邮件服务器拒绝（550" in email.last_error and "User unknown" in email.last_error
    assert email.next_attempt_at is None
    # A final refusal is not tried again, and the inbox copy is still there.
    assert delivery.retry_due(utcnow() + timedelta(hours=1)) == 0
    assert db.session.scalar(select(func.count(Message.id)).where(Message.member_id == member.id)) == 1
    assert smtp.messages == []


def test_smtp_busy_is_retried_up_to_the_limit_then_failed(make, channels):
    smtp, _ = channels
    smtp.mode = "busy"
    _, secretary, member = _people(make)
    now = utcnow()
    reminder = make.reminder(secretary, [member], now=now)
    delivery.deliver_due(reminder.id, now)
    email = _deliveries(reminder.id)["email"]
    assert email.state == DeliveryState.RETRYING and "451" in email.last_error
    assert email.next_attempt_at == now + delivery.BACKOFF[0]
    # Not due yet: nothing happens.
    assert delivery.deliver_due(reminder.id, now + timedelta(seconds=30))["retrying"] == 0
    later = now
    for attempt in range(2, delivery.MAX_ATTEMPTS + 1):
        later = later + delivery.BACKOFF[attempt - 2]
        delivery.deliver_due(reminder.id, later)
    email = _deliveries(reminder.id)["email"]
    assert email.state == DeliveryState.FAILED and email.attempts == delivery.MAX_ATTEMPTS
    assert "451" in email.last_error and f"已尝试 {delivery.MAX_ATTEMPTS} 次" in email.last_error
    assert smtp.rcpt_tries == delivery.MAX_ATTEMPTS
    assert services.unread_messages(member) == 1


def test_webhook_timing_out_is_retried_by_the_sweep_then_failed(make, channels):
    _, hook = channels
    hook.mode = "slow"
    _, secretary, member = _people(make)
    reminder = make.reminder(secretary, [member])
    jobs.run_until_empty()  # the first try, in the job
    sms = _deliveries(reminder.id)["sms"]
    assert sms.state == DeliveryState.RETRYING and sms.last_error == "短信平台无响应（超过 0.5 秒）"
    assert _deliveries(reminder.id)["email"].state == DeliveryState.SENT  # the other channel is unaffected
    # The periodic sweep queues a job once the retry is due, and the job runs it.
    assert delivery.retry_due(utcnow()) == 0
    assert delivery.retry_due(utcnow() + timedelta(minutes=2)) == 1
    db.session.commit()
    assert delivery.retry_due(utcnow() + timedelta(minutes=2)) == 0  # a job is already waiting
    db.session.commit()
    job_id = db.session.get(Reminder, reminder.id).job_id
    sms_row = _deliveries(reminder.id)["sms"]
    sms_row.next_attempt_at = utcnow() - timedelta(seconds=1)  # due for the job, which runs "now"
    db.session.commit()
    assert jobs.run_job(job_id) == jobs.DONE
    sms = _deliveries(reminder.id)["sms"]
    assert sms.state == DeliveryState.RETRYING and sms.attempts == 2
    delivery.deliver_due(reminder.id, sms.next_attempt_at)
    sms = _deliveries(reminder.id)["sms"]
    assert sms.state == DeliveryState.FAILED and sms.attempts == delivery.MAX_ATTEMPTS
    assert "短信平台无响应" in sms.last_error and "不再重试" in sms.last_error
    assert len(hook.posts) == delivery.MAX_ATTEMPTS
    assert services.unread_messages(member) == 1


def test_webhook_refusing_is_final_and_server_errors_are_retried(make, channels):
    _, hook = channels
    _, secretary, member = _people(make)
    hook.mode = "refuse"
    first = make.reminder(secretary, [member])
    jobs.run_until_empty()
    assert (_deliveries(first.id)["sms"].state, _deliveries(first.id)["sms"].last_error) == (
        DeliveryState.FAILED, "短信平台拒绝（HTTP 400）")
    hook.mode = "error"
    second = make.reminder(secretary, [member])
    jobs.run_until_empty()
    assert _deliveries(second.id)["sms"].state == DeliveryState.RETRYING


def test_smtp_server_down_is_a_passing_failure(app, make, channels):
    from tests.notices.conftest import free_port
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    _, secretary, member = _people(make)
    reminder = make.reminder(secretary, [member])
    jobs.run_until_empty()
    email = _deliveries(reminder.id)["email"]
    assert email.state == DeliveryState.RETRYING and email.last_error.startswith("无法连接邮件服务器 127.0.0.1:")


def test_daily_limit_skips_members_at_the_limit_and_says_so(app, make, channels):
    app.config["REMINDER_DAILY_LIMIT"] = 2
    _, secretary, member = _people(make)
    other = make.user(org=secretary.org, name="李四")
    now = utcnow()
    make.reminder(secretary, [member], now=now)
    make.reminder(secretary, [member], now=now)
    reminder = make.reminder(secretary, [member, other], text="第三条", now=now)
    assert reminder.reached == 1
    assert [m.name for m in db.session.scalars(select(User).join(Message, Message.member_id == User.id)
                                                       .where(Message.reminder_id == reminder.id))
            ] == ["李四"]
    assert delivery.skipped_members(reminder) == (1, [(member, "今天已收到 2 条提醒，达到每日上限（2 条），未再发送")])
    # Everyone at the limit: refused in the request, nothing recorded.
    with pytest.raises(delivery.ReminderError, match="今天都已达到每日提醒上限（2 条）"):
        delivery.send_reminder(secretary, [member.id], "提醒", "第三条", services.new_token(), now)
    db.session.rollback()
    # The next China day the count starts again.
    tomorrow = now + timedelta(days=1)
    assert make.reminder(secretary, [member], text="次日", now=tomorrow).reached == 1


def test_reminder_page_flow_limit_double_click_and_status(app, client, auth, make, channels):
    app.config["REMINDER_DAILY_LIMIT"] = 1
    t, secretary, member = _people(make)
    notice = make.notice(t["a"], secretary, title="学习安排")
    auth.login(secretary)
    page = client.get(f"/notices/manage/{notice.id}").get_data(as_text=True)
    assert "张三" in page and 'name="member_id"' in page
    token = services.new_token()
    form = {"member_id": [str(member.id)], "title": "请阅读通知", "text": "请尽快阅读", "token": token,
            "source": f"notice:{notice.id}", "link": f"/notices/{notice.id}", "back": f"/notices/manage/{notice.id}"}
    first = client.post("/reminders/send", data=form)
    assert first.status_code == 302 and "/reminders/" in first.headers["Location"]
    # The double click: the same form again is recognised, nothing new is sent.
    again = client.post("/reminders/send", data=form, follow_redirects=True)
    assert "这条提醒已经发送，请勿重复提交" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Reminder.id))) == 1
    # Before the job: the sender's page says it is being prepared.
    assert 'id="reminder-pending"' in client.get(first.headers["Location"]).get_data(as_text=True)
    # Written and delivered by the one job; the sender sees each channel.
    assert [state for _, state in jobs.run_until_empty()] == [jobs.DONE]
    assert db.session.scalar(select(func.count(Message.id))) == 1
    # Over the daily limit (1 here): a clear refusal, nothing written.
    over = client.post("/reminders/send", data={**form, "token": services.new_token()}, follow_redirects=True)
    assert "所选党员今天都已达到每日提醒上限（1 条）或无法接收，没有发送" in over.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Reminder.id))) == 1
    status = client.get(first.headers["Location"]).get_data(as_text=True)
    assert 'id="reminder-pending"' not in status
    assert "张三" in status and status.count("已送达") >= 3  # inbox, e-mail, SMS
    # The member finds it in the inbox with a link to the notice.
    auth.logout()
    auth.login(member)
    inbox = client.get("/messages").get_data(as_text=True)
    assert "请阅读通知" in inbox
    message_id = db.session.scalar(select(Message.id))
    opened = client.get(f"/messages/{message_id}").get_data(as_text=True)
    assert "请尽快阅读" in opened and f'href="/notices/{notice.id}"' in opened
    db.session.expire_all()
    assert db.session.get(Message, message_id).read_at is not None


def test_reminder_to_a_member_outside_scope_is_404_and_sends_nothing(client, auth, make, channels):
    t, secretary, _ = _people(make)
    outsider = make.user(org=t["b1"], email="out@example.org")
    auth.login(secretary)
    response = client.post("/reminders/send", data={"member_id": [str(outsider.id)], "title": "x", "text": "x",
                                                     "token": services.new_token()})
    assert response.status_code == 404
    assert db.session.scalar(select(func.count(Message.id))) == 0


def test_someone_elses_reminder_status_is_404(client, auth, make, channels):
    t, secretary, member = _people(make)
    reminder = make.reminder(secretary, [member])
    peer = make.user(org=t["a"], role=Role.SECRETARY)
    auth.login(peer)
    assert client.get(f"/reminders/{reminder.id}").status_code == 404
    auth.logout()
    auth.login(make.user(org=t["root"], role=Role.ADMIN))
    assert client.get(f"/reminders/{reminder.id}").status_code == 200


def test_behind_list_offers_a_reminder_to_the_members_behind(client, auth, make):
    t, secretary, member = _people(make)
    make.entry(member, hours=100)  # met the requirement
    behind = make.user(org=t["a2"], name="王五")
    auth.login(secretary)
    report = client.get("/reports/").get_data(as_text=True)
    assert 'id="remind-behind"' in report
    page = client.get(f"/reminders/behind?org={t['a'].id}").get_data(as_text=True)
    assert "王五" in page and f'value="{behind.id}"' in page and "张三" not in page
    assert client.get(f"/reminders/behind?org={t['b'].id}").status_code == 404


def test_a_title_with_a_newline_fails_that_row_and_delivers_the_rest(make, channels):
    smtp, _ = channels
    _, secretary, member = _people(make)
    other = make.user(org=secretary.org, name="李四", email="lisi@example.org")
    reminder = make.reminder(secretary, [member, other], title="学习提醒")
    # A title with a line break in it (written before titles were put on one line): the mail
    # library refuses it as a header. That row fails with a reason; the other is delivered and
    # the job ends instead of dying with the rows left "sending".
    broken = db.session.scalar(select(Message).where(Message.member_id == member.id))
    broken.title = "学习提醒\nBcc: evil@example.org"
    db.session.commit()
    assert [state for _, state in jobs.run_until_empty()] == [jobs.DONE]
    db.session.expire_all()
    rows = {d.address: d for d in db.session.scalars(select(Delivery).where(Delivery.reminder_id == reminder.id,
                                                                              Delivery.channel == "email"))}
    assert rows["zhangsan@example.org"].state == DeliveryState.FAILED
    assert rows["zhangsan@example.org"].attempts == 1 and rows["zhangsan@example.org"].last_error
    assert rows["lisi@example.org"].state == DeliveryState.SENT
    assert [rcpts for _, rcpts, _ in smtp.messages] == [["lisi@example.org"]]
    assert delivery.retry_due(utcnow() + timedelta(hours=1)) == 0


def test_a_title_with_a_newline_is_sent_on_one_line(make, channels):
    smtp, _ = channels
    _, secretary, member = _people(make)
    reminder = make.reminder(secretary, [member], title="请阅读通知：\r\n第一行\n  第二行")
    assert reminder.title == "请阅读通知： 第一行 第二行"
    jobs.run_until_empty()
    assert _deliveries(reminder.id)["email"].state == DeliveryState.SENT
    (_, _, content), = smtp.messages
    assert "Bcc" not in content and len(smtp.messages) == 1


@pytest.mark.parametrize("back", ["//evil.example/x", "/\\evil.example/x", "https://evil.example/x"])
def test_the_reminder_form_goes_back_only_to_this_site(client, auth, make, back):
    _, secretary, member = _people(make)
    auth.login(secretary)
    response = client.post("/reminders/send", data={"member_id": [str(member.id)], "title": "提醒", "text": "",
                                                     "token": services.new_token(), "back": back})
    assert response.status_code == 302 and response.headers["Location"] == "/reminders"


def test_a_message_links_only_to_this_site(client, auth, make):
    _, secretary, member = _people(make)
    make.reminder(secretary, [member], link="/\\evil.example/x")
    auth.login(member)
    message_id = db.session.scalar(select(Message.id))
    page = client.get(f"/messages/{message_id}").get_data(as_text=True)
    assert "evil.example" not in page


def test_parallel_sends_respect_the_daily_limit(app, client, auth, make, monkeypatch):
    app.config["REMINDER_DAILY_LIMIT"] = 2
    _, secretary, member = _people(make)
    make.reminder(secretary, [member])  # one of the two of today
    member_id = member.id
    real = delivery.received_today

    def slow(ids, now):  # a busy server: time passes between counting and writing
        counts = real(ids, now)
        time.sleep(random.uniform(0.01, 0.05))
        return counts

    monkeypatch.setattr(delivery, "received_today", slow)
    auth.login(secretary)
    token = client.token()
    clients = client.tabs(6)
    db.session.remove()
    barrier = threading.Barrier(len(clients))
    results, errors = [], []

    def send(own):
        try:
            barrier.wait()
            response = own.post("/reminders/send", csrf=False, data={
                "member_id": [str(member_id)], "title": "提醒", "text": "请学习", "token": services.new_token(),
                "csrf_token": token})
            results.append((response.status_code, response.headers.get("Location", "")))
        except Exception as exc:  # asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=send, args=(own,)) for own in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 6 and {status for status, _ in results} == {302}
    # Each request only recorded its reminder (the member was under the limit for all of them);
    # the jobs, run at the same time, count under the lock: one more message, five skipped.
    assert sum("/reminders/" in location for _, location in results) == 6
    assert db.session.scalar(select(func.count(Message.id)).where(Message.member_id == member_id)) == 1
    pending = list(db.session.scalars(select(Reminder.id).where(Reminder.fanned_out_at.is_(None))))
    assert len(pending) == 6
    db.session.remove()
    barrier = threading.Barrier(len(pending))

    def fan(reminder_id):
        try:
            with app.app_context():
                barrier.wait()
                delivery.fan_out(reminder_id)
        except Exception as exc:  # asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=fan, args=(i,)) for i in pending]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert db.session.scalar(select(func.count(Message.id)).where(Message.member_id == member_id)) == 2
    reached = db.session.scalars(select(Reminder.reached).where(Reminder.id.in_(pending))).all()
    assert sorted(reached) == [0, 0, 0, 0, 0, 1]


def _reminder_form(ids, token):
    return {"member_id": [str(i) for i in ids], "title": "学习提醒", "text": "请抓紧学习", "token": token}


def test_the_request_writes_no_row_per_member_and_the_job_delivers_exactly_once(app, client, auth, make,
                                                                                 channels):
    smtp, hook = channels
    t, secretary, _ = _people(make)
    small = [make.user(org=t["a1"], email=f"s{i}@example.org", phone=f"1370000{i:04d}") for i in range(3)]
    large = [make.user(org=t["a2"], email=f"l{i}@example.org", phone=f"1360000{i:04d}") for i in range(40)]
    auth.login(secretary)
    engine, statements = db.engine, []

    def seen(conn, cursor, statement, *_):
        statements.append(statement)

    def post(members):
        ids = [m.id for m in members]
        statements.clear()
        from sqlalchemy import event
        event.listen(engine, "before_cursor_execute", seen)
        try:
            response = client.post("/reminders/send", data=_reminder_form(ids, services.new_token()))
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert response.status_code == 302 and "/reminders/" in response.headers["Location"]
        return int(response.headers["Location"].rsplit("/", 1)[1]), len(statements)

    first, few = post(small)
    second, many = post(large)
    assert many == few  # the request's statements do not grow with the members named
    # No inbox message and no delivery row yet: the request recorded the reminders and queued a job each.
    assert db.session.scalar(select(func.count(Message.id))) == 0
    assert db.session.scalar(select(func.count(Delivery.id))) == 0
    assert db.session.scalar(select(func.count(jobs.Job.id))) == 2
    # The job fans out and delivers; a second run (or a second worker) sends nothing again.
    assert [state for _, state in jobs.run_until_empty()] == [jobs.DONE, jobs.DONE]
    assert delivery.fan_out(second) is False and delivery.deliver_due(second, utcnow()) == {
        "sent": 0, "failed": 0, "retrying": 0}
    assert db.session.scalar(select(func.count(Message.id))) == 43
    addresses = sorted(rcpt for _, rcpts, _ in smtp.messages for rcpt in rcpts)
    assert addresses == sorted(m.email for m in small + large)
    assert sorted(p["phone"] for p in hook.posts) == sorted(m.phone for m in small + large)
    db.session.expire_all()
    assert {d.state for d in db.session.scalars(select(Delivery))} == {DeliveryState.SENT}
    page = client.get(f"/reminders/{first}").get_data(as_text=True)
    assert all(m.name in page for m in small) and 'id="reminder-pending"' not in page


def test_a_reminder_whose_job_died_before_fanning_out_is_picked_up_by_the_sweep(app, make, channels):
    smtp, _ = channels
    _, secretary, member = _people(make)
    result = delivery.send_reminder(secretary, [member.id], "提醒", "请学习", services.new_token(), utcnow())
    db.session.commit()
    job = db.session.get(jobs.Job, result.reminder.job_id)
    job.state = jobs.FAILED  # its worker crashed before the first statement
    db.session.commit()
    assert delivery.retry_due(utcnow()) == 1
    jobs.run_until_empty()
    assert db.session.scalar(select(func.count(Message.id))) == 1
    assert [rcpts for _, rcpts, _ in smtp.messages] == [["zhangsan@example.org"]]
