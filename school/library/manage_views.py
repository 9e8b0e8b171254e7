"""The editors' desk (``/library/manage/…``): documents, uploads, revisions, deleting, columns."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from school import diskspace
from school.accounts.roles import current_actor, editor_required
from school.extensions import db
from school.library import columns, importer, services
from school.library.categories import CATEGORIES, resolve_category
from school.library.forms import ColumnForm, ConfirmForm, DocumentForm, UploadForm
from school.library.models import DocStatus, Document, DocumentRevision, LibraryColumn
from school.library.rendering import render
from school.library.views import PER_PAGE, json_object, page_arg
from school.limits import limit
from school.timeutil import utcnow

bp = Blueprint("library_manage", __name__, url_prefix="/library/manage", template_folder="templates")


# --- the editors' desk ------------------------------------------------------------------


@bp.get("/")
@editor_required
def manage():
    status = request.args.get("status", "")
    query = select(Document)
    if status in (DocStatus.DRAFT, DocStatus.PUBLISHED):
        query = query.where(Document.status == status)
    code = resolve_category(request.args.get("category"))
    if code:
        query = query.where(Document.category == code)
    page = db.paginate(query.order_by(Document.updated_at.desc(), Document.id.desc()), page=page_arg(),
                       per_page=PER_PAGE, error_out=False)
    return render_template("library/manage.html", page=page, status=status, category=code or "",
                           categories=CATEGORIES, upload_form=UploadForm())


def _form_data(form: DocumentForm) -> services.DocumentData:
    return services.DocumentData(title=form.title.data or "", category=form.category.data, body=form.body.data or "",
                                 issuer=form.issuer.data or "", published_on=form.published_on.data,
                                 tags=form.tags.data or "", summary=form.summary.data or "", status=form.status.data)


@bp.route("/new", methods=["GET", "POST"])
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
            return redirect(url_for("library_manage.edit", doc_id=doc.id))
    return render_template("library/edit.html", form=form, doc=None)


@bp.route("/<int:doc_id>/edit", methods=["GET", "POST"])
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
            return redirect(url_for("library_manage.edit", doc_id=doc.id))
    return render_template("library/edit.html", form=form, doc=doc)


@bp.post("/preview")
@editor_required
def preview():
    payload = json_object()
    body = payload.get("body") if payload is not None else None
    if not isinstance(body, str):
        return jsonify(error="请求格式不正确"), 400
    max_chars = int(limit("MARKDOWN_MAX_CHARS_DOCUMENT"))
    if len(body) > max_chars:
        return jsonify(error=f"正文过长（{len(body)} 字，上限 {max_chars} 字），无法预览"), 413
    rendered = render(body)
    return jsonify(html=rendered.html, toc=[{"level": t.level, "text": t.text, "anchor": t.anchor}
                                            for t in rendered.toc])


@bp.post("/upload")
@editor_required
def upload():
    form = UploadForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "error")
        return redirect(url_for("library_manage.manage"))
    storage = form.file.data
    filename = storage.filename or ""
    stored = None
    try:
        extracted = importer.extract(filename, storage.read(importer.MAX_UPLOAD_BYTES + 1))
        data = services.DocumentData(title=extracted.title, category=form.category.data, body=extracted.body,
                                     issuer=extracted.issuer, published_on=extracted.published_on,
                                     summary=extracted.summary, status=DocStatus.DRAFT)
        doc = services.create_document(data, current_actor(), utcnow(), note=f"上传 {filename}"[:200])
        if extracted.pdf is not None:
            stored = importer.store_pdf(current_app.config["MEDIA_DIR"], extracted.pdf)
            doc.file_stored = stored
            doc.file_name = filename[:255]
        db.session.commit()
    except (importer.ImportFailure, services.LibraryError) as exc:
        db.session.rollback()
        flash(f"“{filename}”未能导入：{exc}", "error")
        return redirect(url_for("library_manage.manage"))
    except Exception as exc:
        db.session.rollback()
        importer.remove_pdf(current_app.config["MEDIA_DIR"], stored)  # no PDF without its document
        if not diskspace.is_full(exc):
            raise
        flash(diskspace.message(f"“{filename}”未能导入，文献和 PDF 原件都没有保存。",
                                "请联系管理员清理服务器磁盘后重新上传。"), "error")
        return redirect(url_for("library_manage.manage"))
    flash(f"已从“{filename}”创建草稿，请检查后发布", "success")
    return redirect(url_for("library_manage.edit", doc_id=doc.id))


@bp.get("/<int:doc_id>/revisions")
@editor_required
def revisions(doc_id: int):
    doc = db.get_or_404(Document, doc_id)
    return render_template("library/revisions.html", doc=doc, form=ConfirmForm())


@bp.get("/<int:doc_id>/revisions/<int:number>")
@editor_required
def revision(doc_id: int, number: int):
    doc = db.get_or_404(Document, doc_id)
    rev = db.session.scalar(select(DocumentRevision).where(DocumentRevision.document_id == doc.id,
                                                           DocumentRevision.number == number))
    if rev is None:
        abort(404)
    return render_template("library/revision.html", doc=doc, rev=rev, rendered=render(rev.body), form=ConfirmForm())


@bp.post("/<int:doc_id>/revisions/<int:number>/restore")
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
        return redirect(url_for("library_manage.revisions", doc_id=doc.id))
    db.session.commit()
    flash(f"已恢复到第 {number} 版" if changed else "当前内容与该版本相同", "success")
    return redirect(url_for("library_manage.edit", doc_id=doc.id))


@bp.get("/<int:doc_id>/delete")
@editor_required
def confirm_delete(doc_id: int):
    doc = db.get_or_404(Document, doc_id)
    plan = services.deletion_plan(doc)
    return render_template("library/delete.html", doc=doc, plan=plan, form=ConfirmForm(),
                           in_use=services.in_use_message(doc, plan.uses) if plan.uses else "")


@bp.post("/<int:doc_id>/delete")
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
        return redirect(url_for("library_manage.confirm_delete", doc_id=doc_id))
    db.session.commit()
    importer.remove_pdf(current_app.config["MEDIA_DIR"], stored)
    flash(f"已删除文献《{title}》", "success")
    return redirect(url_for("library_manage.manage"))


# --- thematic columns -------------------------------------------------------------------


@bp.get("/columns")
@editor_required
def manage_columns():
    cols = db.session.scalars(select(LibraryColumn).order_by(LibraryColumn.position, LibraryColumn.id)).all()
    return render_template("library/columns.html", columns=cols)


@bp.route("/columns/new", methods=["GET", "POST"])
@bp.route("/columns/<int:column_id>", methods=["GET", "POST"])
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
            return redirect(url_for("library_manage.edit_column", column_id=col.id))
    return render_template("library/column_edit.html", form=form, column=col)
