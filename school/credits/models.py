"""The append-only credit ledger and the annual requirements it is measured against."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school.accounts.models import Organisation, User
from school.extensions import db
from school.timeutil import utcnow


class CreditKind(StrEnum):
    ONLINE = "online"
    CONCENTRATED = "concentrated"


KIND_LABELS = {CreditKind.ONLINE: "网络学习", CreditKind.CONCENTRATED: "集中培训"}


class CreditSource(StrEnum):
    VIDEO = "video"
    READING = "reading"
    EXAM = "exam"
    OFFLINE = "offline"
    BACKFILL = "backfill"
    CORRECTION = "correction"
    TRAINING = "training"
    REFLECTION = "reflection"


SOURCE_LABELS = {
    CreditSource.VIDEO: "视频课程",
    CreditSource.READING: "文献阅读",
    CreditSource.EXAM: "在线考试",
    CreditSource.OFFLINE: "集中培训",
    CreditSource.BACKFILL: "补录",
    CreditSource.CORRECTION: "更正",
    CreditSource.TRAINING: "专题班",
    CreditSource.REFLECTION: "心得体会",
}


class CreditEntry(db.Model):
    """One row per award or correction. Never updated or deleted: balances are sums."""

    __tablename__ = "credit_entry"
    __table_args__ = (Index("ix_credit_entry_member_year", "member_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    year: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))
    hours: Mapped[Decimal] = mapped_column(Numeric(8, 2))
    source: Mapped[str] = mapped_column(String(20))
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Corrections: a reversing row points at the row it cancels, with reason and approver.
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("credit_entry.id"), unique=True)
    reason: Mapped[str | None] = mapped_column(String(300))
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    member: Mapped[User] = relationship(foreign_keys=[member_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    reverses: Mapped[CreditEntry | None] = relationship(remote_side=[id], foreign_keys=[reverses_id])

    @property
    def kind_label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def source_label(self) -> str:
        return SOURCE_LABELS.get(self.source, self.source)


# The database itself keeps the ledger append-only: UPDATE and DELETE of a row are refused
# by a trigger (corrections are reversing rows, see ``ledger.reverse``). ``create_all``
# installs it through these listeners; migration 0010 installs the same statements (a frozen
# copy). TRUNCATE and DROP TABLE do not fire row triggers: keep them to the schema owner.
APPEND_ONLY_MESSAGE = "credit_entry is append-only (学时台账只能追加，更正请写冲正记录)"
APPEND_ONLY_DDL = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION credit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    RAISE EXCEPTION USING ERRCODE = 'integrity_constraint_violation',\n"
        f"        MESSAGE = TG_OP || ' refused, {APPEND_ONLY_MESSAGE}';\n"
        "END\n"
        "$$",
        "CREATE TRIGGER credit_entry_append_only BEFORE UPDATE OR DELETE ON credit_entry "
        "FOR EACH ROW EXECUTE FUNCTION credit_entry_append_only()",
    ],
    "sqlite": [
        "CREATE TRIGGER credit_entry_no_update BEFORE UPDATE ON credit_entry "
        f"BEGIN SELECT RAISE(ABORT, 'UPDATE refused, {APPEND_ONLY_MESSAGE}'); END",
        "CREATE TRIGGER credit_entry_no_delete BEFORE DELETE ON credit_entry "
        f"BEGIN SELECT RAISE(ABORT, 'DELETE refused, {APPEND_ONLY_MESSAGE}'); END",
    ],
}
for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _statement in _statements:
        event.listen(CreditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect))
# The trigger goes with the table; the function would outlive it.
event.listen(CreditEntry.__table__, "after_drop",
             DDL("DROP FUNCTION IF EXISTS credit_entry_append_only()").execute_if(dialect="postgresql"))


class CreditYearSummary(db.Model):
    """The ledger summed per member and study year, beside it (one row per member and year).

    Invariant: each row equals ``SUM(hours) / COUNT(*)`` of that member's ``credit_entry`` rows
    of that year, by kind. The database keeps it: a trigger on INSERT into ``credit_entry``
    (the ledger's only write; UPDATE and DELETE are refused) adds the row in the same statement,
    so in the same transaction, with ``INSERT … ON CONFLICT DO UPDATE SET online = online +
    excluded.online``, which two concurrent awards to one member cannot both lose. Reports read
    year periods from here. ``school credits rebuild-summary`` recomputes it from the ledger.
    """

    __tablename__ = "credit_year_summary"

    member_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    online: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0"), server_default="0")
    concentrated: Mapped[Decimal] = mapped_column(Numeric(10, 2), default=Decimal("0"), server_default="0")
    entries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # ledger rows, reversals included


# The summary's trigger (see ``CreditYearSummary``). SQLite sums NUMERIC in floating point:
# each addition is rounded back to cents there, so no error accumulates in a row. Migration
# 0023 installs a frozen copy of these statements.
SUMMARY_DDL = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION credit_year_summary_add() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    INSERT INTO credit_year_summary (member_id, year, online, concentrated, entries)\n"
        "    VALUES (NEW.member_id, NEW.year,\n"
        "            CASE WHEN NEW.kind = 'online' THEN NEW.hours ELSE 0 END,\n"
        "            CASE WHEN NEW.kind = 'concentrated' THEN NEW.hours ELSE 0 END, 1)\n"
        "    ON CONFLICT (member_id, year) DO UPDATE SET\n"
        "        online = credit_year_summary.online + excluded.online,\n"
        "        concentrated = credit_year_summary.concentrated + excluded.concentrated,\n"
        "        entries = credit_year_summary.entries + 1;\n"
        "    RETURN NULL;\n"
        "END\n"
        "$$",
        "CREATE TRIGGER credit_year_summary_add AFTER INSERT ON credit_entry "
        "FOR EACH ROW EXECUTE FUNCTION credit_year_summary_add()",
    ],
    "sqlite": [
        "CREATE TRIGGER credit_year_summary_add AFTER INSERT ON credit_entry BEGIN "
        "INSERT INTO credit_year_summary (member_id, year, online, concentrated, entries) "
        "VALUES (NEW.member_id, NEW.year, "
        "CASE WHEN NEW.kind = 'online' THEN NEW.hours ELSE 0 END, "
        "CASE WHEN NEW.kind = 'concentrated' THEN NEW.hours ELSE 0 END, 1) "
        "ON CONFLICT (member_id, year) DO UPDATE SET "
        "online = round(online + excluded.online, 2), "
        "concentrated = round(concentrated + excluded.concentrated, 2), "
        "entries = entries + 1; END",
    ],
}
# Installed with the ledger's table (the trigger is on it; its body names the summary only
# when it runs, so the order of creation does not matter).
for _dialect, _statements in SUMMARY_DDL.items():
    for _statement in _statements:
        event.listen(CreditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect))
event.listen(CreditEntry.__table__, "after_drop",
             DDL("DROP FUNCTION IF EXISTS credit_year_summary_add()").execute_if(dialect="postgresql"))


class CreditOrgYearTotal(db.Model):
    """The root report's figures per organisation and study year (the members directly in it):
    exactly the columns ``reports._org_statements`` sums per organisation, so a report of a year
    adds ~3,000 organisation rows instead of reading 100,000 members (``org_totals``).

    Valid for an organisation unless ``credit_org_stale`` holds a mark for it and that year (or
    for all years), and only while ``credit_org_year_state`` holds the year with the current
    requirement's fingerprint. Database triggers add the marks in the same transaction as every
    change that can move a member between buckets; the reports put the marked rows back by
    running the per-organisation statement itself over those organisations."""

    __tablename__ = "credit_org_year_total"

    org_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # no FK: a deleted org's row is removed on refresh
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    members: Mapped[int] = mapped_column(Integer, default=0)
    hours: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    met: Mapped[int] = mapped_column(Integer, default=0)
    floating: Mapped[int] = mapped_column(Integer, default=0)
    floating_met: Mapped[int] = mapped_column(Integer, default=0)
    b0: Mapped[int] = mapped_column(Integer, default=0)  # members per chart bucket (reports.BUCKETS)
    b1: Mapped[int] = mapped_column(Integer, default=0)
    b2: Mapped[int] = mapped_column(Integer, default=0)
    b3: Mapped[int] = mapped_column(Integer, default=0)
    b4: Mapped[int] = mapped_column(Integer, default=0)
    b5: Mapped[int] = mapped_column(Integer, default=0)


class CreditOrgYearState(db.Model):
    """A year whose ``credit_org_year_total`` rows were all built, and with which requirement
    (``org_totals.fingerprint``: the year's requirement table and the bucket logic's version).
    A missing year or another fingerprint: the whole year is built again on the next report."""

    __tablename__ = "credit_org_year_state"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    built_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class CreditOrgStale(db.Model):
    """A mark: the totals of ``org_id`` for ``year`` (NULL: every year) may be out of date.
    Only database triggers insert them (``ORG_TOTALS_DDL``); a refresh deletes exactly the marks
    it read (``DELETE … RETURNING``), never a range: a mark committed late keeps its place."""

    __tablename__ = "credit_org_stale"
    # Year first: a refresh deletes a year's marks (and the NULL ones) without an organisation.
    __table_args__ = (Index("ix_credit_org_stale_year_org", "year", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(Integer)
    year: Mapped[int | None] = mapped_column(Integer)


# The marks' triggers (see ``CreditOrgYearTotal``): whatever changes a member's bucket —
# their year summary (every award, reversal or rebuild), their organisation, active flag,
# category or floating flag, a member added or deleted — marks the organisation(s), for the
# summary's year or for all years; an organisation created or deleted is marked too (SQLite
# may give a deleted organisation's id to the next one). The requirement is not marked: the
# year's fingerprint covers it. SQLite adds no second identical mark (its writers are
# serialised, and a refresh reads and deletes marks under the write lock, so an existing
# mark cannot be consumed before the writer commits); PostgreSQL adds one per change (a
# refresh may have read the existing mark already). Migration 0025 installs a frozen copy.
_SQLITE_MARK = ("INSERT INTO credit_org_stale (org_id, year) SELECT {org}, {year} WHERE {org} IS NOT NULL "
                "AND NOT EXISTS (SELECT 1 FROM credit_org_stale WHERE org_id = {org} AND year IS {year}); ")
_SQLITE_SUMMARY_MARK = ("INSERT INTO credit_org_stale (org_id, year) SELECT u.org_id, {row}.year FROM users u "
                        "WHERE u.id = {row}.member_id AND u.org_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                        "credit_org_stale s WHERE s.org_id = u.org_id AND s.year = {row}.year); ")
_MEMBER_CHANGED = ("OLD.org_id IS DISTINCT FROM NEW.org_id OR OLD.active IS DISTINCT FROM NEW.active "
                   "OR OLD.category IS DISTINCT FROM NEW.category OR OLD.is_floating IS DISTINCT FROM NEW.is_floating")
ORG_TOTALS_DDL = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION credit_org_stale_summary() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    IF TG_OP = 'DELETE' THEN\n"
        "        INSERT INTO credit_org_stale (org_id, year)\n"
        "        SELECT u.org_id, OLD.year FROM users u WHERE u.id = OLD.member_id AND u.org_id IS NOT NULL;\n"
        "    ELSE\n"
        "        INSERT INTO credit_org_stale (org_id, year)\n"
        "        SELECT u.org_id, NEW.year FROM users u WHERE u.id = NEW.member_id AND u.org_id IS NOT NULL;\n"
        "    END IF;\n"
        "    RETURN NULL;\n"
        "END\n"
        "$$",
        "CREATE TRIGGER credit_org_stale_summary AFTER INSERT OR UPDATE OR DELETE ON credit_year_summary "
        "FOR EACH ROW EXECUTE FUNCTION credit_org_stale_summary()",
        "CREATE OR REPLACE FUNCTION credit_org_stale_member() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.org_id IS NOT NULL THEN\n"
        "        INSERT INTO credit_org_stale (org_id, year) VALUES (OLD.org_id, NULL);\n"
        "    END IF;\n"
        "    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.org_id IS NOT NULL THEN\n"
        "        IF TG_OP = 'INSERT' OR NEW.org_id IS DISTINCT FROM OLD.org_id THEN\n"
        "            INSERT INTO credit_org_stale (org_id, year) VALUES (NEW.org_id, NULL);\n"
        "        END IF;\n"
        "    END IF;\n"
        "    RETURN NULL;\n"
        "END\n"
        "$$",
        "CREATE TRIGGER credit_org_stale_member AFTER INSERT OR DELETE ON users "
        "FOR EACH ROW EXECUTE FUNCTION credit_org_stale_member()",
        "CREATE TRIGGER credit_org_stale_member_update AFTER UPDATE OF org_id, active, category, is_floating "
        f"ON users FOR EACH ROW WHEN ({_MEMBER_CHANGED}) EXECUTE FUNCTION credit_org_stale_member()",
        "CREATE OR REPLACE FUNCTION credit_org_stale_org() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "    INSERT INTO credit_org_stale (org_id, year)\n"
        "    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, NULL);\n"
        "    RETURN NULL;\n"
        "END\n"
        "$$",
        "CREATE TRIGGER credit_org_stale_org AFTER INSERT OR DELETE ON organisation "
        "FOR EACH ROW EXECUTE FUNCTION credit_org_stale_org()",
    ],
    "sqlite": [
        "CREATE TRIGGER credit_org_stale_summary_insert AFTER INSERT ON credit_year_summary BEGIN "
        + _SQLITE_SUMMARY_MARK.format(row="NEW") + "END",
        "CREATE TRIGGER credit_org_stale_summary_update AFTER UPDATE ON credit_year_summary BEGIN "
        + _SQLITE_SUMMARY_MARK.format(row="NEW") + "END",
        "CREATE TRIGGER credit_org_stale_summary_delete AFTER DELETE ON credit_year_summary BEGIN "
        + _SQLITE_SUMMARY_MARK.format(row="OLD") + "END",
        "CREATE TRIGGER credit_org_stale_member_insert AFTER INSERT ON users BEGIN "
        + _SQLITE_MARK.format(org="NEW.org_id", year="NULL") + "END",
        "CREATE TRIGGER credit_org_stale_member_delete AFTER DELETE ON users BEGIN "
        + _SQLITE_MARK.format(org="OLD.org_id", year="NULL") + "END",
        "CREATE TRIGGER credit_org_stale_member_update AFTER UPDATE OF org_id, active, category, is_floating "
        f"ON users WHEN {_MEMBER_CHANGED.replace('IS DISTINCT FROM', 'IS NOT')} BEGIN "
        + _SQLITE_MARK.format(org="OLD.org_id", year="NULL") + _SQLITE_MARK.format(org="NEW.org_id", year="NULL")
        + "END",
        "CREATE TRIGGER credit_org_stale_org_insert AFTER INSERT ON organisation BEGIN "
        + _SQLITE_MARK.format(org="NEW.id", year="NULL") + "END",
        "CREATE TRIGGER credit_org_stale_org_delete AFTER DELETE ON organisation BEGIN "
        + _SQLITE_MARK.format(org="OLD.id", year="NULL") + "END",
    ],
}
ORG_TOTALS_DROP = {
    "postgresql": ["DROP TRIGGER IF EXISTS credit_org_stale_summary ON credit_year_summary",
                   "DROP TRIGGER IF EXISTS credit_org_stale_member ON users",
                   "DROP TRIGGER IF EXISTS credit_org_stale_member_update ON users",
                   "DROP TRIGGER IF EXISTS credit_org_stale_org ON organisation",
                   "DROP FUNCTION IF EXISTS credit_org_stale_summary()",
                   "DROP FUNCTION IF EXISTS credit_org_stale_member()",
                   "DROP FUNCTION IF EXISTS credit_org_stale_org()"],
    "sqlite": [f"DROP TRIGGER IF EXISTS credit_org_stale_{name}" for name in (
        "summary_insert", "summary_update", "summary_delete", "member_insert", "member_delete", "member_update",
        "org_insert", "org_delete")],
}
# Installed once every table exists (they are on three tables and name a fourth); the
# functions are dropped before the tables (PostgreSQL drops a table's triggers with it).
for _dialect, _statements in ORG_TOTALS_DDL.items():
    for _statement in _statements:
        event.listen(db.metadata, "after_create", DDL(_statement).execute_if(dialect=_dialect))
    for _statement in ORG_TOTALS_DROP[_dialect]:
        event.listen(db.metadata, "before_drop", DDL(_statement).execute_if(dialect=_dialect))


class AnnualRequirement(db.Model):
    """Hours a member of a category must earn in a year. A year without rows uses the defaults.

    ``hours`` is the year's total; ``online_hours`` / ``concentrated_hours`` are the least of
    each kind within it (0: no separate minimum). ``category`` is a member category, or
    ``floating`` for floating members (流动党员), who are measured against their own row.
    """

    __tablename__ = "annual_requirement"
    __table_args__ = (UniqueConstraint("year", "category", name="uq_annual_requirement_year_category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(20))
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    online_hours: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal("0"), server_default="0")
    concentrated_hours: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal("0"), server_default="0")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class CreditSetting(db.Model):
    """An admin's override of one crediting rule (see ``credits.rules``)."""

    __tablename__ = "credit_setting"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(60))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


