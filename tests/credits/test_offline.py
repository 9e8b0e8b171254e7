"""Offline training: submit, reject with reason, correct and resubmit, approve once, audit."""
from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from school.accounts.models import Role
from school.credits import attachments, ledger, offline, rules
from school.credits.models import CreditEntry, OfflineAudit, OfflineSession, SessionState
from school.extensions import db

NOW = datetime(2026, 5, 10, 2, 0)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\n1 0 obj <<>> endobj\n%%EOF"


@pytest.fixture
def world(make):
    t = make.tree()
    members = [make.user(org=t["a1"], name=f"东村党员{i}") for i in range(5)]
    return dict(t=t, members=members,
                branch_secretary=make.user(org=t["a1"], role=Role.SECRETARY, name="东村书记"),
                general_secretary=make.user(org=t["a"], role=Role.SECRETARY, name="总支书记"),
                sibling_secretary=make.user(org=t["b"], role=Role.SECRETARY, name="二总支书记"),
                township=make.user(org=t["root"], role=Role.SECRETARY, name="镇党委书记"),
                outsider=make.user(org=t["b1"], name="南村党员"))


def data(world, **overrides):
    values = dict(org=world["t"]["a1"], held_on=date(2026, 5, 8), hours=Decimal("3"), topic="党的二十届三中全会精神",
                  session_type="remote_site", place="村党群服务中心",
                  attendee_ids=[m.id for m in world["members"]])
    values.update(overrides)
    return offline.SessionData(**values)


def test_submit_reject_resubmit_approve_awards_once_and_audits(world):
    sec, approver = world["branch_secretary"], world["general_secretary"]
    session = offline.submit(data(world), sec, NOW)
    db.session.commit()
    assert session.state == SessionState.SUBMITTED
    assert session.approver_org_id == world["t"]["a"].id
    assert not offline.can_decide(sec, session)  # not their own record, and not the parent
    assert not offline.can_decide(world["sibling_secretary"], session)
    assert offline.can_decide(approver, session) and offline.can_decide(world["township"], session)

    with pytest.raises(offline.OfflineError, match="原因"):
        offline.reject(session, "  ", approver, NOW)
    offline.reject(session, "签到表缺少第二页", approver, NOW)
    db.session.commit()
    assert session.state == SessionState.REJECTED and session.reject_reason == "签到表缺少第二页"
    with pytest.raises(offline.OfflineError, match="已被处理"):
        offline.approve(session, approver, NOW)

    offline.resubmit(session, data(world, hours=Decimal("2.5"), attendee_ids=[m.id for m in world["members"][:4]]),
                     sec, NOW)
    db.session.commit()
    assert session.state == SessionState.SUBMITTED and len(session.attendees) == 4

    assert offline.approve(session, approver, NOW) == 4
    db.session.commit()
    with pytest.raises(offline.OfflineError, match="已被处理"):
        offline.approve(session, approver, NOW)  # a second click credits nothing
    db.session.rollback()
    rows = list(db.session.scalars(select(CreditEntry).order_by(CreditEntry.member_id)))
    assert [r.member_id for r in rows] == [m.id for m in world["members"][:4]]
    assert {(r.kind, r.source, r.hours, r.year) for r in rows} == {("concentrated", "offline", Decimal("2.50"), 2026)}
    assert rows[0].idempotency_key == f"offline-session:{session.id}:member:{rows[0].member_id}"
    # The ledger's own idempotency: awarding the same key again changes nothing.
    ledger.award(rows[0].member_id, 9, "concentrated", "offline", rows[0].idempotency_key, NOW)
    assert db.session.scalar(select(func.count()).select_from(CreditEntry)) == 4

    trail = offline.audit_trail(session)
    assert [a.action for a in trail] == ["submit", "reject", "resubmit", "approve"]
    assert [a.actor_id for a in trail] == [sec.id, approver.id, sec.id, approver.id]
    assert "签到表缺少第二页" in trail[1].detail
    assert "学时：3.00 → 2.50" in trail[2].detail and "减少 东村党员4" in trail[2].detail


@pytest.mark.parametrize("change,message", [
    (dict(hours=Decimal("0")), "学时必须大于 0"),
    (dict(hours=Decimal("8.5")), "最多记 8.00 学时"),
    (dict(held_on=date(2026, 5, 11)), "不能晚于今天"),
    (dict(topic="  "), "请填写培训主题"),
    (dict(session_type="party"), "请选择培训类型"),
    (dict(attendee_ids=[]), "至少选择一名"),
])
def test_bad_input_is_refused_in_chinese(world, change, message):
    with pytest.raises(offline.OfflineError, match=message):
        offline.submit(data(world, **change), world["branch_secretary"], NOW)


