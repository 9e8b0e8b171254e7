"""Exam pages: members take exams; editors build the bank and exams; managers read results."""
from __future__ import annotations

import io
import json
import secrets
import time
from datetime import timezone
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from openpyxl import Workbook
from sqlalchemy import func, select

from school.accounts.models import CATEGORY_LABELS, Organisation, Role
from school.accounts.orgs import ordered_tree
from school.accounts.roles import current_actor, editor_required, is_editor, result_reader_required
from school.accounts.scoping import get_org_or_404, scope_root
from school.exams import attempts, bank, editing, images, paper, stats
from school.exams.formats import FORMATS, FormatError, parse, xlsx
from school.exams.forms import ConfirmForm, ConfirmImportForm, ExamForm, ImportForm, QuestionForm
from school.exams.models import TYPE_LABELS, Answer, Attempt, AttemptState, Exam, Question
from school.exams.text import render, summary
from school.extensions import db
from school.tabular import template_xlsx
from school.timeutil import format_local, utcnow

bp = Blueprint("exams", __name__, url_prefix="/exams", template_folder="templates")

PAGE_SIZE = 50
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"



def _ms(dt) -> int | None:
    return int(dt.replace(tzinfo=timezone.utc).timestamp() * 1000) if dt else None


def _exam_or_404(exam_id: int) -> Exam:
    return db.session.get(Exam, exam_id) or abort(404)


def _own_attempt_or_404(attempt_id: int) -> Attempt:
    attempt = db.session.get(Attempt, attempt_id)
    if attempt is None or attempt.member_id != current_user.id:
        abort(404)  # someone else's attempt does not exist for you
    return attempt


# --- members ----------------------------------------------------------------------------


@bp.get("/")
@login_required
def index():
    now = utcnow()
    member = current_actor()
    exams = [e for e in db.session.scalars(select(Exam).where(Exam.published.is_(True)).order_by(
        Exam.closes_at.is_(None), Exam.closes_at, Exam.id.desc())) if attempts.in_audience(e, member)]
    rows = []
    for exam in exams:
        current = attempts.current_attempt(exam, member)
        if current is not None and attempts.finish_if_overdue(current, now).state != AttemptState.IN_PROGRESS:
            current = None  # overdue: handed in from its saved answers on this visit
        rows.append((exam, current, attempts.counted_attempt(exam, member)))
    return render_template("exams/index.html", rows=rows, now=now)


@bp.get("/<int:exam_id>")
@login_required
def exam_detail(exam_id: int):
    exam = _exam_or_404(exam_id)
    member = current_actor()
    if not attempts.visible_to(exam, member) and not is_editor(member):
        abort(404)
    now = utcnow()
    current = attempts.current_attempt(exam, member)
    if current is not None:
        current = attempts.finish_if_overdue(current, now)
        if current.state != AttemptState.IN_PROGRESS:
            current = None
    return render_template("exams/detail.html", exam=exam, current=current, now=now,
                           reason=attempts.why_not_start(exam, member, now),
                           would_end=attempts.deadline_for(exam, now),
                           mine=attempts.attempts_of(exam, member), counted=attempts.counted_attempt(exam, member),
                           review_open=attempts.review_allowed(exam, now), form=ConfirmForm(),
                           hours=attempts.credit_hours(exam),
                           instructions=render(exam.instructions))


