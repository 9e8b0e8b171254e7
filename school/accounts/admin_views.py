"""Managing the organisation tree and members. Every lookup goes through ``scoping``."""
from __future__ import annotations

import secrets

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from school.accounts import auth, member_import, members, orgs
from school.accounts.forms import ConfirmForm, ImportForm, MemberForm, OrgForm, OrgMoveForm, OrgRenameForm
from school.accounts.models import ROLE_LABELS, Organisation, User
from school.accounts.roles import current_actor, manager_required
from school.accounts.scoping import can_manage_user, get_member_or_404, get_org_or_404, scope_root, scoped_members
from school.extensions import db
from school.tabular import TableError, read_table, template_csv, template_xlsx
from school.timeutil import utcnow

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

PAGE_SIZE = 50



def _org_choices(exclude: Organisation | None = None, allow_top: bool = False) -> list[tuple[int, str]]:
    root = scope_root(current_actor())
    choices = [(0, "（无上级：顶层组织）")] if allow_top and root is None else []
    for org in orgs.ordered_tree(root):
        if exclude is not None and org.path.startswith(exclude.path):
            continue
        indent = "　" * max(org.depth - (root.depth if root else 0), 0)
        choices.append((org.id, f"{indent}{org.name}"))
    return choices


@bp.get("/")
@manager_required
def index():
    return redirect(url_for("admin.org_tree"))


# --- organisations ----------------------------------------------------------------------


@bp.get("/orgs")
@manager_required
def org_tree():
    root = scope_root(current_actor())
    tree = orgs.ordered_tree(root)
    counts = dict(db.session.execute(
        scoped_members(current_actor()).with_only_columns(User.org_id, func.count(User.id))
        .where(User.active.is_(True)).group_by(User.org_id)).all())
    form = OrgForm()
    form.parent_id.choices = _org_choices(allow_top=True)
    base_depth = root.depth if root else 0
    return render_template("accounts/org_tree.html", tree=tree, counts=counts, form=form, base_depth=base_depth)


@bp.post("/orgs/new")
@manager_required
def org_create():
    parent = _posted_parent()
    form = OrgForm()
    form.parent_id.choices = _org_choices(allow_top=True)
    if not form.validate_on_submit():
        flash("请填写组织名称并选择上级组织", "error")
        return redirect(url_for("admin.org_tree"))
    try:
        org = orgs.create_org(form.name.data, form.kind.data, parent)
    except orgs.OrgError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.org_tree"))
    db.session.commit()
    flash(f"已添加组织：{org.name}", "success")
    return redirect(url_for("admin.org_detail", org_id=org.id))


def _posted_parent() -> Organisation | None:
    """The parent named in the form, checked against the actor's scope (404 outside it).

    "No parent" (a new top-level organisation) is only for admins.
    """
    parent_id = request.form.get("parent_id", 0, type=int)
    if parent_id:
        return get_org_or_404(current_actor(), parent_id)
    if scope_root(current_actor()) is not None:
        abort(404)
    return None


@bp.get("/orgs/<int:org_id>")
@manager_required
def org_detail(org_id: int):
    org = get_org_or_404(current_actor(), org_id)
    rename_form = OrgRenameForm(name=org.name)
    move_form = OrgMoveForm(parent_id=org.parent_id or 0)
    move_form.parent_id.choices = _org_choices(exclude=org, allow_top=True)
    child_form = OrgForm(parent_id=org.id)
    child_form.parent_id.choices = [(org.id, org.name)]
    people = list(db.session.scalars(select(User).where(User.org_id == org.id).order_by(User.active.desc(), User.name)))
    root = scope_root(current_actor())
    is_scope_root = root is not None and root.id == org.id
    trail = [a for a in orgs.ancestors(org) if root is None or a.path.startswith(root.path)]
    return render_template("accounts/org_detail.html", org=org, people=people, rename_form=rename_form,
                           move_form=move_form, child_form=child_form, trail=trail,
                           is_scope_root=is_scope_root)


@bp.post("/orgs/<int:org_id>/rename")
@manager_required
def org_rename(org_id: int):
    org = get_org_or_404(current_actor(), org_id)
    form = OrgRenameForm()
    if form.validate_on_submit():
        try:
            orgs.rename_org(org, form.name.data)
            db.session.commit()
            flash("组织名称已修改", "success")
        except orgs.OrgError as exc:
            flash(str(exc), "error")
    else:
        flash("请输入组织名称", "error")
    return redirect(url_for("admin.org_detail", org_id=org.id))


@bp.post("/orgs/<int:org_id>/move")
@manager_required
def org_move(org_id: int):
    actor = current_actor()
    org = get_org_or_404(actor, org_id)
    root = scope_root(actor)
    if root is not None and root.id == org.id:
        abort(403)  # a secretary cannot move the organisation their scope hangs from
    new_parent = _posted_parent()
    form = OrgMoveForm()
    form.parent_id.choices = _org_choices(allow_top=True)
    if not form.validate_on_submit():
        flash("请选择新的上级组织", "error")
        return redirect(url_for("admin.org_detail", org_id=org.id))
    try:
        orgs.move_org(org, new_parent)
        db.session.commit()
        flash("组织已移动，下级组织随之移动", "success")
    except orgs.OrgError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("admin.org_detail", org_id=org_id))


# --- members ----------------------------------------------------------------------------


