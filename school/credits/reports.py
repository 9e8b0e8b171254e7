"""Branch reports: who in a part of the tree met the year's study requirement, and who is behind.

Everything is one SQL aggregation over the materialised path (``organisation.path LIKE
'/1/4/%'``): each member's hours for a study year come from ``credit_year_summary`` (the
ledger summed per member and year, kept by the database in the same transaction as every
award; for a date range a per-member subquery sums the ledger by kind), joined to the
year's requirement for the member's group, and computes the gaps and the "met" flag in
SQL; organisations are then summed in SQL (GROUP BY organisation) and rolled up to the
direct children of the report's organisation in Python — a loop over organisations,
never over members. No query runs per member or per organisation. A study year's
``org_report`` reads those per-organisation sums from ``credit_org_year_total`` instead
(``org_totals``: kept by the same statement, refreshed where triggers marked them stale).

Other packages add columns through ``METRICS``: a metric is a label and a function
returning ``SELECT member_id, value`` for a period (e.g. required courses completed,
exams passed); each is LEFT JOINed once into the member rows and summed per
organisation, and appears in the pages and exports without further code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Callable

from flask import g, has_request_context
from sqlalchemy import (
    Double,
    Integer,
    Numeric,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql import Select

from school.accounts.models import Organisation, User
from school.credits import org_totals  # imports this module back: used at call time only
from school.credits.ledger import to_hours
from school.credits.models import CreditEntry, CreditKind, CreditYearSummary
from school.credits.requirements import FLOATING, GROUP_LABELS, requirement_table
from school.extensions import db
from school.timeutil import local_date_to_utc

ZERO = Decimal("0.00")
HALF_CENT = Decimal("0.005")
BUCKETS = ["0 学时", "1–24%", "25–49%", "50–74%", "75–99%", "已达标"]


class ReportError(ValueError):
    pass


@dataclass(frozen=True)
class Period:
    """A study year, or a date range (China dates, inclusive) measured against its end year's requirement."""

    year: int
    start: date | None = None
    end: date | None = None

    @classmethod
    def parse(cls, year: int | None, start: str | None, end: str | None, today: date) -> Period:
        if start or end:
            try:
                first = date.fromisoformat(start) if start else date(int(end[:4]), 1, 1)
                last = date.fromisoformat(end) if end else today
            except ValueError:
                raise ReportError("日期格式应为 年-月-日，例如 2026-03-01")
            if first > last:
                raise ReportError("开始日期不能晚于结束日期")
            if last - first > timedelta(days=3 * 366):
                raise ReportError("日期范围不能超过三年")
            return cls(year=last.year, start=first, end=last)
        year = year or today.year
        if not 2000 <= year <= 2100:
            raise ReportError("年度不正确")
        return cls(year=year)

    @property
    def is_range(self) -> bool:
        return self.start is not None

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d} 至 {self.end:%Y-%m-%d}" if self.is_range else f"{self.year} 年度"

    def args(self) -> dict:
        return {"start": self.start.isoformat(), "end": self.end.isoformat()} if self.is_range else {"year": self.year}

    def entry_conditions(self) -> list:
        if not self.is_range:
            return [CreditEntry.year == self.year]
        return [CreditEntry.created_at >= local_date_to_utc(self.start),
                CreditEntry.created_at < local_date_to_utc(self.end + timedelta(days=1))]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    member_values: Callable[[Period], Select]  # SELECT member_id, value


# Columns contributed by other packages (courses completed, exams passed); see module doc.
METRICS: list[Metric] = []


def _prefix(org: Organisation | None) -> str:
    return org.path if org is not None else "/"


def in_subtree(prefix: str):
    """``path LIKE prefix%``; on SQLite also the equivalent range, which its planner can
    answer from the path index (it cannot use an index for ``LIKE ? || '%'``). Every path
    under ``/1/4/`` sorts in [``/1/4/``, ``/1/40``) — '0' is the character after '/'. Only
    in byte order, which SQLite uses; PostgreSQL keeps the LIKE alone."""
    condition = Organisation.path.startswith(prefix, autoescape=True)
    if db.session.get_bind().dialect.name == "sqlite":
        condition = and_(condition, Organisation.path >= prefix, Organisation.path < prefix[:-1] + "0")
    return condition


