"""The report's figures kept per organisation and study year (``credit_org_year_total``).

A year's report of the whole province read 100,000 member rows (388 ms on SQLite for the bare
SQL alone); it now adds one row per organisation (~3,000). The figures are exactly the rows of
``reports._org_statements`` (members, hours, met, floating, floating met, six bucket counts),
computed by that same statement, restricted to the organisations concerned: the bucket logic
has one definition.

Staleness is kept by the database: triggers insert a mark (organisation, year — or every
year) in the same transaction as anything that can move a member between buckets
(``models.ORG_TOTALS_DDL``). The requirement is covered by a fingerprint stored per year
instead: the report's constants come from ``requirement_table`` read earlier in the request,
and a mark made by a requirement change could be consumed by a refresh still holding the old
table; comparing the fingerprint of the very table the figures were computed with cannot.

A report (``per_org_rows``) first refreshes its subtree in a transaction of its own, on a
connection of its own (``refresh``): under one lock (PostgreSQL ``pg_advisory_xact_lock``;
SQLite's write lock), it deletes the subtree's marks with ``DELETE … RETURNING`` — exactly the
marks it read, so a mark committed later, whatever its id, survives — then recomputes those
organisations from the members and replaces their rows. One refresher at a time: two could
otherwise read the same marks and the one with the older snapshot commit last. A year never
built, or built with another requirement, is built whole. Then, in the request's own session,
one statement reads the subtree's rows together with their marks; organisations still marked
(a change committed meanwhile, or a refresh that could not run) are computed from the members
in that same session. So the figures are right even when the refresh is skipped.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from functools import lru_cache

from flask import current_app
from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    create_engine,
    delete,
    exists,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import NullPool

from school import jobs
from school.accounts.models import Organisation
from school.credits import reports
from school.credits.ledger import to_hours
from school.credits.models import CreditOrgStale, CreditOrgYearState, CreditOrgYearTotal
from school.credits.requirements import requirement_table
from school.extensions import db
from school.timeutil import utcnow

log = logging.getLogger(__name__)

# Raise when the bucket logic of ``reports._org_statements`` changes: every kept year is then
# built again on its next report (its fingerprint no longer matches).
TOTALS_VERSION = 1
LOCK_KEY = 1_702_017_007  # pg_advisory_xact_lock: one refresher of the totals at a time
CHUNK = 1_000  # organisations per statement when refreshing by id
FIGURES = ("members", "hours", "met", "floating", "floating_met", "b0", "b1", "b2", "b3", "b4", "b5")


def fingerprint(table: tuple) -> str:
    """The year's requirement table (``Shape.table``) and the bucket logic's version, hashed."""
    text_ = repr((TOTALS_VERSION, [(str(g), str(r.total), str(r.online), str(r.concentrated)) for g, r in table]))
    return hashlib.sha256(text_.encode()).hexdigest()[:32]


def _plain(shape: reports.Shape) -> reports.Shape:
    """The shape the kept figures are computed with: the summary, no metric columns."""
    return dataclasses.replace(shape, filtered=False, from_ledger=False, metrics=())


def _figures(row) -> tuple:
    """A per-organisation row's figures, normalised (SQLite hands back floats and ints)."""
    members, hours, *counts = row
    return (int(members or 0), to_hours(hours or 0), *(int(c or 0) for c in counts))


# --- computing from the members --------------------------------------------------------


def _computed(conn, shape: reports.Shape, org_ids: list[int] | None) -> list[tuple]:
    """``_org_statements`` rows (org id, path, figures…) for the given organisations (None: all)."""
    if org_ids is None:
        statement, _ = reports._org_statements(_plain(shape))
        return [tuple(r) for r in conn.execute(statement, reports._subtree_params(None))]
    statement, _ = reports._org_statements(_plain(shape), by_ids=True)
    out = []
    for start in range(0, len(org_ids), CHUNK):
        out += [tuple(r) for r in conn.execute(statement, {"org_ids": org_ids[start:start + CHUNK]})]
    return out


def _store(conn, year: int, rows: list[tuple], replace_ids: list[int] | None) -> None:
    """Replace the year's rows of ``replace_ids`` (None: all) by ``rows``."""
    table = CreditOrgYearTotal.__table__
    if replace_ids is None:
        conn.execute(delete(table).where(table.c.year == year))
    else:
        for start in range(0, len(replace_ids), CHUNK):
            conn.execute(delete(table).where(table.c.year == year,
                                             table.c.org_id.in_(replace_ids[start:start + CHUNK])))
    values = [dict(org_id=r[0], year=year, **dict(zip(FIGURES, _figures(r[2:])))) for r in rows]
    for start in range(0, len(values), 5_000):
        conn.execute(insert(table), values[start:start + 5_000])


