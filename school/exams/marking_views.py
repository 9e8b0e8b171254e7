"""Grading written answers (阅卷): the exams with answers to grade, per exam its written
questions with progress, and per question one answer after another across attempts (the
rubric beside; Enter saves and moves on). Editors everywhere; secretaries when the exam lets
them, and only attempts of members in their subtree (anything else: 404). Views commit;
``signals.attempt_passed`` is sent after the commit that made a result final and passing."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from school.accounts.roles import current_actor, result_reader_required
from school.exams import marking, signals
from school.exams.errors import ExamError
from school.exams.forms import ConfirmForm
from school.exams.models import Answer, Attempt, Exam
from school.exams.text import render
from school.extensions import db
from school.timeutil import utcnow

bp = Blueprint("exam_grading", __name__, url_prefix="/exams/grading", template_folder="templates")


def _exam_or_404(exam_id: int) -> Exam:
    exam = db.session.get(Exam, exam_id)
    if exam is None or not marking.may_grade(current_actor(), exam):
        abort(404)
    return exam


@bp.get("/")
@result_reader_required
def index():
    actor = current_actor()
    exams = [e for e in db.session.scalars(select(Exam).order_by(Exam.id.desc())) if marking.may_grade(actor, e)]
    rows = []
    for exam in exams:
        questions = marking.written_questions(exam)
        if questions:
            counts = [marking.progress(actor, exam, q.id) for q in questions]
            rows.append((exam, sum(c.graded for c in counts), sum(c.total for c in counts)))
    return render_template("exams/grading_index.html", rows=rows)


@bp.get("/<int:exam_id>")
@result_reader_required
def exam_questions(exam_id: int):
    exam = _exam_or_404(exam_id)
    actor = current_actor()
    rows = [(q, marking.progress(actor, exam, q.id)) for q in marking.written_questions(exam)]
    return render_template("exams/grading_exam.html", exam=exam, rows=rows)


@bp.get("/<int:exam_id>/questions/<int:question_id>")
@result_reader_required
def grade_question(exam_id: int, question_id: int):
    exam = _exam_or_404(exam_id)
    # Only this exam's written questions: another question's reference answer and rubric are not shown here.
    question = next((q for q in marking.written_questions(exam) if q.id == question_id), None) or abort(404)
    actor = current_actor()
    answers = marking.to_grade(actor, exam, question.id)
    wanted = request.args.get("answer", type=int)
    grades = marking.grades_by_answer([a.id for a in answers]) if exam.second_grader_margin is not None else {}
    current = next((a for a in answers if a.id == wanted), None) if wanted else \
        next((a for a in answers if marking.waits_for(actor, a, grades.get(a.id, []))), None)
    if wanted and current is None:
        abort(404)
    position = answers.index(current) + 1 if current else None
    attempt = db.session.get(Attempt, current.attempt_id) if current else None
    current_grades = grades.get(current.id, []) if current else []
    # Double marking: the first two graders' points are shown to a third grader only, never to either of them.
    first_two = current_grades[:2] if len(current_grades) >= 2 else []
    if any(g.grader_id == actor.id for g in first_two):
        first_two = []
    return render_template("exams/grading_question.html", exam=exam, question=question, answers=answers,
                           current=current, attempt=attempt, position=position,
                           progress=marking.progress(actor, exam, question.id),
                           grades=current_grades, first_two=first_two,
                           stem=render(question.stem, question.stem_format),
                           rubric=render(question.data.get("rubric", "")), reference=render(question.data.get("reference", "")),
                           form=ConfirmForm())


@bp.post("/answers/<int:answer_id>")
@result_reader_required
def save_grade(answer_id: int):
    actor = current_actor()
    answer: Answer | None = marking.answer_for(actor, answer_id)
    if answer is None:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    attempt = db.session.get(Attempt, answer.attempt_id)
    exam_id, question_id = attempt.exam_id, answer.question_id
    try:
        graded = marking.grade(actor, answer, request.form.get("points", ""), request.form.get("comment", ""), utcnow())
    except ExamError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("exam_grading.grade_question", exam_id=exam_id, question_id=question_id,
                                answer=answer_id))
    db.session.commit()
    if graded.finalised and graded.passed:
        attempt = db.session.get(Attempt, attempt.id)
        signals.attempt_passed.send(attempt, now=attempt.finished_at)
    flash("评分已保存" + ("，该答卷成绩已确定" if graded.finalised else ""), "success")
    return redirect(url_for("exam_grading.grade_question", exam_id=exam_id, question_id=question_id))
