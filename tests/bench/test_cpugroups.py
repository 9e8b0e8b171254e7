"""bench/cpugroups.py: the exam spike's ``--cgroups`` puts the web server, PostgreSQL and the
load generator in CPU groups of their own, and must put every process back afterwards (it
moves the machine's PostgreSQL). Needs root and the CPU controller; skipped otherwise."""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from bench import cpugroups

pytestmark = pytest.mark.skipif(not cpugroups.available(), reason="需要 root 权限和 CPU cgroup 控制器")


def _group_of(pid: int) -> str:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        hierarchy, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(",") or (hierarchy == "0" and cpugroups._root() == cpugroups.V2):
            return path
    raise AssertionError("no cpu hierarchy")


def test_processes_and_their_children_move_in_and_back():
    before_sleeper, started = subprocess.Popen(["sleep", "30"]), None
    groups = cpugroups.CpuGroups(["web", "db"])
    try:
        was = _group_of(before_sleeper.pid)
        groups.move("db", [before_sleeper.pid])
        assert _group_of(before_sleeper.pid).endswith("/db")
        started = subprocess.Popen(["sh", "-c", "sleep 30 & echo $!; wait"], preexec_fn=groups.preexec("web"),
                                   stdout=subprocess.PIPE, text=True, start_new_session=True)
        child = int(started.stdout.readline())  # forked after the move: in the group too
        assert _group_of(started.pid).endswith("/web") and _group_of(child).endswith("/web")
    finally:
        groups.close()
    try:
        assert _group_of(before_sleeper.pid) == was and not groups.base.exists()
        assert _group_of(started.pid) == _group_of(child) == was
    finally:
        before_sleeper.kill()
        before_sleeper.wait()
        if started is not None:
            os.killpg(started.pid, signal.SIGKILL)
            started.wait()
