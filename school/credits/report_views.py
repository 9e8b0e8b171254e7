"""Branch report pages, SVG charts, CSV/XLSX exports and a member's detail — all scoped."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, render_template, request, url_for
from sqlalchemy.orm import Session

from school.accounts.orgs import ancestors
from school.accounts.roles import current_actor, manager_required
from school.accounts.scoping import get_member_or_404, get_org_or_404, org_in_scope, scope_root
from school.credits import charts, clock, exports, ledger, record, reports
from school.extensions import db
from school.timeutil import to_local, utcnow

bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="templates")

PAGE_SIZE = 50



def _org():
    """The report's organisation: ?org= within scope, else the actor's whole scope (None: the school)."""
    org_id = request.args.get("org", type=int)
    return get_org_or_404(current_actor(), org_id) if org_id else scope_root(current_actor())


def _period() -> reports.Period:
    try:
        return reports.Period.parse(request.args.get("year", type=int), request.args.get("start") or None,
                                    request.args.get("end") or None, to_local(utcnow()).date())
    except reports.ReportError as exc:
        flash(str(exc), "error")
        return reports.Period(year=to_local(utcnow()).year)


def _link_args(org, period) -> dict:
    return {**({"org": org.id} if org is not None else {}), **period.args()}


@bp.get("/")
@manager_required
def branch():
    org, period = _org(), _period()
    sort = request.args.get("sort", "missing")
    sort = sort if sort in reports.SORTS else "missing"
    page = max(request.args.get("page", 1, type=int), 1)
    report = reports.org_report(org, period)
    behind = reports.behind(org, period, floating=False, sort=sort, limit=PAGE_SIZE + 1,
                            offset=(page - 1) * PAGE_SIZE)
    floating = reports.behind(org, period, floating=True, sort=sort, limit=PAGE_SIZE)
    trail = [a for a in ancestors(org) if org_in_scope(current_actor(), a)] if org is not None else []
    return render_template("credits/report.html", report=report, org=org, period=period, sort=sort,
                           behind=behind[:PAGE_SIZE], has_more=len(behind) > PAGE_SIZE, page=page,
                           floating=floating, trail=trail, args=_link_args(org, period),
                           buckets=reports.BUCKETS, at_school=scope_root(current_actor()) is None,
                           group_label=reports.group_label)


@bp.get("/chart/orgs.svg")
@manager_required
def chart_orgs():
    org, period = _org(), _period()
    report = reports.org_report(org, period)
    lines = [(line.name, line.share, f"达标 {line.share}% · 人均 {line.average:.2f}")
             for line in report.children]
    return _svg(charts.org_bars(f"{report.total.name} · {period.label} · 各组织达标率", lines,
                                narrow=request.args.get("narrow") == "1"))


@bp.get("/chart/distribution.svg")
@manager_required
def chart_distribution():
    org, period = _org(), _period()
    report = reports.org_report(org, period)
    return _svg(charts.histogram(f"{report.total.name} · 学时完成情况分布（人数）", reports.BUCKETS, report.buckets,
                                 narrow=request.args.get("narrow") == "1"))


def _svg(text: str) -> Response:
    return Response(text, mimetype="image/svg+xml")


@bp.get("/export.csv")
@manager_required
def export_csv():
    org, period = _org(), _period()
    # The query is built here (it reads the requirements); the rows are read while the
    # response streams, after the view returned, on a session of their own.
    query, engine = reports.export_rows(org, period), db.engine
    cells = exports.MemberCells(period, list(reports.METRICS))

    def generate():
        with Session(engine) as session:
            for line in exports.csv_lines(query, cells, session):
                yield line.encode("utf-8")

    response = Response(generate(), mimetype="text/csv")
    response.headers["Content-Disposition"] = exports.attachment_header(exports.filename(org, period, "csv"))
    return response


@bp.get("/export.xlsx")
@manager_required
def export_xlsx():
    org, period = _org(), _period()
    path = exports.xlsx_file(org, period)
    response = Response(exports.file_chunks(path), mimetype=exports.XLSX_MIME)
    response.headers["Content-Disposition"] = exports.attachment_header(exports.filename(org, period, "xlsx"))
    return response


@bp.get("/members/<int:user_id>")
@manager_required
def member(user_id: int):
    member = get_member_or_404(current_actor(), user_id)
    year = request.args.get("year", to_local(utcnow()).year, type=int)
    if not 2000 <= year <= 2100:
        abort(404)
    return render_template("credits/report_member.html", member=member, year=year,
                           status=record.member_status(member, year), entries=ledger.entries(member, year),
                           study_days=clock.evidence_days(member.id, year), study_year=year,
                           activity_label=clock.activity_label)


@bp.get("/members/<int:user_id>/record.<fmt>")
@manager_required
def member_record(user_id: int, fmt: str):
    from school.credits.views import record_response

    member = get_member_or_404(current_actor(), user_id)
    year = request.args.get("year", to_local(utcnow()).year, type=int)
    if not 2000 <= year <= 2100 or fmt not in ("xlsx", "pdf"):
        abort(404)
    return record_response(member, year, fmt, url_for("reports.member", user_id=member.id, year=year))
