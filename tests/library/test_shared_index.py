"""One index on shared storage for several nodes: writers take one lock across processes
(``index.writing()``), readers reopen when its generation changes. "Another node" is another
process with an instance folder of its own, the same database and the same index folder."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from school.library import index, search

REPO = Path(__file__).resolve().parents[2]

NODE = """
import sys, time
from school import create_app
from school.extensions import db
from school.library import index
from tests.factories import Factory
app = create_app({{"SQLALCHEMY_DATABASE_URI": {url!r}, "SECRET_KEY": "x", "TESTING": True,
                  "INSTANCE_PATH": {instance!r}, "MEDIA_DIR": {media!r}, "SEARCH_INDEX_DIR": {shared!r}}})
with app.app_context():
{code}
"""


def other_node(app, tmp_path: Path, code: str, wait_for: str | None = None) -> subprocess.Popen:
    """Start a process playing another node; with ``wait_for``, return once it printed that line."""
    script = NODE.format(url=app.config["SQLALCHEMY_DATABASE_URI"], instance=str(tmp_path / "node-b"),
                         media=app.config["MEDIA_DIR"], shared=app.config["SEARCH_INDEX_DIR"],
                         code="\n".join("    " + line for line in code.strip().splitlines()))
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait_for:
        line = proc.stdout.readline()
        assert line.strip() == wait_for, line + proc.stderr.read()
    return proc


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    return out


def test_writing_excludes_another_process(app, tmp_path):
    holder = other_node(app, tmp_path, """
with index.writing():
    print("held", flush=True)
    time.sleep(1.5)
""", wait_for="held")
    started = time.monotonic()
    with index.writing():
        waited = time.monotonic() - started
    finish(holder)
    assert waited > 0.8  # it waited for the other process to let go


def test_writing_is_reentrant_and_excludes_other_threads(app):
    order = []

    def other():
        with app.app_context(), index.writing():
            order.append("other")

    with index.writing():
        with index.writing():  # rebuild inside reconcile inside apply_changes: no deadlock
            thread = threading.Thread(target=other)
            thread.start()
            time.sleep(0.3)
            order.append("here")
    thread.join(timeout=10)
    assert order == ["here", "other"]


def test_published_on_another_node_is_found_here_without_writing(app, make, tmp_path):
    make.document("两学一做学习教育", "学党章党规，做合格党员。")
    assert search.search("合格党员").total == 1
    before = search.current_searcher().generation
    finish(other_node(app, tmp_path, """
Factory(db.session).document("三会一课制度", "支部党员大会、支部委员会、党小组会和党课。")
"""))
    written = index.generation()
    assert written != before  # the other node wrote the shared index after its commit
    results = search.search("党小组会")  # the database moved on: this node looks at once
    assert [hit.document.title for hit in results.hits] == ["三会一课制度"]
    assert search.current_searcher().generation == written
    assert index.generation() == written  # reopened, not written again here


def test_a_rebuild_on_another_node_is_picked_up_within_the_recheck_interval(app, make, tmp_path):
    app.config["SEARCH_RECHECK_MS"] = 60_000
    make.document("两学一做学习教育", "学党章党规，做合格党员。")
    search.search("合格党员")
    old = search.current_searcher().generation
    finish(other_node(app, tmp_path, "index.rebuild()"))
    fresh = index.generation()
    assert fresh != old and fresh.split("-")[0] != old.split("-")[0]  # a new build
    assert search.current_searcher().generation == old  # the database did not move: checked later
    app.config["SEARCH_RECHECK_MS"] = 100
    time.sleep(0.15)
    assert search.search("合格党员").total == 1
    assert search.current_searcher().generation == fresh


def test_an_index_from_before_generations_gets_one(app, make):
    import json

    make.document("两学一做学习教育", "学党章党规，做合格党员。")
    search.search("合格党员")
    state_file = index.index_dir() / "state.json"
    old = {k: v for k, v in json.loads(state_file.read_text()).items() if k not in ("build", "generation")}
    state_file.write_text(json.dumps(old))  # as written by the version before
    search._local.__dict__.clear()  # a process started after the upgrade
    assert search.search("合格党员").total == 1
    assert index.generation() is not None
    assert search.current_searcher().generation == index.generation()
