"""Where one exam autosave's CPU goes, SQLite against PostgreSQL: the app in-process (Flask's
test client, no HTTP server), one member, ``--saves`` autosaves of one choice answer each under
cProfile, then the CPU time per save grouped by package (sqlalchemy, psycopg, sqlite3, flask/
werkzeug, school …) and the top functions. PostgreSQL's own work happens in its server process
and is not in this profile (``bench/exam_spike.py`` reports it from /proc when asked).

    .venv/bin/python bench/exam_save_profile.py --pg postgresql://postgres@127.0.0.1:5432/school_exams

PostgreSQL runs in the schema ``exam_spike`` of that database (dropped afterwards).
"""
from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.exam_spike import PASSWORD, pg_schema_url, seed  # noqa: E402

GROUPS = (("psycopg", "psycopg"), ("sqlite3", "sqlite3"), ("sqlalchemy", "sqlalchemy"), ("flask", "flask"),
          ("werkzeug", "werkzeug"), ("jinja2", "jinja2"), ("school", "/school/"), ("json", "json"))


def group_of(filename: str) -> str:
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C)"
    for name, needle in GROUPS:
        if needle in filename:
            return name
    return "other Python"


def profile(label: str, url: str, saves: int) -> dict:
    from school import create_app
    from school.extensions import db

    instance = tempfile.mkdtemp(prefix="save-profile-")
    exam_id, numbers = seed(url, instance, 1, 20)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
                      "JOBS_INLINE_WORKER": False})
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/login", data={"identifier": numbers[0], "password": PASSWORD, "csrf_token": token}).status_code == 302
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get(f"/exams/{exam_id}").get_data(as_text=True)).group(1)
    assert client.post(f"/exams/{exam_id}/start", data={"csrf_token": token}).status_code == 302
    page = client.get(f"/exams/{exam_id}").get_data(as_text=True)
    attempt = int(re.search(r'/exams/attempts/(\d+)"', page).group(1))
    page = client.get(f"/exams/attempts/{attempt}").get_data(as_text=True)
    qids = [int(q) for q, t in re.findall(r'data-qid="(\d+)" data-qtype="(\w+)"', page) if t == "single"]
    headers = {"X-CSRFToken": token, "Accept": "application/json"}

    def save(n: int):
        body = {"answers": [{"question": qids[n % len(qids)], "response": {"choice": n % 4}, "rev": n + 1}]}
        answer = client.post(f"/exams/attempts/{attempt}/answers", data=json.dumps(body),
                             content_type="application/json", headers=headers)
        assert answer.status_code == 200, answer.get_data(as_text=True)[:300]

    for n in range(50):  # warm: caches, pool, prepared plans
        save(n)
    # The same saves without the profiler first: cProfile roughly doubles the cost of many
    # small Python calls, so this is the figure to compare with a benchmark's CPU per request.
    started = time.process_time()
    for n in range(50, 50 + saves):
        save(n)
    plain = time.process_time() - started
    profiler = cProfile.Profile(time.process_time)  # CPU time of this process only
    started = time.process_time()
    profiler.enable()
    for n in range(50 + 2 * saves, 50 + 3 * saves):  # later revisions: each one replaces the answer
        save(n)
    profiler.disable()
    cpu = time.process_time() - started
    with app.app_context():
        db.engine.dispose()
    stats = pstats.Stats(profiler)
    groups: dict[str, float] = {}
    functions = []
    for (filename, line, name), (_, calls, tottime, _, _) in stats.stats.items():
        groups[group_of(filename)] = groups.get(group_of(filename), 0.0) + tottime
        functions.append((tottime, calls, f"{Path(filename).name}:{line}:{name}" if line else name))
    functions.sort(reverse=True)
    return {"db": label, "cpu_ms_per_save": 1000 * cpu / saves, "plain_ms_per_save": 1000 * plain / saves,
            "groups_ms_per_save": {k: round(1000 * v / saves, 3) for k, v in sorted(groups.items(), key=lambda i: -i[1])},
            "top": [(round(1000 * t / saves, 3), calls // saves, where) for t, calls, where in functions[:15]]}


def main():
    parser = argparse.ArgumentParser(description="一次考试自动保存的 CPU 时间：SQLite 与 PostgreSQL")
    parser.add_argument("--saves", type=int, default=1000)
    parser.add_argument("--pg", required=True)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(profile("SQLite", f"sqlite:///{tmp}/profile.db", args.saves))
    from sqlalchemy import text

    engine, url = pg_schema_url(args.pg)
    try:
        results.append(profile("PostgreSQL", url, args.saves))
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS exam_spike CASCADE"))
        engine.dispose()
    for r in results:
        print(f"\n{r['db']}: {r['plain_ms_per_save']:.2f} ms CPU per save without the profiler, "
              f"{r['cpu_ms_per_save']:.2f} ms under it (this process)")
        print("  by package (ms/save, own time):", ", ".join(f"{k} {v}" for k, v in r["groups_ms_per_save"].items()))
        for ms, calls, where in r["top"]:
            print(f"  {ms:7.3f} ms  {calls:>3}×  {where}")


if __name__ == "__main__":
    main()