def _spread(conn, year: int, org_ids: set[int]) -> None:
    """Marks for every year were consumed for ``year`` only: leave one per other kept year."""
    if not org_ids:
        return
    years = conn.scalars(select(CreditOrgYearState.year).where(CreditOrgYearState.year != year)).all()
    rows = [dict(org_id=o, year=y) for o in sorted(org_ids) for y in years]
    if rows:
        conn.execute(insert(CreditOrgStale.__table__), rows)


def _lock(conn) -> None:
    """One refresher at a time (see the module doc), taken before anything is read."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL lock_timeout = '10s'"))
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
    else:  # the first write takes SQLite's write lock (BEGIN IMMEDIATE, see school/__init__.py)
        conn.execute(delete(CreditOrgStale.__table__).where(CreditOrgStale.id < 0))


def _build_year(conn, shape: reports.Shape, want: str) -> None:
    """Every organisation's figures for the year, from the members; consumes the year's marks."""
    year, stale = shape.period.year, CreditOrgStale.__table__
    conn.execute(delete(stale).where(stale.c.year == year))
    every_year = set(conn.scalars(delete(stale).where(stale.c.year.is_(None)).returning(stale.c.org_id)))
    _store(conn, year, _computed(conn, shape, None), None)
    state = CreditOrgYearState.__table__
    conn.execute(delete(state).where(state.c.year == year))
    conn.execute(insert(state).values(year=year, fingerprint=want, built_at=utcnow()))
    _spread(conn, year, every_year)


def _refresh(conn, prefix: str, shape: reports.Shape) -> int:
    """Bring the subtree's kept figures up to date; returns how many organisations were computed."""
    _lock(conn)
    year, want = shape.period.year, fingerprint(shape.table)
    have = conn.scalar(select(CreditOrgYearState.fingerprint).where(CreditOrgYearState.year == year))
    if have != want:
        _build_year(conn, shape, want)
        return -1
    stale = CreditOrgStale.__table__
    condition = or_(stale.c.year == year, stale.c.year.is_(None))
    if prefix != "/":  # the root's refresh also takes the marks of deleted organisations
        condition = and_(condition, stale.c.org_id.in_(
            select(Organisation.id).where(reports.in_subtree(prefix)).scalar_subquery()))
    marks = conn.execute(delete(stale).where(condition).returning(stale.c.org_id, stale.c.year)).all()
    if not marks:
        return 0
    ids = sorted({org_id for org_id, _ in marks})
    _store(conn, year, _computed(conn, shape, ids), ids)
    _spread(conn, year, {org_id for org_id, y in marks if y is None})
    return len(ids)


def _engine():
    """The refreshes' own engine: a transaction that commits whatever the request's session
    does. PostgreSQL: one connection per process (refreshes are serialised anyway), so a report
    never takes a second connection from the web pool; SQLite: a new connection each time."""
    url = db.engine.url
    engines = current_app.extensions.setdefault("credit_org_totals", {})
    engine = engines.get(str(url))
    if engine is None:
        if url.get_backend_name() == "sqlite":
            engine = create_engine(url, poolclass=NullPool)
        else:
            engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=10, pool_pre_ping=True)
        engines[str(url)] = engine
    return engine


def refresh(org: Organisation | None, shape: reports.Shape) -> bool:
    """Refresh the subtree's kept figures and commit; False when it could not run (the report
    then computes the marked organisations itself)."""
    bind = db.session.get_bind()
    if bind.dialect.name == "sqlite" and db.session.connection().connection.dbapi_connection.in_transaction:
        return False  # the request holds SQLite's write lock: a second connection would wait for it
    try:
        with _engine().connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.connection.dbapi_connection.execute("PRAGMA busy_timeout=10000")
            with conn.begin():
                _refresh(conn, reports._prefix(org), _plain(shape))
        return True
    except (OperationalError, PoolTimeout) as exc:  # a lock or a connection not had in time
        log.warning("org totals not refreshed: %s", exc)
        return False


# --- reading ---------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _kept_statement(dialect: str):
    """Per organisation of the subtree: its kept figures for the year, whether it is marked,
    and the year's fingerprint — one statement, so one snapshot of all three."""
    year = bindparam("year", type_=Integer)
    total, stale = CreditOrgYearTotal.__table__, CreditOrgStale.__table__
    marked = or_(exists().where(stale.c.org_id == Organisation.id, stale.c.year == year),
                 exists().where(stale.c.org_id == Organisation.id, stale.c.year.is_(None)))
    state = select(CreditOrgYearState.fingerprint).where(CreditOrgYearState.year == year).scalar_subquery()
    return (select(Organisation.id, Organisation.path, *[total.c[f] for f in FIGURES],
                   marked.label("stale"), state.label("fingerprint"))
            .select_from(Organisation)
            .outerjoin(total, and_(total.c.org_id == Organisation.id, total.c.year == year))
            .where(reports._subtree(dialect)))


