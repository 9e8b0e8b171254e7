"""The station pack as a village station uses it: unzipped from a USB stick and opened from
``file://`` on a 360-px phone, with no server and no network."""
from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from urllib.parse import unquote

import pytest

from school.courses import pack, services
from school.timeutil import utcnow

pytestmark = pytest.mark.browser

# Elements sticking out of the viewport (reading sideways is not allowed on a phone).
TOO_WIDE = """() => [...document.querySelectorAll('body *')].filter(e => {
  const r = e.getBoundingClientRect();
  return r.width > 0 && (r.right > window.innerWidth + 0.5 || r.width > window.innerWidth);
}).map(e => e.tagName + '#' + e.id + '.' + e.className)"""


def test_unzipped_pack_reads_plays_and_answers_offline(phone_page, courses, make, tmp_path):
    law = "# 第一章　总则\n\n" + "".join(f"第{n}条　{'基层党组织应当加强学习。' * 12}\n\n" for n in "一二三四五")
    doc = make.document(title="基层组织工作条例", body=law)
    course = courses.course(slug="station-phone", title="支部建设")
    courses.video_lesson(course, title="第一讲")
    services.add_document_lesson(course, "", str(doc.id), utcnow())
    bank = make.questions()
    make.exam(bank, course_id=course.id, review="after_submit", review_answers=True, closes_in=timedelta(days=-1))
    with zipfile.ZipFile(io.BytesIO(b"".join(pack.stream(pack.plan(course))))) as archive:
        archive.extractall(tmp_path / "stick")

    page = phone_page
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((tmp_path / "stick" / "index.html").as_uri())
    assert page.title() == "课程目录 · 支部建设 · 离线学习包"
    assert page.evaluate(TOO_WIDE) == []
    page.wait_for_function("document.querySelector('video').duration > 0", timeout=15000)  # plays from the stick

    page.get_by_role("link", name="第 2 课　基层组织工作条例").first.click()
    page.get_by_role("link", name="第一章　总则").click()
    assert unquote(page.url).endswith("pages/02.html#h-第一章总则")
    assert page.locator("#第三条").is_visible() and page.evaluate(TOO_WIDE) == []

    page.get_by_role("link", name="← 返回课程目录").click()
    page.get_by_role("link", name="课后自测题（自测，不计学时）").click()
    assert page.locator(".notice").first.inner_text().startswith("自测，不计学时。")
    assert page.evaluate(TOO_WIDE) == []
    first = page.locator(".question").first
    first.get_by_label("A. 1919").check()
    first.get_by_role("button", name="核对").click()
    assert first.locator(".verdict").inner_text() == "✘ 回答错误"
    assert first.locator(".answer-text").inner_text() == "正确答案：B"
    first.get_by_label("B. 1921").check()
    first.get_by_role("button", name="核对").click()
    assert first.locator(".verdict").inner_text() == "✔ 回答正确"
    assert first.locator(".explanation").is_visible()
    page.get_by_role("button", name="统计我的自测").click()
    assert page.locator("#tally-result").inner_text() == "共 3 道选择题，已答 1 道，答对 1 道。自测，不计学时。"

    page.goto((tmp_path / "stick" / "attendance.html").as_uri())
    assert page.get_by_role("heading", name="集中培训签到表").is_visible()
    assert page.evaluate(TOO_WIDE) == []
    page.emulate_media(media="print")  # the sheet prints without the instructions and the button
    assert not page.get_by_role("button", name="打印签到表").is_visible()
    assert page.locator("table.roster tbody tr").count() == 30
    assert requests and all(url.startswith("file://") for url in requests), requests  # nothing from outside
