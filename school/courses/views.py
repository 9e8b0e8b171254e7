"""Members: my courses, the catalogue, the 农村实用技术 track, lessons, the player's heartbeats, media.

The editors' pages are ``manage_views`` (blueprint ``courses_manage``, under /courses/manage).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import Forbidden

from school.accounts.models import Role
from school.accounts.roles import current_actor, is_editor
from school.courses import completion, inputs, pack, progress, visibility, watching
from school.courses.forms import PlainForm
from school.courses.media import cover_path, media_dir, subtitles_path
from school.courses.models import RURAL_CATEGORIES, TRACK_LABELS, Course, Lesson, MediaStatus, Track
from school.courses.serving import RENDITION_NAME, UNVERSIONED, VERSIONED, send_media
from school.credits import clock
from school.extensions import db
from school.safe_html import markdown_to_safe_html
from school.timeutil import utcnow

bp = Blueprint("courses", __name__, url_prefix="/courses", template_folder="templates")


def course_or_404(course_id: int) -> Course:
    course = db.session.get(Course, course_id)
    if course is None or not visibility.can_see(course, current_actor()):
        abort(404)
    return course


def lesson_or_404(lesson_id: int) -> Lesson:
    lesson = db.session.get(Lesson, lesson_id)
    if lesson is None or not visibility.can_see(lesson.course, current_actor()):
        abort(404)
    return lesson


LOCKED_MESSAGE = "本课程要求按顺序学习，请先学完前面的课时"


class LessonLocked(Forbidden):
    """A lesson of a sequential course whose earlier lessons the member has not completed."""

    description = LOCKED_MESSAGE

    def __init__(self, lesson: Lesson):
        super().__init__()
        self.lesson = lesson


def lesson_for_study_or_404(lesson_id: int) -> Lesson:
    """``lesson_or_404`` plus the course's order: with "finish the previous lesson first" a lesson
    opens once the lessons before it are complete (``completion.unlocked``), for everyone —
    editors included, as on the page. Every lesson route goes through here (page, media,
    subtitles, heartbeat, still-here, done); a locked lesson raises ``LessonLocked``."""
    lesson = lesson_or_404(lesson_id)
    if not completion.unlocked(current_actor(), lesson):
        raise LessonLocked(lesson)
    return lesson


@bp.errorhandler(LessonLocked)
def lesson_locked(error: LessonLocked):
    """The page goes back to the course with the reason; the player's calls get it as JSON; files get a 403."""
    if request.endpoint == "courses.lesson":
        flash(LOCKED_MESSAGE, "info")
        return redirect(url_for("courses.course", course_id=error.lesson.course_id))
    if request.endpoint in ("courses.heartbeat", "courses.still_here") or request.is_json:
        return jsonify(error=LOCKED_MESSAGE), 403
    return render_template("errors/error.html", code=403, title="没有权限", message=LOCKED_MESSAGE), 403


@bp.get("/")
@login_required
def index():
    me = current_actor()
    mine = visibility.my_courses(me)
    track = request.args.get("track") if request.args.get("track") in TRACK_LABELS else None
    catalogue = [c for c in visibility.visible_courses(me, track=track) if c.published]
    progress_of = {c.id: completion.course_progress(me, c) for c in {*mine, *catalogue}}
    return render_template("courses/index.html", mine=mine, catalogue=catalogue, progress_of=progress_of,
                           track=track, tracks=TRACK_LABELS)


@bp.get("/rural")
@login_required
def rural():
    category = request.args.get("category")
    if category not in RURAL_CATEGORIES:
        category = None
    courses = [c for c in visibility.visible_courses(current_actor(), track=Track.RURAL, category=category) if c.published]
    return render_template("courses/rural.html", courses=courses, category=category,
                           categories=RURAL_CATEGORIES)