def _subtree(dialect: str):
    """``in_subtree`` with the prefix as parameters (``_subtree_params``): the statements built
    from it are kept and reused for every organisation (see ``_cached``). Rendered into the SQL
    at execution (``literal_execute``; SQLAlchemy still compiles once): as a true parameter,
    psycopg prepared the statement after five runs and PostgreSQL then chose its generic plan,
    which guesses ``path LIKE $1`` matches 15 organisations and read the root's 100,000 members
    by nested loops (4.8 s instead of 0.3 s)."""
    def param(name):
        return bindparam(name, type_=String, literal_execute=True)
    condition = Organisation.path.like(param("subtree_like"), escape="/")
    if dialect == "sqlite":
        condition = and_(condition, Organisation.path >= param("subtree_low"), Organisation.path < param("subtree_high"))
    return condition


def _subtree_params(org: Organisation | None) -> dict:
    prefix = _prefix(org)
    # The escaping ``startswith(autoescape=True)`` does, with '/' as the escape character.
    like = prefix.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
    return {"subtree_like": like, "subtree_low": prefix, "subtree_high": prefix[:-1] + "0"}


def _dialect() -> str:
    return db.session.get_bind().dialect.name


def _requirement_table(year: int):
    """Read once per request: a report page builds several queries over the same year."""
    if not has_request_context():
        return requirement_table(year)
    cache = g.setdefault("credit_requirements", {})
    if year not in cache:
        cache[year] = requirement_table(year)
    return cache[year]


@dataclass(frozen=True)
class Shape:
    """Everything a report statement is built from but the organisation's path, which is a bound
    parameter. Statements are kept per shape (``_cached``): building one — a few hundred
    expression objects, and SQLAlchemy's cache key over them — took most of a branch page's
    time, and the SQL itself a millisecond."""

    dialect: str
    period: Period
    table: tuple  # the year's requirement table, as (group, Requirement) pairs
    filtered: bool  # a member filter on the ledger sums (not for a top-level organisation)
    from_ledger: bool = False
    metrics: tuple = ()

    @classmethod
    def of(cls, org: Organisation | None, period: Period, from_ledger: bool = False, metrics=()) -> Shape:
        return cls(_dialect(), period, tuple(_requirement_table(period.year).items()),
                   org is not None and org.parent_id is not None, from_ledger, tuple(metrics))


def _cached(build):
    """A statement builder kept per argument (a shape, and what else the statement depends on).
    Period and requirement table are part of the shape, so a year, a range or a changed
    requirement gets statements of its own; 128 is many years and ranges for each builder."""
    return lru_cache(maxsize=128)(build)


def _requirements(table: tuple, group):
    """The year's requirement (total, online, concentrated) of ``group`` as CASE expressions over
    the groups of the year's table (``tuple(requirement_table(year).items())``, defaults
    included), and that table's groups: a member of another group is in no report.
    Expressions, not a joined table: SQLite put such a table in the outer loop and read every
    member once per group. The values are constants of the statement, which is kept per
    table (``_cached``), so a changed requirement builds a new one."""
    hours = Numeric(8, 2)
    table = dict(table)

    def pick(attribute: str):
        return case(*[(group == literal(g, String(20)), cast(literal(getattr(req, attribute)), hours))
                      for g, req in table.items()])
    return pick("total"), pick("online"), pick("concentrated"), [str(g) for g in table]


def _ledger_sums(filtered: bool, period: Period, subtree):
    """The ledger summed per member for the period (a date range has no summary to read)."""
    # Restricted to the subtree's members, so a small branch reads only its own rows through
    # the (member_id, year) index.
    sums = (
        select(CreditEntry.member_id.label("member_id"),
               func.sum(case((CreditEntry.kind == CreditKind.ONLINE.value, CreditEntry.hours), else_=0))
               .label("online"),
               func.sum(case((CreditEntry.kind == CreditKind.CONCENTRATED.value, CreditEntry.hours), else_=0))
               .label("concentrated"))
        .where(*period.entry_conditions())
        .group_by(CreditEntry.member_id)
    )
    if filtered:  # a top-level org holds (nearly) everyone: no filter
        sums = sums.where(CreditEntry.member_id.in_(
            select(User.id).join(Organisation, User.org_id == Organisation.id).where(subtree)))
    sums = sums.subquery("sums")
    return sums, sums.c.member_id == User.id


