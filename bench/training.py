"""Benchmark for training classes, study plans and reminders (issue 16).

Reuses ``bench/reports.py``'s data (the 2,956-organisation tree, 100,000 members, ledger rows)
and adds: a 专题班 (class) enrolling all 100,000 members, with 3 courses, 2 library documents
and 3 text items, a required reflection and the members' progress (completions, watch
states, reading positions, texts marked done, reflections); and a 学习计划 (study plan) for
the whole tree with the same courses and documents. Then, in one run, each against a
hand-written bare SQL statement giving the same rows (medians, same run):

* the class roster service (``training.roster.rows``) and its HTTP page,
* the roster XLSX export (``training.roster.xlsx``),
* the plan completion: the plan page's service (``notices.plans.plan_progress``) and the
  branch report's plan columns (``credits.reports.org_report`` with vs. without them);

and reminder delivery to 10,000 members: the web request that queues it (POST
/reminders/send, as an admin), then the job (``jobs.run_until_empty``, with a second worker
sending the same reminder at the same time) delivering e-mail to a real SMTP server
(aiosmtpd) and SMS to a local webhook (http.server) started here; every member must get
exactly one e-mail and one SMS.

Statements per call are counted with a SQLAlchemy ``before_cursor_execute`` listener.

    .venv/bin/python bench/training.py                                          # SQLite
    .venv/bin/python bench/training.py --skip-sqlite \\
        --pg postgresql://postgres@127.0.0.1:5432/school_training                # PostgreSQL
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from reports import BARE_ORGS, YEAR, generate, pg_schema, timed  # noqa: E402
from sqlalchemy import event, text  # noqa: E402

from school import create_app  # noqa: E402
from school.extensions import db  # noqa: E402

SCHEMA = "bench_training"
COURSES, DOCUMENTS, TEXTS = (1, 2, 3), (1, 2), 3
CLASS_ID = 1
NOW = datetime(2026, 12, 1, 4, 0)
# The class runs around the real date so the roster page (which uses the clock) sees it in
# progress; enrolment is closed, so opening the roster enrols nobody (enrolment.sync_auto).
CLASS_DATES = dict(starts_at=datetime(2026, 11, 1), ends_at=datetime(2027, 3, 1),
                   enrol_opens_at=datetime(2026, 10, 1), enrol_closes_at=datetime(2026, 11, 1))


class StatementCounter:
    """Counts the SQL statements sent to the database while ``active``."""

    def __init__(self, engine):
        self.count, self.active = 0, False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_):
        if self.active:
            self.count += 1

    def of(self, fn) -> int:
        self.count, self.active = 0, True
        try:
            fn()
        finally:
            self.active = False
        return self.count


def _insert(conn, table: str, rows: list[dict]) -> None:
    for start in range(0, len(rows), 20_000):
        conn.execute(db.metadata.tables[table].insert(), rows[start:start + 20_000])


def generate_training(engine, members: int, seed: int = 16) -> dict:
    """The class, its items and enrolments, progress, and the plans (ids fixed: a fresh schema)."""
    rnd = random.Random(seed)
    at = datetime(2026, 11, 10)
    started = time.perf_counter()
    with engine.begin() as conn:
        _insert(conn, "course", [dict(id=c, slug=f"bench-{c}", title=f"专题课程{c}", created_at=at) for c in COURSES])
        _insert(conn, "lesson", [dict(id=c, course_id=c, title=f"第{c}讲") for c in COURSES])
        _insert(conn, "library_document", [dict(id=d, title=f"学习文献{d}", category="speech", status="published",
                                                created_at=at) for d in DOCUMENTS])
        _insert(conn, "training_class", [dict(id=CLASS_ID, title="学习贯彻专题班", theme="理论学习", org_id=1,
                                              capacity=None, seats_taken=members, enrol_mode="auto",
                                              floating="all", electives_required=1, exam_id=None, hours=8,
                                              credit_kind="online", reflection_required=True,
                                              reflection_min_chars=300, published=True, created_at=at,
                                              **CLASS_DATES)])
        item = dict(class_id=CLASS_ID, course_id=None, document_id=None, title="", body_md="")
        items = [{**item, "id": c, "position": c, "kind": "course", "course_id": c, "required": True}
                 for c in COURSES]
        items += [{**item, "id": 3 + d, "position": 3 + d, "kind": "document", "document_id": d,
                   "required": d == 1} for d in DOCUMENTS]
        items += [{**item, "id": 6 + t, "position": 6 + t, "kind": "text", "title": f"学习材料{t}",
                   "body_md": "正文", "required": t == 1} for t in range(TEXTS)]
        _insert(conn, "training_item", items)
        enrolments, completions, watches, readings, done, reflections = [], [], [], [], [], []
        for uid in range(1, members + 1):
            keen = rnd.random()  # how far this member is
            when = lambda: datetime(2026, 11, rnd.randint(2, 30), rnd.randint(0, 23))  # noqa: E731
            for c in COURSES:
                if rnd.random() < keen:
                    completions.append(dict(member_id=uid, course_id=c, completed_at=when()))
                if rnd.random() < keen + 0.1:
                    watches.append(dict(member_id=uid, lesson_id=c, updated_at=when()))
            for d in DOCUMENTS:
                if rnd.random() < keen:
                    readings.append(dict(member_id=uid, document_id=d, updated_at=when()))
            for t in range(TEXTS):
                if rnd.random() < keen:
                    done.append(dict(item_id=6 + t, member_id=uid, done_at=when()))
            if keen > 0.7:
                state = rnd.choice(["draft", "submitted", "passed", "excellent", "returned"])
                reflections.append(dict(class_id=CLASS_ID, member_id=uid, body="心得" * 200, images=[],
                                        state=state, revision=1, saved_at=when(), featured=False))
            enrolments.append(dict(class_id=CLASS_ID, member_id=uid, state="enrolled", applied_at=at,
                                   completed_at=when() if keen > 0.95 else None))
        for table, rows in (("training_enrolment", enrolments), ("course_completion", completions),
                            ("watch_state", watches), ("library_reading_position", readings),
                            ("training_item_done", done), ("training_reflection", reflections)):
            _insert(conn, table, rows)
        # The plans: the county's for the whole tree, and one township's for its subtree.
        _insert(conn, "study_plan", [dict(id=1, org_id=1, year=YEAR, title="全县年度学习计划", created_at=at),
                                     dict(id=2, org_id=2, year=YEAR, title="乡镇学习计划", created_at=at)])
        plan_items = [dict(plan_id=1, kind="course", ref_id=c, title=f"专题课程{c}", due_on=date(YEAR, 6, c))
                      for c in COURSES]
        plan_items += [dict(plan_id=1, kind="document", ref_id=d, title=f"学习文献{d}", due_on=date(YEAR, 9, d))
                       for d in DOCUMENTS]
        plan_items.append(dict(plan_id=2, kind="course", ref_id=1, title="专题课程1", due_on=date(YEAR, 10, 1)))
        _insert(conn, "plan_item", plan_items)
        # 10,000 members reachable by e-mail and SMS: the reminder's audience.
        conn.execute(text("UPDATE users SET email = 'm' || CAST(id AS VARCHAR(10)) || '@bench.example', "
                          "phone = CAST(13900000000 + id AS VARCHAR(20)) WHERE id <= 10000"))
        if engine.dialect.name == "postgresql":
            for table in ("course", "lesson", "library_document", "training_class", "training_item",
                          "training_enrolment", "course_completion", "watch_state", "training_reflection",
                          "study_plan", "plan_item"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))"))
        conn.execute(text("ANALYZE"))
    return dict(seconds=time.perf_counter() - started, enrolments=len(enrolments),
                progress_rows=len(completions) + len(watches) + len(readings) + len(done) + len(reflections))


# --- the baselines: the plainest SQL giving the same rows ---------------------------------

DONE_UNION = """
    SELECT member_id, 'c' || CAST(course_id AS VARCHAR(10)) AS what, completed_at AS at
      FROM course_completion WHERE course_id IN (1, 2, 3)
    UNION ALL SELECT w.member_id, 'w', w.updated_at FROM watch_state w JOIN lesson l ON l.id = w.lesson_id
      WHERE l.course_id IN (1, 2, 3)
    UNION ALL SELECT member_id, 'd' || CAST(document_id AS VARCHAR(10)), updated_at
      FROM library_reading_position WHERE document_id IN (1, 2)
    UNION ALL SELECT member_id, 't' || CAST(item_id AS VARCHAR(10)), done_at
      FROM training_item_done WHERE item_id IN (6, 7, 8)
    UNION ALL SELECT member_id, 'r' || state, saved_at FROM training_reflection WHERE class_id = :class_id
