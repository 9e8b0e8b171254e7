"""The garbage collector's pauses in a web process, with and without ``gc.freeze()`` after start-up
(what ``deploy/gunicorn.conf.py``'s ``post_worker_init`` does).

A full (generation 2) collection walks every object the process holds, and the GIL is held
meanwhile: in a gthread worker every request thread stops. This runs the exam journey in
process (login, exam page, start, attempt page, choice saves, submit, result) for ``--members``
members and times each collection through ``gc.callbacks``. Each mode runs in a process of its
own, alternating, ``--rounds`` times:

    .venv/bin/python bench/gc_pause.py                       # SQLite
    .venv/bin/python bench/gc_pause.py --pg postgresql://postgres@127.0.0.1:5432/bench

Reported per mode: objects the collector tracks after start-up, the number of full collections
per 1,000 requests, their median and longest pause, and all collections' time per request.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.exam_spike import PASSWORD, database_url, seed  # noqa: E402


def journey(url: str, instance: str, members: int, freeze: bool) -> dict:
    from school import create_app

    exam_id, numbers = seed(url, instance, members, 100)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
                      "WTF_CSRF_ENABLED": False, "JOBS_INLINE_WORKER": False})
    gc.collect()
    tracked = len(gc.get_objects())
    if freeze:
        gc.freeze()
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def timed(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append((time.perf_counter() - started[0]) * 1000)

    requests = 0
    gc.callbacks.append(timed)
    try:
        for number in numbers:
            client = app.test_client()
            client.post("/login", data={"identifier": number, "password": PASSWORD})
            client.get(f"/exams/{exam_id}")
            attempt_id = int(re.search(r"/attempts/(\d+)", client.post(f"/exams/{exam_id}/start", data={})
                                       .headers["Location"]).group(1))
            page = client.get(f"/exams/attempts/{attempt_id}").get_data(as_text=True)
            chosen = [int(q) for q, kind in re.findall(r'data-qid="(\d+)" data-qtype="(\w+)"', page) if kind == "single"]
            for rev, question in enumerate(chosen[:20], start=1):
                client.post(f"/exams/attempts/{attempt_id}/answers",
                            json={"answers": [{"question": question, "response": {"choice": rev % 4}, "rev": rev}]})
            client.post(f"/exams/attempts/{attempt_id}/submit", data={"answers": "[]"})
            client.get(f"/exams/attempts/{attempt_id}/result")
            requests += 6 + len(chosen[:20])
    finally:
        gc.callbacks.remove(timed)
    full = pauses[2]
    return {"tracked": tracked, "requests": requests, "full_per_1000": 1000 * len(full) / requests,
            "full_median_ms": statistics.median(full) if full else 0.0, "full_max_ms": max(full, default=0.0),
            "gc_ms_per_request": sum(map(sum, pauses.values())) / requests}


def child(args) -> None:
    with tempfile.TemporaryDirectory() as instance:
        print(json.dumps(journey(database_url(args.pg, instance), instance, args.members, args.freeze)))


def main():
    parser = argparse.ArgumentParser(description="垃圾回收停顿：启动后 gc.freeze() 与否")
    parser.add_argument("--members", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2, help="each mode runs this many times, alternating")
    parser.add_argument("--pg", default="", help="PostgreSQL (a schema exam_spike is used); SQLite without it")
    parser.add_argument("--freeze", action="store_true", help=argparse.SUPPRESS)  # the child's mode
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    runs: dict[str, list[dict]] = {"as loaded": [], "frozen": []}
    for _ in range(args.rounds):
        for mode in runs:
            command = [sys.executable, __file__, "--child", "--members", str(args.members)]
            command += ["--pg", args.pg] if args.pg else []
            command += ["--freeze"] if mode == "frozen" else []
            out = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT,
                                 env=dict(os.environ, PYTHONHASHSEED="0"))
            runs[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"\n{'PostgreSQL' if args.pg else 'SQLite'}, {args.members} members' exam journeys in process, "
          f"{args.rounds} runs per mode (medians over runs)")
    print("mode | tracked objects | full collections / 1,000 requests | full collection median / max ms "
          "| all collections ms / request")
    for mode, results in runs.items():
        def med(key):
            return statistics.median(r[key] for r in results)
        print(f"{mode} | {med('tracked'):,.0f} | {med('full_per_1000'):.1f} | "
              f"{med('full_median_ms'):.1f} / {max(r['full_max_ms'] for r in results):.1f} | {med('gc_ms_per_request'):.3f}")


if __name__ == "__main__":
    main()
