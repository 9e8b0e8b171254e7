"""Migrations take an empty database to head, and head matches the models exactly."""
import json
import os
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from school import create_app
from school.config import normalise_database_url
from school.extensions import db

PG_URL = os.environ.get("SCHOOL_TEST_DATABASE_URL", "")


@pytest.fixture
def empty_database_url(tmp_path):
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    # A schema of its own, so the suite's tables in "public" are not touched.
    url = normalise_database_url(PG_URL)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS migration_test CASCADE"))
        conn.execute(text("CREATE SCHEMA migration_test"))
    sep = "&" if "?" in url else "?"
    yield f"{url}{sep}options=-csearch_path%3Dmigration_test"
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS migration_test CASCADE"))
    engine.dispose()


def test_upgrade_from_empty_to_head_matches_models(empty_database_url, tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x",
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            assert "alembic_version" in inspect(conn).get_table_names()
            diffs = compare_metadata(MigrationContext.configure(conn), db.metadata)
        assert diffs == [], f"models and migrations differ: {diffs}"
        downgrade(revision="base")
        with db.engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
        upgrade()
        db.engine.dispose()


def test_exam_audience_moves_from_json_to_the_shared_storage(empty_database_url, tmp_path):
    """0008: an exam's JSON audience becomes rows of exam_audience_org and a category string."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x",
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    with app.app_context():
        upgrade(revision="0007")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO organisation (id, name, kind, path, created_at) "
                              "VALUES (1, '党委', 'committee', '/1/', CURRENT_TIMESTAMP), "
                              "(2, '支部', 'branch', '/1/2/', CURRENT_TIMESTAMP)"))
            conn.execute(text(
                "INSERT INTO exam (id, title, instructions, attempts_allowed, grading, pass_percent, "
                "audience_org_ids, audience_categories, selection, shuffle_questions, shuffle_options, "
                "one_per_page, review, review_answers, published, created_at) VALUES "
                "(1, '考试', '', 1, 'highest', 60, '[2, 99]', '[\"probationary\", \"full\"]', '{}', "
                "false, false, false, 'after_submit', false, true, CURRENT_TIMESTAMP)"))
        upgrade()
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT exam_id, org_id FROM exam_audience_org")).all() == [(1, 2)]
            assert conn.execute(text("SELECT audience_categories FROM exam")).scalar() == "full,probationary"
        downgrade(revision="0007")
        with db.engine.connect() as conn:
            row = conn.execute(text("SELECT audience_org_ids, audience_categories FROM exam")).one()
        assert [json.loads(v) if isinstance(v, str) else v for v in row] == [[2], ["full", "probationary"]]
        db.engine.dispose()


def test_two_open_attempts_are_cleaned_before_the_one_open_index(empty_database_url, tmp_path):
    """0012: of a member's open attempts at one exam the highest number stays open; the others
    are closed as superseded (score 0, not passed) so the partial unique index can be built."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x",
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    with app.app_context():
        upgrade(revision="0008")
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO users (id, name, member_no, role, category, is_floating, active, large_text, created_at) "
                "VALUES (1, '党员', 'M1', 'member', 'full', false, true, false, CURRENT_TIMESTAMP)"))
            conn.execute(text(
                "INSERT INTO exam (id, title, instructions, attempts_allowed, grading, pass_percent, audience_categories, "
                "selection, shuffle_questions, shuffle_options, one_per_page, review, review_answers, published, "
                "created_at) VALUES (1, '考试', '', 3, 'highest', 60, '', '{}', false, false, false, 'after_submit', "
                "false, true, CURRENT_TIMESTAMP)"))
            for attempt_id, number, state in ((1, 1, "in_progress"), (2, 2, "finished"), (3, 3, "in_progress")):
                conn.execute(text(
                    "INSERT INTO exam_attempt (id, exam_id, member_id, number, state, started_at, layout) "
                    "VALUES (:id, 1, 1, :n, :s, '2026-06-01 08:00:00', '[]')"), {"id": attempt_id, "n": number, "s": state})
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT id, state, finish_reason, score, passed FROM exam_attempt ORDER BY id")).all()
        assert [(r[0], r[1], r[2], r[3] == 0 if r[3] is not None else None, r[4]) for r in rows] == [
            (1, "finished", "superseded", True, False), (2, "finished", None, None, None),
            (3, "in_progress", None, None, None)]
        with pytest.raises(IntegrityError), db.engine.begin() as conn:  # the index now refuses a second open one
            conn.execute(text("INSERT INTO exam_attempt (id, exam_id, member_id, number, state, started_at, layout) "
                              "VALUES (4, 1, 1, 4, 'in_progress', '2026-06-01 08:00:00', '[]')"))
        downgrade(revision="0008")
        upgrade()
        db.engine.dispose()