"""
# Roster: every enrolled member (name, number, organisation, completion) with each thing done.
BARE_ROSTER = f"""
SELECT u.id, u.name, u.member_no, o.name, e.completed_at, d.what, d.at
FROM training_enrolment e JOIN users u ON u.id = e.member_id
LEFT JOIN organisation o ON o.id = u.org_id
LEFT JOIN ({DONE_UNION}) d ON d.member_id = u.id
WHERE e.class_id = :class_id AND e.state = 'enrolled'
ORDER BY u.name, u.id
"""
# Plan page: every active member of the subtree with the plan's things they did.
BARE_PLAN = """
SELECT u.id, u.name, o.path, d.kind, d.ref_id
FROM users u JOIN organisation o ON o.id = u.org_id
LEFT JOIN (SELECT member_id, 'course' AS kind, course_id AS ref_id FROM course_completion
           UNION ALL SELECT member_id, 'document', document_id FROM library_reading_position) d
       ON d.member_id = u.id
WHERE u.active AND o.path LIKE :prefix
ORDER BY o.path, u.name, u.id
"""
# Report's plan columns: items assigned and done per organisation of the tree.
BARE_PLAN_ORGS = """
SELECT mo.path, count(pi.id), count(d.member_id)
FROM users u JOIN organisation mo ON mo.id = u.org_id
JOIN organisation po ON mo.path LIKE po.path || '%'
JOIN study_plan p ON p.org_id = po.id AND p.year = :year
JOIN plan_item pi ON pi.plan_id = p.id
LEFT JOIN (SELECT member_id, 'course' AS kind, course_id AS ref_id FROM course_completion
           UNION ALL SELECT member_id, 'document', document_id FROM library_reading_position) d
       ON d.member_id = u.id AND d.kind = pi.kind AND d.ref_id = pi.ref_id
