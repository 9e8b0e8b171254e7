"""Media serving: Range (206), MIME types, cache headers, X-Accel-Redirect, and the audience check."""
from __future__ import annotations

import pytest

from school.accounts.models import Role


@pytest.fixture
def setup(app, make, courses):
    t = make.tree()
    course = courses.course(orgs=[t["a"]], track="rural", category="planting", title="茶叶种植")
    lesson = courses.video_lesson(course)
    inside = make.user(org=t["a1"])
    outside = make.user(org=t["b1"])
    return course, lesson, inside, outside


FILES = [
    ("master.m3u8", "application/vnd.apple.mpegurl"),
    ("v0/index.m3u8", "application/vnd.apple.mpegurl"),
    ("v0/init_0.mp4", "video/mp4"),
    ("v0/seg000.m4s", "video/iso.segment"),
    ("audio/index.m3u8", "application/vnd.apple.mpegurl"),
    ("audio/seg000.m4s", "video/iso.segment"),
    ("download.mp4", "video/mp4"),
    ("poster.jpg", "image/jpeg"),
]


@pytest.mark.parametrize("name,mime", FILES)
def test_mime_and_cache_headers(client, auth, setup, name, mime):
    course, lesson, inside, outside = setup
    auth.login(inside)
    # The URL the pages use names the media key: what it names never changes.
    response = client.get(f"/courses/media/{lesson.id}/k/{lesson.media_key}/{name}")
    assert response.status_code == 200
    assert response.mimetype == mime
    assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response.headers.get("Accept-Ranges") == "bytes"
    # Without the key (an old page, a bookmark) the same file is checked each time.
    plain = client.get(f"/courses/media/{lesson.id}/{name}")
    assert plain.status_code == 200 and plain.data == response.data
    assert plain.headers["Cache-Control"] == "private, no-cache"


def test_range_request_gets_206(client, auth, setup):
    course, lesson, inside, outside = setup
    auth.login(inside)
    whole = client.get(f"/courses/media/{lesson.id}/download.mp4").data
    part = client.get(f"/courses/media/{lesson.id}/download.mp4", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert part.data == whole[100:200]
    tail = client.get(f"/courses/media/{lesson.id}/download.mp4", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.data == whole[-50:]
    bad = client.get(f"/courses/media/{lesson.id}/download.mp4", headers={"Range": f"bytes={len(whole) + 10}-"})
    assert bad.status_code == 416


def test_download_is_an_attachment_with_the_lesson_name(client, auth, setup):
    course, lesson, inside, outside = setup
    auth.login(inside)
    response = client.get(f"/courses/media/{lesson.id}/download.mp4?download=1")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in response.headers["Content-Disposition"]


def test_member_outside_audience_gets_404_everywhere(client, auth, setup):
    course, lesson, inside, outside = setup
    auth.login(outside)
    for url in [f"/courses/{course.id}", f"/courses/lessons/{lesson.id}", f"/courses/lessons/{lesson.id}/subtitles.vtt",
                *[f"/courses/media/{lesson.id}/{name}" for name, _ in FILES],
                *[f"/courses/media/{lesson.id}/k/{lesson.media_key}/{name}" for name, _ in FILES]]:
        assert client.get(url).status_code == 404, url
    assert client.post(f"/courses/lessons/{lesson.id}/heartbeat",
                       json={"tab": "x", "seq": 1, "position": 0, "playing": True, "sent_at": 0}).status_code == 404
    assert course.title not in client.get("/courses/").get_data(as_text=True)
    assert course.title not in client.get("/courses/rural").get_data(as_text=True)


def test_anonymous_is_sent_to_login(client, setup):
    course, lesson, inside, outside = setup
    response = client.get(f"/courses/media/{lesson.id}/master.m3u8")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_unknown_names_and_traversal_are_404(client, auth, setup):
    course, lesson, inside, outside = setup
    auth.login(inside)
    for name in ["../../secret_key", "v0/../../x", "notes.txt", "v0/index.m3u8.bak", "%2e%2e/x"]:
        assert client.get(f"/courses/media/{lesson.id}/{name}").status_code == 404, name
        assert client.get(f"/courses/media/{lesson.id}/k/{lesson.media_key}/{name}").status_code == 404, name
    for key in ["0" * 20, "../" + lesson.media_key, lesson.media_key + "x"]:
        assert client.get(f"/courses/media/{lesson.id}/k/{key}/master.m3u8").status_code == 404, key


def test_accel_redirect(app, client, auth, setup):
    course, lesson, inside, outside = setup
    app.config["ACCEL_REDIRECT"] = "/protected-media/"
    auth.login(inside)
    response = client.get(f"/courses/media/{lesson.id}/k/{lesson.media_key}/v0/seg000.m4s")
    assert response.status_code == 200 and response.data == b""
    assert response.headers["X-Accel-Redirect"] == f"/protected-media/videos/{lesson.media_key}/v0/seg000.m4s"
    assert response.mimetype == "video/iso.segment"
    assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"


def test_subtitles_uploaded_by_editor_are_served_as_vtt(app, client, auth, make, setup):
    import io

    course, lesson, inside, outside = setup
    auth.login(make.user(role=Role.EDITOR))
    bad = client.post(f"/courses/manage/lessons/{lesson.id}/subtitles",
                      data={"file": (io.BytesIO(b"1\n00:00:01,000 --> 00:00:02,000\nhi"), "a.srt")},
                      content_type="multipart/form-data", follow_redirects=True)
    assert "WEBVTT" in bad.get_data(as_text=True)
    vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n大家好\n".encode()
    client.post(f"/courses/manage/lessons/{lesson.id}/subtitles", data={"file": (io.BytesIO(vtt), "zh.vtt")},
                content_type="multipart/form-data")
    auth.logout()
    auth.login(inside)
    response = client.get(f"/courses/lessons/{lesson.id}/subtitles.vtt")
    assert response.status_code == 200 and response.mimetype == "text/vtt" and "大家好" in response.get_data(as_text=True)
    assert 'kind="subtitles"' in client.get(f"/courses/lessons/{lesson.id}").get_data(as_text=True)
