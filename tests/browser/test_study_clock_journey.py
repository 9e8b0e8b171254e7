"""One study clock per member, in a browser: a member plays a lesson in tab A, then another
lesson in tab B; A is told "你正在另一处学习，此处暂停计时" and takes the clock back with
"在此处继续学习" (B is then told); "还在学习吗？" appears when the server says it is due,
and crediting resumes after the answer. A 360-px phone page, like the other journeys."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from school.credits.models import StudyInterval
from school.credits.rules import set_rule
from school.extensions import db
from school.timeutil import utcnow
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

ELSEWHERE = "你正在另一处学习，此处暂停计时"


def wait_until(check, timeout: float = 30, what: str = ""):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def play(page):
    # Muted: a page may start playing without a tap only muted; loop: the clip is 8 s long.
    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.loop = true; v.play(); }")


def shows_elsewhere(page) -> bool:
    return page.evaluate("!document.getElementById('elsewhere').hidden")


def test_one_clock_across_tabs_and_the_presence_prompt(app, live_server, phone_page, make, courses):
    app.config["COURSES_HEARTBEAT_SECONDS"] = 2.5
    # The prompt falls due 15 s after the member starts studying (0.25 minute), set through the rules.
    set_rule("presence_min_minutes", "0.25", None, utcnow())
    set_rule("presence_max_minutes", "0.25", None, utcnow())
    member = make.user(name="王学习")
    course = courses.course(title="党史学习")
    first = courses.video_lesson(course, title="第一课")
    second = courses.video_lesson(course, title="第二课")
    db.session.commit()

    a = phone_page
    errors = []
    a.on("pageerror", lambda exc: errors.append(str(exc)))
    a.goto(f"{live_server}/login")
    a.get_by_label("党员编号或手机号").fill(member.member_no)
    a.get_by_label("密码").fill(PASSWORD)
    a.get_by_role("button", name="登录").click()
    a.wait_for_selector("#credit-progress")

    a.goto(f"{live_server}/courses/lessons/{first.id}")
    a.wait_for_selector("#video")
    with a.expect_response(lambda r: "/heartbeat" in r.url and r.json().get("accepted")):
        play(a)

    b = a.context.new_page()
    b.on("pageerror", lambda exc: errors.append(str(exc)))
    b.goto(f"{live_server}/courses/lessons/{second.id}")
    b.wait_for_selector("#video")
    with b.expect_response(lambda r: "/heartbeat" in r.url and r.json().get("accepted")):
        play(b)

    # A's next heartbeat is refused: A says so, stops, and offers the button.
    wait_until(lambda: shows_elsewhere(a), 15, "tab A to be told")
    assert ELSEWHERE in a.locator("#elsewhere").inner_text()
    assert a.get_by_role("button", name="在此处继续学习").is_visible()
    assert a.evaluate("document.getElementById('video').paused")
    assert a.evaluate("document.documentElement.scrollWidth") <= 360
    assert not shows_elsewhere(b)

    # Taking it back in A: A studies again, B is told on its next heartbeat.
    a.get_by_role("button", name="在此处继续学习").click()
    wait_until(lambda: not shows_elsewhere(a), 10, "tab A to take the clock back")
    wait_until(lambda: shows_elsewhere(b), 15, "tab B to be told")
    assert ELSEWHERE in b.locator("#elsewhere").inner_text()

    # The server decides when "还在学习吗？" is due; the page shows it and pauses.
    wait_until(lambda: a.evaluate("document.getElementById('idle-dialog').open"), 30, "the presence prompt")
    assert "还在学习吗？" in a.locator("#idle-dialog").inner_text()
    db.session.expire_all()
    before = db.session.scalar(select(func.count()).select_from(StudyInterval)
                               .where(StudyInterval.member_id == member.id, StudyInterval.presence_answers > 0))
    assert before == 0
    a.get_by_role("button", name="继续学习").click()

    # Crediting resumes after the answer: a new interval, carrying the answer, is recorded.
    def answered_interval() -> bool:
        db.session.expire_all()
        return db.session.scalar(select(func.count()).select_from(StudyInterval).where(
            StudyInterval.member_id == member.id, StudyInterval.presence_answers == 1,
            StudyInterval.activity == f"lesson:{first.id}")) > 0
    wait_until(answered_interval, 20, "credit after the answer")

    rows = db.session.scalars(select(StudyInterval).where(StudyInterval.member_id == member.id)
                              .order_by(StudyInterval.start_at)).all()
    for earlier, later in zip(rows, rows[1:]):
        assert later.start_at >= earlier.end_at  # one timeline, never two pages at once
    assert not errors, errors