WHERE u.active
GROUP BY mo.path
"""


def _login(app, client, user_id: int) -> None:
    from school.accounts import auth as accounts_auth
    from school.accounts.models import User
    from school.timeutil import utcnow
    with app.app_context():
        token = accounts_auth.start_session(db.session.get(User, user_id), utcnow(), "127.0.0.1", "bench")
        db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True


def measured(counter: StatementCounter, fn, repeat: int) -> tuple[float, int]:
    """(median seconds, statements per call): ``reports.timed`` with the counter on throughout."""
    counter.count, counter.active = 0, True
    try:
        seconds = timed(fn, repeat)
    finally:
        counter.active = False
    return seconds, counter.count // (repeat + 1)


def measure_reads(app, counter: StatementCounter, repeat: int, say, parts: set[str]) -> int:
    """Measures and prints each figure as soon as it is known; returns the admin's id."""
    from school.accounts.models import Organisation, Role, User
    from school.credits import reports
    from school.notices import plans
    from school.notices.models import StudyPlan
    from school.timeutil import utcnow
    from school.training import roster
    from school.training.models import TrainingClass

    with app.app_context():
        admin = User(name="管理员", member_no="bench-admin", role=Role.ADMIN, password_hash=None)
        db.session.add(admin)
        db.session.commit()
        admin_id = admin.id
        cls, now = db.session.get(TrainingClass, CLASS_ID), utcnow()
        got = {}

        def bare_roster():
            return db.session.execute(text(BARE_ROSTER), {"class_id": CLASS_ID}).all()

        def service_roster():
            db.session.expire_all()  # each call as a fresh request would make it
            got["rows"] = roster.rows(cls, admin, now)

        if "roster" in parts:
            bare = timed(bare_roster, repeat)
            seconds, statements = measured(counter, service_roster, repeat)
            say(f"roster service   {seconds * 1000:.0f} ms vs bare SQL {bare * 1000:.0f} ms  ratio {seconds / bare:.2f}  "
                f"({len(got['rows'])} rows, {sum(r.behind for r in got['rows'])} behind, {statements} statements)")
        got.clear()

        plan, root = db.session.get(StudyPlan, 1), db.session.get(Organisation, 1)

        if "plan" in parts:
            def plan_page():
                db.session.expire_all()
                got["plan"] = plans.plan_progress(admin, plan)

            bare = timed(lambda: db.session.execute(text(BARE_PLAN), {"prefix": root.path + "%"}).all(), repeat)
            try:
                seconds, statements = measured(counter, plan_page, repeat)
                say(f"plan progress    {seconds * 1000:.0f} ms vs bare SQL {bare * 1000:.0f} ms  ratio {seconds / bare:.2f}"
                    f"  ({len(got['plan'])} rows, {statements} statements)")
            except Exception as exc:  # noqa: BLE001 — a failure is a finding: print it, measure the rest
                db.session.rollback()
                say(f"plan progress    FAILED ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
                    f"bare SQL {bare * 1000:.0f} ms")
            got.clear()
        if "report" in parts:
            period = reports.Period(YEAR)
            everything = list(reports.METRICS)
            without = [m for m in everything if not m.key.startswith("plan_")]

            def report(metrics):
                def run():
                    reports.METRICS[:] = metrics
                    try:
                        return reports.org_report(root, period)
                    finally:
                        reports.METRICS[:] = everything
                return run

            bare_args = {"year": YEAR, "prefix": "/1/%", "low": "/1/", "high": "/10"}
            bare = timed(lambda: (db.session.execute(text(BARE_ORGS), bare_args).all(),
                                  db.session.execute(text(BARE_PLAN_ORGS), {"year": YEAR}).all()), repeat)
            no_plan = timed(report(without), repeat)
            seconds, statements = measured(counter, report(everything), repeat)
            say(f"report (root)    {seconds * 1000:.0f} ms (without the plan columns {no_plan * 1000:.0f} ms) vs "
                f"bare SQL (hours + plan columns) {bare * 1000:.0f} ms  ratio {seconds / bare:.2f}  ({statements} statements)")
    return admin_id