def _hours_source(shape: Shape):
    """The subtree's condition, and what to LEFT JOIN for each member's hours (with its ON)."""
    period = shape.period
    subtree = _subtree(shape.dialect)
    if period.is_range or shape.from_ledger:
        sums, on = _ledger_sums(shape.filtered, period, subtree)
    else:
        sums = CreditYearSummary.__table__
        on = and_(sums.c.member_id == User.id, sums.c.year == period.year)
    return subtree, sums, on


def _in_groups(groups: list[str]):
    """``_group().in_(groups)`` written over the columns themselves: PostgreSQL estimated the
    CASE's IN at 2.5% of the members, and for "2,500 members" read the summary by index once
    per member (100,000 index lookups) instead of hashing it."""
    categories = [g for g in groups if g != FLOATING]
    others = and_(User.is_floating.is_not(True), User.category.in_(categories))
    return or_(User.is_floating.is_(True), User.category.in_(categories)) if FLOATING in groups else others


def _group():
    return case((User.is_floating.is_(True), cast(literal(FLOATING), String(20))), else_=User.category)


# The member rows are built in layers, each kept as a subquery by ``OFFSET 0`` (SQLite and
# PostgreSQL then neither flatten nor inline it): a flattened query repeats every expression
# where it is used, and "met" and the bucket nest the gaps, which nest the requirement's CASE,
# so the per-organisation sums evaluated the requirement dozens of times per member.


def _gaps(shape: Shape):
    """Per member of the subtree (active, of a group with a requirement): hours, requirement,
    total, gaps and what is missing."""
    subtree, sums, on = _hours_source(shape)
    group = _group()
    *_, groups = _requirements(shape.table, group)
    m = (
        select(User.id.label("member_id"), User.name.label("name"), User.member_no.label("member_no"),
               User.category.label("category"), User.is_floating.label("is_floating"),
               group.label("grp"), Organisation.id.label("org_id"), Organisation.path.label("org_path"),
               Organisation.name.label("org_name"),
               # Rounded to cents in SQL: SQLite sums in floating point.
               func.round(func.coalesce(sums.c.online, 0), 2).label("online"),
               func.round(func.coalesce(sums.c.concentrated, 0), 2).label("concentrated"))
        .join(Organisation, User.org_id == Organisation.id)
        .outerjoin(sums, on)
        .where(User.active.is_(True), subtree, _in_groups(groups))
        .offset(0)
    ).subquery("hours")
    req_total, req_online, req_concentrated, _ = _requirements(shape.table, m.c.grp)
    m = select(*m.c, req_total.label("req_total"), req_online.label("req_online"),
               req_concentrated.label("req_concentrated")).offset(0).subquery("m")
    total = m.c.online + m.c.concentrated
    gap_online = case((m.c.req_online > m.c.online, m.c.req_online - m.c.online), else_=0)
    gap_concentrated = case((m.c.req_concentrated > m.c.concentrated, m.c.req_concentrated - m.c.concentrated),
                            else_=0)
    short = case((m.c.req_total > total, m.c.req_total - total), else_=0)
    missing = case((short > gap_online + gap_concentrated, short), else_=gap_online + gap_concentrated)
    return select(*[c for c in m.c if c.key not in ("req_online", "req_concentrated")],
                  total.label("total"), gap_online.label("gap_online"),
                  gap_concentrated.label("gap_concentrated"), missing.label("missing")).offset(0).subquery("g")


def _bucket(g):
    """The chart bucket (5: met; a tolerance, again for SQLite's floating point)."""
    return case((g.c.missing < HALF_CENT, 5), (g.c.total < HALF_CENT, 0), (g.c.total * 4 < g.c.req_total, 1),
                (g.c.total * 2 < g.c.req_total, 2), (g.c.total * 4 < g.c.req_total * 3, 3), else_=4)


