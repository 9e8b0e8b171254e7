"""A full disk is an expected state: every write path says "磁盘空间不足：……" with what was kept
and what to do, leaves no half-written file, and ``/healthz`` reports it. The disk is a 2 MB
tmpfs mounted for the test (root only; skipped with a message otherwise)."""
from __future__ import annotations

import sqlite3
import uuid

import pytest
from sqlalchemy import func, select

from school import jobs
from school.accounts.models import Role
from school.courses import media, services
from school.courses.models import Lesson, MediaStatus
from school.extensions import db
from school.timeutil import utcnow
from tests.conftest import PG_URL
from tests.faults.conftest import fill


def files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def full_media(app, small_disk):
    """MEDIA_DIR on a small file system; call it to fill the disk."""
    disk = small_disk("2m")
    app.config["MEDIA_DIR"] = str(disk / "media")
    (disk / "media").mkdir()
    return disk


def test_add_video_on_a_full_disk(app, runner, courses, clips, full_media):
    courses.course(slug="full")
    (full_media / "media" / "uploads").mkdir()
    fill(full_media, leave=32 * 1024)
    result = runner.invoke(args=["courses", "add-video", str(clips["small"]), "--course", "full", "--title", "第一课"])
    assert result.exit_code != 0
    assert "磁盘空间不足" in result.output and "已删除复制了一半的文件" in result.output
    assert "Traceback" not in result.output and "Errno" not in result.output
    assert files(full_media / "media") == []  # no tmp*.part keeps the disk full
    assert db.session.scalar(select(func.count()).select_from(Lesson)) == 0


def test_upload_chunk_on_a_full_disk(app, client, auth, make, courses, clips, full_media):
    course = courses.course()
    auth.login(make.user(role=Role.EDITOR))
    data = clips["small"].read_bytes()
    token = client.post(f"/courses/manage/{course.id}/uploads",
                        json={"filename": "a.mp4", "size": len(data), "title": "第一课"}).get_json()["token"]
    filler = fill(full_media, leave=16 * 1024)

    def chunk(offset, size):
        return client.post(f"/courses/manage/uploads/{token}/chunk?offset={offset}", data=data[offset:offset + size],
                           csrf=False, headers={"Content-Type": "application/octet-stream",
                                                "X-CSRFToken": client.token()})
    response = chunk(0, 256 * 1024)
    assert response.status_code == 507
    body = response.get_json()
    assert body["error"].startswith("磁盘空间不足：") and "断点续传" in body["error"] and body["received"] == 0
    part = full_media / "media" / "uploads" / f"{token}.part"
    assert part.stat().st_size == 0  # what the refused chunk managed to write is gone
    filler.unlink()  # the administrator frees space; the upload resumes where it was
    for offset in range(0, len(data), 256 * 1024):
        assert chunk(offset, 256 * 1024).status_code == 200
    assert part.stat().st_size == len(data)


def test_transcode_on_a_full_disk(app, courses, clips, full_media):
    course = courses.course()
    staged = full_media / "media" / "uploads" / f"{uuid.uuid4().hex}.part"
    staged.parent.mkdir()
    staged.write_bytes(clips["small"].read_bytes())
    lesson = services.add_video_lesson(course, "课", staged, "a.mp4", utcnow())
    db.session.commit()
    fill(full_media, leave=64 * 1024)
    assert jobs.run_until_empty() == [(lesson.job_id, jobs.FAILED)]
    db.session.expire_all()
    lesson = db.session.get(Lesson, lesson.id)
    assert lesson.media_status == MediaStatus.FAILED
    assert lesson.media_error.startswith("磁盘空间不足：") and "原始文件已保留" in lesson.media_error
    assert (media.media_root() / lesson.source_path).is_file()
    assert not list((full_media / "media" / "videos").glob(".partial-*"))


@pytest.mark.skipif(bool(PG_URL), reason="school backup 在 PostgreSQL 上只打印 pg_dump 命令")
def test_backup_to_a_full_disk_leaves_nothing_and_the_retry_works(app, runner, small_disk):
    disk = small_disk("2m")
    filler = fill(disk, leave=8 * 1024)
    target = disk / "backup.db"
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code != 0
    assert "磁盘空间不足" in result.output and "未留下任何文件" in result.output and "Traceback" not in result.output
    assert files(disk) == ["filler.bin"]  # no 0-byte "backup", no temporary file
    filler.unlink()
    result = runner.invoke(args=["backup", str(target)])
    assert result.exit_code == 0, result.output
    check = sqlite3.connect(target)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()
    assert files(disk) == ["backup.db"]


def test_healthz_turns_unhealthy_when_free_space_is_low(app, client, full_media):
    app.config["MIN_FREE_MB"] = 1
    assert client.get("/healthz").status_code == 200
    fill(full_media, leave=64 * 1024)
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["disk"] == "low" and "media" in body["free_mb"] and body["reason"].startswith("磁盘空间不足")


def test_healthz_threshold_is_configurable(app, client):
    app.config["MIN_FREE_MB"] = 10 ** 9  # more than any disk has
    response = client.get("/healthz")
    assert response.status_code == 503 and "SCHOOL_MIN_FREE_MB" in response.get_json()["reason"]