def measure_heavy(app, counter: StatementCounter, admin_id: int, say) -> None:
    """The roster page (a real HTTP request) and the XLSX export: once each after a warm-up."""
    from school.accounts.models import User
    from school.timeutil import utcnow
    from school.training import roster
    from school.training.models import TrainingClass

    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    _login(app, client, admin_id)
    url = f"/training/manage/{CLASS_ID}/roster"
    got = {}

    def page():
        got["response"] = client.get(url)
        got["body"] = got["response"].get_data()

    seconds, statements = measured(counter, page, 1)
    assert got["response"].status_code == 200 and "学员名单".encode() in got["body"], got["response"].status_code
    say(f"roster page      {seconds * 1000:.0f} ms ({len(got['body']) / 2**20:.1f} MiB HTML, {statements} statements)")
    with app.app_context():
        admin, cls = db.session.get(User, admin_id), db.session.get(TrainingClass, CLASS_ID)
        bare = timed(lambda: db.session.execute(text(BARE_ROSTER), {"class_id": CLASS_ID}).all(), 1)

        def export():
            db.session.expire_all()
            got["xlsx"] = roster.xlsx(cls, admin, utcnow())

        seconds, statements = measured(counter, export, 1)
        say(f"roster XLSX      {seconds * 1000:.0f} ms vs bare SQL {bare * 1000:.0f} ms  ratio {seconds / bare:.2f}  "
            f"({len(got['xlsx']) / 2**20:.1f} MiB, {statements} statements)")


# --- reminders: real SMTP and SMS servers ------------------------------------------------


class Inbox:
    """What the local servers received: e-mail recipients and SMS phones, in order."""

    def __init__(self):
        self.mails: list[str] = []
        self.sms: list[str] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.mails.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def start_servers(inbox: Inbox):
    from aiosmtpd.controller import Controller
    with socket.socket() as probe:  # a free port (aiosmtpd checks its port by connecting, so not 0)
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()

    class Hook(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            with inbox.lock:
                inbox.sms.append(body["phone"])
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *_):
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    return smtp, f"smtp://127.0.0.1:{smtp_port}", hook, f"http://127.0.0.1:{hook.server_address[1]}/sms"


