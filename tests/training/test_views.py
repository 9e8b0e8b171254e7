"""The pages through the client: creating a class, enrolling (and each refusal's message),
studying, the reflection form and its autosave, certificates, the public verify page."""
from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, func, select

from school.accounts.models import Role
from school.extensions import db
from school.timeutil import to_local, utcnow
from school.training.models import Certificate, Enrolment, Reflection, TrainingClass

TEXT = "不忘初心，牢记使命。" * 12


@contextmanager
def count_queries():
    statements = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def _flash(response) -> str:
    return " ".join(re.findall(r'<p class="flash flash-\w+">([^<]+)</p>', response.get_data(as_text=True)))


def test_a_secretary_creates_a_class_through_the_form(client, auth, make):
    t = make.tree()
    secretary = make.user(org=t["root"], role=Role.SECRETARY)
    auth.login(secretary)
    today = to_local(utcnow()).date()
    form = {"title": "学习二十大精神专题班", "theme": "二十大", "description": "**重点**", "org_id": t["root"].id,
            "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=20)).isoformat(),
            "enrol_opens_on": today.isoformat(), "enrol_closes_on": (today + timedelta(days=5)).isoformat(),
            "enrol_mode": "open", "capacity": "30", "audience_orgs": [t["a1"].id, t["b1"].id], "floating": "all",
            "electives_required": "0", "hours": "4", "credit_kind": "online", "reflection_min_chars": "300",
            "published": "y"}
    response = client.post("/training/manage/new", data=form, follow_redirects=True)
    assert "专题班已保存" in _flash(response)
    cls = db.session.scalar(select(TrainingClass))
    assert cls.capacity == 30 and {o.id for o in cls.audience_orgs} == {t["a1"].id, t["b1"].id}
    assert cls.hours == Decimal("4.00") and cls.published
    # the day the enrolment closes is included
    assert to_local(cls.enrol_closes_at).date() == today + timedelta(days=6)


def test_a_branch_secretary_is_told_why_outside_their_scope(client, auth, make):
    t = make.tree()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    auth.login(secretary)
    today = to_local(utcnow()).date()
    response = client.post("/training/manage/new", data={
        "title": "越权专题班", "org_id": t["a"].id, "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=9)).isoformat(), "enrol_opens_on": today.isoformat(),
        "enrol_closes_on": today.isoformat(), "enrol_mode": "open", "audience_orgs": [t["a1"].id, t["b1"].id],
        "floating": "all", "electives_required": "0", "hours": "1", "credit_kind": "online",
        "reflection_min_chars": "0"})
    assert response.status_code == 200
    assert "“南村党支部”不在您的管理范围内，不能作为专题班的面向对象" in _flash(response)
    assert db.session.scalar(select(TrainingClass)) is None
    # the organisations outside the scope are not even offered
    assert "南村党支部" not in response.get_data(as_text=True).split("面向的党组织")[1].split("</fieldset>")[0]


def test_enrolment_refusals_are_explained(client, auth, make):
    t = make.tree()
    now = utcnow()
    late = make.training_class(t["root"], [t["a"]], now=now, enrol_opens_at=now - timedelta(days=5),
                               enrol_closes_at=now - timedelta(days=1), title="已截止")
    full = make.training_class(t["root"], [t["a"]], now=now, capacity=1, title="已满")
    make.enrolment(full, make.user(org=t["a1"]), now)
    member = make.user(org=t["a1"])
    auth.login(member)
    page = client.get(f"/training/{late.id}").get_data(as_text=True)
    assert "报名已于" in page and "截止，不能再报名" in page and "enrol-button" not in page
    response = client.post(f"/training/{late.id}/enrol", follow_redirects=True)
    assert "截止，不能再报名" in _flash(response)
    response = client.post(f"/training/{full.id}/enrol", follow_redirects=True)
    assert _flash(response) == "本专题班名额已满（共 1 个名额），不能再报名"


