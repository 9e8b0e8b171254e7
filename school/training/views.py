"""Members' pages (blueprint ``training``, /training) and the public verify page (``/verify/<code>``).

Thin: parse → service → commit or roll back → render. The organisers' pages are
``manage_views``.
"""
from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from school.accounts.roles import current_actor
from school.credits.record import FontMissing
from school.extensions import db
from school.safe_html import markdown_to_safe_html
from school.timeutil import utcnow
from school.training import certificates, classes, completion, enrolment, media, reflections
from school.training.errors import TrainingError
from school.training.forms import PlainForm, ReflectionForm
from school.training.media import ImageError
from school.training.models import ClassItem, EnrolState, ItemKind, TrainingClass

bp = Blueprint("training", __name__, url_prefix="/training", template_folder="templates")
public = Blueprint("training_public", __name__, template_folder="templates")


def class_or_404(class_id: int) -> TrainingClass:
    cls = db.session.get(TrainingClass, class_id)
    if cls is None or not classes.visible_to(cls, current_actor()):
        abort(404)
    return cls


def _enrolled_or_redirect(cls: TrainingClass):
    row = enrolment.enrolment_of(cls, current_actor())
    return row if row is not None and row.state == EnrolState.ENROLLED else None


@bp.get("/")
@login_required
def index():
    me, now = current_actor(), utcnow()
    available = classes.classes_for(me)
    for cls in available:
        enrolment.ensure_auto(cls, me, now)
    db.session.commit()
    mine = completion.member_rows(me)
    mine_ids = {row.cls.id for row in mine}
    others = [c for c in available if c.id not in mine_ids and now < c.ends_at]
    return render_template("training/index.html", mine=mine, others=others, now=now,
                           why={c.id: enrolment.why_not_enrol(c, me, now) for c in others})


@bp.get("/<int:class_id>")
@login_required
def class_page(class_id: int):
    me, now = current_actor(), utcnow()
    cls = class_or_404(class_id)
    enrolment.ensure_auto(cls, me, now)
    row = enrolment.enrolment_of(cls, me)
    certificate = None
    if row is not None and row.state == EnrolState.ENROLLED:
        certificate = completion.check_completion(cls, me, now)  # e.g. a course finished meanwhile
    db.session.commit()
    progress = completion.progress_of(cls, me)
    return render_template(
        "training/class.html", cls=cls, row=row, progress=progress, certificate=certificate, now=now,
        why_not=enrolment.why_not_enrol(cls, me, now), form=PlainForm(),
        reflection=reflections.reflection_of(cls, me), featured=reflections.featured(cls),
        can_manage=classes.can_manage(me, cls), can_roster=classes.can_read_roster(me, cls),
        description=markdown_to_safe_html(cls.description or ""))


@bp.post("/<int:class_id>/enrol")
@login_required
def enrol(class_id: int):
    cls = class_or_404(class_id)
    try:
        row = enrolment.enrol(cls, current_actor(), utcnow())
        db.session.commit()
        flash("已提交报名，请等待主办单位审核" if row.state == EnrolState.PENDING else "报名成功，可以开始学习了",
              "success")
    except TrainingError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("training.class_page", class_id=cls.id))


@bp.post("/<int:class_id>/withdraw")
@login_required
def withdraw(class_id: int):
    cls = class_or_404(class_id)
    row = enrolment.enrolment_of(cls, current_actor())
    try:
        if row is None:
            raise TrainingError("您没有参加本专题班")
        enrolment.withdraw(row, current_actor(), utcnow())
        db.session.commit()
        flash("已退出专题班", "success")
    except TrainingError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("training.class_page", class_id=cls.id))


def item_or_404(item_id: int) -> ClassItem:
    item = db.session.get(ClassItem, item_id)
    if item is None or not classes.visible_to(item.training_class, current_actor()):
        abort(404)
    return item


@bp.get("/items/<int:item_id>")
@login_required
def item(item_id: int):
    item = item_or_404(item_id)
    if item.kind == ItemKind.COURSE:
        return redirect(url_for("courses.course", course_id=item.course_id))
    if item.kind == ItemKind.DOCUMENT:
        return redirect(url_for("library.read", doc_id=item.document_id))
    me = current_actor()
    progress = completion.progress_of(item.training_class, me)
    return render_template("training/item.html", item=item, cls=item.training_class, form=PlainForm(),
                           body=markdown_to_safe_html(item.body_md), done=item.id in progress.done,
                           enrolled=_enrolled_or_redirect(item.training_class) is not None)


@bp.post("/items/<int:item_id>/done")
@login_required
def item_done(item_id: int):
    item = item_or_404(item_id)
    cls, me, now = item.training_class, current_actor(), utcnow()
    if item.kind != ItemKind.TEXT:
        abort(400)
    if _enrolled_or_redirect(cls) is None:
        flash("参加本专题班后才能记录学习进度", "error")
        return redirect(url_for("training.class_page", class_id=cls.id))
    completion.mark_text_done(item, me, now)
    certificate = completion.check_completion(cls, me, now)
    db.session.commit()
    flash("恭喜，您已完成本专题班，结业证书已颁发" if certificate else "已学完本项内容", "success")
    return redirect(url_for("training.class_page", class_id=cls.id))


# --- reflections --------------------------------------------------------------------------


def _target_or_404(kind: str, target_id: int) -> reflections.Target:
    """The class, course or plan item, if the actor may see it and it asks for a reflection."""
    t = reflections.load(kind, target_id)
    if t is None or not reflections.visible(t, current_actor()) or not t.required:
        abort(404)
    return t


def _back(t: reflections.Target) -> str:
    if t.kind == "class":
        return url_for("training.class_page", class_id=t.id)
    if t.kind == "course":
        return url_for("courses.course", course_id=t.id)
    return url_for("notices.my_plan")


