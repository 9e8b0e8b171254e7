"""Pages for offline training: record, back-fill, correct (or propose a correction), accept a
proposed correction, approve or reject, attachment."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import select

from school.accounts import orgs
from school.accounts.models import Organisation, User
from school.accounts.roles import current_actor, manager_required
from school.accounts.scoping import get_org_or_404, scope_root
from school.credits import attachments, offline
from school.credits.forms import BackfillForm, OfflineSessionForm, RejectForm
from school.credits.models import SESSION_STATE_LABELS, OfflineSession, SessionState
from school.credits.rules import current_rules
from school.extensions import db
from school.timeutil import utcnow

bp = Blueprint("offline", __name__, url_prefix="/offline", template_folder="templates")


@bp.app_template_global()
def pending_approvals() -> int:
    """How many submitted records the signed-in manager may approve (the header's 待审批)."""
    from sqlalchemy import func
    from werkzeug.exceptions import HTTPException
    try:
        query = offline.awaiting_decision(current_actor()).order_by(None)
    except HTTPException:  # a secretary without an organisation has no scope: nothing to approve
        return 0
    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0


@bp.context_processor
def _session_limit():
    return {"limit": current_rules().offline_max_hours_per_session}

PAGE_SIZE = 30



def _session_or_404(session_id: int) -> OfflineSession:
    session = db.session.get(OfflineSession, session_id)
    if session is None or not offline.can_view(current_actor(), session):
        abort(404)
    return session


def _org_choices() -> list[tuple[int, str]]:
    root = scope_root(current_actor())
    base = root.depth if root else 0
    return [(o.id, "　" * max(o.depth - base, 0) + o.name) for o in orgs.ordered_tree(root)]


def _chosen_org(default: Organisation | None) -> Organisation | None:
    org_id = request.values.get("org", type=int)
    if org_id:
        return get_org_or_404(current_actor(), org_id)
    return default if default is not None else (current_actor().org if current_actor().org else None)


def _members_of(org: Organisation) -> list[tuple[User, Organisation]]:
    """Active members of ``org`` and its sub-organisations, grouped by organisation."""
    return list(db.session.execute(
        select(User, Organisation).join(Organisation, User.org_id == Organisation.id)
        .where(User.active.is_(True), Organisation.path.startswith(org.path, autoescape=True))
        .order_by(Organisation.path, User.name, User.id)))


def _attachment_from(form) -> attachments.Attachment | None:
    upload = form.attachment.data
    if not upload or not getattr(upload, "filename", ""):
        return None
    return attachments.check(upload.filename, upload.read(attachments.MAX_BYTES + 1))


def _data_from(form, org: Organisation, backfill: bool) -> offline.SessionData:
    return offline.SessionData(
        org=org, held_on=form.held_on.data, hours=form.hours.data, topic=form.topic.data,
        session_type=form.session_type.data, place=form.place.data or "",
        evidence=form.evidence.data if backfill else "",
        attendee_ids=[form.member_id.data] if backfill else list(form.attendees.data or []),
        backfill=backfill)


@bp.get("/")
@manager_required
def index():
    state = request.args.get("state", "")
    page = max(request.args.get("page", 1, type=int), 1)
    query = offline.visible_sessions(current_actor())
    if state in SESSION_STATE_LABELS:
        query = query.where(OfflineSession.state == state)
    sessions = list(db.session.scalars(query.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)))
    pending = list(db.session.scalars(offline.awaiting_decision(current_actor()).limit(100)))
    returned = list(db.session.scalars(offline.returned_to(current_actor()).limit(100)))
    return render_template("credits/offline_list.html", sessions=sessions[:PAGE_SIZE], pending=pending,
                           returned=returned,
                           state=state, states=SESSION_STATE_LABELS, page=page,
                           has_more=len(sessions) > PAGE_SIZE)


def _save(form, org, backfill: bool, session: OfflineSession | None):
    """Submit or correct; returns a redirect, or None with a flashed error (the form keeps its input)."""
    try:
        attachment = _attachment_from(form)
        data = _data_from(form, org, backfill)
        if session is None:
            session = offline.submit(data, current_actor(), utcnow(), attachment)
            message = "已提交上级党组织审批"
        else:
            offline.resubmit(session, data, current_actor(), utcnow(), attachment)
            message = ("已提出修改，退回登记人确认；登记人确认前记录保持不变"
                       if session.state == SessionState.RETURNED else "已更正并重新提交审批")
        db.session.commit()
    except (offline.OfflineError, attachments.AttachmentError) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return None
    flash(message, "success")
    return redirect(url_for("offline.detail", session_id=session.id))


@bp.route("/new", methods=["GET", "POST"])
@manager_required
def new():
    org = _chosen_org(None)
    if org is None:
        first = _org_choices()
        org = get_org_or_404(current_actor(), first[0][0]) if first else abort(404)
    members = _members_of(org)
    form = OfflineSessionForm()
    form.attendees.choices = [(u.id, u.name) for u, _ in members]
    if form.validate_on_submit():
        done = _save(form, org, False, None)
        if done:
            return done
    return render_template("credits/offline_form.html", form=form, org=org, members=members,
                           org_choices=_org_choices(), session=None,
                           selected=set(form.attendees.data or []))


