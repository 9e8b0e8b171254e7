"""The systemd units and ``school.env.example`` of ``deploy/`` run as written.

Each unit's ``ExecStart`` (and ``ExecStartPre``/``ExecReload``) is run for real, with the paths
of a production host (``/srv/school/venv``, ``/srv/school/app``, ``/etc/school/school.env``,
``/run/school``) mapped to this checkout, its venv and a temporary folder, and the environment
read from ``school.env.example`` as the unit's ``EnvironmentFile`` would (only the database and
Redis addresses and the folders are changed). ``systemd-analyze verify`` checks the unit files
themselves when it is installed.
"""
from __future__ import annotations

import http.client
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.deploy.stack import DEPLOY, REPO, free_port, wait_for_port

UNITS = DEPLOY / "systemd"
ENV_EXAMPLE = DEPLOY / "school.env.example"
REDIS_URL = os.environ.get("SCHOOL_TEST_REDIS_URL", "")
VENV_BIN = Path(sys.executable).parent
# Variables every production host must set (the app refuses or misbehaves without them).
REQUIRED = {"SCHOOL_ENV", "SCHOOL_SECRET_KEY", "SCHOOL_DATABASE_URL", "SCHOOL_REDIS_URL", "SCHOOL_INSTANCE_PATH",
            "SCHOOL_MEDIA_DIR", "SCHOOL_ACCEL_REDIRECT", "SCHOOL_TRUSTED_PROXIES", "SCHOOL_WEB_BIND"}


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """systemd's INI dialect: a key may repeat (each value is kept), ``#``/``;`` start comments."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def read_env_file(path: Path) -> tuple[dict[str, str], set[str]]:
    """An ``EnvironmentFile``: the variables set, and the names only shown in comments (``# NAME=…``)."""
    values, commented = {}, set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"\s*#\s*(SCHOOL_[A-Z_]+)=", line):
            commented.add(match.group(1))
        elif line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values, commented


