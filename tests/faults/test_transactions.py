"""Transactions mean what they say: a rolled-back transaction undoes its released savepoints
(SQLite included — the driver's own BEGIN is taken over), and the bulk library import commits
in the batches it intends, not file by file."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from school import jobs
from school.extensions import db
from school.library import importer
from school.library.models import Document
from school.timeutil import utcnow


def job_count() -> int:
    return db.session.scalar(select(func.count()).select_from(jobs.Job))


def test_rollback_undoes_released_savepoints(app):
    for _ in range(3):
        with db.session.begin_nested():  # SAVEPOINT … RELEASE SAVEPOINT
            db.session.add(jobs.Job(handler="school.jobs:x", payload="{}", state=jobs.DONE))
    assert job_count() == 3
    db.session.rollback()
    assert job_count() == 0


def test_savepoint_rolled_back_alone_keeps_the_rest(app):
    db.session.add(jobs.Job(handler="school.jobs:x", payload="{}", state=jobs.DONE))
    db.session.flush()
    with pytest.raises(RuntimeError):
        with db.session.begin_nested():
            db.session.add(jobs.Job(handler="school.jobs:y", payload="{}", state=jobs.DONE))
            db.session.flush()
            raise RuntimeError("one bad file")
    db.session.commit()
    assert [j.handler for j in db.session.scalars(select(jobs.Job))] == ["school.jobs:x"]


def test_a_raw_connection_rollback_undoes_a_released_savepoint(app):
    with db.engine.connect() as conn:
        conn.begin()
        nested = conn.begin_nested()
        conn.execute(text("INSERT INTO job (handler, payload, state, progress, attempts, created_at) "
                          "VALUES ('school.jobs:x', '{}', 'done', 0, 0, CURRENT_TIMESTAMP)"))
        nested.commit()  # RELEASE SAVEPOINT
        conn.rollback()
    assert job_count() == 0


def test_library_import_commits_in_its_batches(app, tmp_path):
    root = tmp_path / "laws"
    root.mkdir()
    for i in range(1, 8):
        (root / f"{i:02d}.md").write_text(f"# 测试条例第{i}号\n\n第一条 这是第{i}号条例的正文。\n", "utf-8")

    def interrupt(path):
        if path.name == "05.md":
            raise KeyboardInterrupt  # the import is stopped after five files

    with pytest.raises(KeyboardInterrupt):
        importer.import_tree(root, "law", None, utcnow(), batch=3, progress=interrupt)
    db.session.rollback()
    # The first batch of three was committed; files 4 and 5 were in an open batch and are gone.
    assert db.session.scalar(select(func.count()).select_from(Document)) == 3
