"""Pages of 通知公告, 消息, reminders and 学习计划 (thin: parse → service → render)."""
from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import IntegrityError

from school import jobs
from school.accounts.models import Organisation, Role
from school.accounts.roles import current_actor, manager_required
from school.accounts.scoping import get_org_or_404, scope_root, scoped_orgs
from school.credits import reports
from school.extensions import db
from school.notices import delivery, menu, plans, recipients, services
from school.notices.forms import NoticeForm, PlanForm, PlanItemForm, ReminderForm
from school.notices.models import Message, Notice, Reminder, StudyPlan
from school.paging import page_of
from school.safe_html import markdown_to_safe_html
from school.timeutil import local_date_to_utc, local_year, to_local, utcnow
from school.web import safe_next

bp = Blueprint("notices", __name__, template_folder="templates")


def _org_choices() -> list[tuple[int, str]]:
    orgs = db.session.scalars(scoped_orgs(current_actor()).order_by(reports.path_order(Organisation.path)))
    return [(o.id, "　" * max(o.depth, 0) + o.name) for o in orgs]


def _back(default: str) -> str:
    return safe_next(request.form.get("back") or request.args.get("back"), default)


# --- for every page: the counts in the menu and the home page sections ------------------


@bp.app_template_global()
def notice_summary() -> dict:
    """Unread notices and messages of the signed-in user (the menu; two counts per page). On
    PostgreSQL they usually came with the login session (``menu``)."""
    if menu.KEY not in g:
        if not current_user.is_authenticated:
            setattr(g, menu.KEY, {})
        else:
            notices, messages = services.unread_counts(current_actor(), utcnow())
            setattr(g, menu.KEY, {"unread_notices": notices, "unread_messages": messages})
    return g.get(menu.KEY)


@bp.app_template_global()
def notice_home() -> dict:
    """The home page's sections: the newest notices and the plan's tasks (本月任务, overdue)."""
    member, now = current_actor(), utcnow()
    return {**notice_summary(), "notices": services.visible_notices(member, now, limit=5),
            "tasks": plans.home_tasks(member, now)}


# --- 通知公告 for members ---------------------------------------------------------------


@bp.get("/notices/")
@login_required
def index():
    return render_template("notices/index.html", rows=services.visible_notices(current_actor(), utcnow()))


def _notice_or_404(notice_id: int) -> Notice:
    notice = db.session.get(Notice, notice_id)
    if notice is None or not services.can_view(current_actor(), notice, utcnow()):
        abort(404)
    return notice


@bp.get("/notices/<int:notice_id>")
@login_required
def notice(notice_id: int):
    item = _notice_or_404(notice_id)
    if services.mark_read(current_actor(), item, utcnow()):
        try:
            db.session.commit()
        except IntegrityError:  # another tab of the same member recorded it a moment ago
            db.session.rollback()
    return render_template("notices/notice.html", notice=item, body=markdown_to_safe_html(item.body),
                           manages=services.manages(current_actor(), item))


@bp.get("/notices/<int:notice_id>/attachment")
@login_required
def attachment(notice_id: int):
    item = _notice_or_404(notice_id)
    path = services.attachment_path(item)
    if path is None:
        abort(404)
    response = send_file(path, mimetype=item.attachment_mime, as_attachment=item.attachment_mime != "application/pdf",
                         download_name=item.attachment_name or path.name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- 通知公告 for senders ----------------------------------------------------------------


@bp.get("/notices/manage")
@manager_required
def manage():
    items = services.managed_notices(current_actor())
    return render_template("notices/manage.html", notices=items, reads=services.read_counts(items), now=utcnow())


@bp.route("/notices/manage/new", methods=["GET", "POST"])
@manager_required
def new_notice():
    form = NoticeForm()
    form.org_id.choices = _org_choices()
    if request.method == "GET":
        form.token.data = services.new_token()
    if form.validate_on_submit():
        actor, now = current_actor(), utcnow()
        try:
            upload = request.files.get(form.attachment.name)
            checked = services.check_attachment(upload.filename or "", upload.read()) if upload and upload.filename else None
            expires = local_date_to_utc(form.expires_on.data + timedelta(days=1)) if form.expires_on.data else None
            created = services.create_notice(actor, services.NoticeData(
                org=db.session.get(Organisation, form.org_id.data), title=form.title.data, body=form.body.data,
                pinned=form.pinned.data, expires_at=expires), form.token.data or services.new_token(), now, checked)
        except services.DuplicateSend as dup:
            db.session.rollback()
            flash("这条通知已经发布，请勿重复提交", "info")
            return redirect(url_for("notices.unread", notice_id=dup.existing_id))
        except services.NoticeError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"通知“{created.title}”已发布给 {created.org.name} 及其下级党组织", "success")
            return redirect(url_for("notices.unread", notice_id=created.id))
    return render_template("notices/new.html", form=form)


