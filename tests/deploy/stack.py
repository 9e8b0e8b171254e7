"""nginx (Debian's binary, config rendered from ``deploy/``) in front of gunicorn
(``deploy/gunicorn.conf.py``), both started as child processes on free ports, unprivileged
friendly: nginx runs with ``-p <tmp prefix>``, ``daemon off``, its pid, logs and temp files in tmp.

Without nginx the tests are skipped with a message — unless ``SCHOOL_REQUIRE_NGINX=1`` (CI),
where a missing nginx is a failure. ``make system-deps`` installs it (apt-get, as root).
"""
from __future__ import annotations

import http.client
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                            if Path(p).exists()), None)
    if found is None:
        message = ("未找到 nginx：部署测试跳过。请运行 make system-deps（root 时用 apt-get 安装 nginx-light），"
                   "或 sudo apt-get install nginx-light")
        if os.environ.get("SCHOOL_REQUIRE_NGINX") == "1":
            pytest.fail(message + "（SCHOOL_REQUIRE_NGINX=1：必须有 nginx）")
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"进程已退出（{proc.returncode}）：\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"端口 {port} 在 {seconds} 秒内没有打开：\n{log.read_text(errors='replace')[-3000:]}")


def render_module():
    spec = importlib.util.spec_from_file_location("render_nginx", DEPLOY / "render_nginx.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def app_env(root: Path, **extra) -> dict:
    """The environment of gunicorn and of ``school`` commands for a site living in ``root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHOOL_", "PROMETHEUS_"))}
    env.update(PYTHONPATH=str(REPO), SCHOOL_SECRET_KEY="deploy-test-secret",
               SCHOOL_DATABASE_URL=f"sqlite:///{root / 'school.db'}",
               SCHOOL_INSTANCE_PATH=str(root / "instance"), SCHOOL_MEDIA_DIR=str(root / "media"),
               SCHOOL_ACCEL_REDIRECT="/protected-media", SCHOOL_TRUSTED_PROXIES="1")
    env.update(extra)
    return env


def school(env: dict, *args: str) -> str:
    """``school ARGS`` as the checklist runs it (the console script is ``school.cli:main``)."""
    done = subprocess.run([sys.executable, "-c", "from school.cli import main; main()", *args], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class Gunicorn:
    def __init__(self, env: dict, logs: Path, workers: int = 1, threads: int = 4):
        self.port = free_port()
        self.log = logs / f"gunicorn-{self.port}.log"
        env = dict(env, SCHOOL_WEB_BIND=f"127.0.0.1:{self.port}", SCHOOL_WEB_WORKERS=str(workers),
                   SCHOOL_WEB_THREADS=str(threads))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py"), "school:create_app()"],
            env=env, cwd=REPO, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, self.proc, self.log)

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Nginx:
    """nginx with the production locations (``deploy/nginx/school-locations.conf.in``) in a
    plain-HTTP server block; ``upstreams`` are gunicorn ports. ``connections``: nginx's
    worker_connections (each client holds one, and each request one more to gunicorn)."""

    def __init__(self, prefix: Path, upstreams: list[int], static_dir: Path, media_dir: Path,
                 connections: int = 128, keepalive: int = 4):
        binary = nginx_binary()
        self.port = free_port()
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "logs").mkdir(exist_ok=True)
        self.log = prefix / "logs" / "error.log"
        locations = render_module().render("school-locations.conf.in",
                                           {"STATIC_DIR": str(static_dir), "MEDIA_DIR": str(media_dir)})
        (prefix / "school-locations.conf").write_text(locations, encoding="utf-8")
        mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else \
            "types { text/html html; text/css css; application/javascript js; image/svg+xml svg; }"
        servers = render_module().upstream_servers([f"127.0.0.1:{port}" for port in upstreams])
        (prefix / "nginx.conf").write_text(f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {self.log} info;
events {{ worker_connections {connections}; }}
http {{
    {mime}
    default_type application/octet-stream;
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    upstream school_app {{ {servers} keepalive {keepalive}; }}
    server {{
        listen 127.0.0.1:{self.port};
        server_name localhost;
        include {prefix}/school-locations.conf;
    }}
}}
""", encoding="utf-8")
        out = prefix / "logs" / "stdout.log"
        self.proc = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(self.log)],
                                     stdout=out.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(self.port, self.proc, out)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Browser:
    """A tiny HTTP client with a cookie jar (the test environment has no ``requests``)."""

    def __init__(self, port: int, source: str | None = None):
        self.port = port
        self.source = (source, 0) if source else None  # e.g. 127.0.0.2: another loopback address
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, body: bytes | str | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=self.source)
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        response.body = response.read()
        for header in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        conn.close()
        return response

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def csrf(self, path="/login") -> str:
        page = self.get(path).body.decode()
        return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)

    def post_form(self, path, fields: dict, headers=None):
        from urllib.parse import urlencode

        fields = dict(fields)
        fields.setdefault("csrf_token", self.csrf())
        return self.request("POST", path, urlencode(fields),
                            {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})

    def login(self, identifier: str, password: str, headers=None):
        return self.post_form("/login", {"identifier": identifier, "password": password}, headers)
