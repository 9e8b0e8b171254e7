"""Chunked, resumable uploads: the browser sends the file in pieces at the offset the server
has, so a dropped connection resumes where it stopped instead of starting over."""
from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from school import diskspace, jobs
from school.courses.errors import CourseError
from school.courses.media import media_root
from school.courses.models import Course, Upload
from school.courses.probe import ALLOWED_EXTENSIONS
from school.extensions import db

MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024
MAX_CHUNK_BYTES = 8 * 1024 * 1024
ABANDONED_AFTER = timedelta(days=2)
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,40}")  # as secrets.token_urlsafe makes them


def part_path(upload: Upload) -> Path:
    folder = media_root() / "uploads"
    folder.mkdir(exist_ok=True)
    return folder / f"{upload.token}.part"


def start(course: Course, user, filename: str, size: int, title: str, now: datetime) -> Upload:
    filename = Path(str(filename or "")).name.strip()
    suffix = Path(filename).suffix.lower()
    if suffix in {".m3u8", ".m3u", ".txt", ".ffconcat"}:
        raise CourseError("不接受播放列表或拼接列表（如 .m3u8），请上传视频或音频文件本身")
    if suffix not in ALLOWED_EXTENSIONS:
        raise CourseError(f"不支持的文件类型“{suffix or '无扩展名'}”，请上传 MP4、MOV、MKV、WEBM、MP3、M4A 等音视频文件")
    if size <= 0:
        raise CourseError("文件是空的（0 字节），请重新选择文件")
    if size > MAX_UPLOAD_BYTES:
        raise CourseError("文件超过 2 GB，请先压缩或分段后再上传")
    if not title.strip():
        raise CourseError("请填写课时标题")
    clean_abandoned(now)
    upload = Upload(token=secrets.token_urlsafe(18), user_id=user.id, course_id=course.id, title=title.strip()[:200],
                    filename=filename[:200], size=size, received=0, created_at=now, updated_at=now)
    db.session.add(upload)
    db.session.flush()
    part_path(upload).write_bytes(b"")
    return upload


def find(token: str, user) -> Upload | None:
    """The user's upload with this token; anything not shaped like a token names none (and never
    reaches the database: PostgreSQL refuses text with NUL in it)."""
    if not TOKEN.fullmatch(token or ""):
        return None
    return db.session.scalar(select(Upload).where(Upload.token == token, Upload.user_id == user.id))


def append(upload: Upload, offset: int, data: bytes, now: datetime) -> int:
    """Write a chunk at ``offset``; a chunk at any other offset than what we have is refused
    (the client then resumes from ``received``)."""
    if offset != upload.received:
        raise CourseError("续传位置不一致")
    if len(data) > MAX_CHUNK_BYTES:
        raise CourseError("分片过大")
    if upload.received + len(data) > upload.size:
        raise CourseError("上传的数据超过了文件大小")
    path = part_path(upload)
    try:
        with path.open("r+b" if path.exists() else "wb") as fh:
            fh.seek(offset)
            fh.write(data)
            fh.flush()
            fh.truncate()
    except OSError as exc:
        if not diskspace.is_full(exc):
            raise
        _cut(path, offset)  # what this chunk managed to write goes; what was received stays
        raise diskspace.DiskFull(diskspace.message(
            f"这一段没有保存（已收到的 {offset // (1024 * 1024)} MB 保留在服务器上）。",
            "请联系管理员清理服务器磁盘，然后重新选择同一个文件继续上传，会从断点续传。")) from None
    upload.received += len(data)
    upload.updated_at = now
    return upload.received


def _cut(path: Path, size: int) -> None:
    try:
        with path.open("r+b") as fh:
            fh.truncate(size)
    except OSError:
        pass


def discard(upload: Upload) -> None:
    part_path(upload).unlink(missing_ok=True)
    db.session.delete(upload)


def clean_abandoned(now: datetime) -> int:
    """Remove uploads nobody resumed for ``ABANDONED_AFTER`` (a closed browser, a lost phone),
    and partial files no upload row knows any more (a crash between the two); the caller
    commits. Runs when an upload starts and every hour from the job worker."""
    removed = 0
    for old in db.session.scalars(select(Upload).where(Upload.updated_at < now - ABANDONED_AFTER)).all():
        discard(old)
        removed += 1
    folder = media_root() / "uploads"
    if folder.is_dir():
        known = set(db.session.scalars(select(Upload.token)))
        cutoff = (now - ABANDONED_AFTER).replace(tzinfo=timezone.utc).timestamp()
        for part in folder.glob("*.part"):
            if part.stem not in known and part.stat().st_mtime < cutoff:
                part.unlink(missing_ok=True)
                removed += 1
    return removed


jobs.every(3600, "courses-clean-abandoned-uploads", clean_abandoned)
