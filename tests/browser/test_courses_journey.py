"""A rural learner on a 360-px phone opens a 农村实用技术 lesson, plays it at the lowest quality,
reloads and resumes where they were, finishes, and sees the credit on the home page."""
from __future__ import annotations

import time
from decimal import Decimal

import pytest

from school.accounts.models import Category
from school.extensions import db
from tests.conftest import PASSWORD

# The course fixtures, found by pytest under these names in this module.

pytestmark = pytest.mark.browser


def wait_until(page, expression: str, timeout: float = 30):
    """Poll with evaluate: wait_for_function would eval() inside the page, which our CSP forbids."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.1)


def test_rural_learner_watches_resumes_finishes_and_is_credited(live_server, phone_page, make, courses):
    t = make.tree()
    member = make.user(org=t["a1"], category=Category.FULL, name="李春生")
    # The clip lasts seconds, which the ladder credits 0 (never more than its length); the editor's figure
    course = courses.course(title="春茶采摘技术", track="rural", category="planting", orgs=[t["a"]],
                            credit_hours=Decimal("0.25"))
    courses.video_lesson(course, title="一芽一叶怎么采")
    db.session.commit()
    page = phone_page
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(member.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#credit-progress")
    assert page.locator("#earned-hours").inner_text() == "0"

    # Home → the 种植 tile → the lesson, with audio-only and download in plain view.
    page.get_by_role("link", name="种植").first.click()
    page.wait_for_selector("text=一芽一叶怎么采")
    assert page.get_by_role("link", name="只听声音").is_visible()
    assert page.get_by_role("link", name="下载").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.get_by_role("link", name="看视频").click()
    page.wait_for_selector("#video")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # Lowest quality, then play (muted: a page may autoplay only muted without a tap).
    page.select_option("#quality", "0")
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play(); }")
    wait_until(page, "document.getElementById('video').currentTime > 4.2")
    assert page.evaluate("document.getElementById('video').videoHeight") == 240
    with page.expect_response(lambda r: "/heartbeat" in r.url and r.json().get("accepted")):
        page.evaluate("document.getElementById('video').pause()")
    paused_at = page.evaluate("document.getElementById('video').currentTime")

    # Reload: pressing play comes back at the same position (nothing loads before play).
    page.reload()
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play(); }")
    wait_until(page, f"Math.abs(document.getElementById('video').currentTime - {paused_at}) < 1.5")

    # Play to the end: the lesson, then the course, are complete and the credit shows.
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play(); }")
    wait_until(page, "document.getElementById('video').ended")
    page.wait_for_selector("#course-credit:not([hidden])", timeout=15000)
    assert "课程已完成" in page.locator("#course-credit").inner_text()

    page.goto(f"{live_server}/")
    assert page.locator("#earned-hours").inner_text() == "0.25"
    assert "完成课程《春茶采摘技术》" in page.locator("table.ledger").inner_text()
    assert not errors, errors


def test_audio_only_mode_plays_the_audio_rendition(live_server, phone_page, make, courses):
    member = make.user(name="张秋收")
    course = courses.course(title="果树修剪", track="rural", category="planting")
    courses.video_lesson(course, title="冬季修剪")
    db.session.commit()
    page = phone_page
    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(member.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#credit-progress")
    page.goto(f"{live_server}/courses/rural")
    page.get_by_role("link", name="只听声音").click()
    assert page.get_by_role("button", name="看视频").get_attribute("aria-pressed") == "true"
    assert page.locator("#quality").is_disabled()
    # Nothing streams before play (the page is the poster and controls); play loads the audio rendition.
    with page.expect_request(lambda r: r.url.endswith("/audio/index.m3u8")):
        page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play(); }")
    wait_until(page, "document.getElementById('video').currentTime > 1")
    assert page.evaluate("document.getElementById('video').videoHeight") == 0  # no picture: audio only
    assert page.evaluate("document.getElementById('video').playbackRate") == 1
    page.select_option("#speed", "1.5")
    assert page.evaluate("document.getElementById('video').playbackRate") == 1.5


def test_required_course_cannot_be_skipped_ahead_on_first_viewing(live_server, phone_page, make, courses):
    member = make.user(name="王必修")
    course = courses.course(title="安全生产", required=True)
    lesson = courses.video_lesson(course, title="第一课")
    db.session.commit()
    page = phone_page
    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(member.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#credit-progress")
    page.goto(f"{live_server}/courses/lessons/{lesson.id}")
    # The stream loads on the first press of play.
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play(); }")
    wait_until(page, "document.getElementById('video').currentTime > 0.2")
    page.evaluate("document.getElementById('video').pause()")
    page.evaluate("document.getElementById('video').currentTime = 6")
    wait_until(page, "document.getElementById('video').currentTime < 1")
    assert "不能快进" in page.inner_text("#player-status")