# --- offline and concentrated training (集中培训) -------------------------------------------


class SessionType(StrEnum):
    STUDY = "study"
    THREE_MEETINGS = "three_meetings"
    REMOTE_SITE = "remote_site"
    SEASONAL = "seasonal"
    OTHER = "other"


SESSION_TYPE_LABELS = {
    SessionType.STUDY: "集中学习",
    SessionType.THREE_MEETINGS: "三会一课",
    SessionType.REMOTE_SITE: "远程教育站点集体收看",
    SessionType.SEASONAL: "春训冬训",
    SessionType.OTHER: "其他",
}


class SessionState(StrEnum):
    SUBMITTED = "submitted"
    # Someone other than the creator proposed changes: back with the creator, who accepts
    # them or edits again; nothing can be approved until then.
    RETURNED = "returned"
    REJECTED = "rejected"
    APPROVED = "approved"


SESSION_STATE_LABELS = {
    SessionState.SUBMITTED: "待审批",
    SessionState.RETURNED: "退回修改",
    SessionState.REJECTED: "已退回",
    SessionState.APPROVED: "已通过",
}


class OfflineSession(db.Model):
    """A training held offline (or a back-fill for one member), approved by the parent organisation.

    ``backfill`` marks a 补录 for a single member with an evidence note; it follows the same
    path and awards with source ``backfill`` instead of ``offline``.

    ``changed_by`` last set the record's values (the creator at submission, then whoever
    edited or accepted a change); neither they nor the creator may approve it. Changes
    proposed by anyone else wait in ``proposed`` (state ``returned``) until the creator
    accepts them.
    """

    __tablename__ = "offline_session"
    __table_args__ = (Index("ix_offline_session_state_approver", "state", "approver_org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    # The organisation that approves: the parent of ``org`` when submitted (None: admins only).
    approver_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    backfill: Mapped[bool] = mapped_column(Boolean, default=False)
    held_on: Mapped[date] = mapped_column(Date)
    hours: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    topic: Mapped[str] = mapped_column(String(200))
    session_type: Mapped[str] = mapped_column(String(20))
    place: Mapped[str] = mapped_column(String(200), default="")
    evidence: Mapped[str] = mapped_column(String(500), default="")
    attachment_path: Mapped[str | None] = mapped_column(String(200))
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment_type: Mapped[str | None] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(20), default=SessionState.SUBMITTED)
    reject_reason: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    changed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # {"id", "held_on", "hours", "topic", "session_type", "place", "evidence", "attendee_ids",
    #  "attachment": {"path", "name", "type"} | None, "changes": [{"field", "before", "after"}]}
    proposed: Mapped[dict | None] = mapped_column(JSON)
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    proposed_at: Mapped[datetime | None] = mapped_column(DateTime)

    org: Mapped[Organisation] = relationship(foreign_keys=[org_id])
    approver_org: Mapped[Organisation | None] = relationship(foreign_keys=[approver_org_id])
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    changed_by: Mapped[User | None] = relationship(foreign_keys=[changed_by_id])
    proposed_by: Mapped[User | None] = relationship(foreign_keys=[proposed_by_id])
    attendees: Mapped[list[OfflineAttendee]] = relationship(
        back_populates="session", cascade="all, delete-orphan", order_by="OfflineAttendee.member_id")

    @property
    def type_label(self) -> str:
        return SESSION_TYPE_LABELS.get(self.session_type, self.session_type)

    @property
    def state_label(self) -> str:
        return SESSION_STATE_LABELS.get(self.state, self.state)

    @property
    def source(self) -> str:
        return CreditSource.BACKFILL if self.backfill else CreditSource.OFFLINE


class OfflineAttendee(db.Model):
    __tablename__ = "offline_attendee"
    __table_args__ = (UniqueConstraint("session_id", "member_id", name="uq_offline_attendee_session_member"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("offline_session.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)

    session: Mapped[OfflineSession] = relationship(back_populates="attendees")
    member: Mapped[User] = relationship()


class OfflineAudit(db.Model):
    """Who did what to an offline session, and when; ``detail`` says it in a sentence and
    ``changes`` lists every changed value as ``{"field", "before", "after"}``."""

    __tablename__ = "offline_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("offline_session.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(DateTime)
    action: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(Text, default="")
    changes: Mapped[list | None] = mapped_column(JSON)

    session: Mapped[OfflineSession] = relationship()
    actor: Mapped[User] = relationship()


class StudyLease(db.Model):
    """A member's one study clock (DESIGN.md, "One study clock per member").

    One row per member, locked by every heartbeat of every online activity. It names the
    activity holding the lease (``lesson:<id>`` / ``document:<id>``), the page (``tab``) and
    device, the last accepted beat of that holder, and ``credited_until``: the member's last
    credited instant, so no second of wall-clock time is credited twice.
    """

    __tablename__ = "study_lease"

    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    activity: Mapped[str | None] = mapped_column(String(40))
    tab: Mapped[str | None] = mapped_column(String(40))
    device: Mapped[str] = mapped_column(String(60), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=False)  # the holder's last beat: playing / visible
    last_beat_at: Mapped[datetime | None] = mapped_column(DateTime)
    credited_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_input_at: Mapped[datetime | None] = mapped_column(DateTime)  # reading: the page's last scroll/touch/key
    presence_due_at: Mapped[datetime | None] = mapped_column(DateTime)  # when "还在学习吗？" falls due
    presence_answers: Mapped[int] = mapped_column(Integer, default=0)  # answers in this study session
    interval_id: Mapped[int | None] = mapped_column(Integer)  # the open study_interval a next beat may extend
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class StudyInterval(db.Model):
    """One stretch of credited online study: the evidence behind every credited second.

    A member's rows never overlap (the lease's ``credited_until`` only moves forward).
    ``title`` is kept as it was, so the evidence survives a renamed or deleted lesson.
    """

    __tablename__ = "study_interval"
    __table_args__ = (Index("ix_study_interval_member_start", "member_id", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    activity: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200), default="")
    tab: Mapped[str] = mapped_column(String(40), default="")
    device: Mapped[str] = mapped_column(String(60), default="")
    start_at: Mapped[datetime] = mapped_column(DateTime)
    end_at: Mapped[datetime] = mapped_column(DateTime)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    presence_answers: Mapped[int] = mapped_column(Integer, default=0)
