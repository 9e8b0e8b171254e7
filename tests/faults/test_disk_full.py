"""A full disk is an expected state: every write path says "磁盘空间不足：……" with what was kept
and what to do, leaves no half-written file, and ``/healthz`` reports it. The disk is a 2 MB
tmpfs mounted for the test (root only; skipped with a message otherwise)."""
from __future__ import annotations

import io
import shutil
import sqlite3
import subprocess
import tempfile
import uuid

import pytest
from sqlalchemy import event, func, select, text

from school import jobs
from school.accounts.models import Role
from school.courses import media, services
from school.courses.models import Lesson, MediaStatus
from school.extensions import db
from school.library.models import Document
from school.notices import services as notices
from school.notices.models import Notice
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


def test_backup_to_a_full_disk_leaves_nothing_and_the_retry_works(app, runner, small_disk):
    """SQLite: VACUUM INTO; PostgreSQL: pg_dump --format=custom (the database itself is not on
    the small disk, the backup is)."""
    if PG_URL and not shutil.which("pg_dump"):
        pytest.skip("没有安装 pg_dump（postgresql-client），跳过 PostgreSQL 备份的测试")
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
    if PG_URL:
        listing = subprocess.run(["pg_restore", "--list", str(target)], capture_output=True, text=True, check=True)
        assert "TABLE DATA public users" in listing.stdout
    else:
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


# --- library: the web upload and ``school library import`` ---------------------------------


def corpus(folder, count: int, start: int = 0):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        (folder / f"法规{i}.md").write_text(f"# 第{i}号规定\n\n第一条　为了测试磁盘写满，制定本规定。编号 {i}。\n",
                                            encoding="utf-8")
    return folder


def test_library_pdf_upload_on_a_full_disk(app, client, auth, make, full_media):
    from tests.library.test_importer import _pdf

    auth.login(make.user(role=Role.EDITOR))
    pdf = _pdf(["Party newspaper page one", "Rural revitalisation report"] * 40)
    filler = fill(full_media, leave=1024)

    def upload():
        return client.post("/library/manage/upload", data={"file": (io.BytesIO(pdf), "人民日报.pdf"), "category": "press"},
                           content_type="multipart/form-data", follow_redirects=True)
    page = upload().get_data(as_text=True)
    assert "磁盘空间不足：“人民日报.pdf”未能导入，文献和 PDF 原件都没有保存" in page and "服务器出错了" not in page
    assert files(full_media / "media") == []  # no half-written PDF in media/library
    assert db.session.scalar(select(func.count(Document.id))) == 0
    filler.unlink()
    assert "已从“人民日报.pdf”创建草稿" in upload().get_data(as_text=True)
    assert len(files(full_media / "media" / "library")) == 1


@pytest.fixture
def full_index(app, small_disk):
    """The search index on a small file system; call it to fill the disk."""
    disk = small_disk("2m")
    app.config["SEARCH_INDEX_DIR"] = str(disk / "search-index")
    return disk


def test_library_import_when_the_index_disk_is_full(app, runner, tmp_path, full_index):
    from school.library import index, search

    assert runner.invoke(args=["library", "import", str(corpus(tmp_path / "a", 3))]).exit_code == 0
    index.rebuild()
    before = files(full_index)
    filler = fill(full_index, leave=0)
    result = runner.invoke(args=["library", "import", str(corpus(tmp_path / "b", 30, start=10))])
    assert result.exit_code != 0
    assert "新增 30 篇" in result.output and "磁盘空间不足：文献已导入数据库，但搜索索引没有写完" in result.output
    assert "school search rebuild" in result.output and "Traceback" not in result.output
    assert db.session.scalar(select(func.count(Document.id))) == 33  # the documents are kept
    # Nothing half-written stays: the index holds what it held (its state file is dropped: stale).
    assert set(files(full_index)) - {"filler.bin"} <= set(before)
    filler.unlink()
    assert search.search("第25号规定", include_drafts=True).total >= 1  # rebuilt from the database


def test_library_rebuild_on_a_full_disk_removes_the_half_written_index(app, runner, tmp_path, full_index):
    assert runner.invoke(args=["library", "import", str(corpus(tmp_path / "a", 5))]).exit_code == 0
    fill(full_index, leave=0)
    result = runner.invoke(args=["search", "rebuild"])
    assert result.exit_code != 0
    # No search-index.new left keeping the disk full. (With SQLite the writers' lock is an
    # empty file beside the index; PostgreSQL takes an advisory lock instead.)
    assert set(files(full_index)) - {"search-index.lock"} == {"filler.bin"}
    lock = full_index / "search-index.lock"
    assert not lock.exists() or lock.stat().st_size == 0


