"""Organisers' pages (blueprint ``training_manage``, /training/manage): classes, content,
applications, roster and its XLSX, reflections to review, certificates, seals.

Secretaries and admins only (``manager_required``); a class outside the secretary's reach
is a 404, like every scoped object.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import wraps

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from school.accounts.models import Role
from school.accounts.orgs import ordered_tree
from school.accounts.roles import admin_required, current_actor, manager_required
from school.accounts.scoping import scope_root
from school.credits.record import XLSX_MIME
from school.extensions import db
from school.notices.delivery import one_line
from school.notices.forms import ReminderForm
from school.notices.services import new_token
from school.paging import page_of
from school.timeutil import local_date_to_utc, to_local, utcnow
from school.training import certificates, classes, enrolment, media, reflections, roster
from school.training.errors import TrainingError
from school.training.forms import ClassForm, ItemForm, PlainForm, ReasonForm, ReviewForm, SealForm
from school.training.media import ImageError
from school.training.models import (
    Certificate,
    ClassItem,
    Enrolment,
    EnrolState,
    Reflection,
    TrainingClass,
)

bp = Blueprint("training_manage", __name__, url_prefix="/training/manage", template_folder="templates")


def _managed_or_404(class_id: int) -> TrainingClass:
    cls = db.session.get(TrainingClass, class_id)
    if cls is None or not classes.can_manage(current_actor(), cls):
        abort(404)
    return cls


def _roster_or_404(class_id: int) -> TrainingClass:
    cls = db.session.get(TrainingClass, class_id)
    if cls is None or not classes.can_read_roster(current_actor(), cls):
        abort(404)
    return cls


@bp.get("/")
@manager_required
def index():
    return render_template("training/manage_list.html", classes=classes.managed_classes(current_actor()),
                           can=lambda c: classes.can_manage(current_actor(), c))


# --- the class form -----------------------------------------------------------------------


def _class_form(cls: TrainingClass | None) -> ClassForm:
    actor = current_actor()
    form = ClassForm(obj=cls) if cls is not None and request.method == "GET" else ClassForm()
    root = scope_root(actor)
    orgs = ordered_tree(root)
    form.audience_orgs.choices = [(o.id, "　" * (o.depth - (root.depth if root else 0)) + o.name) for o in orgs]
    form.org_id.choices = ([(0, "网上党校（全校）")] if root is None else []) + [(o.id, o.name) for o in orgs]
    if request.method == "GET":
        if cls is not None:
            form.org_id.data = cls.org_id or 0
            form.audience_orgs.data = [o.id for o in cls.audience_orgs]
            form.audience_categories.data = cls.categories
            form.starts_on.data = to_local(cls.starts_at).date()
            form.ends_on.data = (to_local(cls.ends_at) - timedelta(seconds=1)).date()
            form.enrol_opens_on.data = to_local(cls.enrol_opens_at).date()
            form.enrol_closes_on.data = (to_local(cls.enrol_closes_at) - timedelta(seconds=1)).date()
        else:
            today = to_local(utcnow()).date()
            form.org_id.data = actor.org_id if root is not None else 0
            form.starts_on.data = form.enrol_opens_on.data = today
            form.ends_on.data = today + timedelta(days=30)
            form.enrol_closes_on.data = today + timedelta(days=14)
    return form


def _data(form: ClassForm) -> classes.ClassData:
    return classes.ClassData(
        title=form.title.data or "", theme=form.theme.data or "", description=form.description.data or "",
        org_id=form.org_id.data or None,
        starts_at=local_date_to_utc(form.starts_on.data),
        ends_at=local_date_to_utc(form.ends_on.data + timedelta(days=1)),
        enrol_opens_at=local_date_to_utc(form.enrol_opens_on.data),
        enrol_closes_at=local_date_to_utc(form.enrol_closes_on.data + timedelta(days=1)),
        capacity=form.capacity.data, enrol_mode=form.enrol_mode.data, floating=form.floating.data,
        electives_required=form.electives_required.data or 0, exam_id=form.exam_id.data,
        hours=form.hours.data if form.hours.data is not None else Decimal("0"), credit_kind=form.credit_kind.data,
        reflection_required=form.reflection_required.data,
        reflection_min_chars=form.reflection_min_chars.data or 0, published=form.published.data,
        audience_org_ids=tuple(form.audience_orgs.data or ()),
        audience_categories=tuple(form.audience_categories.data or ()))


def _save(form: ClassForm, cls: TrainingClass | None):
    actor, now = current_actor(), utcnow()
    try:
        saved = classes.save_class(_data(form), actor, now, cls)
        upload = request.files.get("cover")
        if upload is not None and upload.filename:
            saved.cover_name = media.save_picture(upload.read())
        enrolment.sync_auto(saved, actor, now)
        db.session.commit()
    except (TrainingError, ImageError) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return None
    flash("专题班已保存", "success")
    return redirect(url_for("training_manage.detail", class_id=saved.id))


@bp.route("/new", methods=["GET", "POST"])
@manager_required
def new():
    form = _class_form(None)
    if form.validate_on_submit():
        done = _save(form, None)
        if done is not None:
            return done
    return render_template("training/manage_form.html", form=form, cls=None), 200


@bp.route("/<int:class_id>/edit", methods=["GET", "POST"])
@manager_required
def edit(class_id: int):
    cls = _managed_or_404(class_id)
    form = _class_form(cls)
    if form.validate_on_submit():
        done = _save(form, cls)
        if done is not None:
            return done
    return render_template("training/manage_form.html", form=form, cls=cls)


# --- content and applications -------------------------------------------------------------


def _item_form() -> ItemForm:
    from school.courses.models import Course

    form = ItemForm()
    form.course_id.choices = [(0, "（选择课程）")] + [
        (c.id, c.title) for c in db.session.scalars(select(Course).where(Course.published.is_(True))
                                                    .order_by(Course.title))]
    return form


@bp.get("/<int:class_id>")
@manager_required
def detail(class_id: int):
    cls = _managed_or_404(class_id)
    pending = list(db.session.scalars(select(Enrolment).where(
        Enrolment.class_id == cls.id, Enrolment.state == EnrolState.PENDING).order_by(Enrolment.applied_at)))
    return render_template("training/manage_class.html", cls=cls, item_form=_item_form(), form=PlainForm(),
                           reason_form=ReasonForm(), pending=pending, problems=classes.rule_problems(cls))


@bp.post("/<int:class_id>/items")
@manager_required
def add_item(class_id: int):
    cls = _managed_or_404(class_id)
    form = _item_form()
    try:
        if not form.validate_on_submit():
            raise TrainingError("；".join(e for errors in form.errors.values() for e in errors) or "请检查填写的内容")
        classes.add_item(cls, current_actor(), form.kind.data, form.required.data, course_id=form.course_id.data,
                         document_ref=form.document_ref.data or "", title=form.title.data or "",
                         body=form.body.data or "")
        db.session.commit()
        flash("已添加学习内容", "success")
    except TrainingError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("training_manage.detail", class_id=cls.id))


def _item_or_404(item_id: int) -> ClassItem:
    item = db.session.get(ClassItem, item_id)
    if item is None or not classes.can_manage(current_actor(), item.training_class):
        abort(404)
    return item


@bp.post("/items/<int:item_id>/move")
@manager_required
def move_item(item_id: int):
    item = _item_or_404(item_id)
    classes.move_item(item, current_actor(), request.form.get("direction", "up"))
    db.session.commit()
    return redirect(url_for("training_manage.detail", class_id=item.class_id))


@bp.post("/items/<int:item_id>/delete")
@manager_required
def delete_item(item_id: int):
    item = _item_or_404(item_id)
    class_id = item.class_id
    classes.delete_item(item, current_actor())
    db.session.commit()
    flash("已删除学习内容", "success")
    return redirect(url_for("training_manage.detail", class_id=class_id))


def _enrolment_or_404(enrolment_id: int) -> Enrolment:
    row = db.session.get(Enrolment, enrolment_id)
    if row is None or not classes.can_manage(current_actor(), row.training_class):
        abort(404)
    return row


@bp.post("/enrolments/<int:enrolment_id>/approve")
@manager_required
def approve(enrolment_id: int):
    row = _enrolment_or_404(enrolment_id)
    try:
        enrolment.approve(row, current_actor(), utcnow())
        db.session.commit()
        flash(f"已批准 {row.member.name} 参加", "success")
    except TrainingError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("training_manage.detail", class_id=row.class_id))


@bp.post("/enrolments/<int:enrolment_id>/reject")
@manager_required
def reject(enrolment_id: int):
    row = _enrolment_or_404(enrolment_id)
    try:
        enrolment.reject(row, current_actor(), request.form.get("reason", ""), utcnow())
        db.session.commit()
        flash(f"已不予通过 {row.member.name} 的报名", "success")
    except TrainingError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("training_manage.detail", class_id=row.class_id))


# --- roster -------------------------------------------------------------------------------


@bp.get("/<int:class_id>/roster")
@manager_required
def roster_page(class_id: int):
    cls, actor, now = _roster_or_404(class_id), current_actor(), utcnow()
    # An automatic class enrols members who joined the audience since it was saved, so the
    # roster (and its behind list, the secretary's reminder list) shows everyone who should
    # study, not only those who have logged in; it reads nothing once enrolment is closed or full.
    if enrolment.sync_auto(cls, actor, now):
        db.session.commit()
    only_behind = request.args.get("behind") == "1"
    # Every row is computed (the summary and the behind list need each member's progress),
    # one page of them is rendered.
    everyone = roster.rows(cls, actor, now)
    listed = roster.behind_of(everyone) if only_behind else everyone
    page = page_of(listed, request.args.get("page", 1, type=int) or 1)
    shown_ids = [r.member.id for r in page.rows]
    certs = {c.member_id: c for c in db.session.scalars(
        select(Certificate).where(Certificate.class_id == cls.id, Certificate.member_id.in_(shown_ids)))} if shown_ids else {}
    summary = roster.summary(everyone)
    form = ReminderForm(formdata=None, token=new_token(), source=f"class:{cls.id}",
                        link=url_for("training.class_page", class_id=cls.id),
                        title=one_line(f"专题班学习提醒：{cls.title}")[:200],
                        text=f"您在专题班“{cls.title}”的学习进度落后，请登录网上党校继续学习。")
    return render_template("training/roster.html", cls=cls, rows=page.rows, page=page, listed=len(listed),
                           summary=summary, only_behind=only_behind, certs=certs, form=form,
                           page_behind=[r.member for r in page.rows if r.behind],
                           expected=roster.expected_percent(cls, now), can_manage=classes.can_manage(actor, cls),
                           can_revoke=certificates.can_revoke(actor))


@bp.get("/<int:class_id>/roster.xlsx")
@manager_required
def roster_xlsx(class_id: int):
    cls = _roster_or_404(class_id)
    body = roster.xlsx(cls, current_actor(), utcnow())
    response = make_response(body)
    response.headers["Content-Type"] = XLSX_MIME
    response.headers["Content-Disposition"] = f"attachment; filename=training-{cls.id}-roster.xlsx"
    return response


# --- reflections --------------------------------------------------------------------------


@bp.get("/<int:class_id>/reflections")
@manager_required
def reflection_list(class_id: int):
    cls = _roster_or_404(class_id)
    return render_template("training/reflection_list.html", cls=cls,
                           rows=reflections.for_review(cls, current_actor()))


def reviewer_required(view):
    """Secretaries and admins, and editors (who review course reflections); the rows are scoped."""
    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if current_user.role not in (Role.EDITOR, Role.SECRETARY, Role.ADMIN) or (
                current_user.role == Role.SECRETARY and current_user.org is None):
            abort(403)
        return view(*args, **kwargs)
    return wrapped


@bp.get("/reflections")
@reviewer_required
def reflection_queue():
    """Every reflection the actor may review, of every kind (class, course, plan item)."""
    kind = request.args.get("kind", "")
    kind = kind if kind in reflections.KIND_LABELS else None
    rows = reflections.review_queue(current_actor(), kind)
    return render_template("training/reflection_queue.html", rows=rows, kind=kind, kinds=reflections.KIND_LABELS,
                           target_of=reflections.of_reflection)


def _reflection_or_404(reflection_id: int) -> Reflection:
    row = db.session.get(Reflection, reflection_id)
    if row is None or not reflections.can_review(current_actor(), row):
        abort(404)
    return row


@bp.route("/reflections/<int:reflection_id>", methods=["GET", "POST"])
@reviewer_required
def review(reflection_id: int):
    row = _reflection_or_404(reflection_id)
    t = reflections.of_reflection(row)
    back = (url_for("training_manage.reflection_list", class_id=row.class_id) if t.kind == "class"
            else url_for("training_manage.reflection_queue"))
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            entry = reflections.review(row, current_actor(), form.verdict.data, form.comment.data or "", utcnow(),
                                       feature=form.feature.data)
            db.session.commit()
            flash(f"已审阅：{row.state_label}" + (f"，计 {entry.hours} 学时" if entry else ""), "success")
            return redirect(back)
        except TrainingError as exc:
            db.session.rollback()
            flash(str(exc), "error")
    return render_template("training/review.html", row=row, t=t, back=back, form=form)


# --- certificates and seals ---------------------------------------------------------------


@bp.post("/certificates/<int:cert_id>/revoke")
@admin_required
def revoke(cert_id: int):
    cert = db.session.get(Certificate, cert_id)
    if cert is None:
        abort(404)
    try:
        certificates.revoke(cert, current_actor(), request.form.get("reason", ""), utcnow())
        db.session.commit()
        flash("证书已撤销", "success")
    except TrainingError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("training_manage.roster_page", class_id=cert.class_id))


@bp.route("/seals", methods=["GET", "POST"])
@admin_required
def seals():
    form = SealForm()
    form.org_id.choices = [(0, "网上党校（全校）")] + [(o.id, "　" * o.depth + o.name) for o in ordered_tree(None)]
    if form.validate_on_submit():
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                raise TrainingError("请选择公章图片")
            certificates.set_seal(form.org_id.data or None, upload.read(), current_actor(), utcnow())
            db.session.commit()
            flash("公章已保存", "success")
            return redirect(url_for("training_manage.seals"))
        except (TrainingError, ImageError) as exc:
            db.session.rollback()
            flash(str(exc), "error")
    return render_template("training/seals.html", form=form, seals=certificates.all_seals(),
                           is_admin=current_actor().role == Role.ADMIN)
