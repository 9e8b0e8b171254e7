"""学习计划: items with due dates for a subtree; done by course completion or reading; home page
sections (本月任务, overdue); the branch report's columns; scope."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from school.accounts.models import Role
from school.courses.models import CourseCompletion
from school.credits import reports
from school.extensions import db
from school.library import reading
from school.notices import plans
from school.timeutil import local_to_utc

NOW = local_to_utc(datetime(2026, 6, 15, 10, 0))


def _setup(make):
    t = make.tree()
    member = make.user(org=t["a1"], name="张三")
    course = make.course(title="党章学习", orgs=[t["root"]])
    doc = make.document("中国共产党章程")
    plan = make.plan(t["a"], year=2026, now=NOW, items=[("course", course.id, date(2026, 5, 31)),
                                                        ("document", doc.id, date(2026, 6, 30)),
                                                        ("document", make.document("条例").id, date(2026, 9, 30))])
    return t, member, course, doc, plan


def test_tasks_done_by_completion_and_reading_overdue_and_this_month(make):
    t, member, course, doc, _ = _setup(make)
    tasks = {task.item.title: task for task in plans.member_tasks(member, NOW)}
    assert tasks["党章学习"].overdue and not tasks["党章学习"].done
    assert tasks["中国共产党章程"].this_month and not tasks["中国共产党章程"].overdue
    assert not tasks["条例"].this_month and not tasks["条例"].overdue
    home = plans.home_tasks(member, NOW)
    assert [x.item.title for x in home["overdue"]] == ["党章学习"]
    assert [x.item.title for x in home["month"]] == ["中国共产党章程"]

    db.session.add(CourseCompletion(member_id=member.id, course_id=course.id, completed_at=NOW))
    reading.remember_position(member, doc, "", 0.3, NOW)
    db.session.commit()
    home = plans.home_tasks(member, NOW)
    assert home["overdue"] == [] and home["month"] == [] and (home["done"], home["total"]) == (2, 3)
    # Someone in another subtree has no such plan.
    assert plans.member_tasks(make.user(org=t["b1"]), NOW) == []


def test_plan_progress_per_member_in_one_statement(make):
    """Each active member of the subtree, in the secretary's scope, with what they did and miss;
    done things of other courses or of members elsewhere do not count."""
    t, member, course, doc, plan = _setup(make)
    both = make.user(org=t["a2"], name="李四")
    make.user(org=t["a1"], name="停用", active=False)
    outsider = make.user(org=t["b1"], name="王五")
    other_course = make.course(title="别的课", orgs=[t["root"]])
    for who, what in ((both, course.id), (member, other_course.id), (outsider, course.id)):
        db.session.add(CourseCompletion(member_id=who.id, course_id=what, completed_at=NOW))
    reading.remember_position(both, doc, "", 0.3, NOW)
    db.session.commit()
    titles = lambda p: [i.title for i in p.missing]  # noqa: E731
    secretary = make.user(org=t["a"], role=Role.SECRETARY, name="书记")  # a member of the subtree too
    for actor in (make.user(role=Role.ADMIN), secretary):
        progress = {p.member.name: p for p in plans.plan_progress(actor, plan)}
        assert set(progress) == {"张三", "李四", "书记"}
        assert (progress["张三"].done, titles(progress["张三"])) == (0, ["党章学习", "中国共产党章程", "条例"])
        assert (progress["李四"].done, titles(progress["李四"])) == (2, ["条例"])
        assert progress["李四"].member.org_name == "西村党支部"
    narrow = plans.plan_progress(make.user(org=t["a1"], role=Role.SECRETARY, name="支书"), plan)
    assert sorted(p.member.name for p in narrow) == sorted(["张三", "支书"])


def test_home_page_shows_this_month_and_overdue(client, auth, make, monkeypatch):
    _, member, _, _, _ = _setup(make)
    monkeypatch.setattr("school.notices.views.utcnow", lambda: NOW)
    auth.login(member)
    page = client.get("/").get_data(as_text=True)
    assert "本月任务" in page and 'id="overdue-tasks"' in page and "党章学习" in page and "已逾期" in page
    assert "中国共产党章程" in page
    mine = client.get("/plans").get_data(as_text=True)
    assert "条例" in mine


def test_report_gains_plan_columns_per_organisation(make):
    t, member, course, doc, _ = _setup(make)
    make.user(org=t["a2"])
    make.user(org=t["b1"])
    db.session.add(CourseCompletion(member_id=member.id, course_id=course.id, completed_at=NOW))
    db.session.commit()
    report = reports.org_report(t["root"], reports.Period(year=2026))
    assert {"学习计划任务", "已完成计划任务"} <= {m.label for m in report.metrics}
    lines = {line.name: line for line in report.children}
    assert lines["第一党总支"].metrics["plan_items"] == 6  # two members × three items
    assert lines["第一党总支"].metrics["plan_done"] == 1
    assert lines["第二党总支"].metrics["plan_items"] == 0
    assert reports.org_report(t["root"], reports.Period(year=2025)).total.metrics["plan_items"] == 0


def test_adding_items_is_checked(make):
    t = make.tree()
    plan = make.plan(t["a"], year=2026, now=NOW)
    with pytest.raises(plans.PlanError, match="没有编号为 999 的课程"):
        plans.add_item(plan, "course", 999, date(2026, 5, 1))
    with pytest.raises(plans.PlanError, match="完成期限应在 2026 年内"):
        plans.add_item(plan, "document", make.document().id, date(2027, 1, 1))
    draft = make.document("草稿", status="draft")
    with pytest.raises(plans.PlanError, match="没有编号为"):
        plans.add_item(plan, "document", draft.id, date(2026, 5, 1))
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    with pytest.raises(plans.PlanError, match="只能为您管理范围内的党组织制定学习计划"):
        plans.create_plan(secretary, t["b"], 2026, "越权", NOW)


def test_item_kinds_are_a_registry_other_packages_extend(make, monkeypatch):
    monkeypatch.setitem(plans.ITEM_KINDS, "exam", plans.ItemKind(
        "exam", "考试", lambda ref: (ref, f"考试{ref}"),
        lambda: __import__("sqlalchemy").select(
            __import__("sqlalchemy").literal(-1).label("member_id"), __import__("sqlalchemy").literal(-1)
            .label("ref_id")), lambda ref: f"/exams/{ref}"))
    t = make.tree()
    plan = make.plan(t["a"], year=2026, now=NOW, items=[("exam", 5, date(2026, 6, 20))])
    member = make.user(org=t["a"])
    assert [(x.kind_label, x.link, x.done) for x in plans.member_tasks(member, NOW)] == [("考试", "/exams/5", False)]
    del plan


def test_plan_pages_scope_and_reminder(client, auth, make):
    t, member, course, _, plan = _setup(make)
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    auth.login(secretary)
    page = client.get(f"/plans/manage/{plan.id}").get_data(as_text=True)
    assert "张三" in page and 'id="remind-form"' in page and "党章学习（逾期）" in page or "党章学习" in page
    response = client.post(f"/plans/manage/{plan.id}/items", data={"kind": "course", "ref_id": 12345,
                                                                     "due_on": "2026-10-01"}, follow_redirects=True)
    assert "没有编号为 12345 的课程" in response.get_data(as_text=True)
    other = make.plan(t["b"], year=2026, now=NOW)
    assert client.get(f"/plans/manage/{other.id}").status_code == 404
    refused = client.post("/plans/manage/new", data={"org_id": t["b"].id, "year": 2026, "title": "越权"})
    assert "只能为您管理范围内的党组织制定学习计划" in refused.get_data(as_text=True)
    created = client.post("/plans/manage/new", data={"org_id": t["a1"].id, "year": 2026, "title": "支部计划"})
    assert created.status_code == 302
    del member, course


def test_plan_page_is_paged_and_reminds_everyone_behind_within_scope(client, auth, make, monkeypatch):
    """A county's plan lists 100,000 members: one page of them is rendered (the counts cover
    all), and one box sends the reminder to everyone behind — computed by the server within
    the sender's scope, so a forged plan id of another subtree is 404 and sends nothing."""
    import json

    from sqlalchemy import func, select

    from school import paging
    from school.library.models import Document
    from school.notices import services
    from school.notices.models import Reminder

    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    t, member, course, _, plan = _setup(make)
    others = [make.user(org=t["a2"], name=f"李{i}") for i in range(3)]
    done = make.user(org=t["a1"], name="王已完成")
    for item in plan.items:  # one member has done everything
        if item.kind == "course":
            db.session.add(CourseCompletion(member_id=done.id, course_id=item.ref_id, completed_at=NOW))
        else:
            reading.remember_position(done, db.session.get(Document, item.ref_id), "", 1.0, NOW)
    db.session.commit()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    auth.login(secretary)
    url = f"/plans/manage/{plan.id}"
    first = client.get(url).get_data(as_text=True)
    # the secretary is a member of the plan's subtree too: 6 members, 5 behind
    assert "共 <strong>6</strong> 名党员，<strong>5</strong> 人未完成" in first
    progress_table = first[first.index('id="plan-progress"'):].split("</table>")[0]
    assert progress_table.count("<tr><td>") == 2 and f'href="{url}?page=2"' in first
    behind = client.get(f"{url}?behind=1&page=2").get_data(as_text=True)
    assert "王已完成" not in behind and f'href="{url}?page=1&amp;behind=1"' in behind
    assert 'name="everyone_behind"' in behind and "提醒全部 <strong>5</strong> 名未完成的党员" in behind

    form = {"title": "计划提醒", "text": "请完成学习计划", "token": services.new_token(),
            "source": f"plan:{plan.id}", "everyone_behind": "1", "back": url}
    assert client.post("/reminders/send", data=form).status_code == 302
    sent = db.session.scalar(select(Reminder).order_by(Reminder.id.desc()))
    assert sorted(json.loads(sent.member_ids)) == sorted([member.id, secretary.id] + [o.id for o in others])
    # Another subtree's plan named in the form: 404, nothing sent.
    elsewhere = make.plan(t["b"], year=2026, now=NOW, items=[("course", course.id, date(2026, 5, 31))])
    make.user(org=t["b1"], name="南村党员")
    count = db.session.scalar(select(func.count(Reminder.id)))
    forged = client.post("/reminders/send", data={**form, "token": services.new_token(),
                                                  "source": f"plan:{elsewhere.id}"})
    assert forged.status_code == 404
    assert db.session.scalar(select(func.count(Reminder.id))) == count
