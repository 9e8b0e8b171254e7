"""Reflections asked by a course or a plan item, through the one code path the class uses:
who may write, the minimum length, who reviews (and who not), hours under the same rule,
the review list over every kind, and a 专题班 as a plan item."""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from school.accounts.models import Role
from school.courses.services import CourseError
from school.credits import keys
from school.credits.models import CreditEntry
from school.extensions import db
from school.notices import plans
from school.timeutil import local_year, utcnow
from school.training import completion, reflections
from school.training.errors import TrainingError
from school.training.models import Reflection, ReflectionState

TEXT = "学习党章，" * 30  # 150 characters that count


def _flash(response) -> str:
    return " ".join(re.findall(r'<p class="flash flash-\w+">([^<]+)</p>', response.get_data(as_text=True)))


@pytest.fixture
def ctx(make):
    t = make.tree()
    now = utcnow()
    course = make.course(title="党章学习", orgs=[t["a"]], reflection_required=True, reflection_min_chars=100)
    plan = make.plan(t["a"], title="第一党总支年度计划", now=now)
    item = plans.add_item(plan, "course", course.id, date(local_year(now), 12, 31), reflection_required=True,
                          reflection_min_chars=50)
    db.session.commit()
    member = make.user(org=t["a1"], name="孙丽")
    return dict(t=t, now=now, course=course, plan=plan, item=item, member=member)


def test_a_course_asks_writes_and_refuses_like_a_class(make, ctx):
    course, member, now = ctx["course"], ctx["member"], ctx["now"]
    reflections.save_draft(course, member, "第二稿", 2, now)
    reflections.save_draft(course, member, "迟到的第一稿", 1, now)
    row = reflections.reflection_of(course, member)
    assert (row.kind, row.target_id, row.body, row.class_id) == ("course", course.id, "第二稿", None)
    with pytest.raises(TrainingError, match="心得体会至少需要 100 字，目前只有 3 字"):
        reflections.submit(course, member, "太短了", now)
    assert reflections.submit(course, member, TEXT, now).state == ReflectionState.SUBMITTED
    with pytest.raises(TrainingError, match="无需重复提交"):
        reflections.submit(course, member, TEXT, now)
    outsider = make.user(org=ctx["t"]["b1"])  # not in the course's audience
    with pytest.raises(TrainingError, match="本课程不面向您，不能提交心得体会"):
        reflections.save_draft(course, outsider, "内容", 1, now)
    plain = make.course(title="不要求心得", orgs=[ctx["t"]["a"]])
    with pytest.raises(TrainingError, match="本课程不要求提交心得体会"):
        reflections.save_draft(plain, member, "内容", 1, now)


def test_a_plan_item_is_written_by_the_members_of_the_plan(make, ctx):
    item, member, now = ctx["item"], ctx["member"], ctx["now"]
    with pytest.raises(TrainingError, match="心得体会至少需要 50 字"):
        reflections.submit(item, member, "短", now)
    row = reflections.submit(item, member, TEXT, now)
    assert (row.kind, row.plan_item_id, row.state) == ("plan", item.id, ReflectionState.SUBMITTED)
    with pytest.raises(TrainingError, match="这项任务不在您的学习计划中"):
        reflections.save_draft(item, make.user(org=ctx["t"]["b1"]), "内容", 1, now)
    # one reflection per member and target: the course's own is a different row
    reflections.submit(ctx["course"], member, TEXT, now)
    db.session.commit()
    assert db.session.scalar(select(func.count(Reflection.id)).where(Reflection.member_id == member.id)) == 2


def test_course_reviewers_are_editors_admins_and_the_members_secretaries(make, ctx):
    t, member, now = ctx["t"], ctx["member"], ctx["now"]
    row = reflections.submit(ctx["course"], member, TEXT, now)
    db.session.commit()
    assert reflections.can_review(make.user(role=Role.EDITOR), row)
    assert reflections.can_review(make.user(org=t["a1"], role=Role.SECRETARY), row)
    assert not reflections.can_review(make.user(org=t["b"], role=Role.SECRETARY), row)
    assert not reflections.can_review(make.user(org=t["a1"]), row)  # a member
    assert not reflections.can_review(member, row)
    editor = make.user(role=Role.EDITOR)
    entry = reflections.review(row, editor, "passed", "联系实际", now)
    db.session.commit()
    assert entry.hours == Decimal("0.50") and entry.idempotency_key == keys.reflection(row.id)
    assert entry.description == "课程《党章学习》心得体会"
    with pytest.raises(TrainingError, match="已经审阅过了"):
        reflections.review(row, editor, "excellent", "", now)


