"""Helpers for the fault suite: the ``school`` program as a child process of this checkout,
processes found by their command line, a tiny file system that fills up, a private Redis."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def school_cmd(*args: str) -> list[str]:
    """``school …`` run from this checkout (not whatever ``school`` is installed)."""
    return [sys.executable, "-m", "school.cli", *args]


def child_env(app, **extra) -> dict:
    env = dict(os.environ)
    env.update(SCHOOL_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"], SCHOOL_MEDIA_DIR=app.config["MEDIA_DIR"],
               SCHOOL_INSTANCE_PATH=app.config["INSTANCE_PATH"], SCHOOL_SECRET_KEY="test-secret",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")])))
    env.pop("SCHOOL_REDIS_URL", None)
    env.update(extra)
    return env


def processes_mentioning(text: str) -> list[int]:
    """Pids of the processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def wait_until(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (root only): ``small_disk(size="2m")`` returns its mount point; unmounted afterwards."""
    mounts = []

    def mount(size: str = "2m") -> Path:
        if os.geteuid() != 0:
            pytest.skip("磁盘写满的测试需要 root 权限（挂载一个很小的 tmpfs）")
        point = tmp_path / f"small-disk-{len(mounts)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"无法挂载 tmpfs（{done.stderr.strip() or done.returncode}），跳过磁盘写满的测试")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> Path:
    """Fill the file system of ``folder`` until at most ``leave`` bytes are free."""
    filler = folder / "filler.bin"
    with filler.open("wb") as fh:
        block = b"\0" * 65536
        try:
            while shutil.disk_usage(folder).free > leave + len(block):
                fh.write(block)
                fh.flush()
            remaining = shutil.disk_usage(folder).free - leave
            if remaining > 0:
                fh.write(b"\0" * remaining)
                fh.flush()
        except OSError:
            pass
    return filler


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnRedis:
    """A redis-server of this test's own, on a free port, that the test stops and starts."""

    def __init__(self, folder: Path):
        self.folder, self.port, self.process = folder, free_port(), None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from redis import Redis

        def up():
            try:
                return Redis.from_url(self.url).ping()
            except Exception:
                return False
        assert wait_until(up, 10), "redis-server did not start"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def own_redis(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("没有安装 redis-server，跳过 Redis 停止与重启的测试")
    server = OwnRedis(tmp_path)
    try:
        yield server
    finally:
        server.stop()
