"""A video lesson on a 360-px phone: the poster and controls first, hls.js (the light build)
fetched only when the member presses play."""
from __future__ import annotations

import pytest

from school.extensions import db
from tests.browser.test_courses_journey import wait_until
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_lesson_page_fetches_no_player_script_until_play(live_server, phone_page, make, courses):
    member = make.user(name="王小田")
    lesson = courses.video_lesson(courses.course(title="春耕"), title="整地")
    db.session.commit()
    page = phone_page
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(member.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#credit-progress")

    requests.clear()
    page.goto(f"{live_server}/courses/lessons/{lesson.id}")
    page.wait_for_load_state("networkidle")
    assert page.locator("#video").get_attribute("poster")
    assert page.locator("#quality").is_visible()
    assert not [u for u in requests if "hls" in u], requests
    assert not [u for u in requests if ".m3u8" in u or ".m4s" in u], requests  # no stream before play
    assert page.evaluate("typeof window.Hls") == "undefined"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play(); }")
    wait_until(page, "document.getElementById('video').currentTime > 1")
    hls = [u for u in requests if "/static/vendor/hls.light.min." in u]
    assert len(hls) == 1, requests
    assert page.evaluate("typeof window.Hls") == "function"
