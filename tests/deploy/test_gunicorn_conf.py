"""``deploy/gunicorn.conf.py``'s worker hook: after loading the site a worker freezes what it
loaded, so a full garbage collection no longer walks the site's ~200,000 start-up objects with
every request thread stopped (bench/gc_pause.py), and garbage made while serving is still collected."""
from __future__ import annotations

import json
import subprocess
import sys

from gunicorn.config import Config

from tests.deploy.stack import DEPLOY, REPO

# A worker as gunicorn makes one: the configuration file read, the site loaded, then the hook.
WORKER = """
import gc, json, runpy, sys
settings = runpy.run_path(sys.argv[1])
from school import create_app
create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "t", "INSTANCE_PATH": sys.argv[2]})
settings["post_worker_init"](None)
frozen = gc.get_freeze_count()
cycle = []
cycle.append(cycle)  # garbage made while serving: a reference cycle, unreachable once dropped
del cycle
print(json.dumps({"frozen": frozen, "enabled": gc.isenabled(), "collected": gc.collect(),
                  "tracked": len(gc.get_objects())}))
"""


def test_a_worker_freezes_what_it_loaded_and_still_collects_new_garbage(tmp_path):
    out = subprocess.run([sys.executable, "-c", WORKER, str(DEPLOY / "gunicorn.conf.py"), str(tmp_path)],
                         capture_output=True, text=True, check=True, cwd=REPO, timeout=120)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["frozen"] > 50_000, seen  # the site's modules, mappers, templates …
    assert seen["tracked"] < seen["frozen"] // 10, seen  # … out of every later collection's walk
    assert seen["enabled"] and seen["collected"] >= 1, seen  # the collector still runs


def test_gunicorn_accepts_the_hook():
    settings: dict = {}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text(encoding="utf-8"), "gunicorn.conf.py", "exec"), settings)
    config = Config()
    config.set("post_worker_init", settings["post_worker_init"])  # gunicorn checks the hook's arity
    assert config.post_worker_init is settings["post_worker_init"]
