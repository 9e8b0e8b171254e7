"""Annual study requirements per member category and kind (defaults from the national plan).

A requirement has a total and, within it, the least of each kind (网络学习 online,
集中培训 concentrated; 0 means no separate minimum). Floating members (流动党员) are
measured against their own row, ``FLOATING``, whatever their category.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from school.accounts.models import CATEGORY_LABELS, Category, User
from school.credits.ledger import to_hours
from school.credits.models import AnnualRequirement
from school.extensions import db

FLOATING = "floating"
GROUP_LABELS = {**CATEGORY_LABELS, FLOATING: "流动党员"}
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Requirement:
    total: Decimal
    online: Decimal = ZERO
    concentrated: Decimal = ZERO

    def missing(self, online: Decimal, concentrated: Decimal) -> dict[str, Decimal]:
        """Hours still missing per kind and overall (the overall also covers the per-kind gaps)."""
        gap_online = max(self.online - online, ZERO)
        gap_concentrated = max(self.concentrated - concentrated, ZERO)
        overall = max(self.total - online - concentrated, gap_online + gap_concentrated, ZERO)
        return {"online": to_hours(gap_online), "concentrated": to_hours(gap_concentrated),
                "total": to_hours(overall)}

    def missing_words(self, online: Decimal, concentrated: Decimal) -> str:
        """What is still missing, in plain words (the home page, the record, the reports)."""
        gap = self.missing(online, concentrated)
        return missing_words(gap["total"], gap["online"], gap["concentrated"])

    def met(self, online: Decimal, concentrated: Decimal) -> bool:
        return self.missing(online, concentrated)["total"] == 0


KIND_WORDS = (("online", "网络学习"), ("concentrated", "集中培训"))


def _fmt(hours) -> str:
    return f"{Decimal(hours):.2f}".rstrip("0").rstrip(".")


def missing_words(total, online=ZERO, concentrated=ZERO) -> str:
    """One sentence for what a member still lacks, from ``Requirement.missing()``'s three figures.

    ``total`` already covers the per-kind gaps, so the kinds are said as "of which":
    还差 26 学时，其中网络学习至少还需 10 — never a kind's gap of 0 beside a total that is not.
    """
    total, gaps = Decimal(total), {"online": Decimal(online), "concentrated": Decimal(concentrated)}
    if total < Decimal("0.005"):
        return "已完成本年度学时要求"
    parts = [f"{label}至少还需 {_fmt(gaps[kind])}" for kind, label in KIND_WORDS if gaps[kind] >= Decimal("0.005")]
    if not parts:
        return f"还差 {_fmt(total)} 学时，网络学习、集中培训均可计入"
    return f"还差 {_fmt(total)} 学时，其中" + "、".join(parts)


# 《2024—2028年全国党员教育培训工作规划》: members at least 32 学时 a year; branch
# secretaries and committee members at least 56. Leading cadres are held to the
# committee figure by default, floating members to the members' one; an admin can
# change any of these per year, and set per-kind minimums.
DEFAULT_HOURS = {
    Category.FULL: Decimal("32.00"),
    Category.PROBATIONARY: Decimal("32.00"),
    Category.COMMITTEE: Decimal("56.00"),
    Category.CADRE: Decimal("56.00"),
    FLOATING: Decimal("32.00"),
}
DEFAULTS = {group: Requirement(hours) for group, hours in DEFAULT_HOURS.items()}


def requirement_table(year: int) -> dict[str, Requirement]:
    table = dict(DEFAULTS)
    for row in db.session.scalars(select(AnnualRequirement).where(AnnualRequirement.year == year)):
        if row.category in table:
            table[row.category] = Requirement(to_hours(row.hours), to_hours(row.online_hours),
                                              to_hours(row.concentrated_hours))
    return table


def requirements_for(year: int) -> dict[str, Decimal]:
    """The year's total hours per group (category or ``floating``)."""
    return {group: req.total for group, req in requirement_table(year).items()}


def group_of(member: User) -> str:
    return FLOATING if member.is_floating else member.category


def requirement(member: User, year: int) -> Requirement:
    table = requirement_table(year)
    return table.get(group_of(member), table[Category.FULL])


def required_hours(member: User, year: int) -> Decimal:
    return requirement(member, year).total


def set_requirement(year: int, category: str, hours, actor: User, now: datetime,
                    online=ZERO, concentrated=ZERO) -> AnnualRequirement:
    if category not in GROUP_LABELS:
        raise ValueError("人员类别不正确")
    hours, online, concentrated = to_hours(hours), to_hours(online), to_hours(concentrated)
    for value in (hours, online, concentrated):
        if value < 0 or value > 1000:
            raise ValueError("学时应在 0 到 1000 之间")
    if online + concentrated > hours:
        raise ValueError("网络学习与集中培训的最低学时之和不能超过年度总学时")
    row = db.session.scalar(select(AnnualRequirement).where(
        AnnualRequirement.year == year, AnnualRequirement.category == category))
    if row is None:
        row = AnnualRequirement(year=year, category=category)
        db.session.add(row)
    row.hours, row.online_hours, row.concentrated_hours = hours, online, concentrated
    row.updated_at = now
    row.updated_by_id = actor.id
    return row
