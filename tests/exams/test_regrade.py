"""Regrading a choice question after an answer-key fix: scores recomputed, credit reversed or
awarded through the ledger, one audit row; bad input refused."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from school.accounts.models import Role
from school.credits.models import CreditEntry
from school.exams import attempts
from school.exams.models import Attempt, Question, Regrade
from school.extensions import db
from school.timeutil import utcnow


def _exam(make):
    key = Question(qtype="single", stem="党的最高理想？", points=Decimal("1"),
                   data={"options": [{"text": "共产主义", "weight": 0}, {"text": "小康", "weight": 100}]})  # wrong key
    db.session.add(key)
    db.session.commit()
    return make.exam([key], attempts_allowed=1), key


def _take(make, exam, key, choice):
    member = make.user(org=make.org())
    now = utcnow()
    attempt = make.attempt(exam, member, now)
    shown = attempt.layout[0]["opts"].index(choice)
    attempts.submit(attempt, member, [{"question": key.id, "response": {"choice": shown}, "rev": 1}], now)
    return member


def test_key_fix_reverses_and_awards_credit_with_an_audit_row(client, auth, make):
    exam, key = _exam(make)
    right = _take(make, exam, key, 0)  # answered 共产主义: marked wrong under the bad key
    wrong = _take(make, exam, key, 1)  # answered 小康: marked right under the bad key
    assert db.session.scalar(select(func.count()).select_from(CreditEntry)) == 1
    key.data = {"options": [{"text": "共产主义", "weight": 100}, {"text": "小康", "weight": 0}]}
    db.session.commit()
    editor = make.user(role=Role.EDITOR)
    auth.login(editor)
    refused = client.post(f"/exams/bank/questions/{key.id}/regrade", data={"reason": "  "})
    assert refused.status_code == 302 and db.session.scalar(select(func.count()).select_from(Regrade)) == 0
    response = client.post(f"/exams/bank/questions/{key.id}/regrade", data={"reason": "答案更正为 A"})
    assert response.status_code == 302
    assert "补记学时 1 人" in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    by_member = {a.member_id: a for a in db.session.scalars(select(Attempt))}
    assert (by_member[right.id].score, by_member[right.id].passed) == (Decimal("1.00"), True)
    assert (by_member[wrong.id].score, by_member[wrong.id].passed) == (Decimal("0.00"), False)
    balance = dict(db.session.execute(select(CreditEntry.member_id, func.sum(CreditEntry.hours)).group_by(
        CreditEntry.member_id)).all())
    assert balance[right.id] > 0 and balance[wrong.id] == 0  # reversed, not deleted
    assert db.session.scalar(select(func.count()).select_from(CreditEntry)) == 3
    audit = db.session.scalar(select(Regrade))
    assert (audit.credits_awarded, audit.credits_reversed, len(audit.changes), audit.actor_id) == (1, 1, 2, editor.id)
    # Regrading again changes nothing and moves no credit.
    client.post(f"/exams/bank/questions/{key.id}/regrade", data={"reason": "再核对一次"})
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(CreditEntry)) == 3
    last = db.session.scalars(select(Regrade).order_by(Regrade.id.desc())).first()
    assert (last.changes, last.credits_awarded, last.credits_reversed) == ([], 0, 0)
