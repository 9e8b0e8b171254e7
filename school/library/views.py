"""The library's pages: browse, search, read (with heartbeats), and the editors' desk."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from school.accounts.roles import current_actor, editor_required, is_editor
from school.extensions import db
from school.library import columns, importer, reading, search, services
from school.library.categories import CATEGORIES, resolve_category
from school.library.forms import ColumnForm, ConfirmForm, DocumentForm, UploadForm
from school.library.models import DocStatus, Document, DocumentRevision, LibraryColumn, ReadingPosition
from school.library.rendering import markdown_to_safe_html, render
from school.timeutil import utcnow

bp = Blueprint("library", __name__, url_prefix="/library", template_folder="templates")
PER_PAGE = 20



def _readable_or_404(doc_id: int) -> Document:
    doc = db.session.get(Document, doc_id)
    if doc is None or (not doc.is_published and not is_editor(current_user)):
        abort(404)
    return doc


def _year_arg(name: str) -> int | None:
    year = request.args.get(name, type=int)
    return year if year is not None and 1000 <= year <= 3000 else None


def _page_arg() -> int:
    return max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))


# --- browsing ---------------------------------------------------------------------------


@bp.get("/")
@login_required
def index():
    visible = services.visible_documents(current_user)
    newest = db.session.scalars(visible.order_by(Document.published_on.desc().nulls_last(),
                                                 Document.id.desc()).limit(8)).all()
    most_read = db.session.scalars(visible.where(Document.read_count > 0)
                                   .order_by(Document.read_count.desc(), Document.id).limit(8)).all()
    counts = dict(db.session.execute(
        select(Document.category, func.count()).where(Document.status == DocStatus.PUBLISHED)
        .group_by(Document.category)).all())
    return render_template("library/index.html", newest=newest, most_read=most_read, counts=counts,
                           categories=CATEGORIES, columns=columns.published_columns())


@bp.get("/category/<code>")
@login_required
def category(code: str):
    if code not in CATEGORIES:
        abort(404)
    order = request.args.get("order", "newest")
    query = services.visible_documents(current_user).where(Document.category == code)
    if order == "popular":
        query = query.order_by(Document.read_count.desc(), Document.id.desc())
    else:
        query = query.order_by(Document.published_on.desc().nulls_last(), Document.id.desc())
    page = db.paginate(query, page=_page_arg(), per_page=PER_PAGE, error_out=False)
    return render_template("library/category.html", code=code, label=CATEGORIES[code], page=page, order=order)


@bp.get("/columns/<int:column_id>")
@login_required
def column(column_id: int):
    col = db.session.get(LibraryColumn, column_id)
    if col is None or (not col.published and not is_editor(current_user)):
        abort(404)
    docs = [item.document for item in col.items
            if item.document.is_published or is_editor(current_user)]
    return render_template("library/column.html", column=col, documents=docs,
                           introduction=markdown_to_safe_html(col.introduction))


@bp.get("/search")
@login_required
def search_page():
    q = request.args.get("q", "")
    code = resolve_category(request.args.get("category"))
    year_from = _year_arg("year_from")
    year_to = _year_arg("year_to")
    sort = request.args.get("sort", "relevance")
    sort = sort if sort in search.SORTS else "relevance"
    results = None
    if "q" in request.args:
        results = search.search(q, include_drafts=is_editor(current_user), category=code,
                                year_from=year_from, year_to=year_to, sort=sort, page=_page_arg())
    return render_template("library/search.html", q=q, category=code or "", year_from=year_from,
                           year_to=year_to, sort=sort, results=results, categories=CATEGORIES,
                           sorts=search.SORTS)


# --- reading ----------------------------------------------------------------------------


@bp.get("/doc/<int:doc_id>")
@login_required
def read(doc_id: int):
    doc = _readable_or_404(doc_id)
    rendered = render(doc.body)
    position = db.session.get(ReadingPosition, (current_user.id, doc.id))
    if doc.is_published:
        services.count_read(doc)
        db.session.commit()
    template = "library/print.html" if request.args.get("print") else "library/read.html"
    return render_template(template, doc=doc, rendered=rendered, position=position,
                           heartbeat_seconds=current_app.config["LIBRARY_HEARTBEAT_SECONDS"],
                           summary_html=markdown_to_safe_html(doc.summary) if doc.summary else "")


@bp.post("/doc/<int:doc_id>/heartbeat")
@login_required
def heartbeat(doc_id: int):
    doc = _readable_or_404(doc_id)
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify(error="请求格式不正确"), 400
    now = utcnow()
    visible = payload.get("visible", True) is not False
    reading.remember_position(current_actor(), doc, str(payload.get("anchor") or ""), payload.get("fraction"), now)
    result = None
    if doc.is_published:  # drafts being proof-read by an editor earn nothing
        result = reading.record_heartbeat(current_actor(), doc, now, visible=visible)
    db.session.commit()
    return jsonify(ok=True, credited_seconds=result.credited_seconds if result else 0,
                   awarded_hours=str(result.awarded_hours) if result else "0",
                   today_hours=str(result.today_hours) if result else "0",
                   interval=current_app.config["LIBRARY_HEARTBEAT_SECONDS"])


@bp.get("/doc/<int:doc_id>/file")
@login_required
def download(doc_id: int):
    doc = _readable_or_404(doc_id)
    if not doc.file_stored:
        abort(404)
    try:
        path = importer.pdf_path(current_app.config["MEDIA_DIR"], doc.file_stored)
    except FileNotFoundError:
        abort(404)
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype="application/pdf", as_attachment=True,
                     download_name=doc.file_name or f"{doc.title}.pdf")


# --- the editors' desk ------------------------------------------------------------------


@bp.get("/manage/")
@editor_required
def manage():
    status = request.args.get("status", "")
    query = select(Document)
    if status in (DocStatus.DRAFT, DocStatus.PUBLISHED):
        query = query.where(Document.status == status)
    code = resolve_category(request.args.get("category"))
    if code:
        query = query.where(Document.category == code)
    page = db.paginate(query.order_by(Document.updated_at.desc(), Document.id.desc()), page=_page_arg(),
                       per_page=PER_PAGE, error_out=False)
    return render_template("library/manage.html", page=page, status=status, category=code or "",
                           categories=CATEGORIES, upload_form=UploadForm())


def _form_data(form: DocumentForm) -> services.DocumentData:
    return services.DocumentData(title=form.title.data or "", category=form.category.data, body=form.body.data or "",
                                 issuer=form.issuer.data or "", published_on=form.published_on.data,
                                 tags=form.tags.data or "", summary=form.summary.data or "", status=form.status.data)


@bp.route("/manage/new", methods=["GET", "POST"])
@editor_required
def create():
    form = DocumentForm()
    if form.validate_on_submit():
        try:
            doc = services.create_document(_form_data(form), current_actor(), utcnow(), note=form.note.data or "创建")
        except services.LibraryError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash("文献已保存", "success")
            return redirect(url_for("library.edit", doc_id=doc.id))
    return render_template("library/edit.html", form=form, doc=None)


@bp.route("/manage/<int:doc_id>/edit", methods=["GET", "POST"])
@editor_required
def edit(doc_id: int):
    doc = db.get_or_404(Document, doc_id)
    form = DocumentForm(obj=doc if request.method == "GET" else None)
    if request.method == "GET":
        form.note.data = ""
    if form.validate_on_submit():
        try:
            changed = services.update_document(doc, _form_data(form), current_actor(), utcnow(),
                                               note=form.note.data or "修改")
        except services.LibraryError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash("已保存为新版本" if changed else "内容没有变化，未生成新版本", "success" if changed else "info")
            return redirect(url_for("library.edit", doc_id=doc.id))
    return render_template("library/edit.html", form=form, doc=doc)


@bp.post("/manage/preview")
@editor_required
def preview():
    payload = request.get_json(silent=True) or {}
    body = payload.get("body") if isinstance(payload, dict) else None
    if not isinstance(body, str):
        return jsonify(error="请求格式不正确"), 400
    rendered = render(body[:5_000_000])
    return jsonify(html=rendered.html, toc=[{"level": t.level, "text": t.text, "anchor": t.anchor}
                                            for t in rendered.toc])


@bp.post("/manage/upload")
@editor_required
def upload():
    form = UploadForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("library.manage"))
    storage = form.file.data
    filename = storage.filename or ""
    try:
        extracted = importer.extract(filename, storage.read(importer.MAX_UPLOAD_BYTES + 1))
        data = services.DocumentData(title=extracted.title, category=form.category.data, body=extracted.body,
                                     issuer=extracted.issuer, published_on=extracted.published_on,
                                     summary=extracted.summary, status=DocStatus.DRAFT)
        doc = services.create_document(data, current_actor(), utcnow(), note=f"上传 {filename}"[:200])
        if extracted.pdf is not None:
            doc.file_stored = importer.store_pdf(current_app.config["MEDIA_DIR"], extracted.pdf)
            doc.file_name = filename[:255]
    except (importer.ImportFailure, services.LibraryError) as exc:
        db.session.rollback()
        flash(f"“{filename}”未能导入：{exc}", "error")
        return redirect(url_for("library.manage"))
    db.session.commit()
    flash(f"已从“{filename}”创建草稿，请检查后发布", "success")
    return redirect(url_for("library.edit", doc_id=doc.id))


@bp.get("/manage/<int:doc_id>/revisions")
@editor_required
def revisions(doc_id: int):
    doc = db.get_or_404(Document, doc_id)
    return render_template("library/revisions.html", doc=doc, form=ConfirmForm())


@bp.get("/manage/<int:doc_id>/revisions/<int:number>")
@editor_required
def revision(doc_id: int, number: int):
    doc = db.get_or_404(Document, doc_id)
    rev = db.session.scalar(select(DocumentRevision).where(DocumentRevision.document_id == doc.id,
                                                           DocumentRevision.number == number))
    if rev is None:
        abort(404)
    return render_template("library/revision.html", doc=doc, rev=rev, rendered=render(rev.body), form=ConfirmForm())


@bp.post("/manage/<int:doc_id>/revisions/<int:number>/restore")
@editor_required
def restore(doc_id: int, number: int):
    doc = db.get_or_404(Document, doc_id)
    rev = db.session.scalar(select(DocumentRevision).where(DocumentRevision.document_id == doc.id,
                                                           DocumentRevision.number == number))
    if rev is None:
        abort(404)
    try:
        changed = services.restore_revision(doc, rev, current_actor(), utcnow())
    except services.LibraryError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("library.revisions", doc_id=doc.id))
    db.session.commit()
    flash(f"已恢复到第 {number} 版" if changed else "当前内容与该版本相同", "success")
    return redirect(url_for("library.edit", doc_id=doc.id))


@bp.get("/manage/<int:doc_id>/delete")
@editor_required
def confirm_delete(doc_id: int):
    doc = db.get_or_404(Document, doc_id)
    plan = services.deletion_plan(doc)
    return render_template("library/delete.html", doc=doc, plan=plan, form=ConfirmForm(),
                           in_use=services.in_use_message(doc, plan.uses) if plan.uses else "")


@bp.post("/manage/<int:doc_id>/delete")
@editor_required
def delete(doc_id: int):
    doc = db.get_or_404(Document, doc_id)  # a second submit finds nothing: 404
    title = doc.title
    try:
        stored = services.delete_document(doc, current_actor(), utcnow())
    except services.DocumentGone:
        db.session.rollback()
        abort(404)
    except services.LibraryError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("library.confirm_delete", doc_id=doc_id))
    db.session.commit()
    importer.remove_pdf(current_app.config["MEDIA_DIR"], stored)
    flash(f"已删除文献《{title}》", "success")
    return redirect(url_for("library.manage"))


# --- thematic columns -------------------------------------------------------------------


@bp.get("/manage/columns")
@editor_required
def manage_columns():
    cols = db.session.scalars(select(LibraryColumn).order_by(LibraryColumn.position, LibraryColumn.id)).all()
    return render_template("library/columns.html", columns=cols)


@bp.route("/manage/columns/new", methods=["GET", "POST"])
@bp.route("/manage/columns/<int:column_id>", methods=["GET", "POST"])
@editor_required
def edit_column(column_id: int | None = None):
    col = db.get_or_404(LibraryColumn, column_id) if column_id else None
    form = ColumnForm(obj=col if request.method == "GET" else None)
    if request.method == "GET" and col is not None:
        form.documents.data = "\n".join(str(item.document_id) for item in col.items)
    if form.validate_on_submit():
        try:
            col = columns.save_column(col, form.title.data, form.introduction.data or "", form.documents.data or "",
                                      form.published.data)
        except columns.ColumnError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            db.session.commit()
            flash("专栏已保存", "success")
            return redirect(url_for("library.edit_column", column_id=col.id))
    return render_template("library/column_edit.html", form=form, column=col)