def test_enrol_study_and_complete_through_the_pages(client, auth, make):
    t = make.tree()
    now = utcnow()
    cls = make.training_class(t["root"], [t["a"]], now=now, hours=Decimal("2"), title="党员教育专题班")
    item = make.class_item(cls, "text", title="开班导学", body="# 导学\n\n内容")
    member = make.user(org=t["a1"], name="张三丰")
    auth.login(member)
    response = client.post(f"/training/{cls.id}/enrol", follow_redirects=True)
    assert "报名成功" in _flash(response)
    response = client.post(f"/training/{cls.id}/enrol", follow_redirects=True)  # a second tap
    assert _flash(response) == "您已参加本专题班"
    home = client.get("/").get_data(as_text=True)
    assert "我的专题班" in home and "继续学习：开班导学" in home
    assert "<h1>导学</h1>" in client.get(f"/training/items/{item.id}").get_data(as_text=True)
    response = client.post(f"/training/items/{item.id}/done", follow_redirects=True)
    assert "恭喜，您已完成本专题班，结业证书已颁发" in _flash(response)
    cert = db.session.scalar(select(Certificate))
    page = client.get("/training/certificates").get_data(as_text=True)
    assert cert.code in page
    pdf = client.get(f"/training/certificates/{cert.id}.pdf")
    assert pdf.status_code in (200, 302)
    if pdf.status_code == 200:
        assert pdf.data.startswith(b"%PDF")
    # another member cannot fetch it
    auth.logout()
    auth.login(make.user(org=t["a1"]))
    assert client.get(f"/training/certificates/{cert.id}.pdf").status_code == 404