def _page(t, row, form, editable, length):
    return render_template("training/reflection.html", t=t, row=row, form=form, editable=editable, length=length,
                           back=_back(t))


@bp.route("/reflections/<any(class, course, plan):kind>/<int:target_id>", methods=["GET", "POST"])
@login_required
def reflection(kind: str, target_id: int):
    t, me, now = _target_or_404(kind, target_id), current_actor(), utcnow()
    if t.kind == "class" and _enrolled_or_redirect(t.obj) is None:
        flash("参加本专题班后才能写心得体会", "error")
        return redirect(url_for("training.class_page", class_id=t.id))
    here = url_for("training.reflection", kind=t.kind, target_id=t.id)
    form = ReflectionForm()
    row = reflections.reflection_of(t, me)
    if request.method == "POST":
        body = form.body.data or ""
        try:
            if "upload" in request.form:
                upload = request.files.get("image")
                reflections.save_draft(t, me, body, None, now)
                if upload is None or not upload.filename:
                    raise TrainingError("请先选择要上传的图片")
                reflections.add_image(t, me, upload.read(), now)
                flash("图片已添加", "success")
            elif "remove_image" in request.form:
                reflections.save_draft(t, me, body, None, now)
                reflections.remove_image(t, me, request.form["remove_image"])
            elif "submit" in request.form:
                reflections.submit(t, me, body, now)
                if t.kind == "class":
                    completion.check_completion(t.obj, me, now)
                flash("心得体会已提交，请等待审阅", "success")
            else:
                reflections.save_draft(t, me, body, None, now)
                flash("草稿已保存", "success")
            db.session.commit()
            return redirect(here)
        except (TrainingError, ImageError) as exc:
            db.session.rollback()
            try:  # keep what was written, whatever was refused
                reflections.save_draft(t, me, body, None, now)
                db.session.commit()
            except TrainingError:
                db.session.rollback()
            flash(str(exc), "info" if "无需重复提交" in str(exc) else "error")
            row = reflections.reflection_of(t, me)
            if row is not None and row.state in reflections.EDITABLE:
                form.body.data = body
                return _page(t, row, form, True, reflections.length(body)), 200
            return redirect(here)
    editable = row is None or row.state in reflections.EDITABLE
    if row is not None:
        form.body.data = row.body
    return _page(t, row, form, editable, reflections.length(row.body if row else ""))


@bp.post("/reflections/<any(class, course, plan):kind>/<int:target_id>/autosave")
@login_required
def reflection_autosave(kind: str, target_id: int):
    t, me, now = _target_or_404(kind, target_id), current_actor(), utcnow()
    data = request.get_json(silent=True)
    if not isinstance(data, dict) or not isinstance(data.get("body"), str):
        return jsonify(error="请求格式不正确"), 400
    try:
        revision = int(data.get("revision"))
    except (TypeError, ValueError):
        return jsonify(error="请求格式不正确"), 400
    try:
        row = reflections.save_draft(t, me, data["body"], revision, now)
        db.session.commit()
    except TrainingError as exc:
        db.session.rollback()
        return jsonify(error=str(exc)), 409
    if row.revision != revision:  # a newer text is already saved (another tab, a form post)
        return jsonify(ok=False, stale=True, revision=row.revision), 409
    return jsonify(ok=True, revision=row.revision, saved_at=now.isoformat() + "Z",
                   length=reflections.length(row.body))


# The class URLs (/training/<id>/reflection) predate the other kinds: the same views.
@bp.route("/<int:class_id>/reflection", methods=["GET", "POST"])
@login_required
def class_reflection(class_id: int):
    return reflection("class", class_id)


@bp.post("/<int:class_id>/reflection/autosave")
@login_required
def class_reflection_autosave(class_id: int):
    return reflection_autosave("class", class_id)


@bp.get("/images/<name>")
@login_required
def image(name: str):
    response = media.send(name)
    if response is None:
        abort(404)
    return response


# --- certificates -------------------------------------------------------------------------


@bp.get("/certificates")
@login_required
def my_certificates():
    return render_template("training/certificates.html", certificates=certificates.mine(current_actor()))


@bp.get("/certificates/<int:cert_id>.pdf")
@login_required
def certificate_pdf(cert_id: int):
    from school.training.models import Certificate

    cert = db.session.get(Certificate, cert_id)
    if cert is None or not certificates.can_see(current_actor(), cert):
        abort(404)
    if cert.revoked_at is not None:
        flash(f"这张证书已被撤销：{cert.revoke_reason}", "error")
        return redirect(url_for("training.my_certificates"))
    try:
        body = certificates.pdf(cert, url_for("training_public.verify", code=cert.code, _external=True))
    except FontMissing as exc:
        flash(str(exc), "error")
        return redirect(url_for("training.my_certificates"))
    response = make_response(body)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f"attachment; filename=certificate-{cert.id}.pdf"
    return response


@public.get("/verify/<code>")
def verify(code: str):
    cert = certificates.by_code(code)
    if cert is None:
        return render_template("training/verify_missing.html"), 404
    response = make_response(render_template("training/verify.html", cert=cert,
                                              holder=certificates.mask_name(cert.holder_name)))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


# --- for other packages' pages --------------------------------------------------------------


@bp.app_template_global()
def member_training_rows() -> list:
    """For the member's home page: their classes with progress and the next item."""
    return completion.member_rows(current_actor()) if current_user.is_authenticated else []


@bp.app_template_global()
def member_pending_reflections() -> list:
    """For the member's home page: course and plan-item reflections to write or to revise."""
    return reflections.pending_for(current_actor(), utcnow()) if current_user.is_authenticated else []