def test_limit_follows_the_rule_and_scope_is_enforced(world):
    rules.set_rule("offline_max_hours_per_session", 2, world["township"], NOW)
    db.session.commit()
    with pytest.raises(offline.OfflineError, match="最多记 2.00"):
        offline.submit(data(world), world["branch_secretary"], NOW)
    with pytest.raises(offline.OfflineError, match="下级组织的在册党员"):
        offline.submit(data(world, hours=1, attendee_ids=[world["outsider"].id]), world["branch_secretary"], NOW)
    with pytest.raises(offline.OfflineError, match="管理范围"):
        offline.submit(data(world, hours=1, org=world["t"]["b1"], attendee_ids=[world["outsider"].id]),
                       world["branch_secretary"], NOW)


def test_duplicate_submission_is_refused(world):
    offline.submit(data(world), world["branch_secretary"], NOW)
    db.session.commit()
    with pytest.raises(offline.OfflineError, match="请勿重复登记"):
        offline.submit(data(world), world["branch_secretary"], NOW)


def test_backfill_for_one_member_with_evidence(world):
    member = world["members"][0]
    with pytest.raises(offline.OfflineError, match="证明材料"):
        offline.submit(data(world, attendee_ids=[member.id], backfill=True), world["branch_secretary"], NOW)
    session = offline.submit(data(world, attendee_ids=[member.id], backfill=True, evidence="会议记录第 12 页"),
                             world["branch_secretary"], NOW)
    db.session.commit()
    offline.approve(session, world["township"], NOW)
    db.session.commit()
    entry = db.session.scalar(select(CreditEntry))
    assert (entry.member_id, entry.source, entry.kind) == (member.id, "backfill", "concentrated")


def test_root_sessions_go_to_admins_only(make):
    root = make.org("县委")
    secretary = make.user(org=root, role=Role.SECRETARY)
    other = make.user(org=root, role=Role.SECRETARY)
    admin = make.user(org=root, role=Role.ADMIN)
    member = make.user(org=root)
    session = offline.submit(offline.SessionData(org=root, held_on=date(2026, 5, 1), hours=2, topic="学习",
                                                 session_type="study", attendee_ids=[member.id]), secretary, NOW)
    db.session.commit()
    assert session.approver_org_id is None
    assert not offline.can_decide(other, session)
    assert offline.can_decide(admin, session)


def test_attachment_checks():
    assert attachments.check("签到表.png", PNG).mimetype == "image/png"
    assert attachments.check("a.PDF", PDF).extension == "pdf"
    with pytest.raises(attachments.AttachmentError, match="JPEG、PNG"):
        attachments.check("a.gif", b"GIF89a")
    with pytest.raises(attachments.AttachmentError, match="不符"):
        attachments.check("a.jpg", PDF)
    with pytest.raises(attachments.AttachmentError, match="空文件"):
        attachments.check("a.pdf", b"")
    with pytest.raises(attachments.AttachmentError, match="10 MB"):
        attachments.check("a.pdf", b"%PDF-" + b"0" * attachments.MAX_BYTES)


def _form(world, **extra):
    body = {"org": world["t"]["a1"].id, "held_on": "2026-05-08", "hours": "2", "topic": "远程教育收看",
            "session_type": "remote_site", "place": "村部", "attendees": [m.id for m in world["members"]]}
    body.update(extra)
    return body


def test_pages_record_reject_resubmit_and_approve(client, auth, world, app):
    auth.login(world["branch_secretary"])
    page = client.get(f"/offline/new?org={world['t']['a1'].id}").get_data(as_text=True)
    assert "东村党员0" in page and "南村党员" not in page
    bad = client.post("/offline/new", data=_form(world, hours="99"))
    assert "最多记 8.00 学时" in bad.get_data(as_text=True)
    broken = client.post("/offline/new", data=_form(world, attachment=(io.BytesIO(b"not a pdf"), "签到表.pdf")),
                         content_type="multipart/form-data")
    assert "附件内容与文件类型不符" in broken.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(OfflineSession)) == 0
    response = client.post("/offline/new", data=_form(world, attachment=(io.BytesIO(PNG), "签到表.png")),
                           content_type="multipart/form-data")
    assert response.status_code == 302
    session = db.session.scalar(select(OfflineSession))
    assert session.attachment_name == "签到表.png" and session.attachment_path.endswith(".png")
    assert "签到表" not in session.attachment_path
    assert client.get(f"/offline/{session.id}/attachment").data == PNG
    detail = client.get(f"/offline/{session.id}").get_data(as_text=True)
    assert "待审批" in detail and "approve-button" not in detail

    auth.logout()
    auth.login(world["sibling_secretary"])
    assert client.get(f"/offline/{session.id}").status_code == 404
    assert client.get(f"/offline/{session.id}/attachment").status_code == 404
    assert client.post(f"/offline/{session.id}/approve").status_code == 404

    auth.logout()
    auth.login(world["general_secretary"])
    listing = client.get("/offline/").get_data(as_text=True)
    assert "待我审批" in listing and "远程教育收看" in listing
    assert client.post(f"/offline/{session.id}/reject", data={"reason": "人数与签到表不符"}).status_code == 302

    auth.logout()
    auth.login(world["branch_secretary"])
    assert "人数与签到表不符" in client.get(f"/offline/{session.id}").get_data(as_text=True)
    assert "人数与签到表不符" in client.get(f"/offline/{session.id}/edit").get_data(as_text=True)
    response = client.post(f"/offline/{session.id}/edit", data=_form(world, attendees=[world["members"][0].id]))
    assert response.status_code == 302

    auth.logout()
    auth.login(world["general_secretary"])
    client.post(f"/offline/{session.id}/approve")
    second = client.post(f"/offline/{session.id}/approve", follow_redirects=True)
    assert "已被处理" in second.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(CreditEntry)) == 1
    assert db.session.scalar(select(func.count()).select_from(OfflineAudit)) == 4
    page = client.get(f"/offline/{session.id}").get_data(as_text=True)
    assert "已通过" in page and "更正后重新提交" in page and "审批通过" in page
    assert client.get(f"/offline/{session.id}/edit", follow_redirects=True).status_code == 200