def test_the_public_verify_page(client, make):
    t = make.tree()
    now = utcnow()
    cls = make.training_class(t["root"], [t["a"]], now=now, hours=Decimal("3"), title="基层党建专题班")
    item = make.class_item(cls, "text")
    member = make.user(org=t["a1"], name="王小明")
    make.enrolment(cls, member, now)
    from school.training import certificates, completion
    completion.mark_text_done(item, member, now)
    cert = completion.check_completion(cls, member, now)
    db.session.commit()
    page = client.get(f"/verify/{cert.code}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "证书真实有效" in text and "王*明" in text and "王小明" not in text
    assert "基层党建专题班" in text and "3 学时" in text and page.headers["Cache-Control"] == "no-store"
    forged = client.get("/verify/" + "A" * 24)
    assert forged.status_code == 404 and "查无此证书" in forged.get_data(as_text=True)
    assert client.get("/verify/" + "x" * 300).status_code == 404
    certificates.revoke(cert, make.user(role=Role.ADMIN), "错发", now)
    db.session.commit()
    text = client.get(f"/verify/{cert.code}").get_data(as_text=True)
    assert "此证书已被撤销" in text and "证书真实有效" not in text


def test_the_reflection_form_autosave_and_double_submit(client, auth, make):
    t = make.tree()
    now = utcnow()
    cls = make.training_class(t["root"], [t["a"]], now=now, reflection_required=True, reflection_min_chars=50)
    member = make.user(org=t["a1"])
    make.enrolment(cls, member, now)
    auth.login(member)
    page = client.get(f"/training/{cls.id}/reflection").get_data(as_text=True)
    assert 'id="reflection-form"' in page and "/static/js/training-reflection." in page
    saved = client.post(f"/training/{cls.id}/reflection/autosave", json={"body": "草稿一", "revision": 3})
    assert saved.status_code == 200 and saved.json["revision"] == 3
    stale = client.post(f"/training/{cls.id}/reflection/autosave", json={"body": "旧的", "revision": 2})
    assert stale.status_code == 409 and stale.json == {"ok": False, "stale": True, "revision": 3}
    assert db.session.scalar(select(Reflection.body)) == "草稿一"
    assert client.post(f"/training/{cls.id}/reflection/autosave", json={"body": 1}).status_code == 400
    short = client.post(f"/training/{cls.id}/reflection", data={"body": "太短了", "submit": "1"})
    assert short.status_code == 200 and "心得体会至少需要 50 字，目前只有 3 字" in _flash(short)
    assert db.session.scalar(select(Reflection.body)) == "太短了"  # kept as a draft
    first = client.post(f"/training/{cls.id}/reflection", data={"body": TEXT, "submit": "1"}, follow_redirects=True)
    assert "心得体会已提交，请等待审阅" in _flash(first)
    second = client.post(f"/training/{cls.id}/reflection", data={"body": TEXT, "submit": "1"}, follow_redirects=True)
    assert _flash(second) == "心得体会已经提交，正在等待审阅，无需重复提交"
    assert db.session.scalar(select(Reflection.state)) == "submitted"
    late = client.post(f"/training/{cls.id}/reflection/autosave", json={"body": "改", "revision": 99})
    assert late.status_code == 409 and late.json["error"] == "心得体会已提交，不能再修改"


def test_the_class_form_explains_a_bad_date_or_number_in_chinese(client, auth, make):
    t = make.tree()
    auth.login(make.user(org=t["root"], role=Role.SECRETARY))
    form = {"title": "专题班", "org_id": t["root"].id, "starts_on": "2026/3/1", "ends_on": "2026-03-20",
            "enrol_opens_on": "2026-03-01", "enrol_closes_on": "2026-03-05", "enrol_mode": "open",
            "floating": "all", "electives_required": "0", "hours": "四", "credit_kind": "online",
            "reflection_min_chars": "300"}
    page = client.post("/training/manage/new", data=form).get_data(as_text=True)
    assert "日期格式应为 年-月-日，例如 2026-03-01" in page
    assert "请填写数字，例如 2 或 1.5" in page
    assert "Not a valid" not in page
    assert db.session.scalar(select(func.count(TrainingClass.id))) == 0


def test_review_and_roster_pages(client, auth, make):
    t = make.tree()
    now = utcnow()
    cls = make.training_class(t["root"], [t["a"]], now=now, reflection_required=True, reflection_min_chars=10)
    member = make.user(org=t["a1"], name="赵六")
    make.enrolment(cls, member, now)
    from school.training import reflections
    row = reflections.submit(cls, member, TEXT, now)
    db.session.commit()
    auth.login(make.user(org=t["a"], role=Role.SECRETARY))
    assert "赵六" in client.get(f"/training/manage/{cls.id}/reflections").get_data(as_text=True)
    response = client.post(f"/training/manage/reflections/{row.id}", data={"verdict": "excellent", "comment": "好",
                                                                           "feature": "y"}, follow_redirects=True)
    assert "已审阅：优秀，计 1.00 学时" in _flash(response)
    roster = client.get(f"/training/manage/{cls.id}/roster").get_data(as_text=True)
    assert "赵六" in roster and "优秀" in roster
    xlsx = client.get(f"/training/manage/{cls.id}/roster.xlsx")
    assert xlsx.status_code == 200 and xlsx.data.startswith(b"PK")
    # the branch secretary reads the roster but does not manage the township's class
    assert client.get(f"/training/manage/{cls.id}").status_code == 404
    auth.logout()
    auth.login(member)
    assert "优秀心得体会" in client.get(f"/training/{cls.id}").get_data(as_text=True)


def test_approval_through_the_pages(client, auth, make):
    t = make.tree()
    now = utcnow()
    cls = make.training_class(t["root"], [t["a"]], now=now, enrol_mode="approval")
    member = make.user(org=t["a1"], name="钱七")
    auth.login(member)
    assert "请等待主办单位审核" in _flash(client.post(f"/training/{cls.id}/enrol", follow_redirects=True))
    auth.logout()
    auth.login(make.user(org=t["root"], role=Role.SECRETARY))
    row = db.session.scalar(select(Enrolment))
    assert "钱七" in client.get(f"/training/manage/{cls.id}").get_data(as_text=True)
    assert "已批准 钱七 参加" in _flash(client.post(f"/training/manage/enrolments/{row.id}/approve",
                                                  follow_redirects=True))
    assert "这条报名已经处理过了" in _flash(client.post(f"/training/manage/enrolments/{row.id}/approve",
                                                 follow_redirects=True))


def test_reflection_pictures_through_the_form(client, auth, make):
    import io

    from tests.training.test_reflections import png
    t = make.tree()
    now = utcnow()
    cls = make.training_class(t["root"], [t["a"]], now=now, reflection_required=True, reflection_min_chars=5)
    member = make.user(org=t["a1"])
    make.enrolment(cls, member, now)
    auth.login(member)
    url = f"/training/{cls.id}/reflection"
    bad = client.post(url, data={"body": "正在写", "upload": "1", "image": (io.BytesIO(b"GIF89a broken"), "a.gif")},
                      content_type="multipart/form-data")
    assert bad.status_code == 200 and "图片不完整或已损坏" in _flash(bad)
    assert db.session.scalar(select(Reflection.body)) == "正在写"  # the text was kept
    good = client.post(url, data={"body": "正在写", "upload": "1", "image": (io.BytesIO(png()), "p.png")},
                       content_type="multipart/form-data", follow_redirects=True)
    assert "图片已添加" in _flash(good)
    name = db.session.scalar(select(Reflection.images))[0]
    picture = client.get(f"/training/images/{name}")
    assert picture.status_code == 200 and picture.mimetype == "image/png"
    assert picture.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("size", [1, 6])
def test_the_roster_page_query_count_does_not_grow_with_members(client, auth, make, size):
    t = make.tree()
    now = utcnow()
    cls = make.training_class(t["root"], [t["a"]], now=now, enrol_mode="auto", capacity=1)
    make.enrolment(cls, make.user(org=t["a1"], name="赵六"), now)
    # The class is full: the members of the audience who came later are not enrolled, and
    # opening the roster does not look at each of them again.
    for i in range(size):
        make.user(org=t["a1"] if i % 2 else t["a2"], name=f"党员{i}")
    db.session.commit()
    auth.login(make.user(org=t["a"], role=Role.SECRETARY))
    client.get(f"/training/manage/{cls.id}/roster")  # warm up (session, templates)
    with count_queries() as statements:
        page = client.get(f"/training/manage/{cls.id}/roster").get_data(as_text=True)
    assert "赵六" in page and "党员0" not in page
    assert len(statements) <= 13, statements  # the same for 1 member and for 6
    assert db.session.scalar(select(func.count(Enrolment.id)).where(Enrolment.class_id == cls.id)) == 1


def test_the_roster_is_paged_with_the_whole_rosters_summary(client, auth, make, monkeypatch):
    from school import paging
    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    t = make.tree()
    now = utcnow()
    cls = make.training_class(t["root"], [t["a"]], now=now - timedelta(days=10))
    make.class_item(cls)
    for n in range(1, 6):
        row = make.enrolment(cls, make.user(org=t["a1"], name=f"学员{n}"), now - timedelta(days=10))
        if n <= 2:  # completed: not behind
            row.completed_at = now
    db.session.commit()
    auth.login(make.user(org=t["a"], role=Role.SECRETARY))
    url = f"/training/manage/{cls.id}/roster"

    def names(page):
        return re.findall(r"<td>(学员\d)</td>", page)

    first = client.get(url).get_data(as_text=True)
    summary = re.sub(r"<[^>]+>|\s+", "", first.split('id="roster-summary">')[1].split("</p>")[0])
    assert summary.startswith("共5名学员，已结业2人，进度落后3人，平均完成进度40%。"), summary
    assert names(first) == ["学员1", "学员2"] and "第 1 / 3 页" in first
    assert f'href="/training/manage/{cls.id}/roster?page=2"' in first
    assert names(client.get(f"{url}?page=3").get_data(as_text=True)) == ["学员5"]
    assert names(client.get(f"{url}?page=99").get_data(as_text=True)) == ["学员5"]  # past the end: the last
    assert names(client.get(f"{url}?page=abc").get_data(as_text=True)) == ["学员1", "学员2"]
    # The behind list pages too, and its pager keeps the filter; the summary is the whole roster's.
    behind = client.get(f"{url}?behind=1").get_data(as_text=True)
    assert names(behind) == ["学员3", "学员4"] and "共 <strong>5</strong> 名学员" in behind
    assert f'href="/training/manage/{cls.id}/roster?page=2&amp;behind=1"' in behind \
        or f'href="/training/manage/{cls.id}/roster?behind=1&amp;page=2"' in behind
    assert names(client.get(f"{url}?behind=1&page=2").get_data(as_text=True)) == ["学员5"]


def test_the_roster_reminds_the_members_behind_within_scope(client, auth, make, monkeypatch):
    """From the class roster a secretary reminds the members behind: the page's members as
    boxes, or everyone behind by one box (computed by the server within the secretary's scope:
    a class of another subtree named in the form is 404 and sends nothing)."""
    import json

    from school import paging
    from school.notices import services
    from school.notices.models import Reminder

    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    t = make.tree()
    now = utcnow()
    cls = make.training_class(t["root"], [t["root"]], now=now - timedelta(days=10))
    make.class_item(cls)
    behind = []
    for n in range(1, 6):
        member = make.user(org=t["a1"] if n < 5 else t["b1"], name=f"学员{n}")
        row = make.enrolment(cls, member, now - timedelta(days=10))
        if n <= 2:
            row.completed_at = now
        else:
            behind.append(member)
    db.session.commit()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)  # sees 学员1–4, not 学员5 (南村)
    auth.login(secretary)
    url = f"/training/manage/{cls.id}/roster"
    page = client.get(f"{url}?behind=1").get_data(as_text=True)
    assert 'id="remind-form"' in page and "提醒全部 <strong>2</strong> 名进度落后的学员" in page
    form = {"title": "专题班提醒", "text": "请继续学习", "token": services.new_token(), "source": f"class:{cls.id}",
            "everyone_behind": "1", "back": url}
    assert client.post("/reminders/send", data=form).status_code == 302
    sent = db.session.scalar(select(Reminder).order_by(Reminder.id.desc()))
    assert sorted(json.loads(sent.member_ids)) == sorted(m.id for m in behind[:2])  # 学员5 is outside scope
    hidden = make.training_class(t["b"], [t["b"]], now=now - timedelta(days=10))
    forged = client.post("/reminders/send", data={**form, "token": services.new_token(), "source": f"class:{hidden.id}"})
    assert forged.status_code == 404
    assert db.session.scalar(select(func.count(Reminder.id))) == 1
