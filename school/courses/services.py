"""Course rules: who sees a course, adding lessons and videos, the transcode job, completion and credit."""
from __future__ import annotations

import re
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from flask import current_app
from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.orm import selectinload

from school import jobs
from school.accounts import audience
from school.accounts.models import Category, Organisation, Role, User
from school.accounts.roles import is_editor
from school.courses import probe as media_probe
from school.courses import transcode
from school.courses.models import (
    RURAL_CATEGORIES,
    CompletionMode,
    Course,
    CourseCompletion,
    Lesson,
    LessonKind,
    MediaStatus,
    Track,
    WatchState,
    course_audience_org,
)
from school.credits import keys, ledger
from school.credits.rules import current_rules
from school.exams.signals import attempt_passed
from school.extensions import db
from school.limits import limit

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,78}$")
TRANSCODE_HANDLER = "school.courses.services:transcode_job"


class CourseError(ValueError):
    """A refused course operation, with a message for the person."""


# --- storage ------------------------------------------------------------------------------


def media_root() -> Path:
    root = Path(current_app.config["MEDIA_DIR"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def media_dir(lesson: Lesson) -> Path | None:
    return media_root() / "videos" / lesson.media_key if lesson.media_key else None


def subtitles_path(lesson: Lesson) -> Path | None:
    return media_root() / "subtitles" / lesson.subtitles_name if lesson.subtitles_name else None


# --- who sees what ------------------------------------------------------------------------


def is_assigned(course: Course, user: User) -> bool:
    """In the course's audience (``accounts.audience``); a course with no audience is open to every member."""
    return audience.includes(course.audience_orgs, course.categories, user)


def can_see(course: Course, user: User) -> bool:
    if is_editor(user):
        return True
    if not course.published:
        return False
    if is_assigned(course, user):
        return True
    # A secretary also sees the courses assigned to organisations they manage.
    return (user.role == Role.SECRETARY and user.org is not None
            and any(o.path.startswith(user.org.path) for o in course.audience_orgs))


def visible_condition(user: User):
    """``can_see`` as one SQL condition, so a list of courses is filtered by the database
    (``test_visibility`` checks the two agree on a matrix of users and audiences)."""
    if is_editor(user):
        return true()
    condition = audience.condition(course_audience_org, Course.id, Course.audience_categories, user)
    if user.role == Role.SECRETARY and user.org is not None:
        condition = or_(condition, audience.names_org_under(course_audience_org, Course.id, user.org))
    return and_(Course.published.is_(True), condition)


def visible_courses(user: User, track: str | None = None, category: str | None = None) -> list[Course]:
    query = (select(Course).where(visible_condition(user)).options(selectinload(Course.audience_orgs))
             .order_by(Course.required.desc(), Course.created_at.desc(), Course.id.desc()))
    if track:
        query = query.where(Course.track == track)
    if category:
        query = query.where(Course.category == category)
    return list(db.session.scalars(query))


def my_courses(user: User) -> list[Course]:
    """Courses assigned to the member (an explicit audience, or required for all), required first."""
    return [c for c in visible_courses(user) if c.published and is_assigned(c, user)
            and (c.required or c.audience_orgs or c.categories)]


# --- editing ------------------------------------------------------------------------------


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
    idle_check_minutes: int = 0
    published: bool = True
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
    if not 0 <= data.idle_check_minutes <= 240:
        raise CourseError("在学提醒间隔应在 0 到 240 分钟之间")
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
    course.idle_check_minutes, course.published = data.idle_check_minutes, data.published
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
        try:
            info = media_probe.probe(stored, original_name)
        except media_probe.MediaRejected as exc:
            raise CourseError(str(exc))
    except CourseError:
        stored.unlink(missing_ok=True)
        raise
    sources = media_root() / "sources"
    sources.mkdir(exist_ok=True)
    target = sources / f"{secrets.token_hex(12)}{Path(original_name).suffix.lower()}"
    shutil.move(str(stored), target)
    lesson = Lesson(course=course, title=title[:200], kind=LessonKind.VIDEO, position=_next_position(course),
                    source_name=Path(original_name).name[:200], source_path=str(target.relative_to(media_root())),
                    duration_seconds=info.duration, width=info.width, height=info.height,
                    has_video=info.has_video, media_status=MediaStatus.PROCESSING, created_at=now)
    db.session.add(lesson)
    db.session.flush()
    job = jobs.enqueue(TRANSCODE_HANDLER, {"lesson_id": lesson.id}, now)
    lesson.job_id = job.id
    return lesson


def retry_transcode(lesson: Lesson, now: datetime) -> None:
    job = db.session.get(jobs.Job, lesson.job_id) if lesson.job_id else None
    if lesson.media_status != MediaStatus.FAILED or job is None or not lesson.source_path:
        raise CourseError("此视频当前不需要重试")
    jobs.retry(job, now)
    lesson.media_status, lesson.media_error = MediaStatus.PROCESSING, None


def transcode_job(payload: dict, progress) -> None:
    """The background job: one ffmpeg pass, then the lesson points at the new renditions."""
    lesson = db.session.get(Lesson, payload["lesson_id"])
    if lesson is None:
        raise jobs.JobFailed("课时已被删除")
    root = media_root()
    source = root / (lesson.source_path or "")
    videos = root / "videos"
    videos.mkdir(exist_ok=True)
    partial = videos / f".partial-{lesson.id}"  # an interrupted earlier run left this; start clean
    shutil.rmtree(partial, ignore_errors=True)

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
    partial.mkdir()
    try:
        transcode.run(transcode.command(source, partial, info), info.duration, progress)
    except transcode.TranscodeError as exc:
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


def delete_lesson(lesson: Lesson) -> None:
    for path in (media_dir(lesson),):
        if path is not None:
            shutil.rmtree(path, ignore_errors=True)
    if lesson.source_path:
        (media_root() / lesson.source_path).unlink(missing_ok=True)
    if sub := subtitles_path(lesson):
        sub.unlink(missing_ok=True)
    db.session.delete(lesson)


def move_lesson(lesson: Lesson, direction: int) -> None:
    lessons = list(lesson.course.lessons)
    index = lessons.index(lesson)
    other = index + direction
    if 0 <= other < len(lessons):
        lessons[index], lessons[other] = lessons[other], lessons[index]
        for position, item in enumerate(lessons, start=1):
            item.position = position


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


# --- progress and credit ------------------------------------------------------------------


def watch_state(member: User, lesson: Lesson, create: bool = True) -> WatchState | None:
    state = db.session.scalar(select(WatchState).where(WatchState.member_id == member.id,
                                                       WatchState.lesson_id == lesson.id))
    if state is None and create:
        state = WatchState(member_id=member.id, lesson_id=lesson.id, intervals="[]")
        db.session.add(state)
        db.session.flush()
    return state


def states_for(member: User, course: Course) -> dict[int, WatchState]:
    rows = db.session.scalars(select(WatchState).join(Lesson, WatchState.lesson_id == Lesson.id)
                              .where(WatchState.member_id == member.id, Lesson.course_id == course.id))
    return {row.lesson_id: row for row in rows}


def course_progress(member: User, course: Course) -> tuple[int, int]:
    """(lessons completed, lessons) for the member."""
    states = states_for(member, course)
    done = sum(1 for lesson in course.lessons if states.get(lesson.id) and states[lesson.id].completed_at)
    return done, len(course.lessons)


def course_hours(course: Course) -> Decimal:
    """The editor's override, else the rule summed over the video lessons."""
    if course.credit_hours is not None:
        return course.credit_hours
    rules = current_rules()
    return sum((rules.lesson_hours(l.duration_seconds) for l in course.lessons
                if l.kind == LessonKind.VIDEO and l.duration_seconds > 0), Decimal("0"))


def unlocked(member: User, lesson: Lesson) -> bool:
    """With "finish the previous lesson first", a lesson opens once all before it are complete."""
    course = lesson.course
    if not course.sequential:
        return True
    states = states_for(member, course)
    for earlier in course.lessons:
        if earlier.id == lesson.id:
            return True
        if not (states.get(earlier.id) and states[earlier.id].completed_at):
            return False
    return True


def complete_text_lesson(member: User, lesson: Lesson, now: datetime) -> WatchState:
    state = watch_state(member, lesson)
    if state.completed_at is None:
        state.completed_at = now
        state.updated_at = now
    return state


def course_test_passed(member: User, course: Course) -> bool:
    """Has the member passed an exam that is this course's test? (courses may read exams)"""
    from school.exams.models import Attempt, Exam

    return db.session.scalar(select(func.count(Attempt.id)).join(Exam, Attempt.exam_id == Exam.id).where(
        Exam.course_id == course.id, Attempt.member_id == member.id, Attempt.passed.is_(True))) > 0


def course_tests(course: Course) -> list:
    """The published exams that are this course's test."""
    from school.exams.models import Exam

    return list(db.session.scalars(select(Exam).where(Exam.course_id == course.id, Exam.published.is_(True))
                                   .order_by(Exam.id)))


def lessons_completed(member: User, course: Course) -> bool:
    lessons = list(course.lessons)
    states = states_for(member, course)
    return bool(lessons) and all(states.get(l.id) and states[l.id].completed_at for l in lessons)


def is_course_complete(member: User, course: Course) -> bool:
    """Per the course's completion mode: its lessons watched, its test passed, or both."""
    if course.completion_mode == CompletionMode.TIMED:
        return lessons_completed(member, course)
    if course.completion_mode == CompletionMode.EXAM:
        return course_test_passed(member, course)
    return lessons_completed(member, course) and course_test_passed(member, course)


def course_hours_for(course: Course) -> Decimal:
    """The course's credit: the editor's override, else the lesson ladder plus the test bonus."""
    if course.credit_hours is not None:
        return course.credit_hours
    bonus = current_rules().course_test_bonus_hours if course.completion_mode != CompletionMode.TIMED else 0
    return course_hours(course) + bonus


def check_course_completion(member: User, course: Course, now: datetime):
    """When the course is complete, record it and award its hours once through the ledger."""
    if not is_course_complete(member, course):
        return None
    if db.session.scalar(select(CourseCompletion.id).where(
            CourseCompletion.member_id == member.id, CourseCompletion.course_id == course.id)) is None:
        db.session.add(CourseCompletion(member_id=member.id, course_id=course.id, completed_at=now))
    hours = course_hours_for(course)
    if hours <= 0:
        return None
    return ledger.award(member, hours, "online", "video", keys.course_complete(course.id, member.id), now,
                        description=f"完成课程《{course.title}》")


def completed_course_ids(member: User) -> set[int]:
    return set(db.session.scalars(select(CourseCompletion.course_id).where(CourseCompletion.member_id == member.id)))


def required_pending(member: User) -> list[Course]:
    """Required courses assigned to the member that they have not completed yet."""
    done = completed_course_ids(member)
    return [c for c in my_courses(member) if c.required and c.id not in done]


@dataclass
class CourseRow:
    course: Course
    done: int
    total: int
    completed_at: datetime | None


def member_course_rows(member: User) -> list[CourseRow]:
    completions = dict(db.session.execute(select(CourseCompletion.course_id, CourseCompletion.completed_at)
                                          .where(CourseCompletion.member_id == member.id)).all())
    return [CourseRow(course, *course_progress(member, course), completions.get(course.id))
            for course in my_courses(member)]


def course_credit_entry(member: User, course: Course):
    from school.credits.models import CreditEntry

    return db.session.scalar(select(CreditEntry).where(
        CreditEntry.idempotency_key == keys.course_complete(course.id, member.id)))


@attempt_passed.connect
def _on_course_test_passed(attempt, now: datetime, **_):
    """A passed exam may complete the course it is the test of."""
    course = db.session.get(Course, attempt.exam.course_id) if attempt.exam.course_id else None
    if course is None:
        return
    check_course_completion(db.session.get(User, attempt.member_id), course, now)
    db.session.commit()


# --- cover image --------------------------------------------------------------------------


def cover_path(course: Course) -> Path | None:
    return media_root() / "covers" / course.cover_name if course.cover_name else None


def save_cover(course: Course, data: bytes, filename: str) -> None:
    """Re-encode an uploaded JPG/PNG to a 640-px JPEG with ffmpeg; anything else is refused."""
    import subprocess
    import tempfile

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
        done = subprocess.run(
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
