"""Editors: courses, lessons, chunked video upload with live transcode progress, subtitles, covers.

Its own blueprint, ``courses_manage``, under /courses/manage (registered in ``school.create_app``).
"""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from school import diskspace, jobs
from school.accounts.orgs import ordered_tree
from school.accounts.roles import current_actor, editor_required
from school.courses import completion, inputs, media, services, uploads
from school.courses.errors import CourseError
from school.courses.forms import CourseForm, CoverForm, DocumentLessonForm, PlainForm, SubtitlesForm, TextLessonForm
from school.courses.models import Course, Lesson
from school.extensions import db
from school.timeutil import utcnow

bp = Blueprint("courses_manage", __name__, url_prefix="/courses/manage", template_folder="templates")


def _course(course_id: int) -> Course:
    return db.session.get(Course, course_id) or abort(404)


def _lesson(lesson_id: int) -> Lesson:
    return db.session.get(Lesson, lesson_id) or abort(404)


def _course_form(course: Course | None = None) -> CourseForm:
    form = CourseForm(obj=course) if course is not None and request.method == "GET" else CourseForm()
    form.audience_orgs.choices = [(o.id, "　" * o.depth + o.name) for o in ordered_tree()]
    if course is not None and request.method == "GET":
        form.audience_orgs.data = [o.id for o in course.audience_orgs]
        form.audience_categories.data = course.categories
        form.category.data = course.category or ""
    return form


def _data(form: CourseForm) -> services.CourseData:
    return services.CourseData(
        title=form.title.data or "", slug=form.slug.data or "", summary=form.summary.data or "",
        track=form.track.data, category=form.category.data or None, required=form.required.data,
        completion_mode=form.completion_mode.data, credit_hours=form.credit_hours.data,
        sequential=form.sequential.data, no_seek_ahead=form.no_seek_ahead.data,
        presence_min_minutes=form.presence_min_minutes.data, presence_max_minutes=form.presence_max_minutes.data,
        published=form.published.data, reflection_required=form.reflection_required.data,
        reflection_min_chars=form.reflection_min_chars.data if form.reflection_min_chars.data is not None else 300,
        audience_org_ids=tuple(form.audience_orgs.data or ()),
        audience_categories=tuple(form.audience_categories.data or ()))


@bp.get("")
@editor_required
def manage():
    courses = list(db.session.scalars(select(Course).order_by(Course.created_at.desc(), Course.id.desc())))
    return render_template("courses/manage_list.html", courses=courses)


@bp.route("/new", methods=["GET", "POST"])
@editor_required
def manage_new():
    form = _course_form()
    if form.validate_on_submit():
        try:
            course = services.save_course(_data(form), current_actor(), utcnow())
        except CourseError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash("课程已创建，现在可以添加课时", "success")
            return redirect(url_for("courses_manage.manage_course", course_id=course.id))
    return render_template("courses/manage_form.html", form=form, course=None)


@bp.route("/<int:course_id>", methods=["GET", "POST"])
@editor_required
def manage_course(course_id: int):
    course = _course(course_id)
    form = _course_form(course)
    if form.validate_on_submit():
        try:
            services.save_course(_data(form), current_actor(), utcnow(), course=course)
        except CourseError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash("课程设置已保存", "success")
            return redirect(url_for("courses_manage.manage_course", course_id=course.id))
    job_of = {l.id: db.session.get(jobs.Job, l.job_id) for l in course.lessons if l.job_id}
    return render_template("courses/manage_course.html", course=course, form=form, text_form=TextLessonForm(),
                           document_form=DocumentLessonForm(),
                           subtitles_form=SubtitlesForm(), cover_form=CoverForm(), plain=PlainForm(),
                           job_of=job_of, hours=completion.course_hours_for(course))


def _add_lesson(course_id: int, form, add, done_message: str):
    """Validate ``form``, call ``add(course, form)``, and go back to the course with the outcome."""
    course = _course(course_id)
    if not form.validate_on_submit():
        flash("；".join(e for errors in form.errors.values() for e in errors), "error")
        return redirect(url_for("courses_manage.manage_course", course_id=course.id))
    try:
        add(course, form)
    except CourseError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(done_message, "success")
    return redirect(url_for("courses_manage.manage_course", course_id=course.id))


@bp.post("/<int:course_id>/lessons/document")
@editor_required
def manage_add_document(course_id: int):
    return _add_lesson(course_id, DocumentLessonForm(), lambda course, form: services.add_document_lesson(
        course, form.title.data or "", form.reference.data, utcnow()), "文献课时已添加")


@bp.post("/<int:course_id>/lessons/text")
@editor_required
def manage_add_text(course_id: int):
    return _add_lesson(course_id, TextLessonForm(), lambda course, form: services.add_text_lesson(
        course, form.title.data, form.body.data, utcnow()), "图文课时已添加")


@bp.post("/<int:course_id>/cover")
@editor_required
def manage_cover(course_id: int):
    course = _course(course_id)
    form = CoverForm()
    file = form.file.data if form.validate_on_submit() else None
    try:
        if not file:
            raise CourseError("请选择封面图片")
        media.save_cover(course, file.read(), file.filename)
    except CourseError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash("封面已更新", "success")
    return redirect(url_for("courses_manage.manage_course", course_id=course.id))


