"""A member's everyday pages on PostgreSQL: read-only transactions ended with ROLLBACK
(Flask-SQLAlchemy's teardown) against COMMIT (``school/read_commit.py``), in one run.

psycopg drops a connection's prepared statements on every ROLLBACK and sends DEALLOCATE ALL
before the next statement, so with ROLLBACK no statement of these pages is ever prepared and
PostgreSQL parses and plans each one every time. The two ways alternate member by member in
one process on one pooled connection; per page the medians of the web process's CPU and wall
time, and the database backend's CPU per request (read from /proc for that one backend).

    .venv/bin/python bench/read_commit.py --pg postgresql://postgres@127.0.0.1:5432/bench

The data is ``exam_spike.py``'s seed (members of one organisation, an exam); the pages are
the ones a member opens outside an exam: home, courses, exams, notices, classes, plans.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.exam_spike import PASSWORD, pg_schema_url, seed  # noqa: E402

PAGES = ("/", "/courses/", "/exams/", "/notices/", "/training/", "/plans", "/library/")
WAYS = ("rollback", "commit")
# The ways take turns in blocks of member visits on the one connection. Not visit by visit:
# each ROLLBACK empties the connection's prepared statements, so the COMMIT way needs a few
# visits of its own (WARMING, not counted) before it shows what it keeps. The first two
# blocks (process caches warming) are not counted either.
BLOCK, WARMING = 12, 3


def _backend_cpu_ms(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")  # utime + stime


def measure(url: str, instance: str, members: int, rounds: int) -> dict:
    from sqlalchemy import event, text

    from school import create_app, read_commit
    from school.extensions import db

    _exam_id, numbers = seed(url, instance, members, 20)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
                      "WTF_CSRF_ENABLED": False, "JOBS_INLINE_WORKER": False,
                      "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0}})
    ends = {way: {"COMMIT": 0, "ROLLBACK": 0} for way in (*WAYS, "login")}
    current = ["login"]
    with app.app_context():
        engine = db.engine
        pid = db.session.scalar(text("SELECT pg_backend_pid()"))
        db.session.commit()
    event.listen(engine, "commit", lambda _conn: ends[current[0]].__setitem__("COMMIT", ends[current[0]]["COMMIT"] + 1))
    event.listen(engine, "rollback",
                 lambda _conn: ends[current[0]].__setitem__("ROLLBACK", ends[current[0]]["ROLLBACK"] + 1))
    funcs = app.teardown_appcontext_funcs
    seen = {way: {page: [] for page in PAGES} for way in WAYS}
    server = {way: [0.0, 0] for way in WAYS}
    clients = []
    for number in numbers:
        client = app.test_client()
        assert client.post("/login", data={"identifier": number, "password": PASSWORD}).status_code == 302
        clients.append(client)
    for n in range(2 * rounds * len(clients)):
        block = n // BLOCK
        way = WAYS[block % 2]
        client = clients[n % len(clients)]
        current[0] = way
        if way == "rollback" and read_commit.finish in funcs:
            funcs.remove(read_commit.finish)
        elif way == "commit" and read_commit.finish not in funcs:
            funcs.append(read_commit.finish)
        warming = n % BLOCK < WARMING or block < 2
        before = _backend_cpu_ms(pid)
        for page in PAGES:
            cpu, wall = time.process_time(), time.perf_counter()
            response = client.get(page)
            assert response.status_code == 200, (page, response.status_code)
            if not warming:
                seen[way][page].append(((time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000))
        if not warming:
            server[way][0] += _backend_cpu_ms(pid) - before
            server[way][1] += len(PAGES)
    with app.app_context():
        prepared = db.session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))
        same = db.session.scalar(text("SELECT pg_backend_pid()")) == pid
    out = {way: {page: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
                 for page, values in seen[way].items()} for way in WAYS}
    return {"pages": out, "server_ms": {way: total / count for way, (total, count) in server.items()},
            "ends": ends, "prepared_at_end": prepared, "one_backend": same}


def main():
    parser = argparse.ArgumentParser(description="党员日常页面：只读事务以 ROLLBACK 与 COMMIT 结束的对比（PostgreSQL）")
    parser.add_argument("--members", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10, help="visits of every page per member and way")
    parser.add_argument("--pg", default=os.environ.get("SCHOOL_BENCH_PG_URL", ""), required=False)
    args = parser.parse_args()
    if not args.pg:
        parser.error("--pg URL (or SCHOOL_BENCH_PG_URL) is needed: only PostgreSQL is affected")
    engine, url = pg_schema_url(args.pg)
    engine.dispose()
    with tempfile.TemporaryDirectory() as instance:
        result = measure(url, instance, args.members, args.rounds)
    pages = result["pages"]
    print(f"\n{args.members} members, {args.rounds} visits each per way, in alternating blocks of {BLOCK} "
          f"visits ({WARMING} not counted); medians, ms")
    print("page | ROLLBACK CPU / wall | COMMIT CPU / wall | COMMIT ÷ ROLLBACK wall")
    for page in PAGES:
        (c0, w0), (c1, w1) = pages["rollback"][page], pages["commit"][page]
        print(f"{page} | {c0:.2f} / {w0:.2f} | {c1:.2f} / {w1:.2f} | {w1 / w0:.2f}")
    total = [sum(pages[way][page][1] for page in PAGES) for way in WAYS]
    print(f"all {len(PAGES)} pages (sum of medians) | {total[0]:.1f} | {total[1]:.1f} | {total[1] / total[0]:.2f}")
    server = result["server_ms"]
    print(f"database backend CPU per page (mean): ROLLBACK {server['rollback']:.2f} ms, "
          f"COMMIT {server['commit']:.2f} ms, ratio {server['commit'] / server['rollback']:.2f}")
    ends = result["ends"]
    print(f"transaction ends seen: ROLLBACK way {ends['rollback']}, COMMIT way {ends['commit']}; prepared statements on the connection at the end: "
          f"{result['prepared_at_end']} (one backend throughout: {result['one_backend']})")


if __name__ == "__main__":
    main()
