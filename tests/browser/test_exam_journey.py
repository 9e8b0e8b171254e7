"""A member takes a timed exam on a phone, loses the connection mid-way, and loses nothing."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from school.exams.models import Answer
from school.extensions import db
from school.timeutil import utcnow
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_exam_on_a_phone_survives_going_offline(live_server, phone_page, make):
    t = make.tree()
    member = make.user(org=t["a1"], name="王芳")
    bank = make.questions()
    make.exam(bank, utcnow(), title="七一党章测试")
    page = phone_page
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("dialog", lambda dialog: dialog.accept())

    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(member.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#credit-progress")
    page.locator("summary.menu-button").click()  # on a phone the header is a menu
    page.get_by_role("link", name="在线考试").first.click()
    page.get_by_role("link", name="七一党章测试").click()
    assert "现在开始，本次作答将于" in page.locator("#would-end").inner_text()
    page.get_by_role("button", name="开始答题").click()
    page.wait_for_selector("#attempt")
    # The timer's first tick comes from the script; wait for it rather than race it.
    expect(page.locator("#timer")).to_have_text(re.compile(r"^(\d+:\d\d:\d\d|\d\d:\d\d)$"))

    def section(question):
        return page.locator(f"#q-{question.id}")

    section(bank[0]).get_by_text("1921").click()
    expect(page.locator("#save-status")).to_have_text(re.compile("^已保存"))
    assert re.fullmatch(r"已保存 \d\d:\d\d:\d\d", page.locator("#save-status").inner_text())

    page.context.set_offline(True)
    section(bank[1]).get_by_text("政治意识").click()
    section(bank[1]).get_by_text("大局意识").click()
    section(bank[2]).get_by_text("正确").click()
    section(bank[3]).locator("input[type=text]").fill("人民")
    page.wait_for_selector("#save-failed", state="visible", timeout=10000)
    assert page.locator("#navigator a.answered").count() == 4
    section(bank[4]).locator("input[type=text]").fill("2012")
    years = {"遵义会议": "1935", "古田会议": "1929"}
    for row in section(bank[5]).locator(".match-row").all():
        row.locator("select").select_option(label=years[row.locator("span").inner_text()])
    section(bank[4]).locator(".flag-input").check()
    db.session.expire_all()
    assert db.session.scalar(select(db.func.count()).select_from(Answer)) == 1  # only the first reached the server

    page.context.set_offline(False)
    expect(page.locator("#save-status")).to_have_text(re.compile("^已保存"), timeout=20000)
    key = f"exam-attempt-{page.locator('#attempt').get_attribute('data-attempt')}"
    for _ in range(100):  # every answer kept on the phone has been acknowledged by the server
        if page.evaluate(f"localStorage.getItem('{key}')") == "{}":
            break
        page.wait_for_timeout(200)
    assert page.evaluate(f"localStorage.getItem('{key}')") == "{}"
    assert page.locator("#save-failed").is_hidden()

    page.reload()
    page.wait_for_selector("#attempt")
    assert section(bank[0]).get_by_label(re.compile("1921")).is_checked()
    assert section(bank[1]).get_by_label(re.compile("政治意识")).is_checked()
    assert section(bank[1]).get_by_label(re.compile("大局意识")).is_checked()
    assert section(bank[2]).get_by_label("正确").is_checked()
    assert section(bank[3]).locator("input[type=text]").input_value() == "人民"
    assert section(bank[4]).locator("input[type=text]").input_value() == "2012"
    assert section(bank[4]).locator(".flag-input").is_checked()
    assert page.locator("#navigator a.answered").count() == 6 and page.locator("#navigator a.flagged").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    page.get_by_role("button", name="交卷").click()
    page.wait_for_selector("#result")
    assert "考试通过" in page.locator("#verdict").inner_text()
    assert page.locator("#score").inner_text() == "6"
    page.goto(f"{live_server}/")
    assert "考试通过：七一党章测试" in page.locator("table.ledger").inner_text()
    assert page.locator("#earned-hours").inner_text() == "2"
    assert not [e for e in errors if "Content Security Policy" in e]


def test_one_question_per_page_and_auto_submit_at_the_deadline(live_server, phone_page, make):
    from datetime import timedelta

    from school.exams.models import Attempt

    member = make.user(org=make.org())
    bank = make.questions()
    page = phone_page
    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(member.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{live_server}/")
    # The exam closes soon after it is opened (made only now, so a slow login on a busy
    # machine does not eat the time the member needs to answer).
    exam = make.exam(bank, utcnow(), title="限时小测", one_per_page=True, closes_in=timedelta(seconds=15))
    page.goto(f"{live_server}/exams/{exam.id}")
    page.get_by_role("button", name="开始答题").click()
    page.wait_for_selector("#attempt")
    # The page script hides all but the first question after the paper is in the DOM: wait
    # for it (a busy machine runs it later than #attempt appears).
    expect(page.locator("section.question:visible")).to_have_count(1)
    page.locator("section.question:visible").get_by_text("1921").click()
    page.get_by_role("button", name="下一题").click()
    assert page.locator(f"#q-{bank[1].id}").is_visible() and not page.locator(f"#q-{bank[0].id}").is_visible()
    page.locator("#navigator a").nth(3).click()
    assert page.locator(f"#q-{bank[3].id}").is_visible()
    page.locator(f"#q-{bank[3].id} input[type=text]").fill("人民")
    # Nobody clicks 交卷: at the deadline the page hands in by itself.
    page.wait_for_selector("#result", timeout=45000)
    db.session.expire_all()
    attempt = db.session.scalar(select(Attempt))
    assert attempt.state == "finished" and attempt.score == 2
