"""Separation of duties for offline training records.

Reported: QS0003, secretary of the parent organisation, edited a branch's submitted record
from 2 h to 4 h and then approved it ("2 人各记 4.00 学时"). Now only the creator changes a
record's values; anyone else's edit is a proposal that sends the record back to the creator
(退回修改) and leaves the values as they were. Whoever created the record or last changed its
values cannot approve it, and every change is in the audit with its before and after values.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update

from school.accounts.models import Role
from school.credits import ledger, offline
from school.credits.models import CreditEntry, OfflineAudit, OfflineSession, SessionState
from school.extensions import db

NOW = datetime(2026, 5, 10, 2, 0)
LATER = datetime(2026, 5, 10, 3, 0)


@pytest.fixture
def world(make):
    t = make.tree()
    return dict(
        t=t, members=[make.user(org=t["a1"], name=f"东村党员{i}") for i in range(2)],
        creator=make.user(org=t["a1"], role=Role.SECRETARY, name="东村书记", member_no="DC0001"),
        qs0003=make.user(org=t["a"], role=Role.SECRETARY, name="总支书记", member_no="QS0003"),
        township=make.user(org=t["root"], role=Role.SECRETARY, name="镇党委书记"),
        admin=make.user(org=t["root"], role=Role.ADMIN, name="管理员"))


def _form(world, **extra):
    body = {"org": world["t"]["a1"].id, "held_on": "2026-05-08", "hours": "2", "topic": "远程教育收看",
            "session_type": "remote_site", "place": "村部", "attendees": [m.id for m in world["members"]]}
    body.update(extra)
    return body


def _data(world, **overrides):
    values = dict(org=world["t"]["a1"], held_on=date(2026, 5, 8), hours=Decimal("2"), topic="远程教育收看",
                  session_type="remote_site", place="村部", attendee_ids=[m.id for m in world["members"]])
    values.update(overrides)
    return offline.SessionData(**values)


def _record(world) -> OfflineSession:
    session = offline.submit(_data(world), world["creator"], NOW)
    db.session.commit()
    return session


def _fresh(session_id: int) -> OfflineSession:
    db.session.expire_all()
    return db.session.get(OfflineSession, session_id)


def _ledger_rows():
    return list(db.session.scalars(select(CreditEntry).order_by(CreditEntry.member_id)))


def _proposal_id(page: str) -> str:
    return re.search(r'name="proposal" value="([0-9a-f]+)"', page).group(1)


def test_the_reported_scenario_edit_then_approve_is_refused_and_hours_stay(client, auth, world):
    """QS0003 edits 2 h → 4 h and approves: the edit goes back to the creator, the approval is
    refused, the record keeps 2 h and nobody is credited."""
    auth.login(world["creator"])
    assert client.post("/offline/new", data=_form(world)).status_code == 302
    session_id = db.session.scalar(select(OfflineSession.id))
    auth.logout()

    auth.login(world["qs0003"])
    edit_page = client.get(f"/offline/{session_id}/edit").get_data(as_text=True)
    assert "提出修改（退回登记人确认）" in edit_page and "您不是这条记录的登记人" in edit_page
    edited = client.post(f"/offline/{session_id}/edit", data=_form(world, hours="4"), follow_redirects=True)
    assert "退回登记人确认" in edited.get_data(as_text=True)
    session = _fresh(session_id)
    assert session.state == SessionState.RETURNED and session.state_label == "退回修改"
    assert session.hours == Decimal("2.00")  # unchanged until the creator accepts
    assert session.proposed["hours"] == "4.00" and session.proposed_by_id == world["qs0003"].id

    refused = client.post(f"/offline/{session_id}/approve", follow_redirects=True).get_data(as_text=True)
    assert "确认前不能审批" in refused and "各记" not in refused
    assert _fresh(session_id).state == SessionState.RETURNED
    assert _ledger_rows() == []
    assert session_id not in [s.id for s in db.session.scalars(offline.awaiting_decision(world["qs0003"]))]
    page = client.get(f"/offline/{session_id}").get_data(as_text=True)
    assert "approve-button" not in page and "accept-button" not in page and "等待登记人 东村书记 确认" in page


def test_creator_accepts_then_the_other_approves_and_the_ledger_has_the_hours_once(client, auth, world):
    session = _record(world)
    auth.login(world["qs0003"])
    client.post(f"/offline/{session.id}/edit", data=_form(world, hours="4"))
    auth.logout()

    auth.login(world["creator"])
    listing = client.get("/offline/").get_data(as_text=True)
    assert "待我确认的修改" in listing
    page = client.get(f"/offline/{session.id}").get_data(as_text=True)
    proposal = re.search(r'<table class="table changes" id="proposal-table">.*?</table>', page, re.S).group(0)
    assert "学时" in proposal and "2.00" in proposal and "4.00" in proposal
    assert client.post(f"/offline/{session.id}/accept", data={"proposal": "0" * 16},
                       follow_redirects=True).get_data(as_text=True).count("修改内容已更新") == 1
    assert _fresh(session.id).hours == Decimal("2.00")
    assert client.post(f"/offline/{session.id}/accept", data={"proposal": _proposal_id(page)}).status_code == 302
    accepted = _fresh(session.id)
    assert (accepted.state, accepted.hours) == (SessionState.SUBMITTED, Decimal("4.00"))
    assert accepted.changed_by_id == world["creator"].id and accepted.proposed is None
    assert not offline.can_decide(world["creator"], accepted)  # still their own record
    auth.logout()

    auth.login(world["qs0003"])
    page = client.get(f"/offline/{session.id}").get_data(as_text=True)
    seen = re.search(r'name="seen" value="([^"]*)"', page).group(1)
    done = client.post(f"/offline/{session.id}/approve", data={"seen": seen}, follow_redirects=True)
    assert "2 人各记 4.00 学时" in done.get_data(as_text=True)
    client.post(f"/offline/{session.id}/approve", data={"seen": seen})  # a second click credits nothing
    rows = _ledger_rows()
    assert [(r.member_id, r.hours) for r in rows] == [(m.id, Decimal("4.00")) for m in world["members"]]
    assert all(ledger.balance(m, 2026) == Decimal("4.00") for m in world["members"])


def test_a_proposer_cannot_accept_their_own_proposal(client, auth, world):
    session = _record(world)
    auth.login(world["qs0003"])
    client.post(f"/offline/{session.id}/edit", data=_form(world, hours="4"))
    proposal_id = _fresh(session.id).proposed["id"]
    answer = client.post(f"/offline/{session.id}/accept", data={"proposal": proposal_id}, follow_redirects=True)
    assert "只有登记人本人" in answer.get_data(as_text=True)
    assert _fresh(session.id).hours == Decimal("2.00")


def test_creator_edits_again_instead_and_the_proposal_is_dropped(world):
    session = _record(world)
    offline.resubmit(session, _data(world, hours=Decimal("4")), world["qs0003"], NOW)
    db.session.commit()
    offline.resubmit(session, _data(world, hours=Decimal("3")), world["creator"], LATER)
    db.session.commit()
    session = _fresh(session.id)
    assert (session.state, session.hours, session.proposed) == (SessionState.SUBMITTED, Decimal("3.00"), None)
    assert offline.approve(session, world["qs0003"], LATER) == 2
    db.session.commit()
    assert {r.hours for r in _ledger_rows()} == {Decimal("3.00")}
    assert "未采纳总支书记提出的修改" in offline.audit_trail(session)[2].detail


def test_admin_cannot_approve_a_record_they_changed(client, auth, world):
    session = _record(world)
    auth.login(world["admin"])
    client.post(f"/offline/{session.id}/edit", data=_form(world, hours="4"))
    refused = client.post(f"/offline/{session.id}/approve", follow_redirects=True).get_data(as_text=True)
    assert "不能审批" in refused and _ledger_rows() == []
    assert _fresh(session.id).hours == Decimal("2.00")

    # Whoever last set the values — however they came to be recorded as such — cannot decide.
    db.session.execute(update(OfflineSession).where(OfflineSession.id == session.id)
                       .values(state=SessionState.SUBMITTED, changed_by_id=world["admin"].id, proposed=None))
    db.session.commit()
    session = _fresh(session.id)
    assert not offline.can_decide(world["admin"], session)
    assert session.id not in [s.id for s in db.session.scalars(offline.awaiting_decision(world["admin"]))]
    answer = client.post(f"/offline/{session.id}/approve", follow_redirects=True).get_data(as_text=True)
    assert "最后修改学时、日期或参加人员的人不能审批" in answer
    assert client.post(f"/offline/{session.id}/reject", data={"reason": "不对"}).status_code == 302
    assert _fresh(session.id).state == SessionState.SUBMITTED and _ledger_rows() == []
    assert offline.can_decide(world["township"], session)


def test_approval_of_values_changed_after_the_page_was_opened_is_refused(client, auth, world):
    session = _record(world)
    auth.login(world["qs0003"])
    page = client.get(f"/offline/{session.id}").get_data(as_text=True)
    seen = re.search(r'name="seen" value="([^"]*)"', page).group(1)
    offline.resubmit(_fresh(session.id), _data(world, hours=Decimal("8")), world["creator"], LATER)
    db.session.commit()
    answer = client.post(f"/offline/{session.id}/approve", data={"seen": seen}, follow_redirects=True)
    assert "请核对最新内容后再审批" in answer.get_data(as_text=True) and _ledger_rows() == []


def test_the_audit_shows_before_and_after_for_every_change(client, auth, world):
    session = _record(world)
    offline.resubmit(session, _data(world, hours=Decimal("4"), attendee_ids=[world["members"][0].id]),
                     world["qs0003"], NOW)
    db.session.commit()
    offline.accept(_fresh(session.id), _fresh(session.id).proposed["id"], world["creator"], LATER)
    db.session.commit()
    offline.resubmit(_fresh(session.id), _data(world, hours=Decimal("4"), topic="三中全会精神",
                                               attendee_ids=[world["members"][0].id]), world["creator"], LATER)
    db.session.commit()
    trail = offline.audit_trail(_fresh(session.id))
    assert [a.action for a in trail] == ["submit", "propose", "accept", "edit"]
    assert [a.actor_id for a in trail] == [world["creator"].id, world["qs0003"].id, world["creator"].id,
                                           world["creator"].id]
    expected = [{"field": "学时", "before": "2.00", "after": "4.00"},
                {"field": "参加人员", "before": "2 人", "after": "1 人（减少 东村党员1）"}]
    assert trail[1].changes == expected and trail[2].changes == expected
    assert trail[3].changes == [{"field": "主题", "before": "远程教育收看", "after": "三中全会精神"}]
    assert db.session.scalar(select(func.count()).select_from(OfflineAudit)) == 4

    auth.login(world["township"])
    page = client.get(f"/offline/{session.id}").get_data(as_text=True)
    audit = re.search(r'<table class="table" id="audit-table">.*</table>', page, re.S).group(0)
    assert "修改前" in audit and "修改后" in audit and "提出修改（退回登记人确认）" in audit and "登记人采纳修改" in audit
    for cell in ("<td>学时</td><td>2.00</td><td>4.00</td>", "<td>主题</td><td>远程教育收看</td><td>三中全会精神</td>"):
        assert cell in audit