@bp.post("/<int:exam_id>/start")
@login_required
def start(exam_id: int):
    exam = _exam_or_404(exam_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        attempt = attempts.start(exam, current_actor(), utcnow())
    except attempts.ExamError as exc:
        flash(str(exc), "error")
        return redirect(url_for("exams.exam_detail", exam_id=exam.id))
    return redirect(url_for("exams.attempt_page", attempt_id=attempt.id))


@bp.get("/attempts/<int:attempt_id>")
@login_required
def attempt_page(attempt_id: int):
    attempt = _own_attempt_or_404(attempt_id)
    now = utcnow()
    attempt = attempts.finish_if_overdue(attempt, now)
    if attempt.state != AttemptState.IN_PROGRESS:
        return redirect(url_for("exams.result", attempt_id=attempt.id))
    return render_template("exams/attempt.html", attempt=attempt, exam=attempt.exam, questions=paper.paper(attempt),
                           server_now=_ms(now), deadline=_ms(attempt.deadline_at), form=ConfirmForm(),
                           grace=attempts.grace_seconds())


@bp.post("/attempts/<int:attempt_id>/answers")
@login_required
def save_answers(attempt_id: int):
    attempt = _own_attempt_or_404(attempt_id)
    payload = request.get_json(silent=True)
    items = payload.get("answers") if isinstance(payload, dict) else None
    now = utcnow()
    if not isinstance(items, list):
        return jsonify(error="请求格式不正确", server_time=_ms(now)), 400
    deadline = _ms(attempt.deadline_at)  # read before the commit expires the object
    try:
        result = attempts.save_answers(attempt, current_actor(), items, now)
    except attempts.ExamError as exc:
        return jsonify(error=str(exc), finished=True, server_time=_ms(now),
                       result_url=url_for("exams.result", attempt_id=attempt.id)), 409
    return jsonify(saved=result.saved, errors={str(k): v for k, v in result.errors.items()},
                   saved_at=format_local(now, "%H:%M:%S"), server_time=_ms(utcnow()), deadline=deadline)


@bp.post("/attempts/<int:attempt_id>/submit")
@login_required
def submit(attempt_id: int):
    attempt = _own_attempt_or_404(attempt_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    items = None
    if request.form.get("answers"):
        try:
            items = json.loads(request.form["answers"])
        except ValueError:
            items = None
    if not isinstance(items, list):
        items = attempts.items_from_form(attempt, request.form)
    attempt = attempts.submit(attempt, current_actor(), items, utcnow())
    flash("已交卷" if attempt.finish_reason == "submitted" else "作答时间已到，系统已按已保存的答案交卷", "success")
    return redirect(url_for("exams.result", attempt_id=attempt.id))


@bp.get("/attempts/<int:attempt_id>/result")
@login_required
def result(attempt_id: int):
    attempt = _own_attempt_or_404(attempt_id)
    now = utcnow()
    attempt = attempts.finish_if_overdue(attempt, now)
    if attempt.state != AttemptState.FINISHED:
        return redirect(url_for("exams.attempt_page", attempt_id=attempt.id))
    exam = attempt.exam
    allowed = attempts.review_allowed(exam, now)
    return render_template("exams/result.html", attempt=attempt, exam=exam, review_open=allowed,
                           items=paper.review(attempt, exam.review_answers) if allowed else [],
                           hours=attempts.credit_hours(exam))


# --- editors: exams ---------------------------------------------------------------------


def _exam_form(exam: Exam | None = None) -> ExamForm:
    form = ExamForm()
    form.audience_orgs.choices = [(o.id, "　" * o.depth + o.name) for o in ordered_tree(None)]
    questions = db.session.scalars(select(Question).order_by(Question.category_id, Question.id)).all()
    form.fixed_questions.choices = [
        (q.id, f"#{q.id} [{q.type_label}] {(q.category.path + ' · ') if q.category else ''}{summary(q.stem)}")
        for q in questions]
    if exam is not None and request.method == "GET":
        editing.fill_form(form, exam)
    return form


@bp.get("/manage")
@editor_required
def manage():
    exams = db.session.scalars(select(Exam).order_by(Exam.id.desc())).all()
    counts = dict(db.session.execute(select(Attempt.exam_id, func.count()).group_by(Attempt.exam_id)).all())
    return render_template("exams/manage.html", exams=exams, counts=counts,
                           question_count=db.session.scalar(select(func.count()).select_from(Question)))


@bp.route("/manage/new", methods=["GET", "POST"])
@bp.route("/manage/<int:exam_id>/edit", methods=["GET", "POST"])
@editor_required
def edit_exam(exam_id: int | None = None):
    exam = _exam_or_404(exam_id) if exam_id else None
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
            return redirect(url_for("exams.manage"))
    return render_template("exams/exam_form.html", form=form, exam=exam)


# --- editors: the question bank ---------------------------------------------------------


@bp.get("/bank")
@editor_required
def bank_list():
    category_id = request.args.get("category", type=int)
    qtype = request.args.get("type", "")
    page = max(request.args.get("page", 1, type=int), 1)
    query = select(Question)
    if category_id:
        ids = attempts.category_ids(category_id) or [-1]
        query = query.where(Question.category_id.in_(ids))
    if qtype in TYPE_LABELS:
        query = query.where(Question.qtype == qtype)
    total = db.session.scalar(query.with_only_columns(func.count()))
    questions = db.session.scalars(query.order_by(Question.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)).all()
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
        from school.exams.formats import gift

        form.gift.data = gift.dump_question(question).split("\n", 1)[1]
        form.category.data = question.category.path if question.category else ""
        form.points.data, form.difficulty.data, form.tags.data = question.points, question.difficulty, question.tags
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
            return redirect(url_for("exams.bank_list"))
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


@bp.get("/images/<name>")
@login_required
def question_image(name: str):
    """A picture in a question, for anyone signed in: it is part of the paper, never an answer."""
    response = images.send(name)
    if response is None:
        abort(404)
    return response


@bp.post("/bank/questions/<int:question_id>/delete")
@editor_required
def delete_question(question_id: int):
    question = db.session.get(Question, question_id) or abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    used = db.session.scalar(select(func.count()).select_from(Answer).where(Answer.question_id == question.id))
    in_exam = any(question.id in (e.selection or {}).get("fixed", []) for e in db.session.scalars(select(Exam)))
    if used or in_exam:
        flash("这道题已被考试使用或已有人作答，不能删除", "error")
    else:
        db.session.delete(question)
        db.session.commit()
        flash(f"题目 #{question_id} 已删除", "success")
    return redirect(url_for("exams.bank_list"))


def _import_dir() -> Path:
    path = Path(current_app.instance_path) / "exam_imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _prune_previews(max_age_seconds: int = 24 * 3600) -> None:
    """Uploads whose preview was never confirmed are kept a day, then removed."""
    limit = time.time() - max_age_seconds
    for old in _import_dir().iterdir():
        if old.is_file() and old.stat().st_mtime < limit:
            old.unlink(missing_ok=True)


@bp.route("/bank/import", methods=["GET", "POST"])
@editor_required
def import_bank():
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read()
        try:
            result = parse(form.format.data, upload.filename or "", data)
        except FormatError as exc:
            form.file.errors.append(str(exc))
            return render_template("exams/import.html", form=form, formats=FORMATS)
        # The upload waits under a server-made name until the editor confirms the preview.
        _prune_previews()
        token = secrets.token_hex(16)
        (_import_dir() / token).write_bytes(data)
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
    if not form.validate_on_submit() or len(token) != 32 or not all(c in "0123456789abcdef" for c in token):
        abort(400)
    path = _import_dir() / token
    if not path.exists():
        flash("导入预览已过期，请重新上传文件", "error")
        return redirect(url_for("exams.import_bank"))
    try:
        result = parse(form.format.data, form.filename.data or f"bank.{form.format.data}", path.read_bytes())
    except FormatError as exc:
        flash(str(exc), "error")
        return redirect(url_for("exams.import_bank"))
    created = bank.save_parsed(result.questions, current_actor(), utcnow(), form.category.data or "")
    db.session.commit()
    path.unlink(missing_ok=True)
    flash(f"已导入 {len(created)} 道题" + (f"，{len(result.problems)} 处问题未导入" if result.problems else ""),
          "success")
    return redirect(url_for("exams.bank_list"))


@bp.get("/bank/template.xlsx")
@editor_required
def bank_template():
    return Response(template_xlsx(xlsx.HEADERS, xlsx.EXAMPLE, title="题库"), mimetype=XLSX_TYPE,
                    headers={"Content-Disposition": "attachment; filename*=UTF-8''%E9%A2%98%E5%BA%93%E6%A8%A1%E6%9D%BF.xlsx"})


@bp.get("/bank/export.<fmt>")
@editor_required
def bank_export(fmt: str):
    if fmt not in ("gift", "xlsx"):
        abort(404)
    query = select(Question)
    category_id = request.args.get("category", type=int)
    if category_id:
        query = query.where(Question.category_id.in_(attempts.category_ids(category_id) or [-1]))
    data = bank.export(list(db.session.scalars(query)), fmt)
    if fmt == "gift":
        return Response(data, mimetype="text/plain; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=question-bank.gift.txt"})
    return Response(data, mimetype=XLSX_TYPE, headers={"Content-Disposition": "attachment; filename=question-bank.xlsx"})


# --- results ----------------------------------------------------------------------------


@bp.get("/results")
@result_reader_required
def results_index():
    exams = db.session.scalars(select(Exam).order_by(Exam.id.desc())).all()
    return render_template("exams/results_index.html", exams=exams)


def _results_query(exam: Exam):
    actor = current_actor()
    org = None
    org_id = request.args.get("org", type=int)
    if org_id:
        if actor.role == Role.EDITOR:
            org = db.session.get(Organisation, org_id) or abort(404)
        else:
            org = get_org_or_404(actor, org_id)
    query = stats.filtered(stats.scoped_attempts(actor, exam), org=org, state=request.args.get("state", ""),
                           passed=request.args.get("passed", ""), name=request.args.get("q", "").strip()[:60])
    return query.order_by(Attempt.finished_at.desc().nulls_last(), Attempt.id.desc()), org


@bp.get("/results/<int:exam_id>")
@result_reader_required
def results(exam_id: int):
    exam = _exam_or_404(exam_id)
    query, org = _results_query(exam)
    rows = db.session.scalars(query).all()
    root = scope_root(current_actor()) if current_actor().role != Role.EDITOR else None
    return render_template("exams/results.html", exam=exam, rows=rows, org=org,
                           orgs=ordered_tree(root), chart=stats.distribution_svg(stats.distribution(rows), exam.pass_percent),
                           items=stats.item_analysis(rows), label=stats.label, categories=CATEGORY_LABELS)


@bp.get("/results/<int:exam_id>.xlsx")
@result_reader_required
def results_xlsx(exam_id: int):
    exam = _exam_or_404(exam_id)
    query, _ = _results_query(exam)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "成绩"
    sheet.append(["姓名", "党员编号", "所在组织", "第几次", "状态", "开始时间", "交卷时间", "得分", "满分", "百分制", "是否通过"])
    for attempt in db.session.scalars(query):
        member = attempt.member
        sheet.append([member.name, member.member_no, member.org.name if member.org else "", attempt.number,
                      "已交卷" if attempt.state == AttemptState.FINISHED else "作答中",
                      format_local(attempt.started_at), format_local(attempt.finished_at),
                      float(attempt.score) if attempt.score is not None else None,
                      float(attempt.max_score) if attempt.max_score is not None else None,
                      round(attempt.percent, 1) if attempt.state == AttemptState.FINISHED else None,
                      "" if attempt.passed is None else ("通过" if attempt.passed else "未通过")])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Response(buffer.getvalue(), mimetype=XLSX_TYPE,
                    headers={"Content-Disposition": f"attachment; filename=exam-{exam.id}-results.xlsx"})


@bp.app_template_filter("question_summary")
def question_summary(text: str, length: int = 60) -> str:
    return summary(text, length)


@bp.app_template_global()
def member_exam_attempts(member) -> list:
    """For a manager's member page (already scope-checked by the caller): finished attempts, newest first."""
    return list(db.session.scalars(
        select(Attempt).where(Attempt.member_id == member.id, Attempt.state == AttemptState.FINISHED)
        .order_by(Attempt.finished_at.desc())))
