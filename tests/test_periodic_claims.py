"""Periodic sweeps run once per interval however many nodes run them (``jobs.claim``)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from school import jobs
from school.config import normalise_database_url
from school.extensions import db
from tests.conftest import PG_URL

REPO = Path(__file__).resolve().parents[1]


def test_an_interval_is_claimed_once(app):
    now = datetime(2026, 12, 3, 6, 30, 10)
    assert jobs.claim("test-task", 60, now)
    assert not jobs.claim("test-task", 60, now + timedelta(seconds=20))  # same minute: taken
    assert jobs.claim("test-task", 60, now + timedelta(seconds=60))  # the next minute
    assert not jobs.claim("test-task", 60, now)  # an earlier minute never runs late
    assert db.session.get(jobs.PeriodicRun, "test-task").node == jobs.worker_identity()


def test_a_task_a_node_lost_is_not_run_here(app):
    ran = []
    jobs.every(60, "test-counted", ran.append)
    try:
        now = datetime(2026, 12, 3, 6, 30, 10)
        assert jobs.claim("test-counted", 60, now)  # "another node" ran it this minute
        assert "test-counted" not in jobs.run_periodic(now, {})
        assert ran == []
        assert "test-counted" in jobs.run_periodic(now + timedelta(minutes=1), {})
        assert len(ran) == 1
    finally:
        jobs._periodic.pop("test-counted")


@pytest.fixture
def site_env(tmp_path):
    """The environment of a ``school`` site on a database of its own: a SQLite file, or a
    PostgreSQL schema of its own when SCHOOL_TEST_DATABASE_URL is set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHOOL_")}
    env.update(PYTHONPATH=str(REPO), SCHOOL_SECRET_KEY="x", SCHOOL_MEDIA_DIR=str(tmp_path / "media"))
    engine = None
    if PG_URL:
        url = normalise_database_url(PG_URL)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS periodic_test CASCADE"))
            conn.execute(text("CREATE SCHEMA periodic_test"))
        env["SCHOOL_DATABASE_URL"] = url + ("&" if "?" in url else "?") + "options=-csearch_path%3Dperiodic_test"
    else:
        env["SCHOOL_DATABASE_URL"] = f"sqlite:///{tmp_path / 'site.db'}"
    env["SCHOOL_INSTANCE_PATH"] = str(tmp_path / "node-a")
    init = subprocess.run([sys.executable, "-c", "from school.cli import main; main()", "init"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stdout + init.stderr
    yield env
    if engine is not None:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS periodic_test CASCADE"))
        engine.dispose()


def test_two_nodes_sweeping_at_once_run_each_task_once(app, site_env, tmp_path):
    # Two processes with their own instance folders run `school jobs sweep` in the same minute,
    # as two nodes' systemd timers do.
    while datetime.now().second > 40:  # both inside one minute, so each task has one interval to claim
        time.sleep(1)
    procs = [subprocess.Popen([sys.executable, "-c", "from school.cli import main; main()", "jobs", "sweep"],
                              env=dict(site_env, SCHOOL_INSTANCE_PATH=str(tmp_path / f"node-{n}")), cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in "ab"]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
        outputs.append([line.removeprefix("定时任务：") for line in out.splitlines() if line.startswith("定时任务：")])
    ran = outputs[0] + outputs[1]
    assert sorted(ran) == sorted(jobs._periodic), outputs  # every task, each by one node only
