"""Exam spike: 300 members start one exam within 10 s, each saves 20 choice answers and a
written answer (论述题, growing to 2,000 characters, autosaved every few seconds) and submits.

Runs the real site under gunicorn (gthread) on 127.0.0.1, first on SQLite and then on
PostgreSQL, and prints throughput, p50/p95 latencies of start/save (choice and written
separately)/submit, the latency of a trivial endpoint (/healthz) measured on the same server
during the same spike (the baseline), how many acknowledged saves are missing from the
database ("lost") and, separately, the errors a member's phone would have seen.

    .venv/bin/python bench/exam_spike.py --pg postgresql://postgres@127.0.0.1:5432/school_exams
    .venv/bin/python bench/exam_spike.py --members 100 --kill-worker   # SIGKILL a worker mid-spike
    .venv/bin/python bench/exam_spike.py --think 3 --rounds 4 \
        --pg postgresql://postgres@127.0.0.1:5432/school_exams   # both databases four times, A B B A A B B A
    .venv/bin/python bench/exam_spike.py --two-nodes --workers 1 --members 1000 --think 10 \
        --pg postgresql://postgres@127.0.0.1:5432/school_exams   # two gunicorn nodes behind nginx

The client never retries on its own: a reset connection is an error the member sees (the
page keeps the answer in its journal and sends it again with the next autosave, which the
client does too). "Lost" means an answer the server acknowledged (200, listed in ``saved``)
that is not in the database at the end — a later revision of it counts as kept.

Each request kind's SQL statements per request (the server's X-Statements header) are reported too.

With ``--rounds N`` both databases run N times in the order A B, B A, A B …, and each request
kind's p95 is also taken over all of a database's samples together (``pooled_comparison``):
a run's p95 of 300 starts is its 15th slowest start, and one burst of the host's load in one
run moves it more than anything the code does.

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
from bench import cpugroups  # noqa: E402

PASSWORD = "Bench-Passw0rd"
WRITTEN_MAX = 5000
ESSAY_PARAGRAPH = ("全心全意为人民服务是我们党的根本宗旨，要求每一名党员在本职岗位上把群众的冷暖放在心上，"
                   "从群众最关心最直接最现实的利益问题入手，办实事、解难题，做到问需于民、问计于民。")


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
    from school.exams.models import Exam, Question, written_data
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
        options = [{"text": t, "weight": 100 if t == "1921" else 0} for t in ("1919", "1921", "1927", "1949")]
        bank = [Question(qtype="single", stem=f"第 {i + 1} 题：中国共产党成立于哪一年？", data={"options": options})
                for i in range(questions)]
        bank.append(Question(qtype="essay", stem="论述题：结合本职工作，谈谈如何践行全心全意为人民服务的根本宗旨。",
                             points=20, data=written_data("essay", max_length=WRITTEN_MAX)))
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
        self.statements = None  # X-Statements of the last response (SCHOOL_COUNT_STATEMENTS=1)

    def request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        try:
            self.conn.request(method, path, body=body, headers=headers)
            self.statements = None
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            # No silent retry: a phone sees this error too. The next request opens a new connection.
            self.conn.close()
            raise
        counted = response.getheader("X-Statements")
        self.statements = int(counted) if counted and counted.isdigit() else None
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


MEMBER_KINDS = ("start", "page", "save_choice", "save_written", "submit")


class Recorder:
    """Latencies per kind; errors per kind and cause: ``连接错误`` (reset, refused, timed out:
    what a phone sees when a worker dies), ``5xx`` and other refusals (``save_choice 409``)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.statements: dict[str, list[int]] = {}  # SQL statements per request, by kind
        self.sent: dict[str, list[tuple[float, float]]] = {}  # (sent at, seconds) per kind

    def add(self, kind: str, seconds: float, status: int, ok: bool = True, statements: int | None = None):
        with self.lock:
            if status:  # a failed connection has no latency worth counting
                self.times.setdefault(kind, []).append(seconds)
                self.sent.setdefault(kind, []).append((time.perf_counter() - seconds, seconds))
            if statements is not None:
                self.statements.setdefault(kind, []).append(statements)
            if ok:
                return
            cause = "连接错误" if status == 0 else ("5xx" if status >= 500 else str(status))
            key = f"{kind} {cause}"
            self.errors[key] = self.errors.get(key, 0) + 1

    def client_errors(self) -> int:
        """Errors a member's phone saw (the /healthz probe is not a member)."""
        return sum(n for key, n in self.errors.items() if key.split(" ", 1)[0] in MEMBER_KINDS)


