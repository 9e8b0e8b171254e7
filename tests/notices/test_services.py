"""通知公告: audience by subtree, expiry, pinned, unread count, reading, the sender's unread list,
scope, attachments checked by content, Markdown made safe, a double-clicked publish."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from school.accounts.models import Role
from school.extensions import db
from school.notices import services
from school.notices.models import Notice, NoticeRead
from school.timeutil import utcnow


def test_members_see_notices_of_their_organisation_and_above_until_expiry(make):
    t = make.tree()
    member = make.user(org=t["a1"])
    now = utcnow()
    make.notice(t["root"], title="全镇通知", now=now - timedelta(hours=3))
    to_a = make.notice(t["a"], title="总支通知", now=now - timedelta(hours=2))
    make.notice(t["b"], title="别的总支")
    make.notice(t["a2"], title="兄弟支部")
    make.notice(t["root"], title="置顶通知", pinned=True, now=now - timedelta(days=3))
    make.notice(t["a"], title="已过期", expires_at=now + timedelta(hours=1), now=now - timedelta(hours=1))
    titles = [n.title for n, _ in services.visible_notices(member, now + timedelta(hours=2))]
    assert titles == ["置顶通知", "总支通知", "全镇通知"]
    assert services.unread_count(member, now + timedelta(hours=2)) == 3
    services.mark_read(member, to_a, now)
    db.session.commit()
    assert services.unread_count(member, now + timedelta(hours=2)) == 2
    assert services.mark_read(member, to_a, now) is False  # once
    assert dict(((n.id, read) for n, read in services.visible_notices(member, now)))[to_a.id] is True


def test_a_secretary_cannot_address_an_organisation_outside_scope(make):
    t = make.tree()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    with pytest.raises(services.NoticeError, match="只能向您管理范围内的党组织发布通知"):
        services.create_notice(secretary, services.NoticeData(org=t["b"], title="越权", body=""),
                               services.new_token(), utcnow())
    with pytest.raises(services.NoticeError, match="只能向您管理范围内的党组织发布通知"):
        services.create_notice(secretary, services.NoticeData(org=t["root"], title="向上", body=""),
                               services.new_token(), utcnow())
    assert services.create_notice(secretary, services.NoticeData(org=t["a1"], title="下级", body=""),
                                  services.new_token(), utcnow()).id


def test_publishing_outside_scope_by_the_form_is_refused_in_chinese(client, auth, make):
    t = make.tree()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    auth.login(secretary)
    page = client.get("/notices/manage/new").get_data(as_text=True)
    assert t["b"].name not in page  # not even offered
    response = client.post("/notices/manage/new", data={"org_id": t["b"].id, "title": "越权通知", "body": "x",
                                                        "token": services.new_token()})
    assert response.status_code == 200
    assert "只能向您管理范围内的党组织发布通知" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Notice.id))) == 0


def test_publish_with_attachment_markdown_and_double_click(client, auth, make):
    t = make.tree()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    member = make.user(org=t["a1"])
    auth.login(secretary)
    token = services.new_token()
    form = {"org_id": t["a"].id, "title": "三会一课安排", "body": "# 安排\n\n**周五**学习<script>alert(1)</script>",
            "pinned": "y", "token": token}
    first = client.post("/notices/manage/new", data={**form, "attachment": (io.BytesIO(b"%PDF-1.4 x"), "安排.pdf")},
                        content_type="multipart/form-data")
    assert first.status_code == 302
    again = client.post("/notices/manage/new", data={**form, "attachment": (io.BytesIO(b"%PDF-1.4 x"), "安排.pdf")},
                        content_type="multipart/form-data", follow_redirects=True)
    assert "这条通知已经发布，请勿重复提交" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Notice.id))) == 1
    notice = db.session.scalar(select(Notice))
    assert notice.pinned and notice.attachment_name == "安排.pdf" and notice.attachment_mime == "application/pdf"
    auth.logout()
    auth.login(member)
    home = client.get("/").get_data(as_text=True)
    assert "三会一课安排" in home and "1 条未读" in home
    page = client.get(f"/notices/{notice.id}").get_data(as_text=True)
    assert "<strong>周五</strong>" in page and "<script>alert" not in page
    file = client.get(f"/notices/{notice.id}/attachment")
    assert file.status_code == 200 and file.data == b"%PDF-1.4 x" and file.headers["X-Content-Type-Options"] == "nosniff"
    assert "1 条未读" not in client.get("/").get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(NoticeRead)) == 1


def test_an_attachment_that_is_not_what_its_name_says_is_refused(client, auth, make):
    t = make.tree()
    auth.login(make.user(org=t["a"], role=Role.SECRETARY))
    response = client.post("/notices/manage/new", data={
        "org_id": t["a"].id, "title": "带附件", "body": "", "token": services.new_token(),
        "attachment": (io.BytesIO(b"MZ\x90\x00 this is a program"), "通知.pdf")}, content_type="multipart/form-data")
    assert "附件内容与文件类型不符（文件可能已损坏），请重新选择" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Notice.id))) == 0
    response = client.post("/notices/manage/new", data={
        "org_id": t["a"].id, "title": "带附件", "body": "", "token": services.new_token(),
        "attachment": (io.BytesIO(b"<html>"), "通知.html")}, content_type="multipart/form-data")
    assert "附件只能是 JPEG、PNG 图片或 PDF 文件" in response.get_data(as_text=True)


def test_sender_sees_who_has_not_read_within_scope(client, auth, make):
    t = make.tree()
    secretary = make.user(org=t["a1"], role=Role.SECRETARY)
    reader = make.user(org=t["a1"], name="已读者")
    make.user(org=t["a1"], name="未读者")
    make.user(org=t["a2"], name="外支部")  # in the notice's audience, not in this secretary's scope
    make.user(org=t["a1"], name="已停用", active=False)
    notice = make.notice(t["a"])  # to the whole general branch, sent by an admin
    services.mark_read(reader, notice, utcnow())
    db.session.commit()
    assert {m.name for m in services.unread_members(secretary, notice)} == {secretary.name, "未读者"}
    auth.login(secretary)
    # The notice is addressed above the secretary's organisation: not theirs to manage → 404.
    assert client.get(f"/notices/manage/{notice.id}").status_code == 404
    own = make.notice(t["a1"], secretary, title="支部通知")
    page = client.get(f"/notices/manage/{own.id}").get_data(as_text=True)
    assert "未读者" in page and "外支部" not in page and "已停用" not in page


def test_a_member_outside_the_audience_gets_404(client, auth, make):
    t = make.tree()
    notice = make.notice(t["b"], attachment=("a.png", b"\x89PNG\r\n\x1a\n" + b"0" * 10))
    auth.login(make.user(org=t["a1"]))
    assert client.get(f"/notices/{notice.id}").status_code == 404
    assert client.get(f"/notices/{notice.id}/attachment").status_code == 404
    expired = make.notice(t["a"], expires_at=utcnow() + timedelta(seconds=1), now=utcnow() - timedelta(days=1))
    db.session.execute(Notice.__table__.update().where(Notice.id == expired.id)
                       .values(expires_at=utcnow() - timedelta(minutes=1)))
    db.session.commit()
    assert client.get(f"/notices/{expired.id}").status_code == 404
