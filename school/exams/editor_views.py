"""Exam pages for editors: the exams (list, form), the question bank (list, question form with
pictures, delete), importing a bank file (upload → preview → confirm), template and export.

Views parse the request, call ``editing`` / ``bank`` / ``import_staging`` / ``exports`` (which
flush) and commit, then render or redirect.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from school.accounts.orgs import ordered_tree
from school.accounts.roles import current_actor, editor_required
from school.exams import bank, editing, exports, images, import_staging, regrading, signals, stats
from school.exams.errors import ExamError
from school.exams.formats import FORMATS, FormatError, xlsx
from school.exams.forms import ConfirmForm, ConfirmImportForm, ExamForm, ImportForm, QuestionForm
from school.exams.models import TYPE_LABELS, Exam, Question
from school.exams.text import render, summary
from school.extensions import db
from school.tabular import template_xlsx
from school.timeutil import utcnow

bp = Blueprint("exam_editor", __name__, url_prefix="/exams", template_folder="templates")

PAGE_SIZE = 50


@bp.app_template_filter("question_summary")
def question_summary(text: str, length: int = 60) -> str:
    return summary(text, length)


# --- exams ------------------------------------------------------------------------------


def _exam_form(exam: Exam | None = None) -> ExamForm:
    form = ExamForm()
    form.audience_orgs.choices = [(o.id, "　" * o.depth + o.name) for o in ordered_tree(None)]
    form.fixed_questions.choices = editing.question_choices()
    if exam is not None and request.method == "GET":
        editing.fill_form(form, exam)
    return form


@bp.get("/manage")
@editor_required
def manage():
    exams = db.session.scalars(select(Exam).order_by(Exam.id.desc())).all()
    return render_template("exams/manage.html", exams=exams, counts=stats.attempt_counts(),
                           question_count=bank.question_count())


@bp.route("/manage/new", methods=["GET", "POST"])
@bp.route("/manage/<int:exam_id>/edit", methods=["GET", "POST"])
@editor_required
def edit_exam(exam_id: int | None = None):
    exam = (db.session.get(Exam, exam_id) or abort(404)) if exam_id else None
    form = _exam_form(exam)
    if form.validate_on_submit():
        target = exam or Exam(created_at=utcnow())
        try:
            editing.apply_form(target, form, current_actor())
        except editing.EditError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            if exam is None:
                db.session.add(target)
            db.session.commit()
            flash("考试已保存", "success")
            return redirect(url_for("exam_editor.manage"))
    return render_template("exams/exam_form.html", form=form, exam=exam)


# --- the question bank ------------------------------------------------------------------


@bp.get("/bank")
@editor_required
def bank_list():
    category_id = request.args.get("category", type=int)
    qtype = request.args.get("type", "")
    page = max(request.args.get("page", 1, type=int), 1)
    questions, total = bank.question_page(category_id, qtype, page, PAGE_SIZE)
    return render_template("exams/bank.html", questions=questions, categories=bank.categories(), total=total,
                           page=page, pages=max(1, -(-total // PAGE_SIZE)), category_id=category_id, qtype=qtype,
                           types=TYPE_LABELS, form=ConfirmForm())


@bp.route("/bank/questions/new", methods=["GET", "POST"])
@bp.route("/bank/questions/<int:question_id>/edit", methods=["GET", "POST"])
@editor_required
def edit_question(question_id: int | None = None):
    question = (db.session.get(Question, question_id) or abort(404)) if question_id else None
    form = QuestionForm()
    if question is not None and request.method == "GET":
        editing.fill_question_form(form, question)
    if form.is_submitted() and form.wants_image():
        return _insert_image(form, question)
    if form.validate_on_submit():
        try:
            saved = editing.question_from_gift(form.gift.data, question, form, current_actor(), utcnow())
        except editing.EditError as exc:
            db.session.rollback()
            form.gift.errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"题目 #{saved.id} 已保存", "success")
            return redirect(url_for("exam_editor.bank_list"))
    preview = None
    if question is not None:
        preview = render(question.stem, question.stem_format)
    return render_template("exams/question_form.html", form=form, question=question, preview=preview)


def _insert_image(form: QuestionForm, question: Question | None):
    """插入图片: store the picture, put it into the text the editor sent back, show the form again."""
    inserted = None
    if form.validate():
        upload = form.image.data
        data = upload.read(images.MAX_BYTES + 1) if upload else b""
        if not upload or not (upload.filename or data):
            form.image.errors.append("请先选择要插入的图片")
        else:
            try:
                inserted = editing.insert_uploaded_image(
                    form.gift.data or "", data, form.image_alt.data or "", form.cursor(),
                    lambda name: url_for("exams.question_image", name=name), current_actor())
            except (images.ImageError, editing.EditError) as exc:
                form.image.errors.append(str(exc))
            else:
                form.gift.data = inserted.text
                form.gift.render_kw = {"data-caret": inserted.caret}  # the script puts the cursor after it
                form.image_alt.data = ""
    draft = editing.preview(form.gift.data) if inserted else None
    preview = draft or (render(question.stem, question.stem_format) if question is not None else None)
    return render_template("exams/question_form.html", form=form, question=question, preview=preview,
                           draft=draft is not None, inserted=inserted)


@bp.post("/bank/questions/<int:question_id>/delete")
@editor_required
def delete_question(question_id: int):
    question = db.session.get(Question, question_id) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    refusal = bank.delete_refusal(question)
    if refusal is None and bank.delete_question(question):
        db.session.commit()
        flash(f"题目 #{question_id} 已删除", "success")
        return redirect(url_for("exam_editor.bank_list"))
    # Refused: back to the list with the exams named, and 303 (not 302) so a client can tell it from a deletion.
    flash(refusal or "这道题正被考试使用，不能删除", "error")
    return redirect(url_for("exam_editor.bank_list"), code=303)


@bp.post("/bank/questions/<int:question_id>/regrade")
@editor_required
def regrade_question(question_id: int):
    """After an answer-key fix: score every finished attempt again, credit following (``regrading``)."""
    question = db.session.get(Question, question_id) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        done = regrading.regrade_question(question, current_actor(), request.form.get("reason", ""), utcnow())
    except ExamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("exam_editor.edit_question", question_id=question_id))
    db.session.commit()
    for attempt in done.newly_passed:  # after the commit, like a finish
        signals.attempt_passed.send(attempt, now=attempt.finished_at)
    audit = done.audit
    flash(f"已重新评分：{len(audit.changes)} 份答卷的成绩有变化，补记学时 {audit.credits_awarded} 人，"
          f"更正（撤销）学时 {audit.credits_reversed} 人", "success")
    return redirect(url_for("exam_editor.edit_question", question_id=question_id))


# --- importing, template, export --------------------------------------------------------


@bp.route("/bank/import", methods=["GET", "POST"])
@editor_required
def import_bank():
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            result, token = import_staging.preview(form.format.data, upload.filename or "", upload.read())
        except FormatError as exc:
            form.file.errors.append(str(exc))
            return render_template("exams/import.html", form=form, formats=FORMATS)
        confirm = ConfirmImportForm(token=token, format=form.format.data, category=form.category.data or "",
                                    filename=upload.filename or "")
        return render_template("exams/import_preview.html", result=result, confirm=confirm, types=TYPE_LABELS,
                               category=form.category.data or "", filename=upload.filename or "")
    return render_template("exams/import.html", form=form, formats=FORMATS)


@bp.post("/bank/import/confirm")
@editor_required
def import_confirm():
    form = ConfirmImportForm()
    token = form.token.data or ""
    if not form.validate_on_submit() or not import_staging.valid_token(token):
        abort(400)
    try:
        created, result = import_staging.save_staged(
            token, form.format.data, form.filename.data or f"bank.{form.format.data}", form.category.data or "",
            current_actor(), utcnow())
    except import_staging.Expired:
        flash("导入预览已过期，请重新上传文件", "error")
        return redirect(url_for("exam_editor.import_bank"))
    except FormatError as exc:
        flash(str(exc), "error")
        return redirect(url_for("exam_editor.import_bank"))
    db.session.commit()
    import_staging.discard(token)
    flash(f"已导入 {len(created)} 道题" + (f"，{len(result.problems)} 处问题未导入" if result.problems else ""),
          "success")
    return redirect(url_for("exam_editor.bank_list"))


@bp.get("/bank/template.xlsx")
@editor_required
def bank_template():
    return Response(template_xlsx(xlsx.HEADERS, xlsx.EXAMPLE, title="题库"), mimetype=exports.XLSX_TYPE,
                    headers={"Content-Disposition": "attachment; filename*=UTF-8''%E9%A2%98%E5%BA%93%E6%A8%A1%E6%9D%BF.xlsx"})


@bp.get("/bank/export.<fmt>")
@editor_required
def bank_export(fmt: str):
    if fmt not in exports.BANK_FILES:
        abort(404)
    questions = db.session.scalars(bank.questions_in(request.args.get("category", type=int)))
    mimetype, filename = exports.BANK_FILES[fmt]
    return Response(exports.question_bank(list(questions), fmt), mimetype=mimetype,
                    headers={"Content-Disposition": f"attachment; filename={filename}"})
