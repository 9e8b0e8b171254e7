"""Each exam request in process: CPU and wall time, and SQL statements, SQLite then PostgreSQL.

No HTTP server and no concurrency: the Flask test client sends one member's requests in turn
(the exam page, start, the exam page again, the attempt page, choice saves, submit, the result,
/healthz), so the figures are what one request costs the web process, and on PostgreSQL also
the round trips it waits for. ``exam_spike.py`` measures the same requests under load.

    .venv/bin/python bench/exam_requests.py                       # SQLite only
    .venv/bin/python bench/exam_requests.py --pg postgresql://postgres@127.0.0.1:5432/bench

Medians over ``--members`` members (the first five left out: caches warming). PostgreSQL runs
in a schema of its own (``exam_spike``, dropped first), as ``exam_spike.py`` does.

``--fresh-connections``: every request runs on a connection new to the database — the pool's
connections are closed and a new one opened (and used for ``SELECT 1``, so the connect itself
is not timed) before each request: what a backend's cold catalog caches and unprepared statements cost,
beside a run without it.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.exam_spike import PASSWORD, pg_schema_url, seed  # noqa: E402

KINDS = ("exam_page", "start", "exam_page_open", "attempt_page", "save_choice", "submit", "result", "healthz")


def measure(url: str, instance: str, members: int, questions: int, saves: int,
            fresh: bool = False) -> dict[str, tuple[float, float, str]]:
    from school import create_app
    from school.extensions import db

    exam_id, numbers = seed(url, instance, members, questions)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
                      "WTF_CSRF_ENABLED": False, "COUNT_STATEMENTS": True, "JOBS_INLINE_WORKER": False})
    seen: dict[str, list[tuple[float, float, str]]] = {kind: [] for kind in KINDS}

    def timed(kind, call):
        if fresh:
            with app.app_context():
                # Invalidated, not disposed: disposing would also empty the process's paper caches.
                idle = [db.engine.connect() for _ in range(db.engine.pool.checkedin())]
                for conn in idle:
                    conn.invalidate()
                    conn.close()
                with db.engine.connect() as conn:
                    conn.exec_driver_sql("SELECT 1")
        cpu, wall = time.process_time(), time.perf_counter()
        response = call()
        seen[kind].append(((time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000,
                           response.headers.get("X-Statements", "-")))
        return response

    for number in numbers:
        client = app.test_client()
        assert client.post("/login", data={"identifier": number, "password": PASSWORD}).status_code == 302
        timed("exam_page", lambda: client.get(f"/exams/{exam_id}"))
        started = timed("start", lambda: client.post(f"/exams/{exam_id}/start", data={}))
        attempt_id = int(re.search(r"/attempts/(\d+)", started.headers["Location"]).group(1))
        timed("exam_page_open", lambda: client.get(f"/exams/{exam_id}"))
        page = timed("attempt_page", lambda: client.get(f"/exams/attempts/{attempt_id}")).get_data(as_text=True)
        chosen = [int(q) for q, kind in re.findall(r'data-qid="(\d+)" data-qtype="(\w+)"', page) if kind == "single"]
        for rev, question in enumerate(chosen[:saves], start=1):
            body = {"answers": [{"question": question, "response": {"choice": rev % 4}, "rev": rev}]}
            timed("save_choice", lambda: client.post(f"/exams/attempts/{attempt_id}/answers", json=body))
        assert timed("submit", lambda: client.post(f"/exams/attempts/{attempt_id}/submit",
                                                   data={"answers": "[]"})).status_code == 302
        timed("result", lambda: client.get(f"/exams/attempts/{attempt_id}/result"))
        timed("healthz", lambda: client.get("/healthz"))
    out = {}
    for kind, values in seen.items():
        values = values[5:] if len(values) > 10 else values
        counts = sorted({v[2] for v in values}, key=lambda c: (len(c), c))
        out[kind] = (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values),
                     "/".join(counts))
    return out


def main():
    parser = argparse.ArgumentParser(description="考试各请求的进程内开销：CPU、耗时、SQL 语句数")
    parser.add_argument("--members", type=int, default=40)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--saves", type=int, default=20, help="choice saves per member")
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--pg", default=os.environ.get("SCHOOL_BENCH_PG_URL", ""))
    parser.add_argument("--fresh-connections", action="store_true",
                        help="a connection new to the database for every request (see the docstring)")
    args = parser.parse_args()
    results = {}
    if args.sqlite:
        with tempfile.TemporaryDirectory() as instance:
            results["SQLite"] = measure(f"sqlite:///{instance}/bench.db", instance, args.members, args.questions,
                                        args.saves, args.fresh_connections)
    if args.pg:
        engine, url = pg_schema_url(args.pg)
        engine.dispose()
        with tempfile.TemporaryDirectory() as instance:
            results["PostgreSQL"] = measure(url, instance, args.members, args.questions, args.saves,
                                            args.fresh_connections)
    print(f"\n{args.members} members, {args.questions} questions, {args.saves} choice saves each; medians, ms")
    print("request | " + " | ".join(f"{db} CPU / wall / statements" for db in results)
          + (" | PostgreSQL ÷ SQLite wall" if len(results) == 2 else ""))
    for kind in KINDS:
        cells = [f"{r[kind][0]:.1f} / {r[kind][1]:.1f} / {r[kind][2]}" for r in results.values()]
        ratio = (f" | {results['PostgreSQL'][kind][1] / results['SQLite'][kind][1]:.2f}" if len(results) == 2 else "")
        print(f"{kind} | " + " | ".join(cells) + ratio)


if __name__ == "__main__":
    main()
