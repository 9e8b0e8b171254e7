"""专题班 on a 360-px phone: a township secretary creates a class for two branches; a member
enrols, studies a text-lesson course, passes the final exam, writes a reflection (autosaved)
and receives the certificate; the secretary reviews the reflection and reminds the one member
behind from the class roster; the public verify page confirms the certificate."""
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from school.accounts.models import Role
from school.extensions import db
from school.training.models import Certificate, Reflection, TrainingClass
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

REFLECTION = "通过这次专题班的学习，我对党章有了更深的理解，要在村里的工作中带头学、带头做，服务好群众。" * 3


def login(page, server, user):
    page.goto(f"{server}/login")
    page.get_by_label("党员编号或手机号").fill(user.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#credit-progress")


def logout(page):
    if not page.locator("#logout-button").is_visible():
        page.locator("summary.menu-button").click()  # on a phone the header is a menu
    page.locator("#logout-button").click()
    page.wait_for_url(re.compile(r"/login"))


def test_a_class_from_creation_to_a_verified_certificate(live_server, phone_page, make):
    t = make.tree()
    secretary = make.user(org=t["root"], role=Role.SECRETARY, name="镇组织委员")
    member = make.user(org=t["a1"], name="王小明")
    course = make.course(title="党章导读", credit_hours=Decimal("1"))
    make.text_lesson(course, "第一讲 总纲", "# 总纲\n\n中国共产党是中国工人阶级的先锋队。")
    exam = make.exam([make.question(stem="党的最高理想是实现共产主义。")], title="专题班结业测试",
                     credit_hours=Decimal("1"))
    page = phone_page
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("dialog", lambda dialog: dialog.accept())

    # The township secretary creates the class for two branches.
    login(page, live_server, secretary)
    page.locator("summary.menu-button").click()  # on a phone the header is a menu
    page.get_by_role("link", name="专题班").first.click()
    page.get_by_role("link", name="专题班管理 →").click()
    page.get_by_role("link", name="新建专题班").click()
    page.get_by_label("专题班名称").fill("学习党章专题班")
    page.get_by_label("主题").fill("党章")
    page.get_by_label("报名方式").select_option(label="自愿报名（名额先到先得）")
    page.get_by_label("名额（留空为不限）").fill("30")
    page.get_by_label("东村党支部").check()
    page.get_by_label("南村党支部").check()
    page.get_by_label("结业考试编号（可不填）").fill(str(exam.id))
    page.get_by_label("结业学时").fill("4")
    page.get_by_label("要求提交心得体会").check()
    page.get_by_label("心得体会最少字数").fill("50")
    page.get_by_label("发布（面向对象可见）").check()
    page.locator("#save-class").click()
    expect(page.locator(".flash-success")).to_have_text("专题班已保存")
    page.get_by_label("类型").select_option(label="课程")
    page.get_by_label("课程", exact=True).select_option(label="党章导读")
    page.get_by_role("button", name="添加").click()
    expect(page.locator(".flash-success")).to_have_text("已添加学习内容")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360 + 1
    logout(page)

    # The member enrols from the home page and studies.
    login(page, live_server, member)
    page.locator("summary.menu-button").click()  # on a phone the header is a menu
    page.get_by_role("link", name="专题班").first.click()
    page.get_by_role("link", name="学习党章专题班").click()
    page.locator("#enrol-button").click()
    expect(page.locator(".flash-success")).to_have_text("报名成功，可以开始学习了")
    page.goto(f"{live_server}/")
    expect(page.locator("#my-classes")).to_contain_text("继续学习：党章导读")
    page.get_by_role("link", name="继续学习：党章导读").click()
    page.get_by_role("link", name="第一讲 总纲").click()
    page.get_by_role("button", name="我已学完本课时").click()
    page.goto(f"{live_server}/")
    page.get_by_role("link", name="继续学习：结业考试").click()
    page.get_by_role("button", name="开始答题").click()
    page.wait_for_selector("#attempt")
    page.get_by_text("正确", exact=True).click()
    expect(page.locator("#save-status")).to_have_text(re.compile("^已保存"))
    page.locator("#submit-button").click()
    page.wait_for_url(re.compile(r"/result"))
    page.goto(f"{live_server}/")
    page.get_by_role("link", name="继续学习：心得体会").click()

    # The reflection: too short first (told why), then autosaved, then submitted once.
    box = page.get_by_label("心得体会", exact=True)
    box.fill("学习心得")
    page.locator("#submit-reflection").click()
    expect(page.locator(".flash-error")).to_contain_text("心得体会至少需要 50 字，目前只有 4 字")
    box = page.get_by_label("心得体会", exact=True)
    box.fill(REFLECTION)
    expect(page.locator("#autosave-status")).to_have_text(re.compile("^已自动保存"), timeout=30000)
    db.session.expire_all()
    assert db.session.scalar(select(Reflection.body)) == REFLECTION
    page.locator("#submit-reflection").dblclick()
    expect(page.locator(".flash-success")).to_have_text("心得体会已提交，请等待审阅")
    expect(page.locator("#reflection-state")).to_have_text("待审阅")

    # Completed: the certificate is issued.
    page.get_by_role("link", name="← 学习党章专题班").click()
    expect(page.locator("#completed")).to_contain_text("您已于")
    with page.expect_download() as download:
        page.locator("#certificate-link").click()
    assert download.value.suggested_filename.endswith(".pdf")
    db.session.expire_all()
    cert = db.session.scalar(select(Certificate))
    assert cert.hours == Decimal("4.00")
    logout(page)

    # The secretary reviews the reflection.
    login(page, live_server, secretary)
    page.goto(f"{live_server}/training/manage/")
    page.get_by_role("link", name="心得体会审阅").click()  # every kind in scope, classes included
    page.get_by_role("link", name="王小明").click()
    expect(page.locator("#reflection-text")).to_contain_text("服务好群众")
    page.get_by_label("审阅结果").select_option(label="优秀")
    page.get_by_label("评语").fill("联系实际，体会深刻")
    page.get_by_label("评为优秀时在班内展示").check()
    page.locator("#review-submit").click()
    expect(page.locator(".flash-success")).to_contain_text("已审阅：优秀")

    # The one member behind (enrolled, nothing studied) gets a reminder from the roster.
    lagging = make.user(org=t["b1"], name="李落后")
    cls = db.session.scalar(select(TrainingClass))
    cls.starts_at -= timedelta(days=10)  # a tenth of the period has gone: 0 % done is behind
    db.session.commit()
    make.enrolment(cls, lagging)
    page.goto(f"{live_server}/training/manage/{cls.id}/roster?behind=1")
    expect(page.locator("#roster")).to_contain_text("李落后")
    expect(page.locator("#roster")).not_to_contain_text("王小明")
    expect(page.locator("#remind-form")).to_contain_text("李落后")
    page.locator("#send-reminder").click()
    expect(page.locator(".flash-success")).to_contain_text("提醒已提交，共 1 人")
    logout(page)

    # Anyone checks the certificate on the public page.
    page.goto(f"{live_server}/verify/{cert.code}")
    expect(page.locator("#verify-result")).to_contain_text("证书真实有效")
    expect(page.locator("#holder")).to_have_text("王*明")
    expect(page.locator("#verify-result")).to_contain_text("学习党章专题班")
    expect(page.locator("#verify-result")).to_contain_text("4 学时")
    assert errors == []
    response = page.goto(f"{live_server}/verify/{'Z' * 24}")  # a forged code: a clear 404 page
    assert response.status == 404
    expect(page.locator("#verify-missing")).to_be_visible()