@bp.post("/lessons/<int:lesson_id>/move")
@editor_required
def manage_move(lesson_id: int):
    lesson = _lesson(lesson_id)
    if PlainForm().validate_on_submit():
        services.move_lesson(lesson, -1 if request.form.get("direction") == "up" else 1)
        db.session.commit()
    return redirect(url_for("courses_manage.manage_course", course_id=lesson.course_id))


@bp.post("/lessons/<int:lesson_id>/delete")
@editor_required
def manage_delete(lesson_id: int):
    lesson = _lesson(lesson_id)
    course_id = lesson.course_id
    if PlainForm().validate_on_submit():
        services.delete_lesson(lesson)
        db.session.commit()
        flash("课时已删除", "success")
    return redirect(url_for("courses_manage.manage_course", course_id=course_id))


@bp.post("/lessons/<int:lesson_id>/retry")
@editor_required
def manage_retry(lesson_id: int):
    lesson = _lesson(lesson_id)
    try:
        services.retry_transcode(lesson, utcnow())
    except CourseError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash("已重新排队转码", "success")
    if request.is_json:
        return jsonify(ok=True)
    return redirect(url_for("courses_manage.manage_course", course_id=lesson.course_id))


@bp.post("/lessons/<int:lesson_id>/subtitles")
@editor_required
def manage_subtitles(lesson_id: int):
    lesson = _lesson(lesson_id)
    form = SubtitlesForm()
    file = form.file.data if form.validate_on_submit() else None
    try:
        if not file:
            raise CourseError("请选择 .vtt 字幕文件")
        media.save_subtitles(lesson, file.read())
    except CourseError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash("字幕已上传", "success")
    return redirect(url_for("courses_manage.manage_course", course_id=lesson.course_id))


@bp.get("/lessons/<int:lesson_id>/status")
@editor_required
def manage_status(lesson_id: int):
    lesson = _lesson(lesson_id)
    job = db.session.get(jobs.Job, lesson.job_id) if lesson.job_id else None
    return jsonify(status=lesson.media_status, error=lesson.media_error, job=job.as_dict() if job else None)


# --- chunked upload -----------------------------------------------------------------------


@bp.post("/<int:course_id>/uploads")
@editor_required
def upload_start(course_id: int):
    course = _course(course_id)
    data = inputs.json_object()
    try:
        upload = uploads.start(course, current_actor(), inputs.text(data.get("filename", ""), 1000),
                               inputs.integer(data.get("size") or 0), inputs.text(data.get("title", ""), 1000),
                               utcnow())
    except (TypeError, ValueError) as exc:
        db.session.rollback()
        message = str(exc) if isinstance(exc, CourseError) else "上传请求格式不正确"
        return jsonify(error=message), 400
    db.session.commit()
    return jsonify(token=upload.token, received=upload.received, size=upload.size)


def _upload(token: str):
    upload = uploads.find(token, current_actor())
    if upload is None:
        abort(404)
    return upload


@bp.get("/uploads/<token>")
@editor_required
def upload_state(token: str):
    upload = _upload(token)
    return jsonify(token=upload.token, received=upload.received, size=upload.size)


@bp.post("/uploads/<token>/chunk")
@editor_required
def upload_chunk(token: str):
    upload = _upload(token)
    try:
        received = uploads.append(upload, request.args.get("offset", -1, type=int), request.get_data(), utcnow())
    except diskspace.DiskFull as exc:
        db.session.rollback()
        return jsonify(error=str(exc), received=upload.received), 507
    except CourseError as exc:
        db.session.rollback()
        return jsonify(error=str(exc), received=upload.received), 409
    db.session.commit()
    return jsonify(received=received, size=upload.size)


@bp.post("/uploads/<token>/finish")
@editor_required
def upload_finish(token: str):
    upload = _upload(token)
    if upload.received != upload.size:
        return jsonify(error="文件还没有传完", received=upload.received), 409
    course = db.session.get(Course, upload.course_id)
    path, filename, title = uploads.part_path(upload), upload.filename, upload.title
    db.session.delete(upload)
    try:
        lesson = services.add_video_lesson(course, title, path, filename, utcnow())
    except jobs.QueueUnavailable as exc:  # nothing was changed: the upload stays, "finish" can be sent again
        db.session.rollback()
        return jsonify(error=f"{exc}上传的文件已保留，稍后再点“完成”即可，无需重新上传。",
                       received=upload.received), 503
    except CourseError as exc:
        db.session.rollback()
        stale = uploads.find(token, current_actor())  # the rollback brought the row back; the file is gone
        if stale is not None:
            uploads.discard(stale)
            db.session.commit()
        return jsonify(error=str(exc)), 400
    db.session.commit()
    return jsonify(lesson_id=lesson.id, status_url=url_for("courses_manage.manage_status", lesson_id=lesson.id))


@bp.post("/uploads/<token>/cancel")
@editor_required
def upload_cancel(token: str):
    uploads.discard(_upload(token))
    db.session.commit()
    return jsonify(ok=True)
