"""Throughput of the library's search page over HTTP, as a ratio to ``/healthz`` in the same run.

    .venv/bin/python -u bench/search_http.py [--corpus ../shared/corpus/laws] [--work DIR]
        [--concurrency 1,8,32] [--seconds 10] [--cache both|on|off] [--before DIR]

Imports the law corpus into a fresh SQLite database (as ``bench/relevance.py`` does, with
``school library import``'s code, which builds the index), adds members, then for each server:
starts the site under gunicorn (gthread, 2 workers × 8 threads) on a free port of 127.0.0.1,
logs members in (one session per client; argon2 is slow on purpose and not part of the run),
warms every thread up with the whole query set, and for each concurrency drives ``/healthz``
and then ``/library/search`` for ``--seconds`` each, with as many clients as the concurrency
(keep-alive connections, no pause). The search requests cycle through every query of
``bench/relevance/queries.tsv`` (keywords, questions, short forms, article look-ups,
traditional characters, pinyin), some with a second page, a date sort or a year filter.

Servers, one after the other in the same run and on the same database:

* ``--before DIR``: the code of another checkout (e.g. ``git worktree add /tmp/before main``),
  with its page cache off too under ``--cache off``;
* this checkout with the page cache off (``SCHOOL_SEARCH_PAGES_KEPT=0``): every page is
  computed, as for a query asked for the first time (``--cache off`` or ``both``);
* this checkout with the page cache on: after the warm-up every query of the set has been
  asked before, so these are repeated queries (``--cache on`` or ``both``).

For each it prints pages/s, p50/p95 and the ratio search pages/s ÷ healthz/s at the same
concurrency (the machine is shared: the ratio is what compares runs; healthz and search
alternate in ``--rounds`` short rounds so that the other load falls on both alike), and the
CPU time the gunicorn workers spent per page and per healthz (from /proc), whose ratio is the
steadier figure when other jobs share the cores. The load generator runs on the same machine,
only against 127.0.0.1, and stops by itself.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from exam_spike import PASSWORD, Client, free_port, pct  # noqa: E402
from relevance import load_queries  # noqa: E402

WORKERS, THREADS = 2, 8


def default_corpus() -> Path:
    env = os.environ.get("SCHOOL_CORPUS_DIR")
    default = Path(env) / "laws" if env else ROOT.parent / "shared" / "corpus" / "laws"
    return default if default.is_dir() else Path("/work/shared/corpus/laws")


def prepare(work: Path, corpus: Path, members: int) -> list[str]:
    """The database (migrated), the corpus imported with its index, and ``members`` members."""
    from flask_migrate import upgrade
    from sqlalchemy import select

    from school import create_app
    from school.accounts.auth import hash_password
    from school.accounts.models import User
    from school.accounts.orgs import create_org
    from school.extensions import db
    from school.library import importer
    from school.timeutil import utcnow

    numbers = [f"S{i:05d}" for i in range(members)]
    app = create_app(config_of(work))
    with app.app_context():
        if not (work / "bench.db").exists():
            upgrade()
            started = time.perf_counter()
            report = importer.import_tree(corpus, "law", None, utcnow())
            print(f"导入：{report.created} 篇，失败 {len(report.failed)}，用时 {time.perf_counter() - started:.1f} s")
            org = create_org("检索压测党支部", "branch", None)
            db.session.commit()
        else:
            from school.accounts.models import Organisation
            org = db.session.scalars(select(Organisation).where(Organisation.name == "检索压测党支部")).first()
        have = set(db.session.scalars(select(User.member_no).where(User.member_no.in_(numbers))))
        hashed = hash_password(PASSWORD)
        db.session.add_all(User(name=f"检索{n}", member_no=n, org=org, password_hash=hashed)
                           for n in numbers if n not in have)
        db.session.commit()
        db.engine.dispose()
    return numbers


def config_of(work: Path) -> dict:
    return {"INSTANCE_PATH": str(work), "SECRET_KEY": "bench-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{work / 'bench.db'}",
            "SEARCH_INDEX_DIR": str(work / "search-index")}


def page_args(queries: list[str]) -> list[dict]:
    """Every query of the set as search page arguments; some on page 2, by date, or from a year
    (also ``bench/search_cpu.py``'s pages)."""
    out = []
    for i, q in enumerate(queries):
        args = {"q": q}
        if i % 7 == 3:
            args["page"] = 2
        if i % 11 == 5:
            args["sort"] = "date"
        if i % 13 == 6:
            args["year_from"] = 2000
        out.append(args)
    return out


def requests_of(queries: list[str]) -> list[str]:
    """Every query of the set as a search page URL (``page_args``)."""
    return ["/library/search?" + urlencode(args) for args in page_args(queries)]


def server_cpu(master: int) -> float:
    """CPU seconds used so far by the gunicorn workers (the master's children): on a shared
    machine, CPU time per request is steadier than requests per second."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return 0.0
    total = 0
    for pid in children:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def drive(clients: list[Client], paths: list[str], seconds: float, check: bytes | None, master: int = 0) -> dict:
    """Each client requests the next path, again and again, for ``seconds``; raw figures."""
    counter = itertools.count()
    lock = threading.Lock()
    times: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + seconds

    def loop(client: Client):
        while time.perf_counter() < deadline:
            path = paths[next(counter) % len(paths)]
            t0 = time.perf_counter()
            try:
                status, body = client.request("GET", path)
            except OSError as exc:
                status, body = 0, repr(exc).encode()
            took = time.perf_counter() - t0
            ok = status == 200 and (check is None or check in body)
            with lock:
                times.append(took)
                if not ok:
                    errors[str(status)] = errors.get(str(status), 0) + 1

    cpu = server_cpu(master) if master else 0.0
    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"times": times, "elapsed": elapsed, "errors": errors,
            "cpu": (server_cpu(master) - cpu) if master else 0.0}


def summary(runs: list[dict]) -> dict:
    times = [t for r in runs for t in r["times"]]
    elapsed = sum(r["elapsed"] for r in runs)
    cpu = sum(r["cpu"] for r in runs)
    errors: dict[str, int] = {}
    for r in runs:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {"requests": len(times), "per_s": len(times) / elapsed, "p50_ms": pct(times, 50),
            "p95_ms": pct(times, 95), "cpu_ms": 1000 * cpu / max(1, len(times)), "errors": errors}


def serve(label: str, code: Path, work: Path, numbers: list[str], paths: list[str], args,
          env_extra: dict, warm_passes: int) -> dict:
    port = free_port()
    env = dict(os.environ, SCHOOL_DATABASE_URL=f"sqlite:///{work / 'bench.db'}", SCHOOL_INSTANCE_PATH=str(work),
               SCHOOL_SECRET_KEY="bench-secret", SCHOOL_SEARCH_INDEX_DIR=str(work / "search-index"),
               SCHOOL_LOG_REQUESTS="0", PYTHONPATH=str(code), **env_extra)
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--worker-class", "gthread", "--workers", str(WORKERS),
         "--threads", str(THREADS), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         "--keep-alive", "30", "school:create_app()"], cwd=code, env=env, start_new_session=True)
    result = {"server": label, "code": str(code), **env_extra, "levels": {}}
    try:
        for _ in range(150):
            try:
                if Client(port).request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        clients = [Client(port) for _ in range(max(max(args.concurrency), WORKERS * THREADS))]
        for client, number in zip(clients, itertools.cycle(numbers)):
            client.login(number)
        # Warm-up, not measured: every thread of both workers opens its searcher, and (cache on)
        # every page of the set is asked once, so the measured search requests are repeats.
        # With the cache on, enough passes that each worker has (almost surely) computed each
        # page once: a request goes to either worker.
        for _ in range(warm_passes):
            drive_all(clients, paths)
        check = "找到".encode()  # a results page, not the login form
        for concurrency in args.concurrency:
            chosen = clients[:concurrency]
            # healthz and search alternate in short rounds, so a change in the machine's other
            # load falls on both alike.
            health_runs, search_runs = [], []
            for _ in range(args.rounds):
                health_runs.append(drive(chosen, ["/healthz"], args.seconds / args.rounds, None, server.pid))
                search_runs.append(drive(chosen, paths, args.seconds / args.rounds, check, server.pid))
            health, search = summary(health_runs), summary(search_runs)
            level = {"healthz": health, "search": search, "ratio": search["per_s"] / health["per_s"],
                     "cpu_ratio": health["cpu_ms"] / search["cpu_ms"] if search["cpu_ms"] else float("nan")}
            result["levels"][concurrency] = level
            print(f"  [{label}] {concurrency:>2} 并发：搜索 {search['per_s']:.1f} 页/秒，p50/p95 "
                  f"{search['p50_ms']:.0f}/{search['p95_ms']:.0f} ms，服务器 CPU {search['cpu_ms']:.1f} ms/页；"
                  f"healthz {health['per_s']:.0f}/秒，p50/p95 {health['p50_ms']:.1f}/{health['p95_ms']:.1f} ms，"
                  f"CPU {health['cpu_ms']:.2f} ms/次；之比 {level['ratio']:.3f}（按 CPU {level['cpu_ratio']:.3f}）"
                  + (f"；错误 {search['errors']}" if search["errors"] else ""), flush=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    return result


def drive_all(clients: list[Client], paths: list[str]) -> None:
    """Every path once, spread over all clients at once."""
    lock, queue = threading.Lock(), list(paths)

    def loop(client: Client):
        while True:
            with lock:
                if not queue:
                    return
                path = queue.pop()
            client.request("GET", path)

    threads = [threading.Thread(target=loop, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus())
    parser.add_argument("--work", type=Path, help="keep the database and index here between runs")
    parser.add_argument("--concurrency", default="1,8,32", help="clients at once, comma-separated (max 64)")
    parser.add_argument("--seconds", type=float, default=10.0, help="each measurement (max 120)")
    parser.add_argument("--rounds", type=int, default=4, help="healthz and search alternate this many times")
    parser.add_argument("--cache", choices=("both", "on", "off"), default="both",
                        help="this checkout with the page cache on (repeated queries), off (first-time), or both")
    parser.add_argument("--before", type=Path, help="also run the code of this checkout first (the baseline)")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    args.concurrency = sorted({max(1, min(64, int(c))) for c in args.concurrency.split(",")})
    args.seconds = max(1.0, min(120.0, args.seconds))  # bounded load
    args.rounds = max(1, min(20, args.rounds))
    if not args.corpus.is_dir():
        sys.exit(f"找不到语料目录：{args.corpus}")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-search-http-"))
    work.mkdir(parents=True, exist_ok=True)
    numbers = prepare(work, args.corpus, max(max(args.concurrency), WORKERS * THREADS))
    paths = requests_of([q for _, q, _ in load_queries()])
    print(f"查询集：{len(paths)} 个搜索页；gunicorn gthread {WORKERS}×{THREADS}；每项 {args.seconds:g} s", flush=True)
    servers = []
    if args.before:
        # With --cache off the code before runs with its page cache off too (if it has one):
        # both servers then compute every page, as for queries asked for the first time.
        before_env = {"SCHOOL_SEARCH_PAGES_KEPT": "0"} if args.cache == "off" else {}
        servers.append(("之前" + ("（缓存关）" if before_env else ""), args.before.resolve(), before_env, 2))
    if args.cache in ("both", "off"):
        servers.append(("缓存关（首次查询）", ROOT, {"SCHOOL_SEARCH_PAGES_KEPT": "0"}, 2))
    if args.cache in ("both", "on"):
        servers.append(("缓存开（重复查询）", ROOT, {}, 6))
    results = [serve(label, code, work, numbers, paths, args, extra, passes) for label, code, extra, passes in servers]
    print("\n| 服务器 | 并发 | 搜索 页/秒 | p50 / p95 ms | healthz 次/秒 | 之比 搜索/healthz | 服务器 CPU ms/页 | CPU ms/healthz | 按 CPU 之比 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        for concurrency, level in r["levels"].items():
            s, h = level["search"], level["healthz"]
            print(f"| {r['server']} | {concurrency} | {s['per_s']:.1f} | {s['p50_ms']:.0f} / {s['p95_ms']:.0f} | "
                  f"{h['per_s']:.0f} | {level['ratio']:.3f} | {s['cpu_ms']:.1f} | {h['cpu_ms']:.2f} | {level['cpu_ratio']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    if any(level["search"]["errors"] for r in results for level in r["levels"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