def test_0020_keeps_class_reflections_and_opens_the_other_kinds(empty_database_url, tmp_path):
    """0020 re-creates training_reflection on SQLite (class_id becomes nullable): rows survive."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x",
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    with app.app_context():
        upgrade(revision="0019")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO organisation (id, name, kind, path, created_at) "
                              "VALUES (1, '党委', 'committee', '/1/', CURRENT_TIMESTAMP)"))
            conn.execute(text(
                "INSERT INTO users (id, name, member_no, password_hash, role, org_id, category, is_floating, "
                "active, large_text, must_change_password, created_at) VALUES "
                "(1, '党员', 'M1', 'x', 'member', 1, 'full', false, true, false, false, CURRENT_TIMESTAMP)"))
            conn.execute(text(
                "INSERT INTO training_class (id, title, theme, description, org_id, starts_at, ends_at, "
                "enrol_opens_at, enrol_closes_at, seats_taken, enrol_mode, floating, electives_required, hours, "
                "credit_kind, reflection_required, reflection_min_chars, published, created_at, audience_categories) "
                "VALUES (1, '班', '', '', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, 0, 'open', 'all', 0, 1, 'online', true, 10, true, CURRENT_TIMESTAMP, '')"))
            conn.execute(text(
                "INSERT INTO training_reflection (id, class_id, member_id, body, images, state, revision, comment, "
                "featured) VALUES (7, 1, 1, '体会', '[]', 'submitted', 3, '', false)"))
        upgrade()
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT id, class_id, course_id, plan_item_id, body, revision "
                                     "FROM training_reflection")).all() == [(7, 1, None, None, "体会", 3)]
            # a second reflection of the same member, for no class, is now allowed ...
            conn.execute(text(
                "INSERT INTO training_reflection (id, member_id, body, images, state, revision, comment, "
                "featured) VALUES (8, 1, '', '[]', 'draft', 0, '', false)"))
        with pytest.raises(IntegrityError):  # ... but still one per class and member
            with db.engine.begin() as conn:
                conn.execute(text(
                    "INSERT INTO training_reflection (id, class_id, member_id, body, images, state, revision, "
                    "comment, featured) VALUES (9, 1, 1, '', '[]', 'draft', 0, '', false)"))
        downgrade(revision="0019")
        with db.engine.connect() as conn:  # the rows of other kinds cannot exist there
            assert conn.execute(text("SELECT id FROM training_reflection")).scalars().all() == [7]
        db.engine.dispose()


def test_0023_fills_the_summary_from_the_ledger_and_keeps_it(empty_database_url, tmp_path):
    """0023 sums the existing ledger into credit_year_summary; its trigger then adds new rows,
    reversals included; downgrading drops both and the ledger takes rows as before."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x",
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    insert = text("INSERT INTO credit_entry (id, member_id, year, kind, hours, source, idempotency_key, "
                  "description, created_at, reverses_id) VALUES (:id, :m, :y, :k, :h, 'video', :key, '', "
                  "CURRENT_TIMESTAMP, :rev)")

    def entry(id, m, y, k, h, rev=None):
        return dict(id=id, m=m, y=y, k=k, h=h, key=f"k{id}", rev=rev)

    def summary(conn):
        return [(m, y, Decimal(str(on)).quantize(Decimal("0.01")), Decimal(str(co)).quantize(Decimal("0.01")), n)
                for m, y, on, co, n in conn.execute(text(
                    "SELECT member_id, year, online, concentrated, entries FROM credit_year_summary "
                    "ORDER BY member_id, year"))]

    with app.app_context():
        upgrade(revision="0022")
        with db.engine.begin() as conn:
            for uid in (1, 2):
                conn.execute(text(
                    "INSERT INTO users (id, name, member_no, role, category, is_floating, active, large_text, "
                    "must_change_password, created_at) VALUES (:id, '党员', :no, 'member', 'full', false, true, "
                    "false, false, CURRENT_TIMESTAMP)"), {"id": uid, "no": f"M{uid}"})
            for row in (entry(1, 1, 2026, "online", "1.10"), entry(2, 1, 2026, "online", "2.20"),
                        entry(3, 1, 2026, "concentrated", "4"), entry(4, 1, 2025, "online", "0.5"),
                        entry(5, 2, 2026, "online", "3"), entry(6, 2, 2026, "online", "-3", rev=5)):
                conn.execute(insert, row)
        upgrade()
        with db.engine.begin() as conn:
            assert summary(conn) == [(1, 2025, Decimal("0.50"), Decimal("0.00"), 1),
                                     (1, 2026, Decimal("3.30"), Decimal("4.00"), 3),
                                     (2, 2026, Decimal("0.00"), Decimal("0.00"), 2)]
            conn.execute(insert, entry(7, 2, 2026, "concentrated", "1.25"))
            conn.execute(insert, entry(8, 1, 2026, "online", "-1.10", rev=1))
            assert summary(conn)[1:] == [(1, 2026, Decimal("2.20"), Decimal("4.00"), 4),
                                         (2, 2026, Decimal("0.00"), Decimal("1.25"), 3)]
        downgrade(revision="0022")
        with db.engine.begin() as conn:
            assert "credit_year_summary" not in inspect(conn).get_table_names()
            conn.execute(insert, entry(9, 2, 2026, "online", "1"))
        upgrade()
        with db.engine.connect() as conn:
            assert summary(conn)[-1] == (2, 2026, Decimal("1.00"), Decimal("1.25"), 4)
        db.engine.dispose()