def test_plan_reviewers_are_the_secretaries_of_the_plans_organisation(make, ctx):
    t, member, now = ctx["t"], ctx["member"], ctx["now"]
    row = reflections.submit(ctx["item"], member, TEXT, now)
    db.session.commit()
    assert reflections.can_review(make.user(org=t["a"], role=Role.SECRETARY), row)
    assert reflections.can_review(make.user(org=t["root"], role=Role.SECRETARY), row)
    assert reflections.can_review(make.user(role=Role.ADMIN), row)
    # the branch below the plan's organisation, a sibling, an editor: not theirs to review
    for outsider in (make.user(org=t["a1"], role=Role.SECRETARY), make.user(org=t["b"], role=Role.SECRETARY),
                     make.user(role=Role.EDITOR)):
        assert not reflections.can_review(outsider, row)
        with pytest.raises(TrainingError, match="您不能审阅这篇心得体会"):
            reflections.review(row, outsider, "passed", "", now)
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    with pytest.raises(TrainingError, match="退回修改时请写明需要修改的地方"):
        reflections.review(row, secretary, "returned", "", now)
    assert reflections.review(row, secretary, "returned", "请结合本村实际", now) is None
    db.session.commit()
    reflections.submit(ctx["item"], member, TEXT + "修改后", now)
    entry = reflections.review(row, secretary, "excellent", "很好", now, feature=True)
    db.session.commit()
    assert entry.hours == Decimal("1.00") and not row.featured  # only a class shows excellent ones
    assert entry.description == "学习计划任务《党章学习》心得体会"
    assert db.session.scalar(select(func.count(CreditEntry.id)).where(CreditEntry.source == "reflection")) == 1


def test_the_review_queue_holds_every_kind_in_scope(make, ctx):
    t, member, now = ctx["t"], ctx["member"], ctx["now"]
    cls = make.training_class(t["a"], [t["a"]], now=now, reflection_required=True, reflection_min_chars=10)
    make.enrolment(cls, member, now)
    for target in (cls, ctx["course"], ctx["item"]):
        reflections.submit(target, member, TEXT, now)
    reflections.save_draft(make.course(title="草稿课", orgs=[t["a"]], reflection_required=True),
                           member, "还在写", 1, now)  # drafts are not handed in
    db.session.commit()

    def kinds(actor, kind=None):
        return sorted(r.kind for r in reflections.review_queue(actor, kind))

    assert kinds(make.user(org=t["a"], role=Role.SECRETARY)) == ["class", "course", "plan"]
    assert kinds(make.user(org=t["a"], role=Role.SECRETARY), "plan") == ["plan"]
    assert kinds(make.user(org=t["a1"], role=Role.SECRETARY)) == ["class", "course"]
    assert kinds(make.user(org=t["b"], role=Role.SECRETARY)) == []
    assert kinds(make.user(role=Role.EDITOR)) == ["course"]
    assert kinds(make.user(role=Role.ADMIN)) == ["class", "course", "plan"]
    assert kinds(make.user(org=t["a1"])) == []


def test_course_settings_are_checked(make):
    with pytest.raises(CourseError, match="心得体会最少字数应在 0 到 20000 之间"):
        make.course(reflection_required=True, reflection_min_chars=-1)


def test_a_class_is_a_plan_item_done_when_completed(make):
    t = make.tree()
    now = utcnow()
    cls = make.training_class(t["a"], [t["a"]], now=now, title="党史专题班")
    text = make.class_item(cls, "text")
    plan = make.plan(t["a"], now=now)
    added = plans.add_item(plan, "class", cls.id, date(local_year(now), 12, 31))
    assert (added.kind, added.title) == ("class", "党史专题班")
    hidden = make.training_class(t["a"], [t["a"]], now=now, published=False)
    with pytest.raises(plans.PlanError, match=f"没有编号为 {hidden.id} 的专题班"):
        plans.add_item(plan, "class", hidden.id, date(local_year(now), 12, 31))
    member = make.user(org=t["a1"])
    make.enrolment(cls, member, now)
    [task] = plans.member_tasks(member, now)
    assert not task.done and task.link == f"/training/{cls.id}" and task.kind_label == "专题班"
    completion.mark_text_done(text, member, now)
    assert completion.check_completion(cls, member, now) is not None
    db.session.commit()
    assert plans.member_tasks(member, now)[0].done
    progress = {p.member.id: p.done for p in plans.plan_progress(make.user(role=Role.ADMIN), plan)}
    assert progress[member.id] == 1


# --- through the pages ----------------------------------------------------------------------


