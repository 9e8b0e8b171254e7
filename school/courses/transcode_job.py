"""The background transcode job: one ffmpeg pass over a lesson's uploaded source, then the lesson
points at the new renditions.

Who commits: this handler commits itself, an exception to "services flush, callers commit".
The job runner (``school.jobs.run_job``) is no caller that commits: it rolls the session back
when the handler raises ``JobFailed`` and records only the job row, on its own connection.
So the failure path commits the lesson's "failed" status before raising, and the success
path commits the lesson pointing at its new renditions *before* deleting the old renditions
and the source, so a crash in between leaves the lesson playable and only stray files behind.

Work folder: ``videos/.partial-<lesson>-<job>-<attempt>``, one per attempt, so an attempt
recovered after its worker died never writes where a leftover process might; folders of
earlier attempts at the lesson are removed when a new attempt starts. A node whose media folder
is not the one the source was stored in (``media.media_id``) leaves the job queued
(``jobs.NotHere``) instead of failing it.

Job rows store their handler by name. Rows queued before this module existed name
``school.courses.services:transcode_job``; ``courses.services`` keeps that name as an alias
of ``transcode_job`` below so they still run.
"""
from __future__ import annotations

import secrets
import shutil

from school import diskspace, jobs
from school.courses import probe as media_probe
from school.courses import transcode
from school.courses.media import media_dir, media_id, media_root
from school.courses.models import Lesson, MediaStatus
from school.extensions import db

TRANSCODE_HANDLER = "school.courses.transcode_job:transcode_job"


def transcode_job(payload: dict, progress) -> None:
    """The background job: one ffmpeg pass, then the lesson points at the new renditions."""
    lesson = db.session.get(Lesson, payload["lesson_id"])
    if lesson is None:
        raise jobs.JobFailed("课时已被删除")
    root = media_root()
    source = root / (lesson.source_path or "")
    if lesson.source_path and not source.is_file() and payload.get("media_id") \
            and payload["media_id"] != media_id(create=False):
        raise jobs.NotHere("这台服务器的媒体目录中没有此任务的原始文件")
    videos = root / "videos"
    videos.mkdir(exist_ok=True)
    # This attempt's own folder; earlier attempts' folders (their workers are gone) are removed.
    partial = videos / f".partial-{lesson.id}-{jobs.current_attempt() or secrets.token_hex(4)}"
    for leftover in [*videos.glob(f".partial-{lesson.id}-*"), videos / f".partial-{lesson.id}"]:
        shutil.rmtree(leftover, ignore_errors=True)

    def fail(message: str):
        shutil.rmtree(partial, ignore_errors=True)
        lesson.media_status, lesson.media_error = MediaStatus.FAILED, message
        db.session.commit()
        raise jobs.JobFailed(message)

    if not lesson.source_path or not source.is_file():
        fail("找不到上传的原始文件，请重新上传")
    try:
        info = media_probe.probe(source, lesson.source_name or source.name)
    except media_probe.MediaRejected as exc:
        fail(str(exc))
    try:
        partial.mkdir()
        transcode.run(transcode.command(source, partial, info), info.duration, progress)
    except (transcode.TranscodeError, OSError) as exc:
        if diskspace.is_full(exc) or (diskspace.free_mb(videos) or 0) < 1:
            fail(diskspace.message("转码没有完成，未完成的文件已删除，上传的原始文件已保留。",
                                   "请清理服务器磁盘后，在课程管理页点击“重试”。"))
        if isinstance(exc, OSError):
            raise
        fail(f"转码失败：{exc}")
    key = secrets.token_hex(10)
    partial.rename(videos / key)
    old = media_dir(lesson)
    lesson.media_key, lesson.media_status, lesson.media_error = key, MediaStatus.READY, None
    lesson.duration_seconds, lesson.width, lesson.height = info.duration, info.width, info.height
    lesson.has_video = info.has_video
    lesson.ladder = ",".join(str(r.height) for r in transcode.choose_ladder(info))
    db.session.commit()
    if old is not None and old.exists():
        shutil.rmtree(old, ignore_errors=True)
    source.unlink(missing_ok=True)
    lesson.source_path = None
    db.session.commit()
