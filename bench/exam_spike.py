"""Exam spike: 300 members start one exam within 10 s, each saves 20 answers and submits.

Runs the real site under gunicorn (gthread) on 127.0.0.1, first on SQLite and then on
PostgreSQL, and prints throughput, p50/p95 latencies of start/save/submit, error counts,
the latency of a trivial endpoint (/healthz) measured on the same server during the same
spike (the baseline), and how many acknowledged saves are missing from the database.

    .venv/bin/python bench/exam_spike.py --pg postgresql://postgres@127.0.0.1:5432/school_exams

PostgreSQL runs in a schema of its own (``exam_spike``) that is dropped afterwards.
Load stays on 127.0.0.1 and is bounded by --members/--saves.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "Bench-Passw0rd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str, instance: str, members: int, questions: int) -> tuple[int, list[str]]:
    """Migrate, then one organisation, ``members`` members (one shared hash), a bank and an exam."""
    from flask_migrate import upgrade

    from school import create_app
    from school.accounts.auth import hash_password
    from school.accounts.models import User
    from school.accounts.orgs import create_org
    from school.exams.models import Exam, Question
    from school.extensions import db
    from school.timeutil import utcnow

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance})
    with app.app_context():
        upgrade()
        org = create_org("压测党支部", "branch", None)
        hashed = hash_password(PASSWORD)
        numbers = [f"B{i:05d}" for i in range(members)]
        db.session.add_all(User(name=f"压测{i}", member_no=n, org=org, password_hash=hashed)
                           for i, n in enumerate(numbers))
        bank = [Question(qtype="fill", stem=f"第 {i + 1} 题：全心全意为____服务。",
                         data={"answers": [{"text": "人民", "weight": 100}]}) for i in range(questions)]
        db.session.add_all(bank)
        db.session.flush()
        now = utcnow()
        exam = Exam(title="压测考试", published=True, opens_at=now - timedelta(hours=1), closes_at=now + timedelta(hours=3),
                    time_limit_minutes=60, attempts_allowed=1, pass_percent=60,
                    selection={"fixed": [q.id for q in bank]}, shuffle_questions=True)
        db.session.add(exam)
        db.session.commit()
        exam_id = exam.id
        db.engine.dispose()
    return exam_id, numbers


class Client:
    """One member's browser: a keep-alive connection and the session cookie."""

    def __init__(self, port: int):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""
        self.csrf = ""

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()  # a worker closed an idle keep-alive socket: reconnect once
                if attempt:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("school_session="):
                self.cookie = value.split(";", 1)[0]
        return response.status, data

    def token_from(self, html: bytes) -> None:
        match = re.search(rb'name="csrf-token" content="([^"]+)"', html)
        if match:
            self.csrf = match.group(1).decode()

    def login(self, member_no: str) -> None:
        status, html = self.request("GET", "/login")
        self.token_from(html)
        form = urlencode({"identifier": member_no, "password": PASSWORD, "csrf_token": self.csrf})
        status, _ = self.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302:
            raise RuntimeError(f"login failed: {status}")


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}

    def add(self, kind: str, seconds: float, status: int, ok: bool = True):
        with self.lock:
            self.times.setdefault(kind, []).append(seconds)
            if status >= 500 or status == 0:
                self.errors["5xx/连接错误"] = self.errors.get("5xx/连接错误", 0) + 1
            elif not ok:
                self.errors[f"{kind} {status}"] = self.errors.get(f"{kind} {status}", 0) + 1