@bp.route("/backfill", methods=["GET", "POST"])
@manager_required
def backfill():
    org = _chosen_org(None)
    if org is None:
        first = _org_choices()
        org = get_org_or_404(current_actor(), first[0][0]) if first else abort(404)
    members = _members_of(org)
    form = BackfillForm()
    form.member_id.choices = [(0, "（请选择）")] + [(u.id, f"{u.name}（{u.member_no}，{o.name}）") for u, o in members]
    if request.method == "GET" and request.args.get("member", type=int):
        form.member_id.data = request.args.get("member", type=int)
    if form.validate_on_submit():
        done = _save(form, org, True, None)
        if done:
            return done
    return render_template("credits/backfill_form.html", form=form, org=org, org_choices=_org_choices(),
                           session=None)


@bp.get("/<int:session_id>")
@manager_required
def detail(session_id: int):
    session = _session_or_404(session_id)
    actor = current_actor()
    return render_template("credits/offline_detail.html", session=session,
                           audit=offline.audit_trail(session), reject_form=RejectForm(),
                           can_decide=offline.can_decide(actor, session),
                           can_edit=offline.can_edit(actor, session), can_accept=offline.can_accept(actor, session),
                           is_creator=session.created_by_id == actor.id, creator_gone=offline.creator_gone(session),
                           stamp=offline.stamp(session),
                           actions=offline.ACTION_LABELS)


@bp.route("/<int:session_id>/edit", methods=["GET", "POST"])
@manager_required
def edit(session_id: int):
    session = _session_or_404(session_id)
    if not offline.can_edit(current_actor(), session):
        flash("该记录已审批通过，不能再修改", "error")
        return redirect(url_for("offline.detail", session_id=session.id))
    members = _members_of(session.org)
    if session.backfill:
        form = BackfillForm(obj=session)
        form.member_id.choices = [(u.id, f"{u.name}（{u.member_no}，{o.name}）") for u, o in members]
        if request.method == "GET":
            form.member_id.data = session.attendees[0].member_id
    else:
        form = OfflineSessionForm(obj=session)
        form.attendees.choices = [(u.id, u.name) for u, _ in members]
        if request.method == "GET":
            form.attendees.data = [a.member_id for a in session.attendees]
    if form.validate_on_submit():
        done = _save(form, session.org, session.backfill, session)
        if done:
            return done
    template = "credits/backfill_form.html" if session.backfill else "credits/offline_form.html"
    return render_template(template, form=form, org=session.org, members=members, org_choices=[],
                           session=session, selected=set(form.attendees.data or []) if not session.backfill else set(),
                           is_creator=session.created_by_id == current_actor().id)


@bp.post("/<int:session_id>/approve")
@manager_required
def approve(session_id: int):
    session = _session_or_404(session_id)
    try:
        count = offline.approve(session, current_actor(), utcnow(), seen=request.form.get("seen"))
        db.session.commit()
        flash(f"已审批通过，{count} 人各记 {session.hours:.2f} 学时", "success")
    except offline.OfflineError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("offline.detail", session_id=session_id))


@bp.post("/<int:session_id>/reject")
@manager_required
def reject(session_id: int):
    session = _session_or_404(session_id)
    form = RejectForm()
    if not form.validate_on_submit():
        flash("退回时必须填写原因", "error")
        return redirect(url_for("offline.detail", session_id=session_id))
    try:
        offline.reject(session, form.reason.data, current_actor(), utcnow(), seen=request.form.get("seen"))
        db.session.commit()
        flash("已退回，登记人会看到退回原因", "success")
    except offline.OfflineError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("offline.detail", session_id=session_id))


@bp.post("/<int:session_id>/accept")
@manager_required
def accept(session_id: int):
    """The creator takes over the changes someone else proposed (the ones shown on their page)."""
    session = _session_or_404(session_id)
    try:
        offline.accept(session, request.form.get("proposal", ""), current_actor(), utcnow())
        db.session.commit()
        flash("已采纳修改并重新提交审批", "success")
    except offline.OfflineError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("offline.detail", session_id=session_id))


@bp.get("/<int:session_id>/attachment")
@manager_required
def attachment(session_id: int):
    """The record's file, or with ``?proposed=1`` the one a pending proposal would put in its place."""
    session = _session_or_404(session_id)
    name, mimetype, download = session.attachment_path, session.attachment_type, session.attachment_name
    if request.args.get("proposed"):
        stored = (session.proposed or {}).get("attachment") if session.state == SessionState.RETURNED else None
        name, mimetype, download = (stored["path"], stored["type"], stored["name"]) if stored else (None, None, None)
    if not name:
        abort(404)
    try:
        path = attachments.path_of(name)
    except attachments.AttachmentError:
        abort(404)
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype=mimetype, as_attachment=True, download_name=download or path.name)
