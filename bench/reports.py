"""Benchmark for branch reports (issue 6).

Generates a four-level tree of about 3,000 organisations, 100,000 members and 2 million
ledger rows, on SQLite and on PostgreSQL, then measures in one run:

* the root report (``reports.org_report``) against the bare aggregate SQL (baseline),
* one branch report page (a real HTTP request through the app, as an admin),
* the XLSX export of the root against the bare member-level SQL,
* the export's peak Python memory (tracemalloc) for a small branch and for the root,
  to show it does not grow with the number of rows.

Since issue 17 item 7 the year's hours come from ``credit_year_summary`` (filled by the
ledger's trigger while the rows are loaded). The run also gives the bare SQL over the
summary, the root report without the metric columns and summed from the ledger as before
(``--before``), and the time of ``school credits rebuild-summary`` (a check of a correct
summary, and a fill from nothing).

    .venv/bin/python bench/reports.py                                   # SQLite
    .venv/bin/python bench/reports.py --pg postgresql://postgres@127.0.0.1:5432/school_reports
    .venv/bin/python bench/reports.py --export-only --keep /tmp/bench-reports.db   # the export only, data kept

``--export-only`` measures only the root XLSX export against its two bare member SQLs, round by
round (medians), and the export's peak memory. ``--keep`` keeps the generated data (SQLite: that
file; PostgreSQL: the schema) and reuses it on the next run, so code before and after a change
can be timed on the same rows.

Generation uses executemany (SQLite) or COPY (PostgreSQL); on PostgreSQL the data goes to a
schema of its own (``bench_reports``), dropped afterwards.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import tracemalloc
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from school import create_app  # noqa: E402
from school.config import normalise_database_url  # noqa: E402
from school.extensions import db  # noqa: E402

YEAR = 2026
CATEGORIES = ["full"] * 8 + ["probationary", "committee", "cadre"]


def build_tree(levels=(15, 14, 13)):
    """Rows (id, parent_id, name, kind, path): 1 + 15 + 210 + 2730 = 2956 organisations."""
    rows, next_id = [(1, None, "县委", "committee", "/1/")], 2
    frontier = [(1, "/1/")]
    kinds = ["committee", "general_branch", "branch"]
    for depth, fan in enumerate(levels):
        new = []
        for parent_id, path in frontier:
            for i in range(fan):
                org_path = f"{path}{next_id}/"
                rows.append((next_id, parent_id, f"组织{next_id}", kinds[depth], org_path))
                new.append((next_id, org_path))
                next_id += 1
        frontier = new
    return rows, [org_id for org_id, _ in frontier]


def generate(engine, members: int, entries: int, seed: int = 6) -> dict:
    rnd = random.Random(seed)
    orgs, leaves = build_tree()
    now = datetime(2026, 6, 1)
    users = []
    for uid in range(1, members + 1):
        org_id = rnd.choice(leaves) if rnd.random() < 0.97 else rnd.randint(2, 226)
        users.append(dict(id=uid, name=f"党员{uid}", member_no=f"B{uid:07d}", role="member", org_id=org_id,
                          category=rnd.choice(CATEGORIES), is_floating=rnd.random() < 0.05, active=True,
                          large_text=False, created_at=now))
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO organisation (id, parent_id, name, kind, path, created_at) "
                          "VALUES (:id, :parent_id, :name, :kind, :path, :created_at)"),
                     [dict(id=i, parent_id=p, name=n, kind=k, path=path, created_at=now) for i, p, n, k, path in orgs])
        conn.execute(text("INSERT INTO users (id, name, member_no, role, org_id, category, is_floating, active, "
                          "large_text, created_at) VALUES (:id, :name, :member_no, :role, :org_id, :category, "
                          ":is_floating, :active, :large_text, :created_at)"), users)

        def ledger_rows():
            for eid in range(1, entries + 1):
                member = rnd.randint(1, members)
                year = YEAR if rnd.random() < 0.8 else YEAR - 1
                kind = "online" if rnd.random() < 0.7 else "concentrated"
                yield (eid, member, year, kind, f"{rnd.choice((0.25, 0.5, 1, 1, 2, 3)):.2f}",
                       "video" if kind == "online" else "offline", f"bench:{eid}", "", now)

        if engine.dialect.name == "postgresql":
            raw = conn.connection.dbapi_connection
            with raw.cursor().copy("COPY credit_entry (id, member_id, year, kind, hours, source, "
                                   "idempotency_key, description, created_at) FROM STDIN") as copy:
                for row in ledger_rows():
                    copy.write_row(row)
            for table in ("organisation", "users", "credit_entry"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
            conn.execute(text("ANALYZE"))
        else:
            cursor = conn.connection.dbapi_connection.cursor()
            batch = []
            for row in ledger_rows():
                batch.append(row)
                if len(batch) == 50_000:
                    cursor.executemany("INSERT INTO credit_entry (id, member_id, year, kind, hours, source, "
                                       "idempotency_key, description, created_at) VALUES (?,?,?,?,?,?,?,?,?)", batch)
                    batch = []
            if batch:
                cursor.executemany("INSERT INTO credit_entry (id, member_id, year, kind, hours, source, "
                                   "idempotency_key, description, created_at) VALUES (?,?,?,?,?,?,?,?,?)", batch)
            conn.execute(text("ANALYZE"))
    with engine.connect() as conn:
        marks = conn.execute(text("SELECT count(*) FROM credit_org_stale")).scalar()
    return dict(orgs=len(orgs), members=members, entries=entries, seconds=time.perf_counter() - started, marks=marks,
                branch=leaves[len(leaves) // 2], general_branch=orgs[20][0])


# The baselines: the plainest SQL giving members and hours per organisation (and per member),
# with the same index-friendly path range the report uses (both databases here sort bytewise).
BARE_ORGS = """
SELECT o.path, count(DISTINCT u.id), sum(e.hours)
FROM organisation o JOIN users u ON u.org_id = o.id
LEFT JOIN credit_entry e ON e.member_id = u.id AND e.year = :year
WHERE u.active AND o.path LIKE :prefix AND o.path >= :low AND o.path < :high
GROUP BY o.path
"""
# The same over the summary (one row per member and year).
BARE_ORGS_SUMMARY = """
SELECT o.path, count(u.id), sum(s.online + s.concentrated)
FROM organisation o JOIN users u ON u.org_id = o.id
LEFT JOIN credit_year_summary s ON s.member_id = u.id AND s.year = :year
WHERE u.active AND o.path LIKE :prefix AND o.path >= :low AND o.path < :high
GROUP BY o.path
"""
BARE_MEMBERS_SUMMARY = """
SELECT u.id, u.name, o.name, s.online + s.concentrated
FROM organisation o JOIN users u ON u.org_id = o.id
LEFT JOIN credit_year_summary s ON s.member_id = u.id AND s.year = :year
WHERE u.active AND o.path LIKE :prefix AND o.path >= :low AND o.path < :high
ORDER BY o.path, u.name
"""
BARE_MEMBERS = """
SELECT u.id, u.name, o.name, sum(e.hours)
FROM organisation o JOIN users u ON u.org_id = o.id
LEFT JOIN credit_entry e ON e.member_id = u.id AND e.year = :year
WHERE u.active AND o.path LIKE :prefix AND o.path >= :low AND o.path < :high
GROUP BY u.id, u.name, o.name, o.path ORDER BY o.path, u.name
"""


def bare(sql, prefix):
    """The bare SQL ``sql`` over the subtree at ``prefix``, as a function to time."""
    args = {"year": YEAR, "prefix": prefix + "%", "low": prefix, "high": prefix[:-1] + "0"}
    return lambda: db.session.execute(text(sql), args).all()


def export(org, period):
    """The XLSX export of ``org``'s report into a temporary file, as a function to time."""
    from school.credits import exports

    def run():
        with tempfile.TemporaryFile() as target:
            exports.write_xlsx(org, period, target)
    return run


