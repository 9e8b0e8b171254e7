"""An editor puts a photo into a question on a phone; a member sees it in the exam."""
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from school.accounts.models import Role
from school.exams.models import Question
from school.extensions import db
from school.timeutil import utcnow
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _login(page, live_server, user):
    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(user.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#main")


def test_editor_inserts_a_photo_at_the_cursor_and_a_member_sees_it(live_server, phone_page, make, tmp_path):
    photo = tmp_path / "田间.jpg"
    Image.new("RGB", (640, 480), (40, 140, 60)).save(photo, "JPEG")
    editor = make.user(org=make.org(), role=Role.EDITOR)
    page = phone_page
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    _login(page, live_server, editor)

    page.goto(f"{live_server}/exams/bank/questions/new")
    gift = page.locator("#gift")
    gift.fill("看图回答：这是什么作物？{~小麦 =水稻}")
    gift.evaluate("el => { el.focus(); el.setSelectionRange(5, 5); }")  # after 看图回答：
    page.locator("#image").set_input_files(str(photo))
    page.locator("#image_alt").fill("水稻田")
    page.get_by_role("button", name="插入图片").click()
    expect(page.locator("#image-inserted")).to_contain_text("已插入图片")
    text = gift.input_value()
    assert re.fullmatch(r"看图回答：!\[水稻田\]\(/exams/images/[0-9a-f]{64}\.jpg\)这是什么作物？\{~小麦 =水稻\}", text)
    preview = page.locator(".rich img")
    expect(preview).to_have_attribute("alt", "水稻田")
    assert preview.evaluate("img => img.complete && img.naturalWidth") == 640
    # the cursor waits after the picture: a second one would follow the first
    assert gift.evaluate("el => el.value.slice(0, el.selectionStart)").endswith(".jpg)")
    page.screenshot(path=str(tmp_path / "question-form.png"), full_page=True)

    page.get_by_role("button", name="保存").click()
    expect(page.locator(".flash-success")).to_contain_text("已保存")
    question = db.session.query(Question).one()
    assert "![水稻田](/exams/images/" in question.stem

    member = make.user(org=make.org())
    exam = make.exam([question], utcnow(), title="看图识作物")
    page.context.clear_cookies()
    _login(page, live_server, member)
    page.goto(f"{live_server}/exams/{exam.id}")
    page.get_by_role("button", name="开始答题").click()
    page.wait_for_selector("#attempt")
    picture = page.locator(f"#q-{question.id} img")
    expect(picture).to_have_attribute("alt", "水稻田")
    picture.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
    assert picture.evaluate("img => img.getBoundingClientRect().width") <= 360  # fits the phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert not [e for e in errors if "Content Security Policy" in e or "Failed to load" in e]
