"""Chunked upload through the editor's API, and every bad upload refused in Chinese with nothing left behind."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import pytest

from school import jobs
from school.accounts.models import Role
from school.courses import media
from school.courses.models import Lesson, Upload
from school.courses.probe import MediaRejected, probe
from school.extensions import db
from tests.factories import make_clip


def media_files(app):
    root = media.media_root()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def upload(client, course, name, data, title="课时", chunk=64 * 1024):
    start = client.post(f"/courses/manage/{course.id}/uploads", json={"filename": name, "size": len(data), "title": title})
    if start.status_code != 200:
        return start
    token = start.get_json()["token"]
    for offset in range(0, len(data), chunk):
        r = client.post(f"/courses/manage/uploads/{token}/chunk?offset={offset}", data=data[offset:offset + chunk],
                        headers={"Content-Type": "application/octet-stream", "X-CSRFToken": client.token()}, csrf=False)
        assert r.status_code == 200, r.get_json()
    return client.post(f"/courses/manage/uploads/{token}/finish", json={})


@pytest.fixture
def editor(auth, make):
    user = make.user(role=Role.EDITOR)
    auth.login(user)
    return user


def test_good_upload_in_chunks_creates_lesson_and_job(app, client, editor, courses, clips):
    course = courses.course()
    response = upload(client, course, "采茶.mp4", clips["small"].read_bytes(), title="采茶技术")
    assert response.status_code == 200, response.get_json()
    db.session.expire_all()
    lesson = db.session.get(Lesson, response.get_json()["lesson_id"])
    assert lesson.title == "采茶技术" and lesson.media_status == "processing"
    assert db.session.get(jobs.Job, lesson.job_id).state == jobs.QUEUED
    assert db.session.query(Upload).count() == 0
    status = client.get(f"/courses/manage/lessons/{lesson.id}/status").get_json()
    assert status["job"]["state"] == "queued" and status["job"]["progress"] == 0


def test_resume_after_a_dropped_chunk(app, client, editor, courses, clips):
    """A chunk sent at the wrong offset (the client lost track after a drop) is refused with what the server has."""
    course = courses.course()
    data = clips["small"].read_bytes()
    token = client.post(f"/courses/manage/{course.id}/uploads",
                        json={"filename": "a.mp4", "size": len(data), "title": "t"}).get_json()["token"]
    headers = {"X-CSRFToken": client.token()}
    assert client.post(f"/courses/manage/uploads/{token}/chunk?offset=0", data=data[:1000], headers=headers, csrf=False).status_code == 200
    again = client.post(f"/courses/manage/uploads/{token}/chunk?offset=0", data=data[:1000], headers=headers, csrf=False)
    assert again.status_code == 409 and again.get_json()["received"] == 1000
    assert client.get(f"/courses/manage/uploads/{token}").get_json()["received"] == 1000
    r = client.post(f"/courses/manage/uploads/{token}/chunk?offset=1000", data=data[1000:], headers=headers, csrf=False)
    assert r.get_json()["received"] == len(data)
    assert client.post(f"/courses/manage/uploads/{token}/finish", json={}).status_code == 200


def truncated(clips, tmp_path):
    path = make_clip(tmp_path / "whole.mp4", seconds=6, size="320x240", extra=("-movflags", "+faststart"))
    data = path.read_bytes()
    return data[: len(data) // 2]


BAD = {
    "text renamed .mp4": ("讲话.mp4", lambda c, t: "这不是视频，只是一段文字。\n".encode() * 50, "无法识别的文件"),
    "m3u8 playlist": ("list.m3u8", lambda c, t: b"#EXTM3U\n#EXTINF:3,\nfile:///etc/passwd\n", "播放列表"),
    "playlist renamed .mp4": ("list.mp4", lambda c, t: b"#EXTM3U\n#EXTINF:3,\nfile:///etc/passwd\n", "播放列表"),
    "concat list renamed .mp4": ("x.mp4", lambda c, t: b"ffconcat version 1.0\nfile '/etc/passwd'\n", "播放列表"),
    "truncated video": ("半截.mp4", truncated, "不完整"),
    "unknown extension": ("a.exe", lambda c, t: b"MZ" * 100, "不支持的文件类型"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_upload_is_refused_and_leaves_nothing(app, client, editor, courses, clips, tmp_path, case):
    name, make_data, message = BAD[case]
    course = courses.course()
    before = media_files(app)
    response = upload(client, course, name, make_data(clips, tmp_path))
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    db.session.expire_all()
    assert db.session.query(Lesson).count() == 0
    assert db.session.query(Upload).count() == 0
    assert db.session.query(jobs.Job).count() == 0
    assert media_files(app) == before


def test_zero_byte_upload_is_refused(app, client, editor, courses):
    course = courses.course()
    response = client.post(f"/courses/manage/{course.id}/uploads", json={"filename": "a.mp4", "size": 0, "title": "t"})
    assert response.status_code == 400 and "0 字节" in response.get_json()["error"]
    assert media_files(app) == []


def test_zero_byte_file_is_refused_by_probe(tmp_path):
    empty = tmp_path / "a.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaRejected, match="0 字节"):
        probe(empty)


def test_audio_only_upload_is_accepted(tmp_path):
    info = probe(make_clip(tmp_path / "voice.m4a", video=False))
    assert info.has_audio and not info.has_video


def test_cli_add_video_refuses_bad_file(app, runner, courses, tmp_path):
    courses.course(slug="cli-course")
    bad = tmp_path / "fake.mp4"
    bad.write_text("hello")
    result = runner.invoke(args=["courses", "add-video", str(bad), "--course", "cli-course", "--title", "x"])
    assert result.exit_code != 0 and "无法识别的文件" in result.output
    assert media_files(app) == []
    assert bad.exists()  # the editor's own file is never touched


@pytest.mark.parametrize("idle, kept", [
    (timedelta(hours=1), True),
    (timedelta(days=2) - timedelta(minutes=1), True),
    (timedelta(days=2, minutes=1), False),
    (timedelta(days=30), False),
])
def test_the_hourly_sweep_removes_uploads_nobody_resumed(app, make, courses, idle, kept):
    from school.courses import uploads

    now = datetime(2026, 11, 27, 12, 0)
    course = courses.course()
    upload = uploads.start(course, make.user(role=Role.EDITOR), "a.mp4", 10, "课时", now - idle)
    part = uploads.part_path(upload)
    db.session.commit()
    assert "courses-clean-abandoned-uploads" in jobs.run_periodic(now, {})
    db.session.expire_all()
    assert (db.session.query(Upload).count() == 1) is kept
    assert part.exists() is kept


@pytest.mark.parametrize("age, kept", [(timedelta(hours=3), True), (timedelta(days=3), False)])
def test_the_sweep_removes_partial_files_no_upload_knows(app, courses, age, kept):
    from school.courses import uploads

    now = datetime(2026, 11, 27, 12, 0)
    folder = media.media_root() / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    orphan = folder / "left-by-a-crash.part"
    orphan.write_bytes(b"\0" * 10)
    stamp = (now - age).replace(tzinfo=timezone.utc).timestamp()
    os.utime(orphan, (stamp, stamp))
    uploads.clean_abandoned(now)
    assert orphan.exists() is kept
