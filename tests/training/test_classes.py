"""Creating classes: scope (a secretary organises only for what they manage), the checks,
content order, who sees and who manages a class."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from school.accounts.models import Role
from school.extensions import db
from school.training import classes
from school.training.errors import TrainingError

T0 = datetime(2026, 3, 1, 2, 0)


def data(**fields):
    base = dict(title="党史学习教育专题班", starts_at=T0, ends_at=T0 + timedelta(days=30), enrol_opens_at=T0,
                enrol_closes_at=T0 + timedelta(days=10), hours=Decimal("4"))
    base.update(fields)
    return classes.ClassData(**base)


def test_a_township_secretary_creates_a_class_for_two_branches(make):
    t = make.tree()
    secretary = make.user(org=t["root"], role=Role.SECRETARY)
    cls = classes.save_class(data(org_id=t["root"].id, audience_org_ids=(t["a1"].id, t["b1"].id)), secretary, T0)
    db.session.commit()
    assert cls.organiser_name == "青山镇党委" and {o.name for o in cls.audience_orgs} == {"东村党支部", "南村党支部"}
    assert classes.in_audience(cls, make.user(org=t["a1"])) and not classes.in_audience(cls, make.user(org=t["a2"]))


@pytest.mark.parametrize("fields,message", [
    (dict(org_id="b", audience_org_ids=("a1",)), "只能以您管理范围内的党组织名义举办专题班"),
    (dict(org_id="root", audience_org_ids=("a1",)), "只能以您管理范围内的党组织名义举办专题班"),
    (dict(org_id="a", audience_org_ids=("a1", "b1")), "“南村党支部”不在您的管理范围内，不能作为专题班的面向对象"),
    (dict(org_id="a", audience_org_ids=()), "请选择面向的党组织：您只能面向管理范围内的党组织举办专题班"),
    (dict(org_id=None, audience_org_ids=("a1",)), "只能以您管理范围内的党组织名义举办专题班"),
])
def test_a_secretary_cannot_organise_outside_their_scope(make, fields, message):
    t = make.tree()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    org = t[fields["org_id"]].id if fields["org_id"] else None
    with pytest.raises(TrainingError, match=message):
        classes.save_class(data(org_id=org, audience_org_ids=tuple(t[k].id for k in fields["audience_org_ids"])),
                           secretary, T0)


@pytest.mark.parametrize("fields,message", [
    (dict(title="  "), "请填写专题班名称"),
    (dict(ends_at=T0), "学习结束时间必须晚于开始时间"),
    (dict(enrol_closes_at=T0), "报名截止时间必须晚于报名开始时间"),
    (dict(enrol_closes_at=T0 + timedelta(days=31)), "报名截止时间不能晚于学习结束时间"),
    (dict(capacity=0), "名额至少为 1 人"),
    (dict(hours=Decimal("-1")), "结业学时应在 0 到 200 之间"),
    (dict(exam_id=999), "找不到编号为 999 的考试"),
])
def test_checks_in_chinese(make, fields, message):
    admin = make.user(role=Role.ADMIN)
    with pytest.raises(TrainingError, match=message):
        classes.save_class(data(**fields), admin, T0)


def test_capacity_cannot_drop_below_the_members_enrolled(make):
    t = make.tree()
    cls = make.training_class(t["root"], [t["a"]], now=T0, capacity=5)
    for _ in range(2):
        make.enrolment(cls, make.user(org=t["a1"]), T0)
    with pytest.raises(TrainingError, match="已有 2 人参加，名额不能少于这个人数"):
        classes.save_class(data(org_id=t["root"].id, audience_org_ids=(t["a"].id,), capacity=1),
                           make.user(role=Role.ADMIN), T0, cls)


def test_content_in_order_and_the_rule_checked(make):
    t = make.tree()
    cls = make.training_class(t["root"], [t["a"]], now=T0, electives_required=2)
    admin = make.user(role=Role.ADMIN)
    course = make.course(title="课程甲")
    make.document("文献乙")
    first = classes.add_item(cls, admin, "course", True, course_id=course.id)
    second = classes.add_item(cls, admin, "document", False, document_ref="文献乙")
    third = classes.add_item(cls, admin, "text", False, title="材料丙", body="正文")
    db.session.commit()
    assert [i.display_title for i in cls.items] == ["课程甲", "文献乙", "材料丙"]
    classes.move_item(third, admin, "up")
    db.session.commit()
    db.session.refresh(cls)
    assert [i.id for i in cls.items] == [first.id, third.id, second.id]
    assert classes.rule_problems(cls) == []
    classes.delete_item(second, admin)
    db.session.commit()
    db.session.refresh(cls)
    assert classes.rule_problems(cls) == ["要求至少完成 2 个选学项目，但只有 1 个选学项目"]
    with pytest.raises(TrainingError, match="图书馆中找不到文献“不存在”"):
        classes.add_item(cls, admin, "document", True, document_ref="不存在")
    with pytest.raises(TrainingError, match="学习材料需要标题和正文"):
        classes.add_item(cls, admin, "text", True, title="", body="")


def test_the_library_is_told_a_class_uses_a_document(make):
    from school.library.services import DOCUMENT_USES
    t = make.tree()
    cls = make.training_class(t["root"], [t["a"]], now=T0, title="专题班甲")
    doc = make.document("文献乙")
    make.class_item(cls, "document", document_ref=str(doc.id))
    assert [use for uses in DOCUMENT_USES for use in uses(doc.id)] == ["专题班《专题班甲》的学习内容"]


@pytest.mark.parametrize("role,org,manages,roster", [
    (Role.ADMIN, "root", True, True),
    (Role.SECRETARY, "root", True, True),
    (Role.SECRETARY, "a", False, True),  # the audience reaches into A
    (Role.SECRETARY, "a1", False, True),
    (Role.SECRETARY, "b", False, False),
    (Role.MEMBER, "a1", False, False),
    (Role.EDITOR, "root", False, False),
])
def test_who_manages_and_who_reads_the_roster(make, role, org, manages, roster):
    t = make.tree()
    cls = make.training_class(t["root"], [t["a"]], now=T0)
    actor = make.user(org=t[org], role=role)
    assert classes.can_manage(actor, cls) == manages
    assert classes.can_read_roster(actor, cls) == roster