@pytest.fixture
def full_sqlite_database(app):
    """SQLite's own limit on the database size (``PRAGMA max_page_count``): a write beyond it
    fails exactly as on a full disk ("database or disk is full")."""
    if PG_URL:
        pytest.skip("PostgreSQL 的数据库不在测试挂载的小磁盘上；用 SQLite 的 max_page_count 测试数据库写满")
    engine = db.engine

    def limit(pages):
        def on_connect(dbapi_connection, record):
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages}")
        db.session.remove()
        engine.dispose()
        event.listen(engine, "connect", on_connect)
        return on_connect
    listeners = []
    yield lambda pages: listeners.append(limit(pages))
    db.session.remove()
    engine.dispose()
    for listener in listeners:
        event.remove(engine, "connect", listener)


def test_library_import_when_the_database_is_full(app, runner, tmp_path, full_sqlite_database):
    pages = db.session.execute(text("PRAGMA page_count")).scalar()
    full_sqlite_database(pages + 40)
    result = runner.invoke(args=["library", "import", str(corpus(tmp_path / "a", 400))])
    assert result.exit_code != 0
    assert "磁盘空间不足：导入没有完成。导入每 50 个文件提交一次，已提交的文献保留" in result.output
    assert "Traceback" not in result.output and "OperationalError" not in result.output
    kept = db.session.scalar(select(func.count(Document.id)))
    assert 0 < kept < 400 and kept % 50 == 0  # whole batches, as committed


def test_library_upload_when_the_database_is_full(app, client, auth, make, full_sqlite_database):
    auth.login(make.user(role=Role.EDITOR))
    pages = db.session.execute(text("PRAGMA page_count")).scalar()
    full_sqlite_database(pages)
    body = "# 长文\n\n" + "第一条　为了测试数据库写满。\n" * 3000
    response = client.post("/library/manage/upload", data={"file": (io.BytesIO(body.encode()), "长文.md"),
                                                           "category": "law"},
                           content_type="multipart/form-data", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "磁盘空间不足：“长文.md”未能导入，文献和 PDF 原件都没有保存" in page and "服务器出错了" not in page
    assert db.session.scalar(select(func.count(Document.id))) == 0


# --- attachments ------------------------------------------------------------------------


def test_notice_attachment_on_a_full_disk(app, client, auth, make, full_media):
    t = make.tree()
    auth.login(make.user(org=t["a"], role=Role.SECRETARY))
    pdf = b"%PDF-1.4 " + b"x" * 200_000
    form = {"org_id": t["a"].id, "title": "三会一课安排", "body": "周五学习", "token": notices.new_token()}
    filler = fill(full_media, leave=16 * 1024)
    response = client.post("/notices/manage/new", data={**form, "attachment": (io.BytesIO(pdf), "安排.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 507
    page = response.get_data(as_text=True)
    assert "磁盘空间不足：您刚才的操作没有完成，上传的文件和填写的内容都没有保存" in page and "Traceback" not in page
    assert files(full_media / "media") == []
    assert db.session.scalar(select(func.count(Notice.id))) == 0
    filler.unlink()
    response = client.post("/notices/manage/new", data={**form, "attachment": (io.BytesIO(pdf), "安排.pdf")},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    assert len(files(full_media / "media" / "notices")) == 1


# --- report exports ---------------------------------------------------------------------


@pytest.fixture
def report_world(make):
    t = make.tree()
    for i in range(30):
        make.user(org=t["a1" if i % 2 else "a2"], name=f"党员{i}")
    return t


def test_report_xlsx_export_with_a_full_temporary_folder(app, client, auth, make, report_world, small_disk,
                                                         monkeypatch):
    disk = small_disk("2m")
    monkeypatch.setattr(tempfile, "tempdir", str(disk))  # where mkstemp and openpyxl's sheet files go
    auth.login(make.user(role=Role.ADMIN))
    filler = fill(disk, leave=0)
    response = client.get("/reports/export.xlsx")
    assert response.status_code == 507
    page = response.get_data(as_text=True)
    assert "磁盘空间不足：报表没有生成，未完成的临时文件已删除" in page and "服务器出错了" not in page
    assert files(disk) == ["filler.bin"]  # neither the report nor openpyxl's sheet files stay
    filler.unlink()
    response = client.get("/reports/export.xlsx")
    assert response.status_code == 200 and response.data.startswith(b"PK")
    response.close()
    assert files(disk) == []


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_report_cli_export_to_a_full_disk(app, runner, report_world, small_disk, fmt):
    disk = small_disk("2m")
    filler = fill(disk, leave=0)
    target = disk / f"report.{fmt}"
    result = runner.invoke(args=["reports", "branch", "第一党总支", "--format", fmt, "-o", str(target)])
    assert result.exit_code != 0
    assert "磁盘空间不足：报表没有导出完，未留下任何文件" in result.output and "Traceback" not in result.output
    assert files(disk) == ["filler.bin"]
    filler.unlink()
    result = runner.invoke(args=["reports", "branch", "第一党总支", "--format", fmt, "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert files(disk) == [f"report.{fmt}"]


def test_lxml_full_disk_error_is_recognised():
    from lxml.etree import SerialisationError

    from school import diskspace

    assert diskspace.is_full(SerialisationError("IO_ENOSPC"))
    assert diskspace.is_full(OSError("[Errno 28] No space left on device"))
    assert not diskspace.is_full(SerialisationError("IO_EACCES"))