def test_backfill_page(client, auth, world):
    auth.login(world["branch_secretary"])
    member = world["members"][2]
    assert member.name in client.get(f"/offline/backfill?org={world['t']['a1'].id}&member={member.id}").get_data(as_text=True)
    body = {"org": world["t"]["a1"].id, "member_id": member.id, "held_on": "2026-01-08", "hours": "1",
            "topic": "冬训", "session_type": "seasonal", "place": "", "evidence": ""}
    assert "补录必须填写证明材料说明" in client.post("/offline/backfill", data=body).get_data(as_text=True)
    assert client.post("/offline/backfill", data={**body, "evidence": "冬训签到表"}).status_code == 302
    session = db.session.scalar(select(OfflineSession))
    assert session.backfill and [a.member_id for a in session.attendees] == [member.id]


def test_form_errors_are_in_chinese_and_nothing_is_saved(client, auth, world):
    auth.login(world["branch_secretary"])
    cases = [(dict(hours="两小时"), "请填写数字"), (dict(held_on="5月8日"), "日期格式应为"),
             (dict(attendees=[world["outsider"].id]), "下级组织的在册党员"), (dict(attendees=[]), "至少选择一名")]
    for change, message in cases:
        response = client.post("/offline/new", data=_form(world, **change))
        assert response.status_code == 200 and message in response.get_data(as_text=True), change
    assert db.session.scalar(select(func.count()).select_from(OfflineSession)) == 0


@pytest.mark.parametrize("leaves", ["deactivated", "moved_away", "no_longer_secretary"])
def test_a_record_whose_creator_is_gone_is_taken_over_not_stuck(world, make, leaves):
    """A rejected record only its creator could correct: when the creator can no longer act,
    a secretary in scope who corrects it becomes its creator (audited) and cannot approve it."""
    sec, approver, other = world["branch_secretary"], world["general_secretary"], world["township"]
    session = offline.submit(data(world), sec, NOW)
    offline.reject(session, "签到表缺少第二页", approver, NOW)
    db.session.commit()
    # while the creator can act, someone else's correction is only a proposal
    assert not offline.creator_gone(session)
    if leaves == "deactivated":
        sec.active = False
    elif leaves == "moved_away":
        sec.org = world["t"]["b1"]
    else:
        sec.role = Role.MEMBER
    db.session.commit()
    assert offline.creator_gone(session)
    offline.resubmit(session, data(world, hours=Decimal("2")), other, NOW)
    db.session.commit()
    assert session.state == SessionState.SUBMITTED and session.created_by_id == other.id
    assert session.hours == Decimal("2")
    assert [a.action for a in offline.audit_trail(session)][-2:] == ["take_over", "resubmit"]
    assert not offline.can_decide(other, session)  # took it over: no approving their own values
    assert offline.approve(session, approver, NOW) == 5


def test_a_creator_still_in_place_keeps_the_record(world):
    sec, approver, other = world["branch_secretary"], world["general_secretary"], world["township"]
    session = offline.submit(data(world), sec, NOW)
    offline.reject(session, "签到表缺少第二页", approver, NOW)
    offline.resubmit(session, data(world, hours=Decimal("2")), other, NOW)
    db.session.commit()
    assert session.state == SessionState.RETURNED and session.created_by_id == sec.id


def test_the_page_offers_the_take_over(client, auth, world):
    sec, approver, other = world["branch_secretary"], world["general_secretary"], world["township"]
    session = offline.submit(data(world), sec, NOW)
    offline.reject(session, "签到表缺少第二页", approver, NOW)
    sec.active = False
    db.session.commit()
    auth.login(other)
    page = client.get(f"/offline/{session.id}").get_data(as_text=True)
    assert "接管并修改" in page and "提出修改" not in page
