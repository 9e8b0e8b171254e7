"""A member logs in on a phone, sees this year's progress, switches to large text, logs out."""
import pytest

from school.accounts.models import Category
from school.credits import ledger
from school.extensions import db
from school.timeutil import utcnow
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_member_logs_in_sees_progress_large_text_logs_out(live_server, phone_page, make):
    t = make.tree()
    member = make.user(org=t["a1"], category=Category.FULL, name="杨树林")
    ledger.award(member, 8, "concentrated", "offline", "journey:1", utcnow(), "春训集中学习")
    db.session.commit()
    page = phone_page
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    page.goto(f"{live_server}/")
    assert "/login" in page.url
    page.get_by_label("党员编号或手机号").fill(member.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()

    page.wait_for_selector("#credit-progress")
    assert page.locator("h1").inner_text() == "杨树林，您好"
    assert page.locator("#credit-progress").get_attribute("value") == "25"
    assert page.locator("#earned-hours").inner_text() == "8"
    assert "春训集中学习" in page.locator("table.ledger").inner_text()
    # Usable at 360 px: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    size_before = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    page.locator("summary.menu-button").click()  # on a phone the header is a menu
    page.get_by_role("button", name="大字模式").click()
    page.wait_for_selector("body.large-text")
    assert page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)") > size_before
    page.reload()
    assert "large-text" in page.locator("body").get_attribute("class")

    page.locator("summary.menu-button").click()  # on a phone the header is a menu
    page.get_by_role("button", name="退出").click()
    page.wait_for_url("**/login")
    assert "您已安全退出" in page.content()
    page.goto(f"{live_server}/")
    assert "/login" in page.url
    assert not [e for e in errors if "Content Security Policy" in e]