@bp.get("/notices/manage/<int:notice_id>")
@manager_required
def unread(notice_id: int):
    item = db.session.get(Notice, notice_id)
    if item is None or not services.manages(current_actor(), item):
        abort(404)
    members = services.unread_members(current_actor(), item)
    form = ReminderForm(formdata=None, token=services.new_token(), source=f"notice:{item.id}",
                        link=url_for("notices.notice", notice_id=item.id),
                        title=delivery.one_line(f"请阅读通知：{item.title}")[:200],
                        text=f"您还没有阅读通知“{delivery.one_line(item.title)}”，请登录网上党校查看。")
    return render_template("notices/unread.html", notice=item, members=members, form=form,
                           read_count=services.read_counts([item]).get(item.id, 0))


# --- 消息 ------------------------------------------------------------------------------


@bp.get("/messages")
@login_required
def messages():
    return render_template("notices/messages.html", messages=services.inbox(current_actor()))


@bp.get("/messages/<int:message_id>")
@login_required
def message(message_id: int):
    item = db.session.get(Message, message_id)
    if item is None or item.member_id != current_actor().id:
        abort(404)
    if item.read_at is None:
        services.open_message(current_actor(), item, utcnow())
        db.session.commit()
    link = safe_next(item.link, "")
    return render_template("notices/message.html", message=item, link=link)


# --- reminders --------------------------------------------------------------------------


@bp.post("/reminders/send")
@manager_required
def send_reminder():
    form = ReminderForm()
    back = _back(url_for("notices.reminders"))
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(back)
    ids = [int(v) for v in request.form.getlist("member_id") if v.isdigit()]
    if request.form.get("everyone_behind") == "1":
        # Everyone behind in the plan or class the form came from, computed here within the
        # sender's scope (recipients.py): a county's behind list is too long for checkboxes.
        try:
            behind = recipients.everyone_behind(form.source.data or "", current_actor(), utcnow())
        except LookupError:
            abort(404)
        ids = behind if behind is not None else ids
    try:
        result = delivery.send_reminder(current_actor(), ids, form.title.data, form.text.data,
                                        form.token.data or services.new_token(), utcnow(),
                                        source=form.source.data or "", link=form.link.data or "")
    except LookupError:
        db.session.rollback()
        abort(404)
    except services.DuplicateSend as dup:
        db.session.rollback()
        flash("这条提醒已经发送，请勿重复提交", "info")
        return redirect(url_for("notices.reminder", reminder_id=dup.existing_id))
    except delivery.ReminderError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(back)
    db.session.commit()
    flash(f"提醒已提交，共 {result.queued} 人：站内消息、邮件和短信在后台发送，本页显示进度", "success")
    return redirect(url_for("notices.reminder", reminder_id=result.reminder.id))


@bp.get("/reminders")
@manager_required
def reminders():
    return render_template("notices/reminders.html", reminders=delivery.sent_by(current_actor()))


@bp.get("/reminders/<int:reminder_id>")
@manager_required
def reminder(reminder_id: int):
    item = db.session.get(Reminder, reminder_id)
    actor = current_actor()
    if item is None or (item.sender_id != actor.id and actor.role != Role.ADMIN):
        abort(404)
    job = db.session.get(jobs.Job, item.job_id) if item.job_id else None
    skipped_count, skipped = delivery.skipped_members(item)
    return render_template("notices/reminder.html", reminder=item, rows=delivery.status(item), job=job,
                           skipped_count=skipped_count, skipped=skipped)