def member_rows(org: Organisation | None, period: Period, metrics: list[Metric] | None = None,
                from_ledger: bool = False) -> Select:
    """One row per active member in ``org``'s subtree with hours, requirement, gaps and ``met``.

    A study year reads ``credit_year_summary`` (one row per member, found by its key); a date
    range, or ``from_ledger``, sums the ledger itself."""
    metrics = METRICS if metrics is None else metrics
    return _member_rows(Shape.of(org, period, from_ledger, metrics)).params(_subtree_params(org))


@_cached
def _member_rows(shape: Shape) -> Select:
    """``member_rows`` with the subtree as parameters (``_subtree_params``)."""
    period, metrics = shape.period, shape.metrics
    g = _gaps(shape)
    columns = [g.c.member_id, g.c.name, g.c.member_no, g.c.category, g.c.is_floating, g.c.grp,
               g.c.org_id, g.c.org_path, g.c.org_name, g.c.online, g.c.concentrated, g.c.total, g.c.req_total,
               g.c.gap_online, g.c.gap_concentrated, g.c.missing,
               case((g.c.missing < HALF_CENT, 1), else_=0).label("met"), _bucket(g).label("bucket")]
    query = select(*columns).select_from(g)
    for metric in metrics:
        values = metric.member_values(period).subquery(f"metric_{metric.key}")
        value_column = values.c[values.c.keys()[1]]
        query = query.outerjoin(values, values.c[values.c.keys()[0]] == g.c.member_id).add_columns(
            func.coalesce(value_column, 0).label(metric.key))
    return query


@dataclass
class OrgLine:
    """Totals of one organisation's subtree (or of the members directly in it)."""

    org_id: int | None
    name: str
    path: str
    members: int = 0
    hours: Decimal = ZERO
    met: int = 0
    floating: int = 0
    floating_met: int = 0
    metrics: dict[str, Decimal] = field(default_factory=dict)

    @property
    def average(self) -> Decimal:
        return to_hours(self.hours / self.members) if self.members else ZERO

    @property
    def share(self) -> int:
        """Percent of members who met the requirement (rounded down)."""
        return self.met * 100 // self.members if self.members else 0

    @property
    def behind(self) -> int:
        return self.members - self.met

    def add(self, members, hours, met, floating, floating_met) -> None:
        self.members += members
        self.hours += to_hours(hours or 0)  # SQLite hands back floats
        self.met += int(met or 0)
        self.floating += int(floating or 0)
        self.floating_met += int(floating_met or 0)

    def add_line(self, other: OrgLine) -> None:
        self.members += other.members
        self.hours += other.hours
        self.met += other.met
        self.floating += other.floating
        self.floating_met += other.floating_met
        for key, value in other.metrics.items():
            self.metrics[key] = self.metrics.get(key, ZERO) + value


@dataclass
class OrgReport:
    org: Organisation | None
    period: Period
    total: OrgLine
    children: list[OrgLine]  # one per direct child (its whole subtree), then the org's own members
    buckets: list[int]
    metrics: list[Metric]