@bp.get("/members")
@manager_required
def member_list():
    actor = current_actor()
    query = scoped_members(actor)
    q = request.args.get("q", "").strip()
    if q:
        like = f"%{q}%"
        query = query.where(or_(User.name.like(like), User.member_no.like(like), User.phone.like(like)))
    org_id = request.args.get("org", type=int)
    selected_org = None
    if org_id:
        selected_org = get_org_or_404(actor, org_id)
        query = query.where(User.org_id.in_(orgs.subtree_ids(selected_org)))
    status = request.args.get("status", "active")
    if status == "active":
        query = query.where(User.active.is_(True))
    elif status == "inactive":
        query = query.where(User.active.is_(False))
    page = max(request.args.get("page", 1, type=int), 1)
    total = db.session.scalar(query.with_only_columns(func.count(User.id)).order_by(None))
    people = list(db.session.scalars(query.options(selectinload(User.org)).order_by(User.name, User.id)
                                     .limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)))
    return render_template("accounts/member_list.html", people=people, q=q, status=status, page=page,
                           total=total, pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
                           org_choices=_org_choices(), selected_org=selected_org)


def _member_form(user: User | None = None) -> MemberForm:
    form = MemberForm(obj=user) if user is not None else MemberForm()
    form.org_id.choices = [(0, "（无）")] + _org_choices()
    assignable = members.roles_assignable_by(current_actor())
    if user is not None and user.role not in assignable:
        assignable = [user.role]  # shown, but a secretary cannot change it
    form.role.choices = [(r, ROLE_LABELS[r]) for r in assignable]
    if user is not None and request.method == "GET":
        form.org_id.data = user.org_id or 0
    return form


def _data_from(form: MemberForm) -> members.MemberData:
    org = get_org_or_404(current_actor(), form.org_id.data) if form.org_id.data else None
    return members.MemberData(
        name=form.name.data, member_no=form.member_no.data.strip(), org=org,
        phone=(form.phone.data or "").strip() or None, email=(form.email.data or "").strip() or None,
        category=form.category.data, role=form.role.data,
        is_floating=form.is_floating.data, floating_place=form.floating_place.data,
        floating_contact=form.floating_contact.data, active=form.active.data)


@bp.route("/members/new", methods=["GET", "POST"])
@manager_required
def member_create():
    form = _member_form()
    if request.method == "GET":
        form.org_id.data = request.args.get("org", 0, type=int)
    if form.validate_on_submit():
        try:
            if form.password.data:
                auth.check_password_policy(form.password.data)
            user = members.create_member(_data_from(form), current_actor(), password=form.password.data or None,
                                         now=utcnow())
            db.session.commit()
            flash(f"已添加党员：{user.name}", "success")
            return redirect(url_for("admin.member_edit", user_id=user.id))
        except (members.MemberError, auth.PasswordPolicyError) as exc:
            db.session.rollback()
            flash(str(exc), "error")
    return render_template("accounts/member_form.html", form=form, user=None, manageable=True)


def _manageable_member(user_id: int) -> User:
    user = get_member_or_404(current_actor(), user_id)
    if not can_manage_user(current_actor(), user):
        abort(403)
    return user


@bp.route("/members/<int:user_id>", methods=["GET", "POST"])
@manager_required
def member_edit(user_id: int):
    user = get_member_or_404(current_actor(), user_id)
    manageable = can_manage_user(current_actor(), user)
    form = _member_form(user)
    if request.method == "POST" and not manageable:
        abort(403)
    if form.validate_on_submit():
        try:
            members.update_member(user, _data_from(form), current_actor())
            db.session.commit()
            flash("党员信息已保存", "success")
            return redirect(url_for("admin.member_edit", user_id=user.id))
        except members.MemberError as exc:
            db.session.rollback()
            flash(str(exc), "error")
    return render_template("accounts/member_form.html", form=form, user=user, confirm=ConfirmForm(),
                           manageable=manageable)


@bp.post("/members/<int:user_id>/deactivate")
@manager_required
def member_deactivate(user_id: int):
    user = get_member_or_404(current_actor(), user_id)
    if user.id == current_user.id:
        flash("不能停用自己的账号", "error")
    elif not can_manage_user(current_actor(), user):
        abort(403)
    else:
        members.deactivate_member(user, current_actor())
        db.session.commit()
        flash(f"已停用 {user.name} 的账号，其登录已全部退出", "success")
    return redirect(url_for("admin.member_edit", user_id=user.id))


@bp.post("/members/<int:user_id>/reset-password")
@manager_required
def member_reset_password(user_id: int):
    user = _manageable_member(user_id)
    temporary = f"dx{secrets.randbelow(10**8):08d}"  # letters and digits, easy to read out on the phone
    members.reset_password(user, current_actor(), temporary, utcnow())  # to be changed at the next login
    db.session.commit()
    return render_template("accounts/password_reset_done.html", user=user, temporary=temporary)


@bp.route("/members/import", methods=["GET", "POST"])
@manager_required
def member_import_view():
    form = ImportForm()
    result = None
    if form.validate_on_submit():
        upload = form.file.data
        try:
            table = read_table(upload.filename or "", upload.read())
            result = member_import.import_members(table, current_actor(), utcnow())
            db.session.commit()
        except TableError as exc:
            db.session.rollback()
            flash(str(exc), "error")
    return render_template("accounts/member_import.html", form=form, result=result,
                           headers=member_import.MEMBER_HEADERS)


@bp.get("/members/template.<fmt>")
@manager_required
def member_template(fmt: str):
    headers, example = member_import.MEMBER_HEADERS, member_import.MEMBER_EXAMPLE
    if fmt == "xlsx":
        data = template_xlsx(headers, example, title="党员名单")
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    elif fmt == "csv":
        data, mime = template_csv(headers, example), "text/csv; charset=utf-8"
    else:
        abort(404)
    return Response(data, mimetype=mime, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''%E5%85%9A%E5%91%98%E5%90%8D%E5%8D%95%E6%A8%A1%E6%9D%BF.{fmt}"})