def _kept(org: Organisation | None, year: int):
    return db.session.execute(_kept_statement(reports._dialect()),
                              {**reports._subtree_params(org), "year": year}).all()


def per_org_rows(org: Organisation | None, period: reports.Period, shape: reports.Shape,
                 refresh_first: bool = True) -> list[tuple]:
    """``_org_statements``' rows (org id, path, figures…) for a study year's report of ``org``:
    kept figures where they are current, computed from the members where not. The subtree is
    refreshed first when anything in it is marked (or the year is not built)."""
    want = fingerprint(shape.table)
    rows = _kept(org, period.year)
    # Refreshed only when something is marked: a refresh is a transaction on another connection.
    if refresh_first and rows and (rows[0].fingerprint != want or any(r.stale for r in rows)):
        if refresh(org, shape):
            rows = _kept(org, period.year)
    if not rows:
        return []
    if rows[0].fingerprint != want:  # not built (the refresh could not run)
        return _computed_in_session(org, shape, None)
    # Rows by position (id, path, the figures, stale, fingerprint): by name cost more than the SQL.
    stale_ids = [r[0] for r in rows if r[-2]]
    out = [tuple(r[:-2]) for r in rows if not r[-2] and r[2] is not None]
    if stale_ids:
        out += _computed_in_session(org, shape, stale_ids)
    return out


def _computed_in_session(org, shape, org_ids):
    if org_ids is None:
        statement, _ = reports._org_statements(_plain(shape))
        return [tuple(r) for r in db.session.execute(statement, reports._subtree_params(org))]
    return _computed(db.session, shape, org_ids)


# --- checking and rebuilding (school credits rebuild-summary) ---------------------------


@dataclass(frozen=True)
class Difference:
    org_id: int
    year: int
    kept: tuple | None  # figures (members, hours, met, floating, floating_met, b0…b5); None: no row
    computed: tuple | None

    def describe(self) -> str:
        def show(f):
            return "无" if f is None else f"{f[0]} 人 / {f[1]} 学时 / 达标 {f[2]} 人 / 流动党员 {f[3]} 人（达标 {f[4]}）"
        return f"党组织 {self.org_id} {self.year} 年：汇总 {show(self.kept)} → 重算 {show(self.computed)}"


def _year_shape(year: int) -> reports.Shape:
    return reports.Shape(reports._dialect(), reports.Period(year), tuple(requirement_table(year).items()), False)


def differences() -> list[Difference]:
    """Kept figures (of organisations not marked stale, in years kept with the current
    requirement) that differ from the members' figures. Read-only."""
    out = []
    for year, have in db.session.execute(select(CreditOrgYearState.year, CreditOrgYearState.fingerprint)
                                         .order_by(CreditOrgYearState.year)).all():
        shape = _year_shape(year)
        if have != fingerprint(shape.table):
            continue  # rebuilt whole on the next report of the year
        rows = _kept(None, year)
        kept = {r.id: _figures([getattr(r, f) for f in FIGURES]) for r in rows if not r.stale and r.members is not None}
        stale = {r.id for r in rows if r.stale}
        computed = {r[0]: _figures(r[2:]) for r in _computed(db.session, shape, None)}
        for org_id in sorted((kept.keys() | computed.keys()) - stale):
            if kept.get(org_id) != computed.get(org_id):
                out.append(Difference(org_id, year, kept.get(org_id), computed.get(org_id)))
    return out


def rebuild() -> list[Difference]:
    """Build every kept year again from the members; returns what differed. The caller commits."""
    conn = db.session.connection()
    _lock(conn)
    found = differences()
    for year in db.session.scalars(select(CreditOrgYearState.year)).all():
        shape = _year_shape(year)
        _build_year(conn, shape, fingerprint(shape.table))
    return found


# --- the periodic sweep --------------------------------------------------------------------


def sweep(now) -> int:
    """Consume the marks in the background, so they do not pile up between reports (a year-end
    rush writes one per award) and the morning's first report finds little to compute: every
    kept year is refreshed at the root, and marks of years never built are dropped (the first
    report of such a year builds it whole). Under the refreshers' lock; the caller commits.
    Returns the organisations computed (-1 per year built again)."""
    conn = db.session.connection()
    _lock(conn)
    years = conn.scalars(select(CreditOrgYearState.year).order_by(CreditOrgYearState.year)).all()
    computed = sum(_refresh(conn, "/", _plain(_year_shape(year))) for year in years)
    stale = CreditOrgStale.__table__
    if years:
        conn.execute(delete(stale).where(stale.c.year.is_not(None), stale.c.year.not_in(years)))
    else:  # nothing kept at all: marks for "every year" mean nothing either
        conn.execute(delete(stale))
    return computed


def _sweep_task(now) -> None:
    sweep(now)


jobs.every(600, "credits-refresh-org-totals", _sweep_task)