@bp.get("/<int:course_id>")
@login_required
def course(course_id: int):
    me = current_actor()
    course = course_or_404(course_id)
    states = completion.states_for(me, course)
    if completion.course_credit_entry(me, course) is None:
        completion.check_course_completion(me, course, utcnow())  # e.g. its test was passed meanwhile
        db.session.commit()
    return render_template("courses/course.html", course=course, states=states,
                           done=completion.course_progress(me, course), hours=completion.course_hours_for(course),
                           credit=completion.course_credit_entry(me, course), tests=completion.course_tests(course),
                           can_pack=is_editor(me) or me.role == Role.SECRETARY)


@bp.get("/lessons/<int:lesson_id>")
@login_required
def lesson(lesson_id: int):
    me = current_actor()
    lesson = lesson_for_study_or_404(lesson_id)
    course = lesson.course
    state = completion.watch_state(me, lesson, create=False)
    lessons = list(course.lessons)
    index = lessons.index(lesson)
    seek_locked = bool(course.required and course.no_seek_ahead and not (state and state.completed_at))
    return render_template(
        "courses/lesson.html", lesson=lesson, course=course, state=state, form=PlainForm(),
        body=markdown_to_safe_html(lesson.body_md) if not lesson.is_video else "",
        previous=lessons[index - 1] if index > 0 else None,
        next=lessons[index + 1] if index + 1 < len(lessons) else None,
        seek_locked=seek_locked, credit=completion.course_credit_entry(me, course))


@bp.post("/lessons/<int:lesson_id>/heartbeat")
@login_required
def heartbeat(lesson_id: int):
    me = current_actor()
    lesson = lesson_for_study_or_404(lesson_id)
    if not lesson.is_video or lesson.media_status != MediaStatus.READY:
        return jsonify(error="此课时没有可播放的视频"), 400
    data = inputs.json_object(form_fallback=True)
    tab = clock.tab_id(data.get("tab"))
    try:
        beat = progress.Beat(
            tab=tab or "", seq=inputs.integer(data.get("seq"), high=inputs.INT32_MAX),
            position=inputs.real(data.get("position")),
            playing=str(data.get("playing")).lower() in ("true", "1"), sent_at=inputs.real(data.get("sent_at")),
            rate=inputs.real(data.get("rate", 1)), takeover=str(data.get("takeover")).lower() in ("true", "1"))
    except (TypeError, ValueError):
        return jsonify(error="学习记录数据格式不正确"), 400
    if tab is None:
        return jsonify(error=clock.TAB_ID_ERROR), 400
    for _attempt in range(2):
        try:
            result = watching.record_heartbeat(me, lesson, beat, utcnow(), clock.device_label(request.user_agent.string))
            db.session.commit()
            break
        except IntegrityError:  # two first heartbeats raced to create the row; the second retries
            db.session.rollback()
    else:
        return jsonify(error="请稍后再试"), 409
    state, outcome = result.state, result.outcome
    entry = result.entry or completion.course_credit_entry(me, lesson.course)
    return jsonify(
        accepted=outcome.accepted, reason=outcome.reason, superseded=outcome.reason == "superseded",
        presence_prompt=outcome.presence_prompt, covered=state.covered_seconds, duration=lesson.duration_seconds,
        percent=int(min(100, state.covered_seconds / lesson.duration_seconds * 100)) if lesson.duration_seconds else 0,
        furthest=state.furthest_position, lesson_complete=state.completed_at is not None,
        course_complete=entry is not None, credit_hours=str(entry.hours) if entry else None)


@bp.post("/lessons/<int:lesson_id>/still-here")
@login_required
def still_here(lesson_id: int):
    lesson = lesson_for_study_or_404(lesson_id)
    answered = watching.still_here(current_actor(), lesson, utcnow())
    db.session.commit()
    return jsonify(ok=answered)


