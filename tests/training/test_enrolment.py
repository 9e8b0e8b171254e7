"""Enrolment: the window (table-driven with explicit ``now``), capacity (also under parallel
enrolments, on both databases), approval, withdrawal, double clicks, automatic classes."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from school.accounts.models import Role
from school.extensions import db
from school.training import enrolment
from school.training.errors import TrainingError
from school.training.models import Enrolment, EnrolState, TrainingClass

T0 = datetime(2026, 3, 1, 2, 0)  # 10:00 in Shanghai


def _cls(make, t, **fields):
    return make.training_class(t["root"], [t["a"]], now=T0, enrol_opens_at=T0, enrol_closes_at=T0 + timedelta(days=10),
                               starts_at=T0, ends_at=T0 + timedelta(days=30), **fields)


@pytest.mark.parametrize("offset,reason", [
    (timedelta(minutes=-1), "报名尚未开始，2026-03-01 10:00 开始报名"),
    (timedelta(0), None),
    (timedelta(days=5), None),
    (timedelta(days=10, seconds=-1), None),
    (timedelta(days=10), "报名已于 2026-03-11 10:00 截止，不能再报名"),
    (timedelta(days=20), "报名已于 2026-03-11 10:00 截止，不能再报名"),
])
def test_the_enrolment_window(make, offset, reason):
    t = make.tree()
    cls, member = _cls(make, t), make.user(org=t["a1"])
    assert enrolment.why_not_enrol(cls, member, T0 + offset) == reason
    if reason:
        with pytest.raises(TrainingError, match=reason):
            enrolment.enrol(cls, member, T0 + offset)
    else:
        assert enrolment.enrol(cls, member, T0 + offset).state == EnrolState.ENROLLED


def test_outside_the_audience_and_unpublished(make):
    t = make.tree()
    cls = _cls(make, t)
    assert enrolment.why_not_enrol(cls, make.user(org=t["b1"]), T0) == "您不在本专题班的面向范围内"
    hidden = _cls(make, t, published=False)
    assert enrolment.why_not_enrol(hidden, make.user(org=t["a1"]), T0) == "专题班尚未发布"


@pytest.mark.parametrize("floating,member_floating,ok", [
    ("all", True, True), ("all", False, True), ("only", True, True), ("only", False, False),
    ("exclude", True, False), ("exclude", False, True),
])
def test_floating_members(make, floating, member_floating, ok):
    t = make.tree()
    cls = _cls(make, t, floating=floating)
    member = make.user(org=t["a1"], is_floating=member_floating)
    assert (enrolment.why_not_enrol(cls, member, T0) is None) == ok


def test_over_capacity_is_refused_with_the_reason(make):
    t = make.tree()
    cls = _cls(make, t, capacity=2)
    for _ in range(2):
        enrolment.enrol(cls, make.user(org=t["a1"]), T0)
    db.session.commit()
    with pytest.raises(TrainingError, match="本专题班名额已满（共 2 个名额），不能再报名"):
        enrolment.enrol(cls, make.user(org=t["a1"]), T0)


def test_parallel_enrolments_never_exceed_the_capacity(app, make):
    t = make.tree()
    cls = _cls(make, t, capacity=3)
    members = [make.user(org=t["a1"]).id for _ in range(8)]
    class_id = cls.id
    barrier = threading.Barrier(len(members))
    outcomes, errors = [], []

    def worker(member_id):
        from school.accounts.models import User
        with app.app_context():
            try:
                barrier.wait()
                enrolment.enrol(db.session.get(TrainingClass, class_id), db.session.get(User, member_id), T0)
                db.session.commit()
                outcomes.append("ok")
            except TrainingError as exc:
                db.session.rollback()
                outcomes.append(str(exc))
            except Exception as exc:  # collected and asserted below
                errors.append(repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(m,)) for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert outcomes.count("ok") == 3
    assert sorted(set(outcomes) - {"ok"}) == ["本专题班名额已满（共 3 个名额），不能再报名"]
    db.session.expire_all()
    assert db.session.get(TrainingClass, class_id).seats_taken == 3
    assert db.session.scalar(select(func.count(Enrolment.id)).where(
        Enrolment.class_id == class_id, Enrolment.state == EnrolState.ENROLLED)) == 3


def test_a_double_click_enrols_once(make):
    t = make.tree()
    cls, member = _cls(make, t, capacity=5), make.user(org=t["a1"])
    enrolment.enrol(cls, member, T0)
    db.session.commit()
    with pytest.raises(TrainingError, match="您已参加本专题班"):
        enrolment.enrol(cls, member, T0)
    db.session.rollback()
    assert cls.seats_taken == 1


def test_approval_takes_a_seat_only_when_approved(make):
    t = make.tree()
    cls = _cls(make, t, capacity=1, enrol_mode="approval")
    secretary = make.user(org=t["root"], role=Role.SECRETARY)
    first, second = make.user(org=t["a1"]), make.user(org=t["a2"])
    row1, row2 = enrolment.enrol(cls, first, T0), enrolment.enrol(cls, second, T0)
    db.session.commit()
    assert row1.state == row2.state == EnrolState.PENDING and cls.seats_taken == 0
    assert enrolment.why_not_enrol(cls, first, T0) == "您已报名，正在等待主办单位审核"
    enrolment.approve(row1, secretary, T0)
    db.session.commit()
    with pytest.raises(TrainingError, match="名额已满（共 1 个名额），不能再批准报名"):
        enrolment.approve(row2, secretary, T0)
    db.session.rollback()
    with pytest.raises(TrainingError, match="请填写不予通过的原因"):
        enrolment.reject(row2, secretary, " ", T0)
    enrolment.reject(row2, secretary, "名额已满", T0)
    db.session.commit()
    assert row2.state == EnrolState.REJECTED
    with pytest.raises(TrainingError, match="这条报名已经处理过了"):
        enrolment.approve(row2, secretary, T0)


def test_a_branch_secretary_cannot_decide_a_township_class(make):
    t = make.tree()
    cls = _cls(make, t, enrol_mode="approval")
    row = enrolment.enrol(cls, make.user(org=t["a1"]), T0)
    with pytest.raises(TrainingError, match="只有主办单位可以审核报名"):
        enrolment.approve(row, make.user(org=t["a"], role=Role.SECRETARY), T0)


def test_withdrawal_gives_the_seat_back_and_allows_enrolling_again(make):
    t = make.tree()
    cls, member = _cls(make, t, capacity=1), make.user(org=t["a1"])
    row = enrolment.enrol(cls, member, T0)
    enrolment.withdraw(row, member, T0)
    db.session.commit()
    assert row.state == EnrolState.WITHDRAWN and cls.seats_taken == 0
    with pytest.raises(TrainingError, match="您已不在本专题班中"):
        enrolment.withdraw(row, member, T0)
    db.session.rollback()
    other = make.user(org=t["a1"])
    enrolment.enrol(cls, other, T0)
    db.session.commit()
    with pytest.raises(TrainingError, match="名额已满"):
        enrolment.enrol(cls, member, T0)


def test_automatic_classes_enrol_the_audience(make):
    t = make.tree()
    cls = _cls(make, t, enrol_mode="auto")
    inside, outside = make.user(org=t["a1"]), make.user(org=t["b1"])
    admin = make.user(org=t["root"], role=Role.ADMIN)
    assert enrolment.sync_auto(cls, admin, T0) >= 1
    db.session.commit()
    assert enrolment.enrolment_of(cls, inside).state == EnrolState.ENROLLED
    assert enrolment.enrolment_of(cls, outside) is None
    # a member who withdrew is not enrolled again
    enrolment.withdraw(enrolment.enrolment_of(cls, inside), inside, T0)
    enrolment.sync_auto(cls, admin, T0)
    assert enrolment.ensure_auto(cls, inside, T0).state == EnrolState.WITHDRAWN


def _elsewhere(app, work):
    """``work()`` in a request of its own (its own session and connection), finished before returning."""
    errors = []

    def run():
        with app.app_context():
            try:
                work()
                db.session.commit()
            except Exception as exc:  # asserted below
                errors.append(repr(exc))
            finally:
                db.session.remove()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert errors == []


def test_seats_taken_equals_enrolled_count_after_enrol_approve_reject_withdraw(app, make):
    t = make.tree()
    cls = _cls(make, t, capacity=3, enrol_mode="approval")
    secretary = make.user(org=t["root"], role=Role.SECRETARY)
    first, second, third = (make.user(org=t["a1"]) for _ in range(3))
    rows = [enrolment.enrol(cls, m, T0) for m in (first, second, third)]
    db.session.commit()
    enrolment.approve(rows[0], secretary, T0)
    db.session.commit()
    row_id, secretary_id = rows[1].id, secretary.id
    # The second member's withdrawal read the row while it was pending; the secretary approved
    # it a moment before the withdrawal's UPDATE. The seat the approval took is given back.
    assert rows[1].state == EnrolState.PENDING
    _elsewhere(app, lambda: enrolment.approve(db.session.get(Enrolment, row_id),
                                              db.session.get(type(secretary), secretary_id), T0))
    enrolment.withdraw(rows[1], second, T0)
    db.session.commit()
    enrolment.reject(rows[2], secretary, "不符合条件", T0)
    enrolment.withdraw(rows[0], first, T0)
    db.session.commit()
    enrolment.enrol(cls, second, T0)
    db.session.commit()
    db.session.expire_all()
    enrolled = db.session.scalar(select(func.count(Enrolment.id)).where(
        Enrolment.class_id == cls.id, Enrolment.state == EnrolState.ENROLLED))
    assert db.session.get(TrainingClass, cls.id).seats_taken == enrolled == 0
    assert {r.state for r in db.session.scalars(select(Enrolment))} == {EnrolState.WITHDRAWN, EnrolState.REJECTED,
                                                                        EnrolState.PENDING}
