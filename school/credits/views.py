"""The member's home page and study record, the admin's requirement table and credit rules."""
from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField
from wtforms.validators import InputRequired, NumberRange, Optional

from school.accounts.roles import admin_required, current_actor, manager_required
from school.accounts.scoping import get_member_or_404
from school.credits import clock, exports, ledger, record, requirements, rules
from school.credits.forms import ReverseForm
from school.credits.models import CreditEntry
from school.extensions import db
from school.timeutil import local_year, utcnow

bp = Blueprint("credits", __name__, template_folder="templates")
bp.add_app_template_global(requirements.missing_words, "missing_words")


@bp.get("/")
@login_required
def home():
    year = local_year(utcnow())
    status = record.member_status(current_actor(), year)
    return render_template("credits/home.html", year=year, status=status,
                           entries=ledger.entries(current_actor()),  # the full ledger, every year
                           study_days=clock.evidence_days(current_actor().id, year), study_year=year,
                           activity_label=clock.activity_label)


@bp.get("/my/record.<fmt>")
@login_required
def my_record(fmt: str):
    year = request.args.get("year", local_year(utcnow()), type=int)
    if not 2000 <= year <= 2100 or fmt not in ("xlsx", "pdf"):
        abort(404)
    return record_response(current_actor(), year, fmt, url_for("credits.home"))


def record_response(member, year: int, fmt: str, back: str):
    filename = f"学习档案-{member.name}-{year}.{fmt}"
    if fmt == "xlsx":
        body, mimetype = record.study_record_xlsx(member, year, utcnow()), record.XLSX_MIME
    else:
        try:
            body, mimetype = record.study_record_pdf(member, year, utcnow()), "application/pdf"
        except record.FontMissing as exc:
            flash(str(exc), "error")
            return redirect(back)
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = exports.attachment_header(filename)
    return response


# --- annual requirements ----------------------------------------------------------------


def _requirement_form(year: int):
    current = requirements.requirement_table(year)
    hours_range = NumberRange(0, 1000, "学时应在 0 到 1000 之间")

    class Form(FlaskForm):
        pass

    for group, label in requirements.GROUP_LABELS.items():
        setattr(Form, group, DecimalField(f"{label} · 年度总学时", places=2, default=current[group].total,
                                          validators=[InputRequired("请填写学时"), hours_range]))
        setattr(Form, f"{group}_online", DecimalField(
            f"{label} · 其中网络学习至少", places=2, default=current[group].online,
            validators=[Optional(), hours_range]))
        setattr(Form, f"{group}_concentrated", DecimalField(
            f"{label} · 其中集中培训至少", places=2, default=current[group].concentrated,
            validators=[Optional(), hours_range]))
    return Form()


@bp.route("/admin/requirements", methods=["GET", "POST"])
@admin_required
def requirement_table():
    year = request.args.get("year", local_year(utcnow()), type=int)
    if not 2000 <= year <= 2100:
        abort(404)
    form = _requirement_form(year)
    if form.validate_on_submit():
        try:
            for group in requirements.GROUP_LABELS:
                requirements.set_requirement(
                    year, group, form[group].data, current_actor(), utcnow(),
                    online=form[f"{group}_online"].data or 0,
                    concentrated=form[f"{group}_concentrated"].data or 0)
        except ValueError as exc:
            db.session.rollback()
            flash(f"{requirements.GROUP_LABELS[group]}：{exc}", "error")
        else:
            db.session.commit()
            flash(f"{year} 年度学时要求已保存", "success")
            return redirect(url_for("credits.requirement_table", year=year))
    return render_template("credits/requirements.html", form=form, year=year,
                           groups=requirements.GROUP_LABELS)


# --- crediting rules --------------------------------------------------------------------


def _rules_form():
    current = rules.current_rules()

    class Form(FlaskForm):
        pass

    for f in fields(rules.CreditRules):
        value = getattr(current, f.name)
        label = rules.LABELS[f.name]
        if isinstance(value, Decimal):
            field = DecimalField(label, places=2, default=value, validators=[
                InputRequired("请填写数值"), NumberRange(0, 1000, "数值应在 0 到 1000 之间")])
        else:
            field = IntegerField(label, default=value, validators=[
                InputRequired("请填写整数"), NumberRange(1, 1000, "数值应在 1 到 1000 之间")])
        setattr(Form, f.name, field)
    return Form()


@bp.route("/admin/credit-rules", methods=["GET", "POST"])
@admin_required
def rule_table():
    form = _rules_form()
    if form.validate_on_submit():
        current = rules.current_rules()
        changed = []
        for f in fields(rules.CreditRules):
            value = form[f.name].data
            if value != getattr(current, f.name):
                rules.set_rule(f.name, value, current_actor(), utcnow())
                changed.append(rules.LABELS[f.name])
        db.session.commit()
        flash("已保存：" + "、".join(changed) if changed else "没有改动", "success")
        return redirect(url_for("credits.rule_table"))
    return render_template("credits/rules.html", form=form, defaults=rules.DEFAULTS,
                           names=[f.name for f in fields(rules.CreditRules)])


# --- a manager's view of one member's ledger --------------------------------------------


@bp.route("/admin/members/<int:user_id>/credits", methods=["GET"])
@manager_required
def member_credits(user_id: int):
    member = get_member_or_404(current_actor(), user_id)
    year = request.args.get("year", local_year(utcnow()), type=int)
    return render_template("credits/member_credits.html", member=member, year=year,
                           earned=ledger.balance(member, year),
                           required=requirements.required_hours(member, year),
                           entries=ledger.entries(member, year), form=ReverseForm())


@bp.post("/admin/credits/<int:entry_id>/reverse")
@manager_required
def reverse_entry(entry_id: int):
    entry = db.session.get(CreditEntry, entry_id) or abort(404)
    member = get_member_or_404(current_actor(), entry.member_id)
    form = ReverseForm()
    if form.validate_on_submit():
        try:
            ledger.reverse(entry, form.reason.data, current_actor(), utcnow())
            db.session.commit()
            flash("已更正该条学时记录", "success")
        except ledger.LedgerError as exc:
            db.session.rollback()
            flash(str(exc), "error")
    else:
        flash("请填写更正原因", "error")
    return redirect(url_for("credits.member_credits", user_id=member.id, year=entry.year))
