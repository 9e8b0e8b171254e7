"""An editor imports a bank with a 论述题; a member writes 300 characters on a phone, going
offline once, and submits; a secretary grades it; the member sees the grade and the hours."""
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from school.accounts.models import Role
from school.exams.models import Answer, Attempt, Question
from school.extensions import db
from school.timeutil import utcnow
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

BANK = """$CATEGORY: 党的建设

::宗旨::党的根本宗旨是什么？{~为少数人谋利益 =全心全意为人民服务 ~发展经济}

::四个自信::论述坚定“四个自信”的重要意义。{####从道路、理论、制度、文化四方面论述。}
"""


def _login(page, live_server, user):
    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(user.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def test_written_answer_from_import_to_grade(live_server, browser, phone_page, make, tmp_path):
    t = make.tree()
    editor = make.user(role=Role.EDITOR, name="出题人")
    secretary = make.user(org=t["a"], role=Role.SECRETARY, name="李书记")
    member = make.user(org=t["a1"], name="王芳")
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    errors = []
    for p in (desk, phone_page):
        p.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        p.on("dialog", lambda dialog: dialog.accept())

    # The editor imports the bank.
    _login(desk, live_server, editor)
    desk.goto(f"{live_server}/exams/bank/import")
    bank_file = tmp_path / "党建.gift.txt"
    bank_file.write_text(BANK, encoding="utf-8")
    desk.get_by_label("格式").select_option("gift")
    desk.get_by_label("题库文件").set_input_files(str(bank_file))
    desk.get_by_role("button", name="上传并预览").click()
    desk.locator("#confirm-import").click()
    expect(desk.locator("body")).to_contain_text("已导入 2 道题")
    db.session.expire_all()
    choice, essay = db.session.scalars(select(Question).order_by(Question.id)).all()
    assert essay.qtype == "essay"
    essay.data = {**essay.data, "rubric": "四个方面各 2.5 分", "min_length": 100, "max_length": 500}
    essay.points = 8
    db.session.commit()
    exam = make.exam([choice, essay], utcnow(), title="党建论述考试", graders="secretaries")

    # The member writes on a phone, going offline once.
    page = phone_page
    _login(page, live_server, member)
    page.goto(f"{live_server}/exams/{exam.id}")
    page.get_by_role("button", name="开始答题").click()
    page.wait_for_selector("#attempt")
    page.locator(f"#q-{choice.id}").get_by_text("全心全意为人民服务").click()
    expect(page.locator("#save-status")).to_have_text(re.compile("^已保存"))
    area = page.locator(f"#q-{essay.id} textarea")
    area.fill("道路自信" * 25)  # 100 characters
    expect(page.locator(f"#q-{essay.id} .char-count .count")).to_have_text("100")
    expect(page.locator("#save-status")).to_have_text(re.compile("^已保存"))
    page.context.set_offline(True)
    area.fill("道路自信" * 25 + "理论自信" * 25 + "制度自信" * 25)  # 300 characters
    expect(page.locator(f"#q-{essay.id} .char-count .count")).to_have_text("300")
    page.wait_for_selector("#save-failed", state="visible", timeout=10000)
    page.context.set_offline(False)
    expect(page.locator("#save-status")).to_have_text(re.compile("^已保存"), timeout=20000)
    db.session.expire_all()
    assert len(db.session.scalar(select(Answer.response).where(Answer.question_id == essay.id))["text"]) == 300
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_role("button", name="交卷").click()
    page.wait_for_selector("#result")
    assert "待阅卷" in page.locator("#verdict").inner_text()

    # The secretary grades it (anonymously: no name shown), Enter saves.
    grader = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
    _login(grader, live_server, secretary)
    grader.goto(f"{live_server}/exams/grading/")
    grader.get_by_role("link", name="党建论述考试").click()
    grader.get_by_role("link", name=re.compile("论述坚定")).click()
    expect(grader.locator("#progress")).to_have_text("已阅 0 / 1")
    assert "王芳" not in grader.locator("main").inner_text() and "四个方面各 2.5 分" in grader.locator("#rubric").inner_text()
    expect(grader.locator("#points")).to_be_focused()
    grader.locator("#points").fill("7")
    grader.locator("#comment").fill("论述较完整，文化自信未展开。")
    grader.locator("#points").press("Enter")
    expect(grader.locator("#all-graded")).to_be_visible()
    expect(grader.locator("#progress")).to_have_text("已阅 1 / 1")

    # The member sees the grade, the comment and the hours.
    db.session.expire_all()
    attempt = db.session.scalar(select(Attempt))
    assert (attempt.awaiting_grading, attempt.passed, float(attempt.score)) == (False, True, 8.0)
    page.goto(f"{live_server}/exams/attempts/{attempt.id}/result")
    assert "考试通过" in page.locator("#verdict").inner_text()
    assert "评语：论述较完整" in page.locator("body").inner_text()
    page.goto(f"{live_server}/")
    assert "考试通过：党建论述考试" in page.locator("table.ledger").inner_text()
    assert not [e for e in errors if "Content Security Policy" in e]
    desk.context.close()
    grader.context.close()
