"""Annual study requirements per member category (defaults from the national training plan)."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from school.accounts.models import Category, User
from school.credits.ledger import to_hours
from school.credits.models import AnnualRequirement
from school.extensions import db

# 《2024—2028年全国党员教育培训工作规划》: members at least 32 学时 a year; branch
# secretaries and committee members at least 56. Leading cadres are held to the
# committee figure by default; an admin can change any of these per year.
DEFAULT_HOURS = {
    Category.FULL: Decimal("32.00"),
    Category.PROBATIONARY: Decimal("32.00"),
    Category.COMMITTEE: Decimal("56.00"),
    Category.CADRE: Decimal("56.00"),
}


def requirements_for(year: int) -> dict[str, Decimal]:
    table = dict(DEFAULT_HOURS)
    for row in db.session.scalars(select(AnnualRequirement).where(AnnualRequirement.year == year)):
        table[row.category] = to_hours(row.hours)
    return table


def required_hours(member: User, year: int) -> Decimal:
    return requirements_for(year).get(member.category, DEFAULT_HOURS[Category.FULL])


def set_requirement(year: int, category: str, hours, actor: User, now: datetime) -> AnnualRequirement:
    if category not in set(Category):
        raise ValueError("人员类别不正确")
    hours = to_hours(hours)
    if hours < 0 or hours > 1000:
        raise ValueError("学时应在 0 到 1000 之间")
    row = db.session.scalar(select(AnnualRequirement).where(
        AnnualRequirement.year == year, AnnualRequirement.category == category))
    if row is None:
        row = AnnualRequirement(year=year, category=category)
        db.session.add(row)
    row.hours = hours
    row.updated_at = now
    row.updated_by_id = actor.id
    return row
