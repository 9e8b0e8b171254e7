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