def essay_text(length: int) -> str:
    return (ESSAY_PARAGRAPH * (length // len(ESSAY_PARAGRAPH) + 1))[:length]


class Journey:
    """One member's answers as the page keeps them: each save sends what is not yet
    acknowledged (the offline journal), so an answer whose request failed goes again with the
    next autosave; ``acked`` keeps the newest acknowledged revision of each question."""

    def __init__(self, client: Client, attempt_id: int, rec: Recorder):
        self.client, self.attempt_id, self.rec = client, attempt_id, rec
        self.pending: dict[int, tuple[dict, int]] = {}
        self.acked: dict[int, tuple[int, dict]] = {}
        self.rev = 0

    def save(self, kind: str, qid: int, response: dict) -> None:
        self.rev += 1
        self.pending[qid] = (response, self.rev)
        sent = dict(self.pending)
        body = json.dumps({"answers": [{"question": q, "response": r, "rev": rev} for q, (r, rev) in sent.items()]})
        headers = {"Content-Type": "application/json", "X-CSRFToken": self.client.csrf, "Accept": "application/json"}
        t0 = time.perf_counter()
        try:
            status, data = self.client.request("POST", f"/exams/attempts/{self.attempt_id}/answers", body, headers)
        except (OSError, http.client.HTTPException):
            status, data = 0, b""
        saved = set()
        if status == 200:
            try:
                saved = set(json.loads(data).get("saved", []))
            except ValueError:
                pass
        self.rec.add(kind, time.perf_counter() - t0, status, status == 200 and qid in saved,
                     self.client.statements if status else None)
        for q in saved & set(sent):
            self.acked[q] = (sent[q][1], sent[q][0])
            if self.pending.get(q, (None, None))[1] == sent[q][1]:
                del self.pending[q]


def member_journey(client: Client, exam_id: int, args, rec: Recorder, acked: list, rng):
    t0 = time.perf_counter()
    try:
        status, _ = client.request("POST", f"/exams/{exam_id}/start", urlencode({"csrf_token": client.csrf}),
                                   {"Content-Type": "application/x-www-form-urlencoded"})
    except (OSError, http.client.HTTPException):
        status = 0
    rec.add("start", time.perf_counter() - t0, status, status == 302, client.statements if status else None)
    page = b""
    for _ in range(3):  # the member taps again after an error: the exam page shows the resume link
        try:
            status, page = client.request("GET", f"/exams/{exam_id}")
        except (OSError, http.client.HTTPException):
            rec.add("page", 0, 0, False)
            time.sleep(1)
            continue
        match = re.search(rb'/exams/attempts/(\d+)"', page)
        if match:
            break
        if b"/start" in page:  # not started (the start request died): start again
            try:
                client.request("POST", f"/exams/{exam_id}/start", urlencode({"csrf_token": client.csrf}),
                               {"Content-Type": "application/x-www-form-urlencoded"})
            except (OSError, http.client.HTTPException):
                rec.add("start", 0, 0, False)
    else:
        rec.add("start", 0, status or 0, False)
        return
    attempt_id = int(match.group(1))
    for _ in range(3):  # an error page: the member reloads it
        t0 = time.perf_counter()
        try:
            status, page = client.request("GET", f"/exams/attempts/{attempt_id}")
        except (OSError, http.client.HTTPException):
            status, page = 0, b""
        rec.add("page", time.perf_counter() - t0, status, status == 200, client.statements if status else None)
        if status == 200:
            break
        time.sleep(1)
    questions = [(int(q), t.decode()) for q, t in re.findall(rb'data-qid="(\d+)" data-qtype="(\w+)"', page)]
    choices = [q for q, t in questions if t == "single"][:args.saves]
    essays = [q for q, t in questions if t in ("essay", "short")]
    journey = Journey(client, attempt_id, rec)
    # The essay grows to --written-chars in --written-saves autosaves, one every --written-every
    # seconds, while the choice questions are answered in between.
    written_at = [time.perf_counter() + (i + 1) * args.written_every for i in range(args.written_saves if essays else 0)]
    for n, qid in enumerate(choices):
        time.sleep(rng.uniform(0, 2 * args.think))
        journey.save("save_choice", qid, {"choice": rng.randrange(4)})
        while written_at and time.perf_counter() >= written_at[0]:
            written_at.pop(0)
            done = args.written_saves - len(written_at)
            journey.save("save_written", essays[0], {"text": essay_text(args.written_chars * done // args.written_saves)})
    while written_at:
        time.sleep(max(0.0, written_at[0] - time.perf_counter()))
        written_at.pop(0)
        done = args.written_saves - len(written_at)
        journey.save("save_written", essays[0], {"text": essay_text(args.written_chars * done // args.written_saves)})
    if journey.pending:  # the page sends its journal once more before handing in
        qid = next(iter(journey.pending))
        journey.save("save_written" if qid in essays else "save_choice", qid, journey.pending[qid][0])
    acked.extend((attempt_id, qid, rev, response) for qid, (rev, response) in journey.acked.items())
    t0 = time.perf_counter()
    try:
        status, _ = client.request("POST", f"/exams/attempts/{attempt_id}/submit",
                                   urlencode({"csrf_token": client.csrf, "answers": "[]"}),
                                   {"Content-Type": "application/x-www-form-urlencoded"})
    except (OSError, http.client.HTTPException):
        status = 0
    rec.add("submit", time.perf_counter() - t0, status, status == 302, client.statements if status else None)


def baseline_probe(port: int, stop: threading.Event, rec: Recorder):
    client = Client(port)
    while not stop.is_set():
        t0 = time.perf_counter()
        try:
            status, _ = client.request("GET", "/healthz")
        except (OSError, http.client.HTTPException):
            status = 0
        rec.add("healthz", time.perf_counter() - t0, status, status == 200)
        time.sleep(0.05)


def cpu_ticks(groups: dict[int, str], database: str) -> dict[int, tuple[str, int, int]]:
    """pid → (what, CPU ticks used, start tick) of the processes in the process groups ``groups``
    (gunicorn nodes, nginx: started in sessions of their own) and of the PostgreSQL backends
    serving ``database`` on this host (their command line names the database)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        what = groups.get(int(fields[2]))  # the process group
        if what is None and command.startswith("postgres:") and f" {database} " in command:
            what = "postgres"
        if what:
            # utime+stime, and cutime+cstime: the workers gunicorn recycled (max_requests) and reaped
            found[int(entry.name)] = (what, sum(int(f) for f in fields[11:15]), int(fields[19]))
    return found


def cpu_used(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds per kind between two ``cpu_ticks``; a process started in between counts from 0."""
    used: dict[str, float] = {}
    for pid, (what, ticks, started) in after.items():
        was = before.get(pid)
        used[what] = used.get(what, 0.0) + (ticks - (was[1] if was and was[2] == started else 0)) / os.sysconf("SC_CLK_TCK")
    return used


def gunicorn_workers(arbiter: int) -> list[int]:
    """The worker processes of the gunicorn arbiter ``arbiter`` (its children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid …: comm may hold spaces, so split after its closing parenthesis.
        if int(stat.rsplit(")", 1)[1].split()[1]) == arbiter:
            found.append(int(entry.name))
    return sorted(found)


def kill_worker_later(arbiter: int, at: float, killed: list):
    """SIGKILL one gunicorn worker (never the arbiter) at ``at`` (perf_counter); the arbiter starts a new one."""
    time.sleep(max(0.0, at - time.perf_counter()))
    workers = gunicorn_workers(arbiter)
    if workers:
        os.kill(workers[0], signal.SIGKILL)
        killed.append(workers[0])


def machine_busy() -> tuple[float, float]:
    """CPU seconds the whole machine spent busy since boot (every process, every core), and of
    those the seconds the hypervisor took for other guests ("steal": on a shared host, a run
    with much steal had fewer cores than the figures suggest)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    per_second = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - ticks[3] - ticks[4]) / per_second, ticks[7] / per_second


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


class TwoNodes:
    """Production's shape on one machine: two gunicorn nodes (``deploy/gunicorn.conf.py``, an
    instance folder each, one media folder) behind Debian's nginx with the production locations
    and both as upstreams — the helpers of ``tests/deploy/stack.py``. Members talk to nginx."""

    def __init__(self, url: str, instance: str, args):
        from tests.deploy.stack import Gunicorn, Nginx, app_env

        root = Path(instance)
        shared = dict(SCHOOL_DATABASE_URL=url, SCHOOL_MEDIA_DIR=str(root / "media"), SCHOOL_COUNT_STATEMENTS="1",
                      SCHOOL_SEARCH_INDEX_DIR=str(root / "media" / "search-index"))
        if args.max_requests is not None:  # deploy/gunicorn.conf.py recycles a worker after 5,000 ± 500
            shared["SCHOOL_WEB_MAX_REQUESTS"] = str(args.max_requests)
        self.nodes, self.nginx = [], None
        try:
            for name in "ab":
                metrics = root / f"prometheus-{name}"  # as the unit does: /metrics sums the node's workers
                metrics.mkdir()
                env = app_env(root, SCHOOL_INSTANCE_PATH=str(root / f"node-{name}"),
                              PROMETHEUS_MULTIPROC_DIR=str(metrics), **shared)
                self.nodes.append(Gunicorn(env, root, workers=args.workers, threads=args.threads))
            # Every member keeps a connection to nginx, and each request in flight one to a node.
            self.nginx = Nginx(root / "nginx", [n.port for n in self.nodes], root / "static", root / "media",
                               connections=4 * args.members + 256, keepalive=16)
        except BaseException:
            self.stop()
            raise
        self.port = self.nginx.port

    def answered(self) -> list[int]:
        """Requests each node answered (its ``school_requests_total``, read on the node itself)."""
        counts = []
        for node in self.nodes:
            conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
            conn.close()
            counts.append(int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                                  if line.startswith("school_requests_total{"))))
        return counts

    def stop(self):
        if self.nginx is not None:
            self.nginx.stop()
        for node in self.nodes:
            node.stop()


def run(label: str, url: str, args) -> dict:
    instance = tempfile.mkdtemp(prefix="exam-spike-")
    exam_id, numbers = seed(url, instance, args.members, args.saves)
    site = server = cpu_groups = None
    if args.cgroups:
        # As systemd runs the units: the web server, PostgreSQL and the simulated members
        # (standing in for phones elsewhere) each in a CPU cgroup of its own (bench/cpugroups.py).
        cpu_groups = cpugroups.CpuGroups(["web", "db", "load"])
        cpu_groups.move("db", cpugroups.postgres_pids())
        cpu_groups.move("load", [os.getpid()])
    if args.two_nodes:
        site = TwoNodes(url, instance, args)
        port = site.port
    else:
        port = free_port()
        # deploy/gunicorn.conf.py (its hooks: the workers' gc.freeze()), with the spike's sizes on
        # the command line; SCHOOL_WEB_THREADS sizes the PostgreSQL pool as in production; every
        # response carries X-Statements (its SQL statement count). Workers are not recycled
        # unless --max-requests says so.
        env = dict(os.environ, SCHOOL_DATABASE_URL=url, SCHOOL_INSTANCE_PATH=instance, SCHOOL_SECRET_KEY="bench-secret",
                   SCHOOL_WEB_THREADS=str(args.threads), SCHOOL_COUNT_STATEMENTS="1",
                   SCHOOL_WEB_MAX_REQUESTS=str(args.max_requests or 0))
        env.pop("SCHOOL_REDIS_URL", None)
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"),
             "--worker-class", "gthread", "--workers", str(args.workers),
             "--threads", str(args.threads), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
             "--keep-alive", "30", "school:create_app()"], cwd=ROOT, env=env, start_new_session=True,
            preexec_fn=cpu_groups.preexec("web") if cpu_groups else None)
    killed: list[int] = []
    per_node: list[int] = []
    load_before = os.getloadavg()
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
        # Logging in 300 members takes longer than the server keeps an idle connection open
        # (--keep-alive 30): each member's phone opens a fresh one for the exam, as after a pause.
        for client in clients:
            client.conn.close()

        rec, acked = Recorder(), []
        stop = threading.Event()
        probe = threading.Thread(target=baseline_probe, args=(port, stop, rec))
        probe.start()
        time.sleep(1)
        idle_healthz = list(rec.times.get("healthz", []))
        rec.times["healthz"] = []
        rng = random.Random(5)
        offsets = sorted(rng.uniform(0, args.window) for _ in clients)
        groups = ({n.proc.pid: "gunicorn" for n in site.nodes} | {site.nginx.proc.pid: "nginx"} if site
                  else {server.pid: "gunicorn"})
        database = url.split("?", 1)[0].rsplit("/", 1)[-1]
        cpu_before, busy_before = cpu_ticks(groups, database), machine_busy()
        spike_started = time.perf_counter()
        if args.kill_worker:
            at = spike_started + (args.kill_at if args.kill_at is not None else args.window)
            killer = threading.Thread(target=kill_worker_later, args=(server.pid, at, killed))
            killer.start()

        def member(client, offset, seed_value):
            delay = spike_started + offset - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            member_journey(client, exam_id, args, rec, acked, random.Random(seed_value))

        threads = [threading.Thread(target=member, args=(c, o, i)) for i, (c, o) in enumerate(zip(clients, offsets))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - spike_started
        cpu = cpu_used(cpu_before, cpu_ticks(groups, database))
        busy, stolen = (after - before for after, before in zip(machine_busy(), busy_before))
        stop.set()
        probe.join()
        if args.kill_worker:
            killer.join()
        if site is not None:
            per_node = site.answered()
    finally:
        if site is not None:
            site.stop()
        else:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        if cpu_groups is not None:
            cpu_groups.close()
    load_after = os.getloadavg()

    lost, finished = verify(url, instance, acked)
    requests = sum(len(v) for k, v in rec.times.items() if k != "healthz")
    result = {
        "db": label, "members": len(numbers), "login_errors": len(with_errors), "login_s": login_seconds,
        "elapsed_s": elapsed, "requests": requests, "rps": requests / elapsed,
        "acked_answers": len(acked), "lost_saves": lost, "finished_attempts": finished,
        "client_errors": rec.client_errors(), "errors": dict(rec.errors), "killed_worker": killed,
        "healthz_idle_p50_ms": pct(idle_healthz, 50), "per_node": per_node,
        "load_1min_before_after": [round(load_before[0], 1), round(load_after[0], 1)],
        # During the spike: CPU ms per request of the web processes, of nginx and of the
        # PostgreSQL backends (SQLite works inside gunicorn); the machine's busy cores (all processes).
        "cpu_ms_per_request": {k: round(1000 * v / requests, 2) for k, v in sorted(cpu.items())},
        "machine_busy_cores": round(busy / elapsed, 2),
        "stolen_cores": round(stolen / elapsed, 2),
        "cgroups": bool(cpu_groups),
        "times": {k: v for k, v in rec.times.items() if k in MEMBER_KINDS},  # seconds; pooled by --rounds, not printed
    }
    for kind in MEMBER_KINDS + ("healthz",):
        result[f"{kind}_n"] = len(rec.times.get(kind, []))
        result[f"{kind}_p50_ms"] = pct(rec.times.get(kind, []), 50)
        result[f"{kind}_p95_ms"] = pct(rec.times.get(kind, []), 95)
        counted = rec.statements.get(kind, [])
        result[f"{kind}_statements"] = (f"{min(counted)}–{max(counted)}" if counted and min(counted) != max(counted)
                                        else str(counted[0]) if counted else "-")
    result["save_to_healthz_p50"] = result["save_choice_p50_ms"] / result["healthz_p50_ms"]
    # Once every member's attempt page has loaded, the starts' queue is gone: the saves sent
    # after that show the steady exam, apart from the spike of starts.
    loaded = max((at + seconds for at, seconds in rec.sent.get("page", [])), default=0.0)
    result["settled_after_s"] = loaded - spike_started if loaded else float("nan")
    for kind in ("save_choice", "save_written", "submit"):
        later = [seconds for at, seconds in rec.sent.get(kind, []) if at >= loaded]
        result[f"{kind}_settled_n"] = len(later)
        result[f"{kind}_settled_p50_ms"], result[f"{kind}_settled_p95_ms"] = pct(later, 50), pct(later, 95)
    return result


def verify(url: str, instance: str, acked: list) -> tuple[int, int]:
    """Every acknowledged answer must be in the database at its revision or a later one (a save
    whose acknowledgement was lost with a killed worker may have landed); at the same revision
    with exactly what the member sent."""
    from sqlalchemy import func, select

    from school import create_app
    from school.exams.models import Answer, Attempt
    from school.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance})
    with app.app_context():
        stored = {(a.attempt_id, a.question_id): (a.client_rev or 0, a.response)
                  for a in db.session.scalars(select(Answer))}
        finished = db.session.scalar(select(func.count()).select_from(Attempt).where(Attempt.state == "finished"))
        db.engine.dispose()
    lost = 0
    for attempt_id, qid, rev, response in acked:
        have = stored.get((attempt_id, qid))
        if have is None or have[0] < rev:
            lost += 1
        elif have[0] == rev and "text" in response and (have[1] or {}).get("text") != response["text"]:
            lost += 1
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


def database_url(pg: str, instance: str) -> str:
    """The in-process benches' database: PostgreSQL's ``exam_spike`` schema (made afresh) when
    ``pg`` is given, else a SQLite file in ``instance``."""
    if not pg:
        return f"sqlite:///{instance}/bench.db"
    engine, url = pg_schema_url(pg)
    engine.dispose()
    return url


def one_run(label: str, args) -> dict:
    if label == "SQLite":
        with tempfile.TemporaryDirectory() as tmp:
            return run("SQLite", f"sqlite:///{tmp}/spike.db", args)
    from sqlalchemy import text

    engine, url = pg_schema_url(args.pg)
    try:
        return run("PostgreSQL", url, args)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS exam_spike CASCADE"))
        engine.dispose()


def pooled_comparison(results: list[dict], times: list[dict]) -> dict:
    """Both databases over every round: p50/p95 of all their samples together (a run's p95 of
    300 starts is its 15th slowest, and one burst of the host's load moves it), PostgreSQL's
    pooled p95 ÷ SQLite's, and each round's own ratio beside it."""
    samples: dict[str, dict[str, list[float]]] = {}
    for result, kinds in zip(results, times):
        for kind, values in kinds.items():
            samples.setdefault(result["db"], {}).setdefault(kind, []).extend(values)
    by_round: dict[int, dict[str, dict]] = {}
    for result in results:
        by_round.setdefault(result["round"], {})[result["db"]] = result
    pooled = {"db": "pooled", "rounds": len(by_round)}
    for kind in MEMBER_KINDS:
        for db, key in (("SQLite", "sqlite"), ("PostgreSQL", "pg")):
            values = samples.get(db, {}).get(kind, [])
            pooled[f"{kind}_{key}_n"] = len(values)
            pooled[f"{kind}_{key}_p50_ms"], pooled[f"{kind}_{key}_p95_ms"] = pct(values, 50), pct(values, 95)
        pooled[f"{kind}_p95_ratio"] = pooled[f"{kind}_pg_p95_ms"] / pooled[f"{kind}_sqlite_p95_ms"]
        pooled[f"{kind}_round_ratios"] = [round(pair["PostgreSQL"][f"{kind}_p95_ms"] / pair["SQLite"][f"{kind}_p95_ms"], 2)
                                          for _, pair in sorted(by_round.items()) if len(pair) == 2]
    pooled["max_p95_ratio"] = max(pooled[f"{kind}_p95_ratio"] for kind in MEMBER_KINDS)
    pooled["rounds_within_1_5"] = sum(
        all(pooled[f"{kind}_round_ratios"][i] <= 1.5 for kind in MEMBER_KINDS)
        for i in range(len(pooled["start_round_ratios"])))
    return pooled


def print_pooled(pooled: dict) -> None:
    print(f"\n{pooled['rounds']} rounds pooled | SQLite p50/p95 | PostgreSQL p50/p95 | PG ÷ SQLite p95 | each round's ÷")
    for kind in MEMBER_KINDS:
        print(" | ".join([
            kind, f"{pooled[kind + '_sqlite_p50_ms']:.0f}/{pooled[kind + '_sqlite_p95_ms']:.0f} ms",
            f"{pooled[kind + '_pg_p50_ms']:.0f}/{pooled[kind + '_pg_p95_ms']:.0f} ms",
            f"{pooled[kind + '_p95_ratio']:.2f}", " ".join(f"{r:.2f}" for r in pooled[kind + "_round_ratios"])]))
    print(f"largest pooled ratio {pooled['max_p95_ratio']:.2f}; rounds with every ratio ≤ 1.5: "
          f"{pooled['rounds_within_1_5']} of {len(pooled['start_round_ratios'])}")


def main():
    parser = argparse.ArgumentParser(description="考试压测：多名党员同时开考、保存答案（含论述题）、交卷")
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--saves", type=int, default=20, help="choice questions answered per member")
    parser.add_argument("--window", type=float, default=10.0, help="members start within this many seconds")
    parser.add_argument("--think", type=float, default=0.25, help="mean pause between two choice saves (s)")
    parser.add_argument("--written-chars", type=int, default=2000, help="length of the written answer at the end")
    parser.add_argument("--written-saves", type=int, default=5, help="autosaves of the growing written answer")
    parser.add_argument("--written-every", type=float, default=3.0, help="seconds between two written autosaves")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--kill-worker", action="store_true",
                        help="SIGKILL one gunicorn worker (not the arbiter) mid-spike")
    parser.add_argument("--kill-at", type=float, default=None,
                        help="seconds after the spike starts to kill the worker (default: --window)")
    parser.add_argument("--two-nodes", action="store_true",
                        help="two gunicorn nodes (--workers × --threads each) behind nginx on PostgreSQL "
                             "(needs --pg and Debian's nginx; implies --no-sqlite)")
    parser.add_argument("--max-requests", type=int, default=None,
                        help="SCHOOL_WEB_MAX_REQUESTS of the gunicorn workers (0: never recycle a worker; "
                             "default: never on one node, deploy/gunicorn.conf.py's on two)")
    parser.add_argument("--cgroups", action="store_true",
                        help="the web server, PostgreSQL and the load generator each in a CPU cgroup of its "
                             "own, equal weights, as systemd runs the units (needs root; bench/cpugroups.py)")
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True, help="run on SQLite")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run both databases this many times, in the order A B, B A, …, and compare "
                             "their p95 over all rounds' samples together")
    parser.add_argument("--pause", type=float, default=25.0, help="seconds between two runs")
    parser.add_argument("--pg", default=os.environ.get("SCHOOL_BENCH_PG_URL", ""),
                        help="PostgreSQL database for the second run (a schema exam_spike is used and dropped)")
    args = parser.parse_args()
    args.members, args.saves = min(args.members, 1000), min(args.saves, 100)  # bounded load
    args.written_saves = max(1, min(args.written_saves, 100))
    args.written_chars = max(1, min(args.written_chars, WRITTEN_MAX))
    args.rounds = max(1, min(args.rounds, 10))
    if args.cgroups and (args.two_nodes or not cpugroups.available()):
        parser.error("--cgroups needs root and the CPU cgroup controller, and one node")
    if args.two_nodes:
        if not args.pg or args.kill_worker:
            parser.error("--two-nodes needs --pg (one database for both nodes) and does not take --kill-worker")
        args.sqlite = False
    runs = []
    if args.sqlite:
        runs.append("SQLite")
    if args.pg:
        runs.append("PostgreSQL")
    results = []
    for number in range(args.rounds):
        # Rounds in the order A B, B A, A B …: the host's load drifts, and neither database
        # always runs first, last or after the other.
        for label in (runs if number % 2 == 0 else runs[::-1]):
            if results:
                time.sleep(args.pause)  # the last run's backends, checkpoint and autovacuum settle
            results.append(one_run(label, args))
            results[-1]["round"] = number + 1
    times = [r.pop("times") for r in results]
    print(f"\n{args.members} members × ({args.saves} choice saves + a written answer growing to "
          f"{args.written_chars} characters in {args.written_saves} autosaves every {args.written_every:g} s) + submit, "
          f"starts spread over {args.window:g} s, think {args.think:g} s, "
          f"gunicorn gthread {args.workers}×{args.threads}" + (" on each of two nodes behind nginx" if args.two_nodes else "")
          + ("，中途 SIGKILL 一个 worker" if args.kill_worker else ""))
    header = ("db", "rps", "start p50/p95", "attempt page p50/p95", "choice save p50/p95", "written save p50/p95", "submit p50/p95",
              "healthz p50/p95", "acked", "lost", "finished", "client errors", "killed",
              "statements start/page/save/submit", "per node", "load 1 min before/after",
              "after all pages loaded (s): choice/written save p50/p95", "CPU ms/request", "busy cores", "stolen")

    def ms(r, kind):
        return f"{r[kind + '_p50_ms']:.0f}/{r[kind + '_p95_ms']:.0f} ms"

    print(" | ".join(header))
    for r in results:
        print(" | ".join([
            r["db"] + (f" #{r['round']}" if args.rounds > 1 else ""), f"{r['rps']:.0f}", ms(r, "start"), ms(r, "page"),
            ms(r, "save_choice"), ms(r, "save_written"), ms(r, "submit"),
            ms(r, "healthz"), str(r["acked_answers"]), str(r["lost_saves"]), f"{r['finished_attempts']}/{r['members']}",
            (f"{r['client_errors']} " + json.dumps(r["errors"], ensure_ascii=False)) if r["errors"] else "0",
            ",".join(map(str, r["killed_worker"])) or "-",
            "/".join(r[f"{k}_statements"] for k in ("start", "page", "save_choice", "submit")),
            "/".join(map(str, r["per_node"])) or "-", "/".join(map(str, r["load_1min_before_after"])),
            f"{r['settled_after_s']:.0f}: {ms(r, 'save_choice_settled')}, {ms(r, 'save_written_settled')}",
            ", ".join(f"{k} {v}" for k, v in r["cpu_ms_per_request"].items()), str(r["machine_busy_cores"]), str(r["stolen_cores"])]))
    pooled = pooled_comparison(results, times) if args.rounds > 1 and len(runs) == 2 else None
    if pooled:
        print_pooled(pooled)
    print(json.dumps(results + ([pooled] if pooled else []), ensure_ascii=False, indent=1))
    # Lost answers always fail the run; errors only when no worker was killed on purpose.
    if any(r["lost_saves"] or (r["errors"] and not args.kill_worker) for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
