"""The member's home page (this year's hours) and the admin's requirement table."""
from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import DecimalField
from wtforms.validators import InputRequired, NumberRange

from school.accounts.decorators import admin_required, manager_required
from school.accounts.models import CATEGORY_LABELS
from school.accounts.scoping import get_member_or_404
from school.credits import ledger, requirements
from school.credits.forms import ReverseForm
from school.credits.models import CreditEntry
from school.extensions import db
from school.timeutil import local_year, utcnow
from flask_wtf import FlaskForm

bp = Blueprint("credits", __name__, template_folder="templates")


@bp.get("/")
@login_required
def home():
    year = local_year(utcnow())
    user = current_user._get_current_object()
    earned = ledger.balance(user, year)
    required = requirements.required_hours(user, year)
    by_kind = ledger.balances_by_kind(user, year)
    percent = int(min(earned / required * 100, 100)) if required else 100
    return render_template("credits/home.html", year=year, earned=earned, required=required,
                           missing=max(required - earned, Decimal("0")), percent=percent,
                           by_kind=by_kind, entries=ledger.entries(user, year))


def _requirement_form(year: int):
    current = requirements.requirements_for(year)

    class Form(FlaskForm):
        pass

    for category, label in CATEGORY_LABELS.items():
        setattr(Form, category, DecimalField(
            label, places=2, default=current[category],
            validators=[InputRequired("请填写学时"), NumberRange(0, 1000, "学时应在 0 到 1000 之间")]))
    return Form()


@bp.route("/admin/requirements", methods=["GET", "POST"])
@admin_required
def requirement_table():
    year = request.args.get("year", local_year(utcnow()), type=int)
    if not 2000 <= year <= 2100:
        abort(404)
    form = _requirement_form(year)
    if form.validate_on_submit():
        for category in CATEGORY_LABELS:
            requirements.set_requirement(year, category, getattr(form, category).data,
                                         current_user._get_current_object(), utcnow())
        db.session.commit()
        flash(f"{year} 年度学时要求已保存", "success")
        return redirect(url_for("credits.requirement_table", year=year))
    return render_template("credits/requirements.html", form=form, year=year,
                           categories=CATEGORY_LABELS)


@bp.route("/admin/members/<int:user_id>/credits", methods=["GET"])
@manager_required
def member_credits(user_id: int):
    member = get_member_or_404(current_user._get_current_object(), user_id)
    year = request.args.get("year", local_year(utcnow()), type=int)
    return render_template("credits/member_credits.html", member=member, year=year,
                           earned=ledger.balance(member, year),
                           required=requirements.required_hours(member, year),
                           entries=ledger.entries(member, year), form=ReverseForm())


@bp.post("/admin/credits/<int:entry_id>/reverse")
@manager_required
def reverse_entry(entry_id: int):
    entry = db.session.get(CreditEntry, entry_id) or abort(404)
    member = get_member_or_404(current_user._get_current_object(), entry.member_id)
    form = ReverseForm()
    if form.validate_on_submit():
        try:
            ledger.reverse(entry, form.reason.data, current_user._get_current_object(), utcnow())
            db.session.commit()
            flash("已更正该条学时记录", "success")
        except ledger.LedgerError as exc:
            db.session.rollback()
            flash(str(exc), "error")
    else:
        flash("请填写更正原因", "error")
    return redirect(url_for("credits.member_credits", user_id=member.id, year=entry.year))