class Host:
    """The production paths of the units, mapped into ``root``."""

    def __init__(self, root: Path):
        self.root = root
        self.paths = {"/srv/school/venv/bin": str(VENV_BIN), "/srv/school/app": str(REPO),
                      "/srv/school/instance": str(root / "instance"), "/srv/school/media": str(root / "media"),
                      "/etc/school": str(root / "etc"), "/run/school": str(root / "run")}
        (root / "etc").mkdir()
        values, _ = read_env_file(ENV_EXAMPLE)
        values.update(SCHOOL_DATABASE_URL=f"sqlite:///{root / 'school.db'}",
                      SCHOOL_INSTANCE_PATH=self.map(values["SCHOOL_INSTANCE_PATH"]),
                      SCHOOL_MEDIA_DIR=self.map(values["SCHOOL_MEDIA_DIR"]), SCHOOL_SECRET_KEY=uuid.uuid4().hex * 2)
        if REDIS_URL:
            values.update(SCHOOL_REDIS_URL=REDIS_URL, SCHOOL_RQ_QUEUE=f"units-{uuid.uuid4().hex[:8]}")
        else:
            values.pop("SCHOOL_REDIS_URL")
        (root / "etc" / "school.env").write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")

    def map(self, text: str) -> str:
        for production, here in self.paths.items():
            text = text.replace(production, here)
        return text

    def env(self, unit: dict) -> dict:
        """The process environment systemd would give the unit's commands (plus PYTHONPATH: this checkout)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SCHOOL_", "PROMETHEUS_", "NOTIFY_SOCKET"))}
        env["PYTHONPATH"] = str(REPO)
        for line in unit["Service"].get("Environment", []):
            key, _, value = line.partition("=")
            env[key] = self.map(value)
        for file in unit["Service"].get("EnvironmentFile", []):
            env.update(read_env_file(Path(self.map(file)))[0])
        for folder in " ".join(unit["Service"].get("RuntimeDirectory", [])).split():
            (self.root / "run" / folder.removeprefix("school").lstrip("/")).mkdir(parents=True, exist_ok=True)
        return env

    def command(self, unit: dict, key: str, **variables) -> list[str]:
        (line,) = unit["Service"][key]
        for name, value in variables.items():
            line = line.replace(f"${name}", value)
        return shlex.split(self.map(line))

    def run(self, unit: dict, key: str, *extra: str, env: dict | None = None, **variables) -> str:
        args = self.command(unit, key, **variables) + list(extra)
        assert Path(args[0]).is_file() and os.access(args[0], os.X_OK), args[0]
        done = subprocess.run(args, env=env or self.env(unit), cwd=self.map(unit["Service"]["WorkingDirectory"][0]),
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


@pytest.fixture
def host(tmp_path):
    host = Host(tmp_path)
    sweep = read_unit(UNITS / "school-sweep.service")
    # docs/deployment.md step 6: `school init` with the settings file, before any unit starts.
    init = shlex.split(host.map("/srv/school/venv/bin/school init"))
    done = subprocess.run(init, env=host.env(sweep), cwd=REPO, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return host


def test_every_unit_reads_the_settings_file_the_docs_install():
    target = re.search(r"^# (/etc/\S+)", ENV_EXAMPLE.read_text(encoding="utf-8"), re.M).group(1)
    assert f"deploy/school.env.example {target}" in (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    for path in sorted(UNITS.glob("*.service")):
        unit = read_unit(path)
        assert unit["Service"]["EnvironmentFile"] == [target], path.name
        assert unit["Service"]["User"] == ["school"] and unit["Service"]["WorkingDirectory"] == ["/srv/school/app"]
    timer = read_unit(UNITS / "school-sweep.timer")
    assert timer["Timer"]["OnUnitActiveSec"] == ["1min"] and (UNITS / "school-sweep.service").exists()


def test_every_variable_of_the_env_example_is_read_by_the_app():
    values, commented = read_env_file(ENV_EXAMPLE)
    assert REQUIRED <= set(values), REQUIRED - set(values)
    sources = "\n".join(p.read_text(encoding="utf-8") for p in [*(REPO / "school").rglob("*.py"), DEPLOY / "gunicorn.conf.py"])
    unread = sorted(name for name in set(values) | commented if f'"{name}"' not in sources)
    assert not unread, f"school.env.example names variables nothing reads: {unread}"
    assert values["SCHOOL_ENV"] == "production"


def test_web_unit_starts_gunicorn_which_tells_systemd_it_is_ready(host, tmp_path):
    unit = read_unit(UNITS / "school-web.service")
    assert unit["Service"]["Type"] == ["notify"]
    host.run(unit, "ExecStartPre")
    env = host.env(unit)
    port = free_port()
    env.update(SCHOOL_WEB_BIND=f"127.0.0.1:{port}", SCHOOL_WEB_WORKERS="2")  # a free port; 2 workers on this machine
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = Path(tempfile.mkdtemp(prefix="notify-")) / "s"  # a socket path must stay under 108 bytes
    notify.bind(str(address))
    notify.settimeout(60)
    env["NOTIFY_SOCKET"] = str(address)
    args = host.command(unit, "ExecStart")
    assert Path(args[0]).is_file(), args[0]
    log = tmp_path / "web.log"
    proc = subprocess.Popen(args, env=env, cwd=host.map(unit["Service"]["WorkingDirectory"][0]),
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert b"READY=1" in notify.recv(4096), log.read_text()  # Type=notify: systemd waits for this
        wait_for_port(port, proc, log)
        for _ in range(2):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("GET", "/healthz")
            answer = conn.getresponse()
            assert answer.status == 200, answer.read()
            conn.close()
            # ExecReload (HUP: gunicorn starts new workers with the new code, the old ones finish)
            host.run(unit, "ExecReload", env=env, MAINPID=str(proc.pid))
            wait_for_port(port, proc, log)
        assert list((tmp_path / "run" / "prometheus").glob("*.db")), "PROMETHEUS_MULTIPROC_DIR unused"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # KillMode=mixed: SIGTERM to the main process
        # A hang guard, not a speed check: gunicorn's graceful_timeout is 30 s, and a worker still
        # booting from the reload on a loaded CI machine (load ~30 seen) can take as long again.
        assert proc.wait(timeout=150) == 0, log.read_text()
        notify.close()
        shutil.rmtree(address.parent, ignore_errors=True)


def test_sweep_unit_runs_the_periodic_tasks(host):
    out = host.run(read_unit(UNITS / "school-sweep.service"), "ExecStart")
    assert "定时任务：exams-finish-overdue" in out


def test_worker_unit_runs_the_rq_worker(host):
    unit = read_unit(UNITS / "school-worker.service")
    if not REDIS_URL:
        # Without Redis the command still exists and refuses clearly (its unit has Restart=always).
        args = host.command(unit, "ExecStart")
        done = subprocess.run(args, env=host.env(unit), cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode != 0 and "没有设置 SCHOOL_REDIS_URL" in done.stderr
        pytest.skip("RQ 任务进程需要 Redis：设置 SCHOOL_TEST_REDIS_URL 后运行（已检查命令存在并给出提示）")
    host.run(unit, "ExecStart", "--burst")  # drains the (empty) queue of its own and exits


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("没有 systemd-analyze（apt-get install systemd）：单元文件的语法检查跳过")
    host = Host(tmp_path)
    units = tmp_path / "units"
    units.mkdir()
    for path in UNITS.iterdir():  # the production paths do not exist here: verify checks ExecStart's binary
        (units / path.name).write_text(host.map(path.read_text(encoding="utf-8")), encoding="utf-8")
    done = subprocess.run([analyze, "verify", *sorted(str(p) for p in units.iterdir())], capture_output=True,
                          text=True, timeout=120)
    about_ours = [line for line in (done.stdout + done.stderr).splitlines() if str(units) in line]
    assert done.returncode == 0 and not about_ours, done.stdout + done.stderr
