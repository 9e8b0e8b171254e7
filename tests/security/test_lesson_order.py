"""Lesson order ("finish the previous lesson first") on every lesson route a member can reach.

A sequential course: 1 video, 2 video (with subtitles), 3 text. Until lesson 1 is complete,
lesson 2 is locked; until 1 and 2 are, lesson 3 is. A locked lesson refuses its page (back to
the course with the reason), every media file, its subtitles, heartbeats, "still here" and
"done" — and none of them leaves a trace (no watch-state row, no completion, no credit).
"""
from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from school.accounts.models import Role
from school.courses import completion, media, watching
from school.courses.models import CourseCompletion, Lesson, WatchState
from school.credits.models import CreditEntry
from school.extensions import db
from school.timeutil import utcnow
from tests.conftest import PASSWORD, CsrfClient

LOCKED_MESSAGE = "按顺序学习"


@dataclass(frozen=True)
class LessonRoute:
    name: str
    method: str
    path: str  # {id} is the lesson
    lesson: str  # "video" (lesson 2) or "text" (lesson 3)
    open_status: int  # once the earlier lessons are complete
    json: bool = False


def _media(name: str, query: str = "") -> str:
    return "/courses/media/{id}/" + name + query


ROUTES = [
    LessonRoute("page", "GET", "/courses/lessons/{id}", "video", 200),
    LessonRoute("audio page", "GET", "/courses/lessons/{id}?mode=audio", "video", 200),
    LessonRoute("text page", "GET", "/courses/lessons/{id}", "text", 200),
    LessonRoute("master playlist", "GET", _media("master.m3u8"), "video", 200),
    LessonRoute("rendition playlist", "GET", _media("v0/index.m3u8"), "video", 200),
    LessonRoute("init segment", "GET", _media("v0/init_0.mp4"), "video", 200),
    LessonRoute("video segment", "GET", _media("v0/seg000.m4s"), "video", 200),
    LessonRoute("audio playlist", "GET", _media("audio/index.m3u8"), "video", 200),
    LessonRoute("audio segment", "GET", _media("audio/seg000.m4s"), "video", 200),
    LessonRoute("download mp4", "GET", _media("download.mp4", "?download=1"), "video", 200),
    LessonRoute("mp4 inline", "GET", _media("download.mp4"), "video", 200),
    LessonRoute("poster", "GET", _media("poster.jpg"), "video", 200),
    LessonRoute("subtitles", "GET", "/courses/lessons/{id}/subtitles.vtt", "video", 200),
    LessonRoute("heartbeat", "POST", "/courses/lessons/{id}/heartbeat", "video", 200, json=True),
    LessonRoute("still here", "POST", "/courses/lessons/{id}/still-here", "video", 200, json=True),
    LessonRoute("done", "POST", "/courses/lessons/{id}/done", "text", 302),
]


@pytest.fixture
def seq(app, make, courses):
    course = courses.course(sequential=True, title="按顺序的课")
    first = courses.video_lesson(course, title="第一课")
    second = courses.video_lesson(course, title="第二课")
    media.save_subtitles(second, "WEBVTT\n\n00:00.000 --> 00:02.000\n字幕\n".encode())
    third = courses.text_lesson(course, title="第三课")
    db.session.commit()
    member = make.user()
    return course, first, second, third, member


def _request(client, route: LessonRoute, lesson_id: int):
    path = route.path.format(id=lesson_id)
    if route.method == "GET":
        return client.get(path)
    if route.json:
        body = {"tab": "t1", "seq": 1, "position": 0, "playing": True, "sent_at": 1_000_000, "rate": 1}
        return client.post(path, json=body if route.name == "heartbeat" else {})
    return client.post(path)


def _watch_rows(member_id: int, lesson_id: int) -> int:
    return db.session.scalar(select(func.count(WatchState.id)).where(
        WatchState.member_id == member_id, WatchState.lesson_id == lesson_id))


@pytest.mark.parametrize("state", ["locked", "unlocked"])
@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_every_lesson_route_keeps_the_order(client, auth, seq, route, state):
    course, first, second, third, member = seq
    target = second if route.lesson == "video" else third
    if state == "unlocked":
        for earlier in course.lessons:
            if earlier.id == target.id:
                break
            watching.complete_text_lesson(member, earlier, utcnow())
        db.session.commit()
    member_id, target_id, course_id = member.id, target.id, course.id
    auth.login(member)
    response = _request(client, route, target_id)
    db.session.expire_all()
    if state == "unlocked":
        assert response.status_code == route.open_status, response.get_data(as_text=True)[:300]
        return
    if route.name.endswith("page"):  # the page sends the member back to the course with the reason
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/courses/{course_id}")
        assert LOCKED_MESSAGE in client.get(f"/courses/{course_id}").get_data(as_text=True)
    else:
        assert response.status_code == 403, response.get_data(as_text=True)[:300]
        if route.json:
            assert LOCKED_MESSAGE in response.get_json()["error"]
        else:
            assert "没有权限" in response.get_data(as_text=True) or LOCKED_MESSAGE in response.get_data(as_text=True)
    assert _watch_rows(member_id, target_id) == 0  # nothing recorded for a locked lesson


