"""A video lesson on a 360-px phone: the poster and controls first; hls.js (the light build)
fetched once the page has loaded and run only when the member presses play; the stream's first
files fetched once each, in parallel with hls.js, and handed to it; on a second visit all of that
comes from the cache."""
from __future__ import annotations

from collections import Counter

import pytest

from school.extensions import db
from tests.browser.test_courses_journey import wait_until
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _open_lesson(page, live_server, member, lesson, requests):
    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(member.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#credit-progress")
    requests.clear()
    page.goto(f"{live_server}/courses/lessons/{lesson.id}")
    page.wait_for_load_state("networkidle")


def test_lesson_page_runs_no_player_script_until_play(live_server, phone_page, make, courses):
    member = make.user(name="王小田")
    lesson = courses.video_lesson(courses.course(title="春耕"), title="整地")
    db.session.commit()
    page = phone_page
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    _open_lesson(page, live_server, member, lesson, requests)

    assert page.locator("#video").get_attribute("poster")
    assert page.locator("#quality").is_visible()
    hls = [u for u in requests if "/static/vendor/hls.light.min." in u]
    assert len(hls) == 1, requests  # fetched after the page loaded, to be ready for the press
    poster = next(u for u in requests if u.endswith("/poster.jpg"))
    assert requests.index(poster) < requests.index(hls[0])
    assert not [u for u in requests if ".m3u8" in u or ".m4s" in u], requests  # no stream before play
    assert page.evaluate("typeof window.Hls") == "undefined"  # fetched, not run
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play(); }")
    wait_until(page, "document.getElementById('video').currentTime > 1")
    assert page.evaluate("typeof window.Hls") == "function"
    prefix = f"/courses/media/{lesson.id}/k/{lesson.media_key}/"  # the URLs name the media key
    media = Counter(u.split(prefix, 1)[1] for u in requests if prefix in u)
    # The lowest rung from the start, each of its first files fetched once, no speed-test download.
    for name in ("master.m3u8", "v0/index.m3u8", "v0/init_0.mp4", "v0/seg000.m4s"):
        assert media[name] == 1, media
    assert not [n for n in media if n.startswith(("v1/", "v2/", "v3/"))], media
    assert page.locator("#player-status").inner_text() == ""


def test_save_data_leaves_the_player_script_until_play(live_server, phone_page, make, courses):
    member = make.user(name="李小满")
    lesson = courses.video_lesson(courses.course(title="春耕"), title="整地")
    db.session.commit()
    page = phone_page
    page.add_init_script("Object.defineProperty(Navigator.prototype, 'connection', "
                         "{ get() { return { saveData: true, effectiveType: '4g', downlink: 10 }; } });")
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    _open_lesson(page, live_server, member, lesson, requests)
    assert not [u for u in requests if "hls" in u], requests

    page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play(); }")
    wait_until(page, "document.getElementById('video').currentTime > 1")
    assert len([u for u in requests if "/static/vendor/hls.light.min." in u]) == 1


def test_a_second_visit_plays_from_the_cache_without_asking_the_server(app, live_server, phone_page, make, courses,
                                                                       monkeypatch):
    """Media URLs name the media key and are cached for a year, and the session cookie (which
    media responses vary on) no longer changes on every response: opening the lesson again and
    pressing play sends no media request, not even a revalidation (a 400 ms round trip each on a
    village link)."""
    member = make.user(name="赵春苗")
    lesson = courses.video_lesson(courses.course(title="春耕"), title="选种")
    db.session.commit()
    seen = []  # (path, conditional?) of every request the server answers
    inner = app.wsgi_app

    def counting(environ, start_response):
        seen.append((environ["PATH_INFO"], "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MODIFIED_SINCE" in environ))
        return inner(environ, start_response)

    monkeypatch.setattr(app, "wsgi_app", counting)
    page = phone_page
    play = "() => { const v = document.getElementById('video'); v.muted = true; v.play(); }"
    _open_lesson(page, live_server, member, lesson, [])
    page.evaluate(play)
    wait_until(page, "document.getElementById('video').currentTime > 1")
    prefix = f"/courses/media/{lesson.id}/k/{lesson.media_key}/"
    assert f"{prefix}v0/seg000.m4s" in [p for p, _ in seen]
    page.goto("about:blank")

    seen.clear()
    page.goto(f"{live_server}/courses/lessons/{lesson.id}")
    page.evaluate(play)
    wait_until(page, "(() => { const v = document.getElementById('video');"
                     " return v.currentTime > 0 && v.readyState >= 2; })()")
    media = [p for p, _ in seen if p.startswith("/courses/media/")]
    for name in ("poster.jpg", "master.m3u8", "v0/index.m3u8", "v0/init_0.mp4", "v0/seg000.m4s"):
        assert prefix + name not in media, seen
    assert not [p for p, conditional in seen if conditional], seen  # no 304 round trips either
    assert f"/courses/lessons/{lesson.id}" in [p for p, _ in seen]  # the page itself is never cached