def test_0024_keeps_the_subtitle_words_of_existing_files(empty_database_url, tmp_path):
    """0024 reads each lesson's subtitle file under MEDIA_DIR into lesson.subtitles_text; a
    missing file leaves it empty."""
    media = tmp_path / "media"
    (media / "subtitles").mkdir(parents=True)
    (media / "subtitles" / "1-a.vtt").write_text(
        "WEBVTT\n\n1\n00:00:01.000 --> 00:00:03.000\n<b>遵义会议</b>是转折点\n", "utf-8")
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x",
                      "INSTANCE_PATH": str(tmp_path / "instance"), "MEDIA_DIR": str(media)})
    with app.app_context():
        upgrade(revision="0023")
        with db.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO course (id, slug, title, summary, track, required, completion_mode, sequential, "
                "no_seek_ahead, published, reflection_required, reflection_min_chars, created_at, "
                "audience_categories) VALUES (1, 'c', '党史', '', 'theory', false, 'timed', false, true, true, "
                "false, 300, CURRENT_TIMESTAMP, '')"))
            for lesson_id, name in ((1, "1-a.vtt"), (2, "2-gone.vtt"), (3, None)):
                conn.execute(text(
                    "INSERT INTO lesson (id, course_id, position, title, kind, body_md, media_status, "
                    "duration_seconds, has_video, ladder, created_at, subtitles_name) VALUES (:id, 1, :id, '第一讲', "
                    "'video', '', 'none', 0, true, '', CURRENT_TIMESTAMP, :name)"), {"id": lesson_id, "name": name})
        upgrade()
        with db.engine.connect() as conn:
            words = dict(conn.execute(text("SELECT id, subtitles_text FROM lesson ORDER BY id")).all())
        assert words == {1: "遵义会议是转折点", 2: None, 3: None}
        downgrade(revision="0023")
        db.engine.dispose()


def test_0025_marks_changes_and_downgrades_cleanly(empty_database_url, tmp_path):
    """0025 adds the kept organisation figures' tables and triggers: an award and a member's
    move leave marks; downgrading drops tables and triggers, and awards and moves work as before."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x",
                      "INSTANCE_PATH": str(tmp_path / "instance")})
    insert = text("INSERT INTO credit_entry (id, member_id, year, kind, hours, source, idempotency_key, "
                  "description, created_at) VALUES (:id, 1, 2026, 'online', 2, 'video', :key, '', CURRENT_TIMESTAMP)")
    with app.app_context():
        upgrade(revision="0024")
        with db.engine.begin() as conn:
            for oid in (1, 2):
                conn.execute(text("INSERT INTO organisation (id, name, kind, path, created_at) "
                                  "VALUES (:id, '支部', 'branch', :path, CURRENT_TIMESTAMP)"),
                             {"id": oid, "path": f"/{oid}/"})
            conn.execute(text(
                "INSERT INTO users (id, name, member_no, role, org_id, category, is_floating, active, large_text, "
                "must_change_password, created_at) VALUES (1, '党员', 'M1', 'member', 1, 'full', false, true, "
                "false, false, CURRENT_TIMESTAMP)"))
            conn.execute(insert, {"id": 1, "key": "k1"})
        upgrade()
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM credit_org_stale")).scalar() == 0
            conn.execute(insert, {"id": 2, "key": "k2"})
            conn.execute(text("UPDATE users SET org_id = 2 WHERE id = 1"))
            marks = conn.execute(text("SELECT org_id, year FROM credit_org_stale ORDER BY id")).all()
            assert [tuple(m) for m in marks] == [(1, 2026), (1, None), (2, None)]
        downgrade(revision="0024")
        with db.engine.begin() as conn:
            assert "credit_org_stale" not in inspect(conn).get_table_names()
            conn.execute(insert, {"id": 3, "key": "k3"})
            conn.execute(text("UPDATE users SET org_id = 1 WHERE id = 1"))
            assert conn.execute(text("SELECT entries FROM credit_year_summary")).scalar() == 3
        upgrade()
        db.engine.dispose()