@bp.post("/lessons/<int:lesson_id>/done")
@login_required
def text_done(lesson_id: int):
    me = current_actor()
    lesson = lesson_for_study_or_404(lesson_id)
    if lesson.is_video:
        abort(400)
    entry = watching.finish_text_lesson(me, lesson, utcnow())
    db.session.commit()
    flash(f"课程已完成，获得 {entry.hours} 学时" if entry else "本课时已学完", "success")
    return redirect(url_for("courses.lesson", lesson_id=lesson.id))


@bp.get("/media/<int:lesson_id>/<path:name>", defaults={"key": None})
@bp.get("/media/<int:lesson_id>/k/<key>/<path:name>")
@login_required
def media(lesson_id: int, name: str, key: str | None):
    """A lesson's rendition file. Pages link ``k/<media key>/…`` (``media_url``): the key changes
    with each transcode, so what such a URL names never changes and is cached for a year; the
    playlists' relative references keep the key. A key that is no longer the lesson's is a 404
    (its files were deleted with the old transcode)."""
    lesson = lesson_for_study_or_404(lesson_id)
    folder = media_dir(lesson)
    if folder is None or lesson.media_status != MediaStatus.READY or not RENDITION_NAME.match(name):
        abort(404)
    if key is not None and key != lesson.media_key:
        abort(404)
    download = None
    if name.startswith("download.") and request.args.get("download"):
        download = f"{lesson.course.title}-{lesson.position:02d}-{lesson.title}{Path(name).suffix}"
    return send_media(folder / name, VERSIONED if key else UNVERSIONED, download_name=download)


@bp.get("/lessons/<int:lesson_id>/subtitles.vtt")
@login_required
def subtitles(lesson_id: int):
    lesson = lesson_for_study_or_404(lesson_id)
    path = subtitles_path(lesson)
    if path is None:
        abort(404)
    return send_media(path, _versioned_by(lesson.subtitles_name))


@bp.get("/<int:course_id>/cover.jpg")
@login_required
def cover(course_id: int):
    course = course_or_404(course_id)
    path = cover_path(course)
    if path is None:
        abort(404)
    return send_media(path, _versioned_by(course.cover_name))


def _versioned_by(current_name: str) -> str:
    """``?v=`` naming the file now stored (a new upload gets a new name): cached for a year."""
    return VERSIONED if request.args.get("v") == current_name else UNVERSIONED


@bp.app_template_global()
def media_url(lesson: Lesson, name: str, **params) -> str:
    """The URL of one of the lesson's rendition files, naming its current media key."""
    if lesson.media_key:
        return url_for("courses.media", lesson_id=lesson.id, key=lesson.media_key, name=name, **params)
    return url_for("courses.media", lesson_id=lesson.id, name=name, **params)


@bp.app_template_global()
def subtitles_url(lesson: Lesson) -> str:
    return url_for("courses.subtitles", lesson_id=lesson.id, v=lesson.subtitles_name)


@bp.app_template_global()
def cover_url(course: Course) -> str:
    return url_for("courses.cover", course_id=course.id, v=course.cover_name)


@bp.get("/<int:course_id>/pack.zip")
@login_required
def pack_zip(course_id: int):
    me = current_actor()
    if not (is_editor(me) or me.role == Role.SECRETARY):
        abort(403)
    course = course_or_404(course_id)
    download = pack.plan(course)  # the files are opened now; the zip is made as it is sent
    name = f"{course.slug}-离线学习包.zip"
    response = Response(pack.stream(download), mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Disposition"] = (f"attachment; filename=\"{course.slug}.zip\"; "
                                               f"filename*=UTF-8''{quote(name)}")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.app_template_global()
def pending_required_courses() -> list:
    """For the member's home page: required courses assigned to them and not completed yet."""
    return completion.required_pending(current_actor()) if current_user.is_authenticated else []


@bp.app_template_global()
def member_course_rows(member) -> list:
    """For a manager's member page (already scope-checked by the caller): assigned courses and progress."""
    return completion.member_course_rows(member)
