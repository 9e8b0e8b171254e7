"""An editor uploads a video in the browser: a bad file is refused in Chinese with a retry button,
a good one goes up in chunks with a progress bar, is transcoded and becomes playable."""
from __future__ import annotations

import pytest

from school import jobs
from school.accounts.models import Role
from school.extensions import db
from tests.conftest import PASSWORD

# The course fixtures, found by pytest under these names in this module.

pytestmark = pytest.mark.browser


def test_editor_uploads_video_and_sees_it_become_playable(live_server, browser, make, courses, clips, tmp_path):
    editor = make.user(role=Role.EDITOR, name="编辑小王")
    course = courses.course(title="电商直播入门", track="rural", category="ecommerce")
    db.session.commit()
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(f"{live_server}/login")
        page.get_by_label("党员编号或手机号").fill(editor.member_no)
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_selector("#credit-progress")
        page.goto(f"{live_server}/courses/manage/{course.id}")

        fake = tmp_path / "讲话稿.mp4"
        fake.write_text("这不是视频" * 100)
        page.fill("#upload-title-input", "第一课")
        page.set_input_files("#upload-file", str(fake))
        page.click("#upload-button")
        page.wait_for_selector("#upload-retry:not([hidden])")
        assert "无法识别的文件" in page.inner_text("#upload-status")

        page.set_input_files("#upload-file", str(clips["small"]))
        page.click("#upload-retry")
        page.wait_for_selector(".media-status[data-state=processing]", timeout=20000)  # reloaded once the upload is in
        assert "排队中" in page.inner_text(".media-status")
        assert page.locator(".media-status progress").count() == 1
        assert jobs.run_until_empty() != []
        page.wait_for_selector("text=已可播放", timeout=20000)  # the status poll reloads when ready
        assert not errors, errors
    finally:
        context.close()


def test_slow_upload_shows_speed_and_time_left_and_pauses(live_server, browser, make, courses, clips):
    """On a 40 KB/s uplink: real progress with speed and time remaining, 256-KB-class chunks,
    暂停 stops sending and 继续 carries on from what the server has."""
    editor = make.user(role=Role.EDITOR, name="编辑小周")
    course = courses.course(title="果园管理")
    db.session.commit()
    context = browser.new_context(locale="zh-CN", viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        page.goto(f"{live_server}/login")
        page.get_by_label("党员编号或手机号").fill(editor.member_no)
        page.get_by_label("密码").fill(PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_selector("#credit-progress")
        page.goto(f"{live_server}/courses/manage/{course.id}")
        assert not page.locator("#upload-retry").is_visible()  # [hidden] holds on every page now
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 100,
                                                      "downloadThroughput": 200 * 1024, "uploadThroughput": 40 * 1024})
        page.fill("#upload-title-input", "剪枝")
        page.set_input_files("#upload-file", str(clips["small"]))
        page.click("#upload-button")
        _wait_text(page, "还需约")
        status = page.inner_text("#upload-status")
        assert "KB/秒" in status and "%" in status
        page.click("#upload-pause")
        _wait_text(page, "已暂停")
        percent = page.evaluate("document.getElementById('upload-progress').value")
        assert 0 <= percent < 100
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                      "downloadThroughput": -1, "uploadThroughput": -1})
        page.click("#upload-pause")  # now reads 继续
        page.wait_for_selector(".media-status[data-state=processing]", timeout=30000)
    finally:
        context.close()


def _wait_text(page, text, timeout=30):
    import time
    deadline = time.monotonic() + timeout
    while text not in page.inner_text("#upload-status"):
        assert time.monotonic() < deadline, page.inner_text("#upload-status")
        time.sleep(0.1)