def test_course_and_plan_reflections_through_the_pages(client, auth, make, ctx):
    t, course, item, member = ctx["t"], ctx["course"], ctx["item"], ctx["member"]
    auth.login(member)
    assert 'id="course-reflection-link"' in client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert f"/training/reflections/plan/{item.id}" in client.get("/plans").get_data(as_text=True)
    url = f"/training/reflections/course/{course.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'id="reflection-form"' in page and "课程：党章学习" in page and "至少 100 字" in page
    saved = client.post(url + "/autosave", json={"body": "草稿", "revision": 4})
    assert saved.status_code == 200 and saved.json["revision"] == 4
    assert client.post(url + "/autosave", json={"body": "旧稿", "revision": 3}).status_code == 409
    short = client.post(url, data={"body": "太短", "submit": "1"})
    assert short.status_code == 200 and "心得体会至少需要 100 字，目前只有 2 字，已保存为草稿" in _flash(short)
    assert "心得体会已提交，请等待审阅" in _flash(client.post(url, data={"body": TEXT, "submit": "1"},
                                                           follow_redirects=True))
    plan_url = f"/training/reflections/plan/{item.id}"
    assert "心得体会已提交" in _flash(client.post(plan_url, data={"body": TEXT, "submit": "1"}, follow_redirects=True))
    # a course that asks for nothing, a kind that does not exist, a target that does not exist
    plain = make.course(title="普通课", orgs=[t["a"]])
    assert client.get(f"/training/reflections/course/{plain.id}").status_code == 404
    assert client.get(f"/training/reflections/exam/{course.id}").status_code == 404
    assert client.get("/training/reflections/plan/99999").status_code == 404
    auth.logout()

    auth.login(make.user(org=t["a"], role=Role.SECRETARY))
    queue = client.get("/training/manage/reflections").get_data(as_text=True)
    assert "课程《党章学习》" in queue and "学习计划任务《党章学习》" in queue and "孙丽" in queue
    row = db.session.scalar(select(Reflection).where(Reflection.plan_item_id == item.id))
    assert "学习计划任务《党章学习》" in client.get(f"/training/manage/reflections/{row.id}").get_data(as_text=True)
    done = client.post(f"/training/manage/reflections/{row.id}", data={"verdict": "passed", "comment": "好"},
                       follow_redirects=True)
    assert "已审阅：合格，计 0.50 学时" in _flash(done)
    auth.logout()

    auth.login(make.user(org=t["b"], role=Role.SECRETARY))  # another branch's secretary
    assert "孙丽" not in client.get("/training/manage/reflections").get_data(as_text=True)
    assert client.get(f"/training/manage/reflections/{row.id}").status_code == 404


def test_settings_through_the_plan_form(client, auth, make):
    t = make.tree()
    course = make.course(title="村务公开", orgs=[t["a"]])
    plan = make.plan(t["a"])
    auth.login(make.user(org=t["a"], role=Role.SECRETARY))
    due = date(plan.year, 12, 31).isoformat()
    response = client.post(f"/plans/manage/{plan.id}/items", data={
        "kind": "course", "ref_id": course.id, "due_on": due, "reflection_required": "y",
        "reflection_min_chars": "80"}, follow_redirects=True)
    assert "已添加任务“村务公开”" in _flash(response) and "需交心得体会" in response.get_data(as_text=True)
    item = plan.items[0]
    db.session.refresh(item)
    assert (item.reflection_required, item.reflection_min_chars) == (True, 80)


def test_settings_through_the_course_form(client, auth, make):
    from school.courses.models import Course
    t = make.tree()
    auth.login(make.user(role=Role.EDITOR))
    form = {"title": "乡村振兴", "slug": "rural-revival", "track": "theory", "completion_mode": "timed",
            "published": "y", "audience_orgs": [str(t["a"].id)], "reflection_required": "y"}
    assert client.post("/courses/manage/new", data={**form, "reflection_min_chars": "-5"}).status_code == 200
    assert db.session.query(Course).count() == 0
    assert client.post("/courses/manage/new", data={**form, "reflection_min_chars": "120"}).status_code == 302
    course = db.session.query(Course).one()
    assert (course.reflection_required, course.reflection_min_chars) == (True, 120)
    assert "心得体会最少字数" in client.get(f"/courses/manage/{course.id}").get_data(as_text=True)


def test_home_lists_course_and_plan_reflections_to_write_or_revise(client, auth, make, ctx):
    from school.courses.models import CourseCompletion
    t, course, item, member, now = ctx["t"], ctx["course"], ctx["item"], ctx["member"], ctx["now"]
    plan_link, course_link = f"/training/reflections/plan/{item.id}", f"/training/reflections/course/{course.id}"

    def home():
        page = client.get("/").get_data(as_text=True)
        return page.split('id="my-reflections"')[1].split("</section>")[0] if 'id="my-reflections"' in page else ""

    auth.login(member)
    section = home()
    # The plan item asks for one; the course not yet (not completed, nothing begun).
    assert plan_link in section and "待写" in section and course_link not in section
    db.session.add(CourseCompletion(member_id=member.id, course_id=course.id, completed_at=now))
    db.session.commit()
    assert course_link in home()
    # Submitted: no longer waiting for the member. Returned: listed first, with the comment.
    reflections.submit(item, member, TEXT, now)
    row = reflections.submit(course, member, TEXT, now)
    db.session.commit()
    assert home() == ""
    reflections.review(row, make.user(role=Role.ADMIN), "returned", "请联系实际再写", now)
    db.session.commit()
    section = home()
    assert course_link in section and "退回修改" in section and "请联系实际再写" in section
    assert plan_link not in section
    assert [p.kind for p in reflections.pending_for(member, now)] == ["course"]
    # A draft begun for a course not completed is listed too; nobody else sees these.
    other = make.course(title="乡村振兴", orgs=[t["a"]], reflection_required=True)
    reflections.save_draft(other, member, "开头", 1, now)
    db.session.commit()
    assert [(p.title, p.state_label) for p in reflections.pending_for(member, now)] == [
        ("党章学习", "退回修改"), ("乡村振兴", "草稿未提交")]
    auth.logout()
    auth.login(make.user(org=t["b1"], name="外单位"))
    assert home() == ""
