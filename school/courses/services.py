"""Editing courses: CourseData and save_course, adding text, document and video lessons
(a video lesson queues its transcode), moving and deleting lessons, retrying a failed transcode.

The rest of the package, by job: ``visibility`` (who sees a course), ``media`` (files on disk,
subtitles, covers), ``transcode_job`` (the background job), ``watching`` (heartbeats and
finishing lessons), ``completion`` (progress, completion, credit), ``progress`` (the pure
heartbeat rules), ``uploads`` (chunked uploads), ``errors`` (``CourseError``).

Who commits: services flush, callers commit. The functions of this package change the
session and at most flush; the views, the CLI commands and the job runner commit (or roll
back on ``CourseError``). Two exceptions commit themselves, each for a reason given in its
module docstring: ``transcode_job.transcode_job`` (the job runner does not commit for its
handlers, and the lesson must point at its new renditions before the old files go) and the
``attempt_passed`` listener in ``completion`` (it runs after the exams package's transaction
has ended). Queuing a job (``jobs.enqueue``) hands it to a worker only once the caller commits.
"""
from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from school import jobs
from school.accounts import audience
from school.accounts.models import Category, Organisation, User
from school.courses import media
from school.courses import probe as media_probe
from school.courses.errors import CourseError
from school.courses.models import RURAL_CATEGORIES, CompletionMode, Course, Lesson, LessonKind, MediaStatus, Track
from school.courses.transcode_job import TRANSCODE_HANDLER, transcode_job  # noqa: F401  (alias, see below)
from school.extensions import db
from school.limits import limit

# ``transcode_job`` is imported for job rows queued before the handler moved to
# ``courses.transcode_job``: they name "school.courses.services:transcode_job", which must
# keep resolving (``tests/test_jobs.py`` checks it). Do not remove it as unused.

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,78}$")


@dataclass
class CourseData:
    title: str
    slug: str
    summary: str = ""
    track: str = Track.THEORY
    category: str | None = None
    required: bool = False
    completion_mode: str = CompletionMode.TIMED
    credit_hours: Decimal | None = None
    sequential: bool = False
    no_seek_ahead: bool = True
    presence_min_minutes: int | None = None  # None: the school's rule
    presence_max_minutes: int | None = None
    published: bool = True
    reflection_required: bool = False  # 心得体会 (school.training.reflections)
    reflection_min_chars: int = 300
    audience_org_ids: tuple[int, ...] = ()
    audience_categories: tuple[str, ...] = ()


def save_course(data: CourseData, actor: User | None, now: datetime, course: Course | None = None) -> Course:
    title, slug = data.title.strip(), data.slug.strip().lower()
    if not title:
        raise CourseError("请填写课程名称")
    if not SLUG_RE.match(slug):
        raise CourseError("课程代号只能用小写字母、数字和连字符，2–79 个字符，例如 tea-planting")
    clash = db.session.scalar(select(Course).where(Course.slug == slug))
    if clash is not None and clash is not course:
        raise CourseError(f"课程代号“{slug}”已被使用，请换一个")
    if data.track not in set(Track):
        raise CourseError("课程类别不正确")
    category = data.category or None
    if data.track == Track.RURAL and category not in RURAL_CATEGORIES:
        raise CourseError("农村实用技术课程请选择分类（种植、养殖、农产品加工、农村电商、务工技能）")
    if data.track != Track.RURAL:
        category = None
    if data.completion_mode not in set(CompletionMode):
        raise CourseError("完成方式不正确")
    if data.credit_hours is not None and not (Decimal("0") < data.credit_hours <= Decimal("100")):
        raise CourseError("学时应在 0 到 100 之间")
    for minutes in (data.presence_min_minutes, data.presence_max_minutes):
        if minutes is not None and not 0 <= minutes <= 240:
            raise CourseError("“还在学习吗？”间隔应在 0 到 240 分钟之间")
    if (data.presence_min_minutes is not None and data.presence_max_minutes is not None
            and data.presence_max_minutes < data.presence_min_minutes):
        raise CourseError("“还在学习吗？”间隔上限不能小于下限")
    if not 0 <= data.reflection_min_chars <= 20000:
        raise CourseError("心得体会最少字数应在 0 到 20000 之间")
    bad = [c for c in data.audience_categories if c not in set(Category)]
    if bad:
        raise CourseError("人员类别不正确")
    orgs = list(db.session.scalars(select(Organisation).where(Organisation.id.in_(data.audience_org_ids))))
    if len(orgs) != len(set(data.audience_org_ids)):
        raise CourseError("所选党组织不存在")
    if course is None:
        course = Course(created_at=now, created_by_id=actor.id if actor and actor.id else None)
        db.session.add(course)
    course.title, course.slug, course.summary = title[:200], slug, data.summary.strip()
    course.track, course.category, course.required = data.track, category, data.required
    course.completion_mode, course.credit_hours = data.completion_mode, data.credit_hours
    course.sequential, course.no_seek_ahead = data.sequential, data.no_seek_ahead
    course.presence_min_minutes, course.presence_max_minutes = data.presence_min_minutes, data.presence_max_minutes
    course.published = data.published
    course.reflection_required, course.reflection_min_chars = data.reflection_required, data.reflection_min_chars
    course.audience_orgs = orgs
    course.audience_categories = audience.join_categories(data.audience_categories)
    db.session.flush()
    return course