def test_the_first_lesson_and_non_sequential_courses_are_open(client, auth, make, courses, seq):
    course, first, second, third, member = seq
    free = courses.course(title="自由学习")
    courses.video_lesson(free)
    later = courses.video_lesson(free, title="第二课")
    ids = first.id, later.id
    auth.login(member)
    for lesson_id in ids:
        assert client.get(f"/courses/lessons/{lesson_id}").status_code == 200
        assert client.get(f"/courses/media/{lesson_id}/master.m3u8").status_code == 200


def test_an_editor_gets_the_same_answer_on_the_page_and_the_media(client, auth, make, seq):
    """Editors are not exempt on the page (they are redirected like members); the media routes agree."""
    course, first, second, third, member = seq
    second_id = second.id
    auth.login(make.user(role=Role.EDITOR))
    assert client.get(f"/courses/lessons/{second_id}").status_code == 302
    assert client.get(f"/courses/media/{second_id}/master.m3u8").status_code == 403
    assert client.get(f"/courses/media/{second_id}/download.mp4?download=1").status_code == 403


def test_the_lock_follows_the_member_not_the_lesson(client, auth, make, seq):
    """Once the member finishes lesson 1, lesson 2 opens for them, and only for them."""
    course, first, second, third, member = seq
    other = make.user()
    watching.complete_text_lesson(member, first, utcnow())
    db.session.commit()
    second_id = second.id
    auth.login(member)
    assert client.get(f"/courses/media/{second_id}/master.m3u8").status_code == 200
    auth.logout()
    auth.login(other)
    assert client.get(f"/courses/media/{second_id}/master.m3u8").status_code == 403


def _logged_in_clients(app, member, count: int) -> list[CsrfClient]:
    out = []
    for _ in range(count):
        c = CsrfClient(app.test_client())
        assert c.post("/login", data={"identifier": member.member_no, "password": PASSWORD}).status_code == 302
        out.append(c)
    return out


def _in_parallel(clients, send) -> list[int]:
    barrier = threading.Barrier(len(clients))
    statuses, errors = [], []

    def run(c):
        try:
            barrier.wait()
            statuses.append(send(c).status_code)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(repr(exc))

    threads = [threading.Thread(target=contextvars.Context().run, args=(run, c)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return statuses


def test_parallel_heartbeats_and_done_never_complete_a_locked_lesson(app, make, seq, monkeypatch):
    """Beats that would complete lesson 2 (0 → 8 s of an 8-s clip in 8 s) and "done" on lesson 3,
    sent many at a time while both are locked: every one is refused, nothing is completed or credited."""
    course, first, second, third, member = seq
    course_id, member_id, second_id, third_id = course.id, member.id, second.id, third.id
    clients = _logged_in_clients(app, member, 8)
    t0 = utcnow()
    clock = {"now": t0}
    monkeypatch.setattr("school.courses.views.utcnow", lambda: clock["now"])

    def beat(position, seq_no):
        return lambda c: c.post(f"/courses/lessons/{second_id}/heartbeat", json={
            "tab": "tab-1", "seq": seq_no, "position": position, "playing": True,
            "sent_at": 1_000_000 + (clock["now"] - t0).total_seconds(), "rate": 1})

    statuses = _in_parallel(clients, beat(0, 1))
    clock["now"] = t0 + timedelta(seconds=8)
    statuses += _in_parallel(clients, beat(8, 2))
    statuses += _in_parallel(clients, lambda c: c.post(f"/courses/lessons/{second_id}/still-here", json={}))
    statuses += _in_parallel(clients, lambda c: c.post(f"/courses/lessons/{third_id}/done"))
    assert set(statuses) == {403}
    db.session.expire_all()
    assert _watch_rows(member_id, second_id) == 0 and _watch_rows(member_id, third_id) == 0
    assert db.session.scalar(select(func.count(CourseCompletion.id)).where(
        CourseCompletion.member_id == member_id, CourseCompletion.course_id == course_id)) == 0
    assert db.session.scalar(select(func.count(CreditEntry.id)).where(CreditEntry.member_id == member_id)) == 0
    from school.accounts.models import User
    me = db.session.get(User, member_id)
    assert not completion.unlocked(me, db.session.get(Lesson, third_id))
