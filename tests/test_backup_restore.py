"""``school backup`` then ``school restore`` into an empty database (SQLite, or PostgreSQL when
``SCHOOL_TEST_DATABASE_URL`` is set): same row counts in every table, same sample rows, and the
media tar restored; a non-empty database is refused."""
from __future__ import annotations

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from school import create_app
from school.config import normalise_database_url
from school.extensions import db
from tests.conftest import PG_URL


@pytest.fixture
def empty_database(tmp_path):
    """The URL of a new, empty database next to the test's own."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    url = make_url(normalise_database_url(PG_URL))
    name = f"{url.database}_restore"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def snapshot() -> dict:
    counts = {t.name: db.session.scalar(select(func.count()).select_from(t)) for t in db.metadata.sorted_tables}
    samples = {}
    for name in ("users", "organisation", "credit_entry", "library_document", "course", "lesson"):
        table = db.metadata.tables.get(name)
        if table is not None:
            samples[name] = [tuple(r) for r in db.session.execute(select(table).order_by(*table.primary_key.columns)
                                                                  .limit(20))]
    return {"counts": counts, "samples": samples}


def test_backup_and_restore_into_an_empty_database(app, runner, make, tmp_path, empty_database):
    assert runner.invoke(args=["demo"]).exit_code == 0
    member = make.user()
    make.entry(member, hours=3)
    (tmp_path / "media" / "videos").mkdir(parents=True, exist_ok=True)
    (tmp_path / "media" / "videos" / "clip.m3u8").write_text("#EXTM3U\n")
    before = snapshot()
    assert before["counts"]["users"] >= 29

    target = tmp_path / "backups" / "school.dump"
    result = runner.invoke(args=["backup", str(target), "--media"])
    assert result.exit_code == 0, result.output
    assert "检查通过" in result.output
    assert not list(target.parent.glob(".*partial"))  # written under a temporary name, renamed after the check

    # Not into the live (non-empty) database.
    refused = runner.invoke(args=["restore", str(target)])
    assert refused.exit_code != 0 and "数据库不是空的" in refused.output

    other = create_app({"SQLALCHEMY_DATABASE_URI": empty_database, "SECRET_KEY": "x", "TESTING": True,
                        "INSTANCE_PATH": str(tmp_path / "other-instance"), "MEDIA_DIR": str(tmp_path / "other-media")})
    with other.app_context():  # the CLI runner uses the app whose context is current
        restored = other.test_cli_runner().invoke(args=["restore", str(target), "--media",
                                                        str(target.with_name("school.dump.media.tar"))])
        assert restored.exit_code == 0, restored.output
        after = snapshot()
        again = other.test_cli_runner().invoke(args=["restore", str(target)])
        db.session.remove()
        db.engine.dispose()
    assert after == before
    assert (tmp_path / "other-media" / "videos" / "clip.m3u8").read_text() == "#EXTM3U\n"
    assert again.exit_code != 0 and "不是空的" in again.output