def _next_position(course: Course) -> int:
    return (db.session.scalar(select(func.max(Lesson.position)).where(Lesson.course_id == course.id)) or 0) + 1


def add_text_lesson(course: Course, title: str, body_md: str, now: datetime) -> Lesson:
    title = title.strip()
    if not title:
        raise CourseError("请填写课时标题")
    if not body_md.strip():
        raise CourseError("请填写课时正文")
    max_chars = int(limit("MARKDOWN_MAX_CHARS_LESSON"))
    if len(body_md) > max_chars:
        raise CourseError(f"课时正文过长（{len(body_md)} 字，上限 {max_chars} 字），请拆分为几个课时")
    lesson = Lesson(course=course, title=title[:200], kind=LessonKind.TEXT, body_md=body_md,
                    position=_next_position(course), media_status=MediaStatus.NONE, created_at=now)
    db.session.add(lesson)
    db.session.flush()
    return lesson


def add_document_lesson(course: Course, title: str, reference: str, now: datetime) -> Lesson:
    """A lesson that is a published library document, given by its number or exact title."""
    from school.library.models import DocStatus, Document

    reference = reference.strip()
    query = select(Document).where(Document.status == DocStatus.PUBLISHED)
    query = query.where(Document.id == int(reference)) if reference.isdigit() else \
        query.where(Document.title == reference)
    found = list(db.session.scalars(query.limit(2)))
    if len(found) != 1:
        raise CourseError(f"图书馆中找不到已发布的文献“{reference}”（请填写文献编号或完整标题）" if not found
                          else "有多篇文献同名，请填写文献编号")
    document = found[0]
    lesson = Lesson(course=course, title=(title.strip() or document.title)[:200], kind=LessonKind.DOCUMENT,
                    document=document, position=_next_position(course), media_status=MediaStatus.NONE,
                    created_at=now)
    db.session.add(lesson)
    db.session.flush()
    return lesson


def add_video_lesson(course: Course, title: str, stored: Path, original_name: str, now: datetime) -> Lesson:
    """Check the stored upload, then create the lesson and queue its transcode.

    ``stored`` is a file the server wrote; on refusal it is deleted, so nothing is left behind.
    """
    title = title.strip()
    try:
        if not title:
            raise CourseError("请填写课时标题")
        jobs.check_queue()  # the queue is down: refuse before anything is moved or written
        try:
            info = media_probe.probe(stored, original_name)
        except media_probe.MediaRejected as exc:
            raise CourseError(str(exc))
    except CourseError:
        stored.unlink(missing_ok=True)
        raise
    media_id = media.media_id()
    sources = media.media_root() / "sources"
    sources.mkdir(exist_ok=True)
    target = sources / f"{secrets.token_hex(12)}{Path(original_name).suffix.lower()}"
    shutil.move(str(stored), target)
    lesson = Lesson(course=course, title=title[:200], kind=LessonKind.VIDEO, position=_next_position(course),
                    source_name=Path(original_name).name[:200],
                    source_path=str(target.relative_to(media.media_root())),
                    duration_seconds=info.duration, width=info.width, height=info.height,
                    has_video=info.has_video, media_status=MediaStatus.PROCESSING, created_at=now)
    db.session.add(lesson)
    db.session.flush()
    job = jobs.enqueue(TRANSCODE_HANDLER, {"lesson_id": lesson.id, "media_id": media_id}, now)
    lesson.job_id = job.id
    return lesson


def retry_transcode(lesson: Lesson, now: datetime) -> None:
    job = db.session.get(jobs.Job, lesson.job_id) if lesson.job_id else None
    if lesson.media_status != MediaStatus.FAILED or job is None or not lesson.source_path:
        raise CourseError("此视频当前不需要重试")
    jobs.retry(job, now)
    lesson.media_status, lesson.media_error = MediaStatus.PROCESSING, None


def delete_lesson(lesson: Lesson) -> None:
    media.delete_lesson_files(lesson)
    db.session.delete(lesson)


def move_lesson(lesson: Lesson, direction: int) -> None:
    lessons = list(lesson.course.lessons)
    index = lessons.index(lesson)
    other = index + direction
    if 0 <= other < len(lessons):
        lessons[index], lessons[other] = lessons[other], lessons[index]
        for position, item in enumerate(lessons, start=1):
            item.position = position