def org_report(org: Organisation | None, period: Period, from_ledger: bool = False, kept: bool = True) -> OrgReport:
    """The organisation's totals and one line per direct child subtree (plus 本级 members).

    A study year adds the organisations' kept figures (``org_totals``; ``kept=False``, or
    ``from_ledger``: computed from the members as for a date range, for checks and benches).

    Summed per organisation in SQL straight from the members' hours (two statements besides
    the children's: the hours, met and buckets; then every metric column per organisation, one
    UNION ALL), and rolled up to the children in Python over organisations, never members."""
    metrics = list(METRICS)
    per_org, per_org_metrics = _org_statements(Shape.of(org, period, from_ledger, metrics))
    params = _subtree_params(org)
    prefix = _prefix(org)
    children_query = select(Organisation).order_by(Organisation.name, Organisation.id)
    children_query = children_query.where(Organisation.parent_id == org.id) if org is not None else \
        children_query.where(Organisation.parent_id.is_(None))
    lines = {}
    for child in db.session.scalars(children_query):
        lines[str(child.id)] = OrgLine(child.id, child.name, child.path)
    own = OrgLine(org.id if org else None, "本级党员", prefix)

    def line_of(path: str) -> OrgLine:
        # The first path segment below the report's org names the child subtree the row belongs to.
        key = path[len(prefix):].split("/", 1)[0]
        return lines.get(key, own) if key else own

    if period.is_range or from_ledger or not kept:
        rows = db.session.execute(per_org, params)
    else:  # a study year: the organisations' kept totals, refreshed where marked stale
        rows = org_totals.per_org_rows(org, period, Shape.of(org, period))
    buckets = [0] * len(BUCKETS)
    for _org_id, path, members, hours, met_count, floating_count, floating_met, *counts in rows:
        line_of(path).add(int(members), hours, met_count, floating_count, floating_met)
        for i, count in enumerate(counts):
            buckets[i] += int(count or 0)
    if metrics:
        raw: dict[int, dict[str, object]] = {}
        for key, path, value in db.session.execute(per_org_metrics, params):
            target = raw.setdefault(id(line_of(path)), {})
            target[key] = target.get(key, 0) + (value or 0)
        for line in [*lines.values(), own]:
            got = raw.get(id(line), {})
            line.metrics = {metric.key: to_hours(got.get(metric.key, 0)) for metric in metrics}
    total = OrgLine(org.id if org else None, org.name if org else "全校", prefix)
    for line in [*lines.values(), own]:
        total.add_line(line)
    total.metrics = {metric.key: total.metrics.get(metric.key, ZERO) for metric in metrics}
    children = list(lines.values()) + ([own] if own.members else [])
    return OrgReport(org=org, period=period, total=total, children=children, buckets=buckets, metrics=metrics)


def _float_requirement(table: tuple, attribute: str):
    """The member's requirement of one kind as a float8 CASE over the member's columns, one
    branch per distinct value (usually two: 32 and 56; a constant when all are equal)."""
    table = dict(table)
    floating = table.pop(FLOATING, None)
    by_value: dict[float, list[str]] = {}
    for group, req in table.items():
        by_value.setdefault(float(getattr(req, attribute)), []).append(str(group))
    values = {float(getattr(floating, attribute))} if floating is not None else set()
    if len(by_value) == 1 and values <= set(by_value):  # one value for every group
        return literal(next(iter(by_value)), Double())
    branches = [(User.is_floating.is_(True), literal(float(getattr(floating, attribute)), Double()))] \
        if floating is not None else []
    branches += [(User.category.in_(groups), literal(value, Double())) for value, groups in by_value.items()]
    return case(*branches)


def _org_ids_param():
    """The organisations ``_org_statements(..., by_ids=True)`` is restricted to: an expanding
    list rendered into the SQL (as the subtree's prefix is, for the same reason)."""
    return bindparam("org_ids", type_=Integer, expanding=True, literal_execute=True)