def export_memory(general, root, period) -> dict:
    """The export's peak Python memory for a small branch and for the root, and the branch's rows."""
    out = {}
    for name, org in (("branch", general), ("root", root)):
        tracemalloc.start()
        export(org, period)()
        out[f"peak_{name}"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    out["rows_branch"] = db.session.execute(text(
        "SELECT count(*) FROM users u JOIN organisation o ON o.id = u.org_id WHERE o.path LIKE :p"),
        {"p": general.path + "%"}).scalar()
    return out


def timed(fn, repeat: int) -> float:
    fn()  # warm the caches once
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def measure(app, info: dict, repeat: int, before: bool = True) -> dict:
    from school.accounts.models import Organisation, Role, User
    from school.credits import reports

    out = {}
    with app.app_context():
        root = db.session.get(Organisation, 1)
        branch = db.session.get(Organisation, info["branch"])
        general = db.session.get(Organisation, info["general_branch"])
        period = reports.Period(YEAR)

        out["bare_root"] = timed(bare(BARE_ORGS, root.path), repeat)
        out["bare_root_summary"] = timed(bare(BARE_ORGS_SUMMARY, root.path), repeat)
        out["root_report"] = timed(lambda: reports.org_report(root, period), repeat)
        saved = list(reports.METRICS)
        reports.METRICS.clear()  # the report without the other packages' columns
        try:
            out["root_report_no_metrics"] = timed(lambda: reports.org_report(root, period), repeat)
        finally:
            reports.METRICS.extend(saved)
        for metric in saved:  # each column's own statement, over the whole tree
            out[f"metric_{metric.key}"] = timed(
                lambda m=metric: db.session.execute(m.member_values(period)).all(), repeat)
        if before:
            out["root_report_ledger"] = timed(lambda: reports.org_report(root, period, from_ledger=True), 1)
        out["bare_branch"] = timed(bare(BARE_ORGS, branch.path), repeat)
        out["branch_report"] = timed(lambda: reports.org_report(branch, period), repeat)
        out["bare_members"] = timed(bare(BARE_MEMBERS, root.path), max(1, repeat // 2))
        out["bare_members_summary"] = timed(bare(BARE_MEMBERS_SUMMARY, root.path), max(1, repeat // 2))

        out["export_root"] = timed(export(root, period), max(1, repeat // 2))
        out.update(export_memory(general, root, period))
        admin = User(name="管理员", member_no="bench-admin", role=Role.ADMIN, password_hash=None)
        db.session.add(admin)
        db.session.commit()
        admin_id = admin.id

    # The branch report page as a browser gets it: an admin's real HTTP request.
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    with app.app_context():
        from school.accounts import auth as accounts_auth
        from school.timeutil import utcnow
        token = accounts_auth.start_session(db.session.get(User, admin_id), utcnow(), "127.0.0.1", "bench")
        db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True
    url = f"/reports/?org={info['branch']}&year={YEAR}"
    response = client.get(url)
    assert response.status_code == 200 and "学时报表" in response.get_data(as_text=True), response.status_code
    out["branch_page"] = timed(lambda: client.get(url).get_data(), repeat)

    # school credits rebuild-summary: a check of the (correct) summary, then a fill from nothing.
    with app.app_context():
        from school.credits import summary
        from school.credits.models import CreditYearSummary
        started = time.perf_counter()
        fixed = summary.rebuild()
        db.session.commit()
        out["rebuild_check"], out["rebuild_check_fixed"] = time.perf_counter() - started, len(fixed)
        db.session.execute(CreditYearSummary.__table__.delete())
        db.session.commit()
        started = time.perf_counter()
        fixed = summary.rebuild()
        db.session.commit()
        out["rebuild_fill"], out["rebuild_fill_fixed"] = time.perf_counter() - started, len(fixed)
    return out


def measure_export(app, info: dict, repeat: int) -> dict:
    """The root XLSX export and its two bare member SQLs, one of each per round (medians), and
    the export's peak Python memory for a small branch and for the root."""
    from school.accounts.models import Organisation
    from school.credits import reports

    samples: dict[str, list[float]] = {}
    out = {}
    with app.app_context():
        root = db.session.get(Organisation, 1)
        general = db.session.get(Organisation, info["general_branch"])
        period = reports.Period(YEAR)

        variants = {"bare_members": bare(BARE_MEMBERS, root.path),
                    "bare_members_summary": bare(BARE_MEMBERS_SUMMARY, root.path),
                    "export_root": export(root, period)}
        for fn in variants.values():
            fn()  # warm
        for _ in range(repeat):
            for key, fn in variants.items():
                started = time.perf_counter()
                fn()
                samples.setdefault(key, []).append(time.perf_counter() - started)
        out = {key: statistics.median(values) for key, values in samples.items()}
        out.update(export_memory(general, root, period))
    return out


def measure_interleaved(app, info: dict, repeat: int) -> dict:
    """The root and branch figures only, each round running every variant once in turn, so a
    change of the machine's load hits all of them alike (medians over the rounds)."""
    from school.accounts.models import Organisation
    from school.credits import reports

    samples: dict[str, list[float]] = {}
    with app.app_context():
        root = db.session.get(Organisation, 1)
        branch = db.session.get(Organisation, info["branch"])
        period = reports.Period(YEAR)
        saved = list(reports.METRICS)

        def without_metrics():
            reports.METRICS.clear()
            try:
                reports.org_report(root, period)
            finally:
                reports.METRICS.extend(saved)

        from school.credits.models import CreditOrgStale, CreditOrgYearState
        org_ids = [i for (i,) in db.session.execute(text("SELECT id FROM organisation ORDER BY id"))]
        rnd = random.Random(17)

        def stale(n):
            """Mark ``n`` random organisations stale (None: the whole year unbuilt), outside the timing."""
            if n is None:
                db.session.execute(CreditOrgYearState.__table__.delete())
            elif n:
                db.session.execute(CreditOrgStale.__table__.insert(),
                                   [dict(org_id=o, year=YEAR) for o in rnd.sample(org_ids, n)])
            db.session.commit()

        first = time.perf_counter()
        reports.org_report(root, period)  # builds the year's kept figures (and consumes generation's marks)
        print(f"first root report (builds the kept figures, consumes {info.get('marks', '?')} marks): "
              f"{(time.perf_counter() - first) * 1000:.0f} ms")
        if db.engine.dialect.name == "postgresql":
            # The build deleted every mark generation left (2.1 M on PostgreSQL, one per ledger row):
            # measure the steady state autovacuum reaches, not a refresh wading through dead rows.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM (ANALYZE) credit_org_stale"))
        staled = {f"root_report_stale_{n if n is not None else 'all'}": n for n in (100, 1000, None)}
        variants = {
            "bare_root": bare(BARE_ORGS, root.path),
            "bare_root_summary": bare(BARE_ORGS_SUMMARY, root.path),
            "root_report": lambda: reports.org_report(root, period),
            "root_report_members": lambda: reports.org_report(root, period, kept=False),
            **{key: lambda: reports.org_report(root, period) for key in staled},
            "root_report_no_metrics": without_metrics,
            "root_report_ledger": lambda: reports.org_report(root, period, from_ledger=True),
            "branch_report": lambda: reports.org_report(branch, period),
            "branch_report_members": lambda: reports.org_report(branch, period, kept=False),
            "bare_branch": bare(BARE_ORGS, branch.path),
        }
        for key, fn in variants.items():
            stale(staled.get(key, 0))
            fn()  # warm
        for _ in range(repeat):
            for key, fn in variants.items():
                stale(staled.get(key, 0))
                started = time.perf_counter()
                fn()
                samples.setdefault(key, []).append(time.perf_counter() - started)
    return {key: statistics.median(values) for key, values in samples.items()}


def measure_write_cost(engine, members: int, rows: int = 20_000, rounds: int = 5) -> dict:
    """Ledger inserts (each fires the summary's trigger, which fires the org marks' triggers)
    with the org marks' triggers and without them, interleaved; each batch is rolled back."""
    from school.credits.models import ORG_TOTALS_DROP
    rnd = random.Random(3)
    samples: dict[str, list[float]] = {}
    sql = ("INSERT INTO credit_entry (member_id, year, kind, hours, source, idempotency_key, description, "
           "created_at) VALUES (:m, 2026, 'online', 1, 'video', :k, '', :now)")
    for n in range(rounds):
        for key in ("with_marks", "without_marks"):
            batch = [dict(m=rnd.randint(1, members), k=f"w{key}{n}:{i}", now=datetime(2026, 6, 1))
                     for i in range(rows)]
            with engine.connect() as conn:
                trans = conn.begin()
                if key == "without_marks":
                    for statement in ORG_TOTALS_DROP[engine.dialect.name]:
                        conn.execute(text(statement))
                started = time.perf_counter()
                conn.execute(text(sql), batch)
                samples.setdefault(key, []).append(time.perf_counter() - started)
                trans.rollback()
    return {key: statistics.median(values) for key, values in samples.items()}


def run(label: str, url: str, args) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True,
                      "INSTANCE_PATH": tempfile.mkdtemp(prefix="bench-instance-")})
    with app.app_context():
        engine = db.engine
        with engine.connect() as conn:
            kept = args.keep and engine.dialect.has_table(conn, "credit_entry") and \
                conn.execute(text("SELECT count(*) FROM users")).scalar() >= args.members
        if kept:
            orgs, leaves = build_tree()
            info = dict(orgs=len(orgs), members=args.members, entries=args.entries, seconds=0.0,
                        branch=leaves[len(leaves) // 2], general_branch=orgs[20][0])
        else:
            db.create_all()
            info = generate(engine, args.members, args.entries)
    if kept:
        print(f"[{label}] reusing the kept data ({args.members} members)")
    else:
        print(f"[{label}] generated {info['orgs']} organisations, {info['members']} members, "
              f"{info['entries']} ledger rows in {info['seconds']:.1f} s (the summary filled by the trigger)")
    ms = lambda s: f"{s * 1000:.1f} ms"  # noqa: E731
    load = lambda: "load %.1f %.1f %.1f" % os.getloadavg()  # noqa: E731
    if args.export_only:
        print(f"[{label}] {load()}")
        m = measure_export(app, info, args.repeat)
        print(f"[{label}] XLSX export root {ms(m['export_root'])}  vs bare member SQL {ms(m['bare_members'])}"
              f"  ratio {m['export_root'] / m['bare_members']:.2f};  vs bare member SQL over the summary "
              f"{ms(m['bare_members_summary'])}  ratio {m['export_root'] / m['bare_members_summary']:.2f}")
        print(f"[{label}] export peak memory: {m['rows_branch']} rows {m['peak_branch'] / 2**20:.1f} MiB, "
              f"{args.members} rows {m['peak_root'] / 2**20:.1f} MiB")
        print(f"[{label}] {load()}")
        return
    if args.write_cost:
        print(f"[{label}] {load()}")
        m = measure_write_cost(create_engine(url), args.members)
        print(f"[{label}] 20,000 ledger rows: with the org marks' triggers {ms(m['with_marks'])}, "
              f"without {ms(m['without_marks'])}, ratio {m['with_marks'] / m['without_marks']:.2f}; {load()}")
        return
    if args.interleaved:
        print(f"[{label}] {load()}")
        m = measure_interleaved(app, info, args.repeat)
        for key, value in m.items():
            print(f"[{label}] {key:24} {ms(value)}")
        print(f"[{label}] root report from kept figures / computed from members "
              f"{m['root_report'] / m['root_report_members']:.3f}")
        print(f"[{label}] root report / bare SQL over the ledger {m['root_report'] / m['bare_root']:.2f}, "
              f"/ bare SQL over the summary {m['root_report'] / m['bare_root_summary']:.2f}; "
              f"{load()}")
        return
    m = measure(app, info, args.repeat, before=not args.no_before)
    print(f"[{label}] {load()}")
    print(f"[{label}] root report      {ms(m['root_report'])}  vs bare SQL {ms(m['bare_root'])}"
          f"  ratio {m['root_report'] / m['bare_root']:.2f};  vs bare SQL over the summary "
          f"{ms(m['bare_root_summary'])}  ratio {m['root_report'] / m['bare_root_summary']:.2f}")
    print(f"[{label}] root report without the metric columns {ms(m['root_report_no_metrics'])}")
    for key in [k for k in m if k.startswith("metric_")]:
        print(f"[{label}]   {key[7:]} column's statement alone {ms(m[key])}")
    if "root_report_ledger" in m:
        print(f"[{label}] root report summed from the ledger (before) {ms(m['root_report_ledger'])}")
    print(f"[{label}] branch report    {ms(m['branch_report'])}  vs bare SQL {ms(m['bare_branch'])}"
          f"  ratio {m['branch_report'] / m['bare_branch']:.2f}")
    print(f"[{label}] branch report page (HTTP request, whole page) {ms(m['branch_page'])}")
    print(f"[{label}] XLSX export root {ms(m['export_root'])}  vs bare member SQL {ms(m['bare_members'])}"
          f"  ratio {m['export_root'] / m['bare_members']:.2f};  vs bare member SQL over the summary "
          f"{ms(m['bare_members_summary'])}  ratio {m['export_root'] / m['bare_members_summary']:.2f}")
    print(f"[{label}] export peak memory: {m['rows_branch']} rows {m['peak_branch'] / 2**20:.1f} MiB, "
          f"{args.members} rows {m['peak_root'] / 2**20:.1f} MiB")
    print(f"[{label}] rebuild-summary: check {ms(m['rebuild_check'])} ({m['rebuild_check_fixed']} fixed), "
          f"fill from nothing {ms(m['rebuild_fill'])} ({m['rebuild_fill_fixed']} rows written)")
    print(f"[{label}] {load()}")


@contextmanager
def pg_schema(database_url: str, schema: str, keep: bool = False):
    """A fresh PostgreSQL ``schema`` for a bench's data, dropped afterwards (``keep``: kept, and
    an existing one reused); yields the URL whose connections work in it (``search_path``)."""
    url = normalise_database_url(database_url)
    engine = create_engine(url)
    with engine.begin() as conn:
        if not keep:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
    try:
        yield url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    finally:
        if not keep:
            with engine.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg", default=os.environ.get("SCHOOL_BENCH_DATABASE_URL", ""),
                        help="PostgreSQL URL (the data goes to schema bench_reports, dropped afterwards)")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--interleaved", action="store_true",
                        help="only the root and branch reports and their baselines, measured in turn round by round")
    parser.add_argument("--write-cost", action="store_true",
                        help="only the cost of the org marks' triggers on ledger inserts (use small --members)")
    parser.add_argument("--no-before", action="store_true",
                        help="skip the root report summed from the ledger (the code before the summary)")
    parser.add_argument("--export-only", action="store_true",
                        help="only the root XLSX export and its bare member SQLs (round by round), and its memory")
    parser.add_argument("--keep", metavar="SQLITE_FILE", default="",
                        help="keep the data and reuse it next time: SQLite in this file, PostgreSQL in the "
                             "schema bench_reports_kept (the other parts change the data: use with --export-only)")
    args = parser.parse_args()
    if not args.skip_sqlite:
        if args.keep:
            run("SQLite", f"sqlite:///{Path(args.keep).resolve()}", args)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                run("SQLite", f"sqlite:///{tmp}/bench.db", args)
    if args.pg:
        with pg_schema(args.pg, "bench_reports_kept" if args.keep else "bench_reports", keep=bool(args.keep)) as url:
            run("PostgreSQL", url, args)

if __name__ == "__main__":
    main()