def member_journey(client: Client, exam_id: int, saves: int, think: float, rec: Recorder, acked: list, rng):
    t0 = time.perf_counter()
    status, _ = client.request("POST", f"/exams/{exam_id}/start", urlencode({"csrf_token": client.csrf}),
                               {"Content-Type": "application/x-www-form-urlencoded"})
    rec.add("start", time.perf_counter() - t0, status, status == 302)
    if status != 302:
        return
    status, page = client.request("GET", f"/exams/{exam_id}")  # follows to the resume link
    match = re.search(rb'/exams/attempts/(\d+)"', page)
    if not match:
        rec.add("start", 0, 0, False)
        return
    attempt_id = int(match.group(1))
    t0 = time.perf_counter()
    status, page = client.request("GET", f"/exams/attempts/{attempt_id}")
    rec.add("page", time.perf_counter() - t0, status, status == 200)
    qids = [int(x) for x in re.findall(rb'data-qid="(\d+)" data-qtype', page)]
    headers = {"Content-Type": "application/json", "X-CSRFToken": client.csrf, "Accept": "application/json"}
    for n, qid in enumerate(qids[:saves]):
        time.sleep(rng.uniform(0, 2 * think))
        text = "人民" if n % 4 else f"答案{n}"
        body = json.dumps({"answers": [{"question": qid, "response": {"text": text}, "rev": n + 1}]})
        t0 = time.perf_counter()
        try:
            status, data = client.request("POST", f"/exams/attempts/{attempt_id}/answers", body, headers)
        except OSError:
            status, data = 0, b""
        ok = status == 200 and qid in json.loads(data).get("saved", [])
        rec.add("save", time.perf_counter() - t0, status, ok)
        if ok:
            acked.append((attempt_id, qid, text))
    t0 = time.perf_counter()
    status, _ = client.request("POST", f"/exams/attempts/{attempt_id}/submit",
                               urlencode({"csrf_token": client.csrf, "answers": "[]"}),
                               {"Content-Type": "application/x-www-form-urlencoded"})
    rec.add("submit", time.perf_counter() - t0, status, status == 302)


def baseline_probe(port: int, stop: threading.Event, rec: Recorder):
    client = Client(port)
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            status, _ = client.request("GET", "/healthz")
        except OSError:
            status = 0
        rec.add("healthz", time.perf_counter() - t0, status, status == 200)
        time.sleep(0.05)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def run(label: str, url: str, args) -> dict:
    instance = tempfile.mkdtemp(prefix="exam-spike-")
    exam_id, numbers = seed(url, instance, args.members, args.saves)
    port = free_port()
    env = dict(os.environ, SCHOOL_DATABASE_URL=url, SCHOOL_INSTANCE_PATH=instance, SCHOOL_SECRET_KEY="bench-secret")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--worker-class", "gthread", "--workers", str(args.workers),
         "--threads", str(args.threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         "--keep-alive", "30", "school:create_app()"], cwd=ROOT, env=env, start_new_session=True)
    try:
        for _ in range(100):
            try:
                if Client(port).request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        # Logging in is not part of the spike (argon2 is slow on purpose): done beforehand.
        clients = [Client(port) for _ in numbers]
        login_started = time.perf_counter()
        with_errors = []

        def login(client, number):
            try:
                client.login(number)
                client.token_from(client.request("GET", f"/exams/{exam_id}")[1])
            except Exception as exc:  # counted, reported below
                with_errors.append(repr(exc))

        threads = [threading.Thread(target=login, args=(c, n)) for c, n in zip(clients, numbers)]
        for i in range(0, len(threads), 16):
            batch = threads[i:i + 16]
            for t in batch:
                t.start()
            for t in batch:
                t.join()
        login_seconds = time.perf_counter() - login_started

        rec, acked = Recorder(), []
        stop = threading.Event()
        probe = threading.Thread(target=baseline_probe, args=(port, stop, rec))
        probe.start()
        time.sleep(1)
        idle_healthz = list(rec.times.get("healthz", []))
        rec.times["healthz"] = []
        rng = random.Random(5)
        offsets = sorted(rng.uniform(0, args.window) for _ in clients)
        spike_started = time.perf_counter()

        def member(client, offset, seed_value):
            delay = spike_started + offset - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            member_journey(client, exam_id, args.saves, args.think, rec, acked, random.Random(seed_value))

        threads = [threading.Thread(target=member, args=(c, o, i)) for i, (c, o) in enumerate(zip(clients, offsets))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - spike_started
        stop.set()
        probe.join()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    lost, finished = verify(url, instance, acked)
    requests = sum(len(v) for k, v in rec.times.items() if k != "healthz")
    result = {
        "db": label, "members": len(numbers), "login_errors": len(with_errors), "login_s": login_seconds,
        "elapsed_s": elapsed, "requests": requests, "rps": requests / elapsed,
        "acked_saves": len(acked), "lost_saves": lost, "finished_attempts": finished,
        "errors": dict(rec.errors),
        "healthz_idle_p50_ms": pct(idle_healthz, 50),
    }
    for kind in ("start", "page", "save", "submit", "healthz"):
        result[f"{kind}_p50_ms"] = pct(rec.times.get(kind, []), 50)
        result[f"{kind}_p95_ms"] = pct(rec.times.get(kind, []), 95)
    result["save_to_healthz_p50"] = result["save_p50_ms"] / result["healthz_p50_ms"]
    return result


def verify(url: str, instance: str, acked: list) -> tuple[int, int]:
    """Every acknowledged save must be in the database with the text the member sent."""
    from sqlalchemy import func, select

    from school import create_app
    from school.exams.models import Answer, Attempt
    from school.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance})
    with app.app_context():
        stored = {(a.attempt_id, a.question_id): (a.response or {}).get("text")
                  for a in db.session.scalars(select(Answer))}
        finished = db.session.scalar(select(func.count()).select_from(Attempt).where(Attempt.state == "finished"))
        db.engine.dispose()
    lost = sum(1 for attempt_id, qid, text in acked if stored.get((attempt_id, qid)) != text)
    return lost, finished