@bp.get("/reminders/behind")
@manager_required
def behind():
    """The credits report's members behind, with a reminder form (the report links here)."""
    actor = current_actor()
    org_id = request.args.get("org", type=int)
    org = get_org_or_404(actor, org_id) if org_id else scope_root(actor)
    year = request.args.get("year", local_year(utcnow()), type=int)
    if not 2000 <= year <= 2100:
        abort(404)
    period = reports.Period(year=year)
    rows = reports.behind(org, period, floating=False, limit=1000) + reports.behind(org, period, floating=True,
                                                                                    limit=1000)
    form = ReminderForm(formdata=None, token=services.new_token(), source=f"behind:{year}",
                        link=url_for("credits.home"), title="学时提醒",
                        text=f"您 {year} 年度的学习学时尚未达标，请抓紧时间登录网上党校学习。")
    return render_template("notices/behind.html", rows=rows, org=org, year=year, form=form)


# --- 学习计划 ----------------------------------------------------------------------------


@bp.get("/plans")
@login_required
def my_plan():
    return render_template("notices/my_plan.html", tasks=plans.member_tasks(current_actor(), utcnow()),
                           year=local_year(utcnow()))


@bp.get("/plans/manage")
@manager_required
def plans_manage():
    return render_template("notices/plans.html", plans=plans.managed_plans(current_actor()))


@bp.route("/plans/manage/new", methods=["GET", "POST"])
@manager_required
def new_plan():
    form = PlanForm()
    form.org_id.choices = _org_choices()
    if request.method == "GET":
        form.year.data = local_year(utcnow())
    if form.validate_on_submit():
        try:
            plan = plans.create_plan(current_actor(), db.session.get(Organisation, form.org_id.data), form.year.data,
                                     form.title.data, utcnow())
        except plans.PlanError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash("学习计划已建立，请添加任务", "success")
            return redirect(url_for("notices.plan", plan_id=plan.id))
    return render_template("notices/plan_new.html", form=form)


def _plan_or_404(plan_id: int) -> StudyPlan:
    plan = db.session.get(StudyPlan, plan_id)
    if plan is None:
        abort(404)
    get_org_or_404(current_actor(), plan.org_id)
    return plan


def _item_form() -> PlanItemForm:
    form = PlanItemForm()
    form.kind.choices = [(k.key, k.label) for k in plans.ITEM_KINDS.values()]
    return form


@bp.get("/plans/manage/<int:plan_id>")
@manager_required
def plan(plan_id: int):
    item = _plan_or_404(plan_id)
    progress = plans.plan_progress(current_actor(), item)
    behind = [p for p in progress if p.missing]
    only_behind = request.args.get("behind") == "1"
    # Every member's progress is computed (the counts need it); one page of them is rendered,
    # and the reminder form lists that page's members (or, by one box, everyone behind).
    page = page_of(behind if only_behind else progress, request.args.get("page", 1, type=int) or 1)
    form = ReminderForm(formdata=None, token=services.new_token(), source=f"plan:{item.id}",
                        link=url_for("notices.my_plan"), title=delivery.one_line(f"学习计划提醒：{item.title}")[:200],
                        text=f"您在学习计划“{item.title}”中还有任务未完成，请登录网上党校查看。")
    item_form = _item_form()
    item_form.due_on.data = date(item.year, 12, 31) if item.year != local_year(utcnow()) else None
    return render_template("notices/plan.html", plan=item, members=len(progress), behind_count=len(behind),
                           page=page, only_behind=only_behind, form=form, item_form=item_form,
                           page_behind=[p.member for p in page.rows if p.missing],
                           kinds=plans.ITEM_KINDS, today=to_local(utcnow()).date())


@bp.post("/plans/manage/<int:plan_id>/items")
@manager_required
def add_plan_item(plan_id: int):
    item = _plan_or_404(plan_id)
    form = _item_form()
    if form.validate_on_submit():
        try:
            added = plans.add_item(item, form.kind.data, form.ref_id.data, form.due_on.data,
                                   form.reflection_required.data,
                                   300 if form.reflection_min_chars.data is None else form.reflection_min_chars.data)
        except plans.PlanError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash(f"已添加任务“{added.title}”", "success")
    else:
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
    return redirect(url_for("notices.plan", plan_id=item.id))
