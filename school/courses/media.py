"""Course files on disk: where they live (media_root, media_dir, subtitles_path, cover_path),
saving subtitles and covers, and deleting a lesson's files.

Layout under ``MEDIA_DIR``: ``videos/<key>/`` (a lesson's renditions), ``sources/`` (uploads
waiting for their transcode), ``uploads/`` (chunked uploads in progress), ``subtitles/`` and
``covers/``. Nothing here commits; the caller does.
"""
from __future__ import annotations

import secrets
import shutil
import tempfile
from pathlib import Path

from flask import current_app

from school import children
from school.courses import probe as media_probe
from school.courses import subtitles
from school.courses.errors import CourseError
from school.courses.models import Course, Lesson


def media_root() -> Path:
    root = Path(current_app.config["MEDIA_DIR"])
    root.mkdir(parents=True, exist_ok=True)
    return root


MEDIA_ID_FILE = ".media-id"


def media_id(create: bool = True) -> str | None:
    """A random name for this media folder, kept in it (``.media-id``). A job records the media
    folder its files were stored in, so a node mounting another folder leaves the job alone."""
    marker = media_root() / MEDIA_ID_FILE
    try:
        return marker.read_text().strip() or None
    except FileNotFoundError:
        if not create:
            return None
    value = secrets.token_hex(8)
    partial = marker.with_name(f"{MEDIA_ID_FILE}.{value}")
    partial.write_text(value)
    try:
        partial.rename(marker) if not marker.exists() else partial.unlink()
    except OSError:
        partial.unlink(missing_ok=True)
        raise
    return marker.read_text().strip()


def media_dir(lesson: Lesson) -> Path | None:
    return media_root() / "videos" / lesson.media_key if lesson.media_key else None


def subtitles_path(lesson: Lesson) -> Path | None:
    return media_root() / "subtitles" / lesson.subtitles_name if lesson.subtitles_name else None


def cover_path(course: Course) -> Path | None:
    return media_root() / "covers" / course.cover_name if course.cover_name else None


def delete_lesson_files(lesson: Lesson) -> None:
    """The lesson's renditions, its untranscoded source and its subtitles."""
    for path in (media_dir(lesson),):
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
    if lesson.source_path:
        (media_root() / lesson.source_path).unlink(missing_ok=True)
    if sub := subtitles_path(lesson):
        sub.unlink(missing_ok=True)


def save_subtitles(lesson: Lesson, data: bytes) -> None:
    """A WebVTT file: UTF-8 text starting with WEBVTT, at most 2 MB."""
    if not data:
        raise CourseError("字幕文件是空的")
    if len(data) > 2 * 1024 * 1024:
        raise CourseError("字幕文件不能超过 2 MB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CourseError("字幕文件必须是 UTF-8 编码的 WebVTT（.vtt）文件")
    if not text.startswith("WEBVTT"):
        raise CourseError("这不是 WebVTT 字幕文件：第一行应为 WEBVTT")
    folder = media_root() / "subtitles"
    folder.mkdir(exist_ok=True)
    if old := subtitles_path(lesson):
        old.unlink(missing_ok=True)
    lesson.subtitles_name = f"{lesson.id}-{secrets.token_hex(6)}.vtt"
    (folder / lesson.subtitles_name).write_text(text, encoding="utf-8")
    lesson.subtitles_text = subtitles.words_of(text)


def save_cover(course: Course, data: bytes, filename: str) -> None:
    """Re-encode an uploaded JPG/PNG to a 640-px JPEG with ffmpeg; anything else is refused."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in {".jpg", ".jpeg", ".png"}:
        raise CourseError("封面请上传 JPG 或 PNG 图片")
    if not data:
        raise CourseError("图片文件是空的")
    if len(data) > 10 * 1024 * 1024:
        raise CourseError("封面图片不能超过 10 MB")
    folder = media_root() / "covers"
    folder.mkdir(exist_ok=True)
    name = f"{course.id}-{secrets.token_hex(6)}.jpg"
    with tempfile.NamedTemporaryFile(suffix=suffix) as source:
        source.write(data)
        source.flush()
        done = children.run(
            [media_probe.ffmpeg_exe(), "-nostdin", "-v", "error", "-protocol_whitelist", "file",
             "-f", "png_pipe" if suffix == ".png" else "jpeg_pipe", "-i", source.name,
             "-vf", "scale='min(640,iw)':-2", "-frames:v", "1", "-q:v", "4", "-y", str(folder / name)],
            capture_output=True, timeout=60, check=False)
    if done.returncode != 0 or not (folder / name).is_file() or (folder / name).stat().st_size == 0:
        (folder / name).unlink(missing_ok=True)
        raise CourseError("无法读取这张图片，请换一张 JPG 或 PNG 图片")
    if old := cover_path(course):
        old.unlink(missing_ok=True)
    course.cover_name = name