@_cached
def _org_statements(shape: Shape, by_ids: bool = False):
    """``org_report``'s two statements (the second None without metrics), subtree as parameters;
    with ``by_ids`` the first is restricted to the organisations of the ``org_ids`` parameter
    instead of a subtree (``org_totals`` refreshes those: one definition of the buckets). The
    first statement's rows: organisation id, path, members, hours, met, floating, floating_met
    and the member count of each of the six buckets.

    Not the member rows' layers: each member's bucket is computed once, as a GROUP BY key
    (organisation, floating, bucket), in float8 (PostgreSQL's numeric arithmetic cost more than
    the join itself; SQLite computes in floating point anyway; the cents are recovered by
    rounding each organisation's sum, and the comparisons keep the half-cent tolerance), and
    the few rows per organisation are pivoted into the line's columns. Nothing stops
    PostgreSQL from planning it in parallel, as it does the bare aggregate."""
    period = shape.period
    subtree, sums, on = _hours_source(shape)
    if by_ids:
        subtree = Organisation.id.in_(_org_ids_param())
    groups = [g for g, _ in shape.table]
    real = Double()
    online = cast(func.round(func.coalesce(sums.c.online, 0), 2), real)
    concentrated = cast(func.round(func.coalesce(sums.c.concentrated, 0), 2), real)
    total = online + concentrated
    req_total, req_online, req_concentrated = (_float_requirement(shape.table, attribute)
                                               for attribute in ("total", "online", "concentrated"))
    half_cent = literal(float(HALF_CENT), real)
    zero = literal(0.0, real)
    gaps = case((req_online > online, req_online - online), else_=zero) + \
        case((req_concentrated > concentrated, req_concentrated - concentrated), else_=zero)
    short = case((req_total > total, req_total - total), else_=zero)
    # ``missing < HALF_CENT`` of ``_gaps``: missing is the larger of the two.
    bucket = case((and_(short < half_cent, gaps < half_cent), 5), (total < half_cent, 0), (total * 4 < req_total, 1),
                  (total * 2 < req_total, 2), (total * 4 < req_total * 3, 3), else_=4)
    counted = (
        select(Organisation.id.label("org_id"), func.min(Organisation.path).label("org_path"),
               User.is_floating.label("is_floating"), bucket.label("bucket"), func.count().label("n"),
               func.sum(total).label("hours"))
        .select_from(User).join(Organisation, User.org_id == Organisation.id).outerjoin(sums, on)
        .where(User.active.is_(True), subtree, _in_groups(groups))
        .group_by(Organisation.id, User.is_floating, bucket)
    ).subquery("counted")
    n, met, floating = counted.c.n, counted.c.bucket == 5, counted.c.is_floating.is_(True)
    per_org = select(
        counted.c.org_id, func.min(counted.c.org_path), func.sum(n).label("members"), func.sum(counted.c.hours).label("hours"),
        func.sum(case((met, n), else_=0)).label("met"), func.sum(case((floating, n), else_=0)).label("floating"),
        func.sum(case((and_(floating, met), n), else_=0)).label("floating_met"),
        *[func.sum(case((counted.c.bucket == i, n), else_=0)).label(f"b{i}") for i in range(len(BUCKETS))],
    ).group_by(counted.c.org_id)
    if not shape.metrics or by_ids:
        return per_org, None
    # A metric is summed per organisation over the same members (active, in the subtree,
    # of a group with a requirement) as its column in ``member_rows``.
    subtree = _subtree(shape.dialect)
    parts = []
    for metric in shape.metrics:
        values = metric.member_values(period).subquery(f"metric_{metric.key}")
        member_id, value = values.c[values.c.keys()[0]], values.c[values.c.keys()[1]]
        parts.append(
            select(cast(literal(metric.key), String(40)).label("key"), Organisation.path.label("org_path"),
                   func.sum(value).label("value"))
            .select_from(values).join(User, User.id == member_id).join(Organisation, User.org_id == Organisation.id)
            .where(User.active.is_(True), subtree, _in_groups(groups))
            .group_by(Organisation.path))
    return per_org, union_all(*parts)


def path_order(column):
    """Byte order for paths: a locale collation (PostgreSQL's default) ignores '/' and would
    interleave subtrees; in byte order every subtree is one contiguous run."""
    return column.collate("C") if db.session.get_bind().dialect.name == "postgresql" else column


SORTS = {
    "missing": lambda r: (r.c.missing.desc(), r.c.name, r.c.member_id),
    "name": lambda r: (r.c.name, r.c.member_id),
    "org": lambda r: (path_order(r.c.org_path), r.c.name, r.c.member_id),
    "hours": lambda r: (r.c.total, r.c.name, r.c.member_id),
}


def behind(org: Organisation | None, period: Period, floating: bool, sort: str = "missing",
           limit: int = 100, offset: int = 0) -> list:
    """Members who have not met the requirement (floating members or the others), sorted.
    Without the metric columns: the lists do not show them."""
    query = _behind(Shape.of(org, period), floating, sort if sort in SORTS else "missing")
    return list(db.session.execute(query, {**_subtree_params(org), "row_limit": limit, "row_offset": offset}))