def measure_reminders(app, counter: StatementCounter, admin_id: int, members: int, say) -> None:
    from school import jobs
    from school.notices import delivery

    inbox = Inbox()
    smtp, smtp_url, hook, hook_url = start_servers(inbox)
    app.config.update(SMTP_URL=smtp_url, SMS_WEBHOOK=hook_url, WTF_CSRF_ENABLED=False)
    out = {}
    try:
        client = app.test_client()
        _login(app, client, admin_id)
        form = {"title": "学习提醒", "text": "请抓紧完成专题班学习。", "token": "bench-reminder-1",
                "source": f"class:{CLASS_ID}", "member_id": [str(i) for i in range(1, members + 1)]}
        holder = {}
        started = time.perf_counter()
        out["request_statements"] = counter.of(
            lambda: holder.setdefault("response", client.post("/reminders/send", data=form)))
        out["request"] = time.perf_counter() - started
        response = holder["response"]
        assert response.status_code == 302 and "/reminders/" in response.headers["Location"], response.status_code
        reminder_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
        with app.app_context():
            out["messages"] = db.session.scalar(text("SELECT count(*) FROM message WHERE reminder_id = :r"),
                                                {"r": reminder_id})
            out["deliveries"] = db.session.scalar(text("SELECT count(*) FROM delivery WHERE reminder_id = :r"),
                                                  {"r": reminder_id})
        say(f"reminder request {out['request'] * 1000:.0f} ms ({out['request_statements']} statements): "
            f"{out['messages']} messages, {out['deliveries']} deliveries written in the request")

        # The job, and a second worker sending the same reminder at the same time (as a retry
        # sweep's job would): the claims must keep every delivery to one send.
        errors = []

        def worker(fn):
            try:
                with app.app_context():
                    fn()
            except Exception as exc:  # reported below
                errors.append(repr(exc))

        def second(reminder_id):  # waits for the job's fan-out if that one claimed it first
            began = time.perf_counter()
            delivery.fan_out(reminder_id)
            out["fan_out"] = time.perf_counter() - began
            say(f"fan-out in job   {out['fan_out']:.1f} s (messages + deliveries written, as the second worker saw it)")
            delivery.deliver_due(reminder_id, datetime.utcnow())

        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(jobs.run_until_empty,)),
                   threading.Thread(target=worker, args=(lambda: second(reminder_id),))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["jobs"] = time.perf_counter() - started
        out["errors"] = errors
        time.sleep(0.5)  # the SMTP server's last DATA handler
        with app.app_context():
            states = dict(db.session.execute(text(
                "SELECT state, count(*) FROM delivery WHERE reminder_id = :r GROUP BY state"),
                {"r": reminder_id}).all())
            out["states"] = states
            reached = {m for (m,) in db.session.execute(text(
                "SELECT member_id FROM message WHERE reminder_id = :r"), {"r": reminder_id})}
        mails, sms = collections.Counter(inbox.mails), collections.Counter(inbox.sms)
        expected_mail = {f"m{i}@bench.example" for i in range(1, members + 1)}
        expected_sms = {str(13900000000 + i) for i in range(1, members + 1)}
        out["emails"], out["sms"] = len(inbox.mails), len(inbox.sms)
        out["exactly_once"] = (reached == set(range(1, members + 1)) and set(mails) == expected_mail
                               and set(sms) == expected_sms and max(mails.values()) == 1
                               and max(sms.values()) == 1)
        out["duplicates"] = sum(v - 1 for v in mails.values()) + sum(v - 1 for v in sms.values())
    finally:
        smtp.stop()
        hook.shutdown()
    r = out
    say(f"delivery jobs    {r['jobs']:.1f} s: {r['emails']} e-mails + {r['sms']} SMS = "
        f"{(r['emails'] + r['sms']) / r['jobs']:.0f} deliveries/s; states {r['states']}; "
        f"exactly once: {r['exactly_once']} (duplicates {r['duplicates']}); errors {r['errors']}")


def run(label: str, url: str, args) -> None:
    def say(line: str) -> None:
        print(f"[{label}] {line}", flush=True)

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True,
                      "INSTANCE_PATH": tempfile.mkdtemp(prefix="bench-instance-")})
    with app.app_context():
        db.create_all()
        engine = db.engine
        info = generate(engine, args.members, args.entries)
        extra = generate_training(engine, args.members)
        counter = StatementCounter(engine)
    say(f"generated {info['orgs']} organisations, {info['members']} members, {info['entries']} ledger rows in "
        f"{info['seconds']:.1f} s; {extra['enrolments']} enrolments, {extra['progress_rows']} progress rows in "
        f"{extra['seconds']:.1f} s")
    parts = {"roster"} if args.roster_only else set(args.parts.split(","))
    admin_id = measure_reads(app, counter, args.repeat, say, parts)
    if args.reminders and "reminders" in parts:
        measure_reminders(app, counter, admin_id, args.reminders, say)
    if "heavy" in parts:
        measure_heavy(app, counter, admin_id, say)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument("--reminders", type=int, default=10_000, help="members reminded (0: skip)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--pg", default=os.environ.get("SCHOOL_BENCH_DATABASE_URL", ""),
                        help=f"PostgreSQL URL (the data goes to schema {SCHEMA}, dropped afterwards)")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--roster-only", action="store_true", help="measure the roster service only")
    parser.add_argument("--parts", default="roster,plan,report,reminders,heavy",
                        help="what to measure, comma-separated (heavy: the roster page and XLSX)")
    parser.add_argument("--schema", default=SCHEMA, help="PostgreSQL schema for the data (dropped afterwards)")
    args = parser.parse_args()
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            run("SQLite", f"sqlite:///{tmp}/bench.db", args)
    if args.pg:
        with pg_schema(args.pg, args.schema) as url:
            run("PostgreSQL", url, args)

if __name__ == "__main__":
    main()
