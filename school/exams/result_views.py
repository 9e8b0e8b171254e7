"""Exam results for those who read them (editors everywhere, secretaries in their subtree):
the list of exams, one exam's results with chart and item analysis, the same rows as XLSX.

Also the template global other packages' member pages use to show a member's exams.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import select

from school.accounts.models import CATEGORY_LABELS, Organisation, Role
from school.accounts.orgs import ordered_tree
from school.accounts.roles import current_actor, result_reader_required
from school.accounts.scoping import get_org_or_404, scope_root
from school.exams import exports, stats
from school.exams.models import Exam
from school.extensions import db

bp = Blueprint("exam_results", __name__, url_prefix="/exams", template_folder="templates")


def _exam_or_404(exam_id: int) -> Exam:
    return db.session.get(Exam, exam_id) or abort(404)


def _org_filter(actor) -> Organisation | None:
    """``?org=``: any organisation for an editor, one in the secretary's subtree otherwise (else 404)."""
    org_id = request.args.get("org", type=int)
    if not org_id:
        return None
    if actor.role == Role.EDITOR:
        return db.session.get(Organisation, org_id) or abort(404)
    return get_org_or_404(actor, org_id)


def _results_query(exam: Exam):
    actor = current_actor()
    org = _org_filter(actor)
    query = stats.results(actor, exam, org=org, state=request.args.get("state", ""),
                          passed=request.args.get("passed", ""), name=request.args.get("q", "").strip()[:60])
    return query, org


@bp.get("/results")
@result_reader_required
def results_index():
    exams = db.session.scalars(select(Exam).order_by(Exam.id.desc())).all()
    return render_template("exams/results_index.html", exams=exams)


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
    return Response(exports.results_xlsx(db.session.scalars(query)), mimetype=exports.XLSX_TYPE,
                    headers={"Content-Disposition": f"attachment; filename=exam-{exam.id}-results.xlsx"})


@bp.app_template_global()
def member_exam_attempts(member) -> list:
    """For a manager's member page (already scope-checked by the caller): finished attempts, newest first."""
    return stats.finished_attempts_of(member)