@_cached
def _behind(shape: Shape, floating: bool, sort: str) -> Select:
    rows = _member_rows(shape).subquery("r")
    return (select(rows).where(rows.c.met == 0, rows.c.is_floating.is_(floating))
            .order_by(*SORTS[sort](rows))
            .limit(bindparam("row_limit", type_=Integer)).offset(bindparam("row_offset", type_=Integer)))


def all_members(org: Organisation | None, period: Period) -> Select:
    """Every member row, ordered so that each child subtree is contiguous (for exports)."""
    return _all_members(Shape.of(org, period, metrics=METRICS)).params(_subtree_params(org))


@_cached
def _all_members(shape: Shape) -> Select:
    rows = _member_rows(shape).subquery("r")
    return select(rows).order_by(path_order(rows.c.org_path), rows.c.name, rows.c.member_id)


def export_rows(org: Organisation | None, period: Period) -> Select:
    """Every member row for the exports, ordered so that each child subtree is contiguous: the
    member, the organisation, the period's hours (rounded to cents in SQL, as ``member_rows``)
    and the metric columns. One flat join, without ``member_rows``' layers: the requirement,
    gaps and "met" depend only on (group, online, concentrated) — a few hundred distinct
    values for 100,000 members — and the exports compute them once per distinct value
    (``member_status``) instead of the database once per member."""
    return _export_rows(Shape.of(org, period, metrics=METRICS)).params(_subtree_params(org))


@_cached
def _export_rows(shape: Shape) -> Select:
    subtree, sums, on = _hours_source(shape)
    query = (
        select(User.id.label("member_id"), User.name.label("name"), User.member_no.label("member_no"),
               Organisation.path.label("org_path"), Organisation.name.label("org_name"), _group().label("grp"),
               func.round(func.coalesce(sums.c.online, 0), 2).label("online"),
               func.round(func.coalesce(sums.c.concentrated, 0), 2).label("concentrated"))
        .select_from(User).join(Organisation, User.org_id == Organisation.id).outerjoin(sums, on)
        .where(User.active.is_(True), subtree, _in_groups([str(g) for g, _ in shape.table]))
    )
    for metric in shape.metrics:
        values = metric.member_values(shape.period).subquery(f"metric_{metric.key}")
        query = query.outerjoin(values, values.c[values.c.keys()[0]] == User.id).add_columns(
            func.coalesce(values.c[values.c.keys()[1]], 0).label(metric.key))
    return query.order_by(path_order(Organisation.path), User.name, User.id)


@dataclass(frozen=True)
class MemberStatus:
    """A member's figures against the requirement, as ``member_rows`` computes them in SQL."""

    total: Decimal
    required: Decimal
    gap_online: Decimal
    gap_concentrated: Decimal
    missing: Decimal
    met: bool


def requirements(period: Period) -> dict:
    """The period's requirement per group (category or floating), for ``member_status``."""
    return dict(_requirement_table(period.year))


def member_status(table: dict, group: str, online, concentrated) -> MemberStatus:
    """``member_rows``' total, requirement, gaps, missing and "met" for one member, in exact
    decimals (``online``/``concentrated`` as the database hands them back: Decimal, or a float
    on SQLite, already rounded to cents)."""
    req = table[group]
    online, concentrated = Decimal(str(online)), Decimal(str(concentrated))
    total = online + concentrated
    gap_online = max(req.online - online, ZERO)
    gap_concentrated = max(req.concentrated - concentrated, ZERO)
    missing = max(req.total - total, gap_online + gap_concentrated, ZERO)
    return MemberStatus(total, req.total, gap_online, gap_concentrated, missing, missing < HALF_CENT)


def group_label(row) -> str:
    return GROUP_LABELS.get(row.grp, row.grp)


def utc_bounds(period: Period) -> tuple[datetime, datetime]:
    """[start, end) of the period in naive UTC, for metrics over timestamp columns."""
    first = period.start if period.is_range else date(period.year, 1, 1)
    after = period.end + timedelta(days=1) if period.is_range else date(period.year + 1, 1, 1)
    return local_date_to_utc(first), local_date_to_utc(after)
