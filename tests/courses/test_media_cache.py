"""Repeat visits on a weak link: the session cookie is not re-sent on every response (media
responses carry "Vary: Cookie", so a new cookie made every cached file miss), and the pages
link media by URLs that name their version, cached for a year and changed by a new transcode
or a new upload."""
from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from school import jobs
from school.courses import media
from school.courses.models import Course, Lesson
from school.extensions import db
from school.timeutil import utcnow
from tests.courses.test_transcode import add_and_transcode

IMMUTABLE = "private, max-age=31536000, immutable"


def session_cookies(response) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith("school_session=")]


def test_login_sets_the_cookie_once_and_later_requests_do_not(app, client, auth, make, courses):
    course = courses.course()
    lesson = courses.video_lesson(course)
    member = make.user()
    login = auth.login(member)
    [cookie] = session_cookies(login)
    # The cookie expires with the login on the server (12 hours from the login, not sliding).
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    assert abs(expires - (datetime.now(timezone.utc) + timedelta(hours=12))) < timedelta(minutes=1)
    client.get("/")  # the first page after login stores a new CSRF token: that changes the session
    for url in ["/", f"/courses/lessons/{lesson.id}", f"/courses/{course.id}",
                f"/courses/media/{lesson.id}/k/{lesson.media_key}/master.m3u8",
                f"/courses/media/{lesson.id}/k/{lesson.media_key}/v0/index.m3u8", "/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert session_cookies(response) == [], url
    # Still logged in, and the session still changes when it must: logging out clears it.
    assert client.get("/").status_code == 200
    logout = auth.logout()
    assert session_cookies(logout)
    assert client.get("/").status_code == 302


def test_media_responses_are_cached_for_a_year_without_a_new_cookie(client, auth, make, courses):
    course = courses.course()
    lesson = courses.video_lesson(course)
    auth.login(make.user())
    client.get("/")
    page = client.get(f"/courses/lessons/{lesson.id}").get_data(as_text=True)
    base = f"/courses/media/{lesson.id}/k/{lesson.media_key}/"
    assert f'data-master="{base}master.m3u8"' in page
    assert f'poster="{base}poster.jpg"' in page
    assert f"{base}download.mp4?download=1" in page
    for name in ["master.m3u8", "v0/index.m3u8", "v0/init_0.mp4", "v0/seg000.m4s", "poster.jpg"]:
        response = client.get(base + name)
        assert response.status_code == 200, name
        assert response.headers["Cache-Control"] == IMMUTABLE, name
        assert "Expires" not in response.headers
        assert session_cookies(response) == [], name
        # Vary: Cookie stays (another member on the same browser must not see these files),
        # and is harmless now that the cookie no longer changes.
        assert "Cookie" in response.headers.get("Vary", "")


def test_subtitles_and_covers_are_versioned_by_their_stored_name(client, auth, make, courses):
    course = courses.course()
    lesson = courses.video_lesson(course)
    poster = (media.media_dir(lesson) / "poster.jpg").read_bytes()
    media.save_cover(course, poster, "cover.jpg")
    media.save_subtitles(lesson, "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n大家好\n".encode())
    db.session.commit()
    first_cover, first_subtitles = course.cover_name, lesson.subtitles_name
    auth.login(make.user())
    page = client.get(f"/courses/lessons/{lesson.id}").get_data(as_text=True)
    subtitles = f"/courses/lessons/{lesson.id}/subtitles.vtt?v={first_subtitles}"
    assert f'src="{subtitles}"' in page
    assert client.get(subtitles).headers["Cache-Control"] == IMMUTABLE
    cover = f"/courses/{course.id}/cover.jpg?v={first_cover}"
    assert f'src="{cover}"' in client.get("/courses/").get_data(as_text=True)
    assert client.get(cover).headers["Cache-Control"] == IMMUTABLE
    # A stale or missing version is served, but checked each time.
    assert client.get(f"/courses/{course.id}/cover.jpg").headers["Cache-Control"] == "private, no-cache"
    assert client.get(f"/courses/lessons/{lesson.id}/subtitles.vtt?v=old").headers["Cache-Control"] == "private, no-cache"
    # A new upload: a new name, so a new URL on the pages.
    media.save_cover(course, poster, "cover.jpg")
    media.save_subtitles(lesson, "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n同志们好\n".encode())
    db.session.commit()
    assert course.cover_name != first_cover and lesson.subtitles_name != first_subtitles
    page = client.get(f"/courses/lessons/{lesson.id}").get_data(as_text=True)
    assert f"subtitles.vtt?v={lesson.subtitles_name}" in page and first_subtitles not in page
    assert f"cover.jpg?v={course.cover_name}" in client.get("/courses/").get_data(as_text=True)


def test_a_re_transcoded_lesson_gets_new_urls(app, client, auth, make, courses, clips):
    course = courses.course()
    lesson, _ = add_and_transcode(course, clips["720p"])
    old_key = lesson.media_key
    auth.login(make.user())
    page = client.get(f"/courses/lessons/{lesson.id}").get_data(as_text=True)
    old_master = re.search(r'data-master="([^"]+)"', page).group(1)
    assert old_master == f"/courses/media/{lesson.id}/k/{old_key}/master.m3u8"
    assert client.get(old_master).status_code == 200

    # The editor's video is transcoded again (a new source for the same lesson).
    sources = media.media_root() / "sources"
    sources.mkdir(exist_ok=True)
    shutil.copyfile(clips["small"], sources / "again.mp4")
    lesson = db.session.get(Lesson, lesson.id)
    lesson.source_path = "sources/again.mp4"
    job = jobs.enqueue("school.courses.transcode_job:transcode_job", {"lesson_id": lesson.id}, utcnow())
    db.session.commit()
    assert (job.id, jobs.DONE) in jobs.run_until_empty()
    db.session.expire_all()
    lesson = db.session.get(Lesson, lesson.id)
    assert lesson.media_key != old_key

    page = client.get(f"/courses/lessons/{lesson.id}").get_data(as_text=True)
    new_master = re.search(r'data-master="([^"]+)"', page).group(1)
    assert new_master == f"/courses/media/{lesson.id}/k/{lesson.media_key}/master.m3u8"
    assert new_master != old_master and old_key not in page
    response = client.get(new_master)
    assert response.status_code == 200 and response.headers["Cache-Control"] == IMMUTABLE
    assert response.data == (media.media_dir(lesson) / "master.m3u8").read_bytes()
    # The old URL names files that are gone: a 404, never the new files under an old name.
    assert client.get(old_master).status_code == 404
    assert db.session.get(Course, course.id) is not None
