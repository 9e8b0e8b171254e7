"""The credit ledger is append-only in the database itself: a trigger refuses UPDATE and
DELETE of ``credit_entry`` rows on SQLite and PostgreSQL, whoever sends the SQL. New rows
and reversing rows (the only way to correct) still go in."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from school.accounts.models import Role
from school.credits import ledger
from school.extensions import db
from tests.test_migrations import empty_database_url  # noqa: F401 (a fixture, used below)

NOW = datetime(2026, 5, 10, 2, 0)


@pytest.fixture
def entry(make):
    member = make.user(name="台账党员")
    row = ledger.award(member, 2, "concentrated", "offline", "append-only:1", NOW)
    db.session.commit()
    return row


def _count() -> int:
    return db.session.execute(text("SELECT count(*) FROM credit_entry")).scalar()


@pytest.mark.parametrize("statement", [
    "UPDATE credit_entry SET hours = 4 WHERE id = :id",
    "UPDATE credit_entry SET member_id = member_id WHERE id = :id",  # even a no-op update
    "UPDATE credit_entry SET description = '改' ",
    "DELETE FROM credit_entry WHERE id = :id",
    "DELETE FROM credit_entry",
])
def test_update_and_delete_are_refused_by_the_database(entry, statement):
    with pytest.raises(IntegrityError, match="append-only"):
        db.session.execute(text(statement), {"id": entry.id})
        db.session.flush()
    db.session.rollback()
    row = db.session.execute(text("SELECT hours, description FROM credit_entry WHERE id = :id"),
                             {"id": entry.id}).one()
    assert ledger.to_hours(row.hours) == Decimal("2.00") and _count() == 1


def test_the_orm_cannot_change_or_delete_a_row_either(entry):
    entry.hours = Decimal("4")
    with pytest.raises(IntegrityError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.merge(entry))
    with pytest.raises(IntegrityError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    assert ledger.balance(entry.member_id, 2026) == Decimal("2.00")


def test_insert_and_reversal_still_work(entry, make):
    admin = make.user(role=Role.ADMIN)
    db.session.execute(text(
        "INSERT INTO credit_entry (member_id, year, kind, hours, source, idempotency_key, description, created_at) "
        "VALUES (:m, 2026, 'online', 1.5, 'reading', 'append-only:raw', '', :now)"), {"m": entry.member_id, "now": NOW})
    reversal = ledger.reverse(entry, "重复登记", admin, NOW)
    db.session.commit()
    assert reversal.reverses_id == entry.id and reversal.hours == Decimal("-2.00")
    assert ledger.balance(entry.member_id, 2026) == Decimal("1.50") and _count() == 3
    # Awarding an existing key again is INSERT … ON CONFLICT DO NOTHING: no update, no error.
    assert ledger.award(entry.member_id, 9, "concentrated", "offline", "append-only:1", NOW).id == entry.id
    db.session.commit()
    assert _count() == 3


def test_the_migration_installs_the_trigger_and_keeps_offline_records(empty_database_url, tmp_path):  # noqa: F811
    """0010 on a database with data: the trigger is in place, offline records keep their
    attendees and audit and get ``changed_by`` = creator; a downgrade keeps them too."""
    from flask_migrate import downgrade, upgrade

    from school import create_app
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x",
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    with app.app_context():
        upgrade(revision="0008")
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO organisation (id, name, kind, path, created_at) VALUES (1, '支部', 'branch', '/1/', :now)"),
                {"now": NOW})
            conn.execute(text(
                "INSERT INTO users (id, member_no, name, role, category, active, is_floating, large_text, "
                "password_hash, org_id, created_at) VALUES (7, 'M7', '书记', 'secretary', 'full', true, false, "
                "false, 'x', 1, :now)"), {"now": NOW})
            conn.execute(text(
                "INSERT INTO credit_entry (id, member_id, year, kind, hours, source, idempotency_key, description, "
                "created_at) VALUES (1, 7, 2026, 'online', 2, 'reading', 'k', '', :now)"), {"now": NOW})
            conn.execute(text(
                "INSERT INTO offline_session (id, org_id, backfill, held_on, hours, topic, session_type, place, "
                "evidence, state, created_by_id, created_at, submitted_at) VALUES (1, 1, false, '2026-05-08', 2, "
                "'学习', 'study', '', '', 'submitted', 7, :now, :now)"), {"now": NOW})
            conn.execute(text("INSERT INTO offline_attendee (id, session_id, member_id) VALUES (1, 1, 7)"))
            conn.execute(text("INSERT INTO offline_audit (id, session_id, actor_id, at, action, detail) "
                              "VALUES (1, 1, 7, :now, 'submit', '登记')"), {"now": NOW})
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT changed_by_id FROM offline_session")).scalar() == 7
            assert conn.execute(text("SELECT count(*) FROM offline_attendee")).scalar() == 1
            assert conn.execute(text("SELECT count(*) FROM offline_audit")).scalar() == 1
            with pytest.raises(IntegrityError, match="append-only"):
                conn.execute(text("UPDATE credit_entry SET hours = 5"))
            conn.rollback()
            with pytest.raises(IntegrityError, match="append-only"):
                conn.execute(text("DELETE FROM credit_entry"))
            conn.rollback()
        downgrade(revision="0008")
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM offline_attendee")).scalar() == 1
            assert conn.execute(text("SELECT count(*) FROM offline_audit")).scalar() == 1
            conn.execute(text("DELETE FROM credit_entry"))  # no trigger below 0010
        db.engine.dispose()
