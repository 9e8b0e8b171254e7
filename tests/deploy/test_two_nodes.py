"""Two web nodes behave as one site: two gunicorn processes with instance folders of their own,
one PostgreSQL database, one Redis (when ``SCHOOL_TEST_REDIS_URL`` is set), one media folder
holding the one search index (``SCHOOL_SEARCH_INDEX_DIR``), behind Debian's nginx with both
nodes as upstreams (``render_nginx.upstream_servers``, as ``--upstream`` twice renders).

Skipped with a message without nginx (see ``stack.py``) or without PostgreSQL
(``SCHOOL_TEST_DATABASE_URL``): SQLite is one machine's database. The site lives in a schema
of its own of that database, so the suite's tables are not touched.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from sqlalchemy import create_engine, text

from school.config import normalise_database_url
from tests.conftest import PASSWORD
from tests.deploy.stack import REPO, Browser, Gunicorn, Nginx, app_env, nginx_binary, render_module, school

PG_URL = os.environ.get("SCHOOL_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("SCHOOL_TEST_REDIS_URL", "")
SCHEMA = "two_nodes"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    nginx_binary()
    if not PG_URL:
        pytest.skip("两台服务器的测试需要 PostgreSQL：设置 SCHOOL_TEST_DATABASE_URL"
                    "（例如 postgresql://postgres@127.0.0.1:5432/school_test）后运行")
    root = tmp_path_factory.mktemp("two-nodes")
    base = normalise_database_url(PG_URL)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    url = base + ("&" if "?" in base else "?") + f"options=-csearch_path%3D{SCHEMA}"
    shared = dict(SCHOOL_DATABASE_URL=url, SCHOOL_LOG_JSON="1", SCHOOL_SEARCH_INDEX_DIR=str(root / "media" / "search-index"),
                  SCHOOL_MEDIA_DIR=str(root / "media"))
    if REDIS_URL:  # a queue of its own: the suite's other RQ tests may share this Redis database
        shared.update(SCHOOL_REDIS_URL=REDIS_URL, SCHOOL_RQ_QUEUE=f"two-nodes-{uuid.uuid4().hex[:8]}")
    envs = {name: app_env(root, SCHOOL_INSTANCE_PATH=str(root / f"node-{name}"), **shared) for name in "ab"}
    assert "数据库已是最新版本" in school(envs["a"], "init")
    site = populate(root, url)
    webs, proxy = [], None
    try:
        webs = [Gunicorn(envs[name], root) for name in "ab"]
        proxy = Nginx(root / "nginx", [web.port for web in webs], root / "static", root / "media")
        site.update(root=root, envs=envs, a=webs[0], b=webs[1], nginx=proxy)
        yield site
    finally:
        if proxy is not None:
            proxy.stop()
        for web in webs:
            web.stop()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        admin.dispose()


def populate(root: Path, url: str) -> dict:
    from school import create_app
    from school.accounts.models import Role
    from school.extensions import db
    from tests.factories import Factory

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x", "TESTING": True,
                      "INSTANCE_PATH": str(root / "populate"), "MEDIA_DIR": str(root / "media"),
                      "SEARCH_INDEX_DIR": str(root / "media" / "search-index")})
    with app.app_context():
        make = Factory(db.session)
        t = make.tree()
        reminded = make.user(org=t["a1"])
        site = dict(member=make.user(org=t["a1"]).member_no, other=make.user(org=t["a1"]).member_no,
                    editor=make.user(role=Role.EDITOR).member_no,
                    secretary=make.user(org=t["a"], role=Role.SECRETARY).member_no,
                    reminded=reminded.member_no, reminded_id=reminded.id)
        make.document("两学一做学习教育", "学党章党规、学系列讲话，做合格党员。")
        db.session.remove()
        db.engine.dispose()
    return site


def on(node, source: str | None = None) -> Browser:
    return Browser(node.port, source)


def csrf_of(page: bytes) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', page.decode()).group(1)


def multipart(fields: dict, files: dict) -> tuple[bytes, str]:
    boundary = "----two-nodes-" + uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_a_login_on_node_a_holds_on_node_b_and_through_nginx(nodes):
    a = on(nodes["a"])
    assert a.login(nodes["member"], PASSWORD).status == 302
    b = on(nodes["b"])
    b.cookies = dict(a.cookies)
    assert b.get("/").status == 200  # not sent to the login page: the session is in the database
    proxied = on(nodes["nginx"])
    proxied.cookies = dict(a.cookies)
    answers = [proxied.get("/") for _ in range(6)]
    assert [answer.status for answer in answers] == [200] * 6
    ids = {answer.getheader("X-Request-ID") for answer in answers}
    time.sleep(0.5)  # the access lines are written after the answer
    for node in (nodes["a"], nodes["b"]):  # nginx sent requests to both nodes
        assert any(rid in node.log.read_text() for rid in ids), node.log
    b.request("POST", "/logout", urlencode({"csrf_token": csrf_of(b.get("/").body)}),
              {"Content-Type": "application/x-www-form-urlencoded"})
    assert a.get("/").status == 302  # logged out on B: gone on A too


def test_login_throttling_counts_failures_on_both_nodes(nodes):
    who = nodes["other"]
    for node in ("a", "b", "a", "b", "a"):
        assert on(nodes[node]).login(who, "wrong-password").status == 401
    refused = on(nodes["b"]).login(who, PASSWORD)  # five failures across the two nodes: locked on both
    assert refused.status == 429 and "登录失败次数过多" in refused.body.decode()


def test_published_on_node_a_is_found_on_node_b(nodes):
    b = on(nodes["b"])
    b.login(nodes["member"], PASSWORD)
    assert "三会一课" not in b.get("/library/search?q=" + quote("党小组会")).body.decode()  # B's searcher is open
    editor = on(nodes["a"])
    assert editor.login(nodes["editor"], PASSWORD).status == 302
    token = csrf_of(editor.get("/library/manage/new").body)
    created = editor.request("POST", "/library/manage/new", urlencode({
        "csrf_token": token, "title": "三会一课制度", "category": "policy", "status": "published",
        "body": "支部党员大会、支部委员会、党小组会和党课。", "note": "创建"}),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert created.status == 302, created.body.decode()[:500]
    found = b.get("/library/search?q=" + quote("党小组会")).body.decode()  # the very next search on B
    assert "三会一课制度" in found
    assert not (nodes["root"] / "node-b" / "search-index").exists()  # one index, in the media folder
    assert (nodes["root"] / "media" / "search-index" / "state.json").exists()


def test_question_bank_preview_on_node_a_confirmed_on_node_b(nodes):
    a = on(nodes["a"])
    a.login(nodes["editor"], PASSWORD)
    body, content_type = multipart(
        {"csrf_token": csrf_of(a.get("/exams/bank/import").body), "format": "gift", "category": "两台服务器"},
        {"file": ("bank.gift.txt", "::一::党的最高理想？{=共产主义 ~小康}\n".encode())})
    preview = a.request("POST", "/exams/bank/import", body, {"Content-Type": content_type}).body.decode()
    token = re.search(r'name="token" type="hidden" value="([0-9a-f]+)"', preview).group(1)
    b = on(nodes["b"])
    b.cookies = dict(a.cookies)
    confirmed = b.request("POST", "/exams/bank/import/confirm", urlencode({
        "csrf_token": csrf_of(b.get("/exams/bank/import").body), "token": token, "format": "gift",
        "category": "两台服务器", "filename": "bank.gift.txt"}), {"Content-Type": "application/x-www-form-urlencoded"})
    assert confirmed.status == 302
    bank = b.get("/exams/bank").body.decode()
    assert "党的最高理想" in bank
    assert not (nodes["root"] / "media" / "exam-imports" / token).exists()


def test_a_reminder_sent_on_node_a_runs_in_an_rq_worker_and_shows_on_node_b(nodes):
    """The job path of production: node A's request queues the reminder's job (a row, handed to
    RQ at commit), a separate ``school jobs rq-worker`` process — the school-worker unit's
    command — runs it, and node B shows the member the message and the sender the outcome."""
    if not REDIS_URL:
        pytest.skip("任务经 RQ 运行的测试需要 Redis：设置 SCHOOL_TEST_REDIS_URL（例如 redis://127.0.0.1:6379/5）后运行")
    from redis import Redis

    env = nodes["envs"]["a"]
    try:
        Redis.from_url(REDIS_URL).ping()
    except Exception as exc:  # configured but not running
        pytest.skip(f"Redis 不可用：{exc}")
    secretary = on(nodes["a"])
    assert secretary.login(nodes["secretary"], PASSWORD).status == 302
    token = csrf_of(secretary.get("/reminders").body)
    sent = secretary.request("POST", "/reminders/send", urlencode({
        "csrf_token": token, "member_id": str(nodes["reminded_id"]), "title": "两台服务器的提醒",
        "text": "请在本周内完成专题学习。", "token": uuid.uuid4().hex, "source": "", "link": ""}),
        {"Content-Type": "application/x-www-form-urlencoded"})
    assert sent.status == 302 and "/reminders/" in sent.getheader("Location"), sent.body.decode()[:500]
    status_path = "/reminders/" + sent.getheader("Location").rsplit("/reminders/", 1)[1]
    # Queued in Redis, not run: with SCHOOL_REDIS_URL the web nodes start no in-process worker.
    assert Redis.from_url(REDIS_URL).llen(f"rq:queue:{env['SCHOOL_RQ_QUEUE']}") == 1
    assert 'id="reminder-pending"' in secretary.get(status_path).body.decode()
    member = on(nodes["b"])
    assert member.login(nodes["reminded"], PASSWORD).status == 302
    assert "两台服务器的提醒" not in member.get("/messages").body.decode()

    worker = subprocess.run([sys.executable, "-c", "from school.cli import main; main()", "jobs", "rq-worker", "--burst"],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert Redis.from_url(REDIS_URL).llen(f"rq:queue:{env['SCHOOL_RQ_QUEUE']}") == 0

    assert "两台服务器的提醒" in member.get("/messages").body.decode()  # node B, written by the worker
    on_b = on(nodes["b"])
    on_b.cookies = dict(secretary.cookies)
    status = on_b.get(status_path).body.decode()
    assert 'id="reminder-pending"' not in status and 'id="reminder-progress"' not in status, status[:2000]
    assert "已送达" in status


def test_both_nodes_sweep_timers_run_each_task_once(nodes):
    while datetime.now().second > 40:  # one minute for both, so each task has one interval to claim
        time.sleep(1)
    procs = [subprocess.Popen([sys.executable, "-c", "from school.cli import main; main()", "jobs", "sweep"],
                              env=nodes["envs"][name], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for name in "ab"]
    ran = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
        ran += [line.removeprefix("定时任务：") for line in out.splitlines() if line.startswith("定时任务：")]
    assert len(ran) == len(set(ran)) and {"exams-finish-overdue", "notices-deliveries"} <= set(ran), ran


def test_render_nginx_writes_one_server_per_upstream(tmp_path):
    render = render_module()
    render.main(["--server-name", "dangxiao.example.gov.cn", "--tls-cert", "/etc/ssl/c.pem", "--tls-key",
                 "/etc/ssl/k.pem", "--upstream", "10.0.0.11:8000", "--upstream", "10.0.0.12:8000",
                 "--media-dir", str(tmp_path / "media"), "--out", str(tmp_path)])
    site = (tmp_path / "school").read_text()
    assert "server 10.0.0.11:8000 max_fails=3 fail_timeout=10s;" in site
    assert "server 10.0.0.12:8000 max_fails=3 fail_timeout=10s;" in site
    with pytest.raises(SystemExit):
        render.upstream_servers(["10.0.0.11:8000; include /etc/passwd"])