def pg_schema_url(base: str):
    from sqlalchemy import create_engine, text

    from school.config import normalise_database_url

    url = normalise_database_url(base)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS exam_spike CASCADE"))
        conn.execute(text("CREATE SCHEMA exam_spike"))
    sep = "&" if "?" in url else "?"
    return engine, f"{url}{sep}options=-csearch_path%3Dexam_spike"


def main():
    parser = argparse.ArgumentParser(description="考试压测：多名党员同时开考、保存答案、交卷")
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--window", type=float, default=10.0, help="members start within this many seconds")
    parser.add_argument("--think", type=float, default=0.25, help="mean pause between two saves (s)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--pg", default=os.environ.get("SCHOOL_BENCH_PG_URL", ""),
                        help="PostgreSQL database for the second run (a schema exam_spike is used and dropped)")
    args = parser.parse_args()
    args.members, args.saves = min(args.members, 1000), min(args.saves, 100)  # bounded load
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run("SQLite", f"sqlite:///{tmp}/spike.db", args))
    if args.pg:
        from sqlalchemy import text

        engine, url = pg_schema_url(args.pg)
        try:
            results.append(run("PostgreSQL", url, args))
        finally:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS exam_spike CASCADE"))
            engine.dispose()
    print(f"\n{args.members} members × {args.saves} saves + submit, starts spread over {args.window:g} s, "
          f"think {args.think:g} s, gunicorn gthread {args.workers}×{args.threads}")
    header = ("db", "rps", "start p50/p95", "save p50/p95", "submit p50/p95", "healthz p50/p95", "save/healthz",
              "acked", "lost", "finished", "errors")
    print(" | ".join(header))
    for r in results:
        print(" | ".join([
            r["db"], f"{r['rps']:.0f}", f"{r['start_p50_ms']:.0f}/{r['start_p95_ms']:.0f} ms",
            f"{r['save_p50_ms']:.0f}/{r['save_p95_ms']:.0f} ms", f"{r['submit_p50_ms']:.0f}/{r['submit_p95_ms']:.0f} ms",
            f"{r['healthz_p50_ms']:.0f}/{r['healthz_p95_ms']:.0f} ms", f"{r['save_to_healthz_p50']:.1f}×",
            str(r["acked_saves"]), str(r["lost_saves"]), str(r["finished_attempts"]),
            json.dumps(r["errors"], ensure_ascii=False) if r["errors"] else "0"]))
    print(json.dumps(results, ensure_ascii=False, indent=1))
    if any(r["lost_saves"] or r["errors"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
