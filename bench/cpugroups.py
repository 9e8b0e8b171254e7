"""CPU cgroups for a bench run, placed as systemd places the production services.

On a production machine the web server (``deploy/systemd/school-web.service``), PostgreSQL
(``postgresql@….service``) and anything else each run in a cgroup of their own, and the
kernel shares the cores between the groups by weight (systemd's default: equal) before it
shares a group's part between its threads. On the bench machine everything runs in one
group, so 300 simulated members' threads, 32 web threads and the database backends all
compete thread against thread — which no deployment does, and which hurts the database that
has processes of its own (each PostgreSQL statement waits for its backend to get a core).

``CpuGroups`` makes one group per part (equal weights, as systemd's default ``CPUWeight``),
moves processes into them, and puts everything back afterwards. It needs root and the CPU
controller (cgroup v1's ``cpu`` hierarchy or cgroup v2 with ``cpu`` enabled); ``available()``
says whether it can run.
"""
from __future__ import annotations

import os
from pathlib import Path

V1 = Path("/sys/fs/cgroup/cpu")
V2 = Path("/sys/fs/cgroup")


def _root() -> Path | None:
    if (V1 / "cgroup.procs").exists():
        return V1
    controllers = V2 / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return V2
    return None


def available() -> bool:
    root = _root()
    return root is not None and os.geteuid() == 0 and os.access(root, os.W_OK)


def postgres_pids() -> list[int]:
    """Every process of the local PostgreSQL server (the postmaster, its helpers and backends):
    new backends start in the postmaster's group."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class CpuGroups:
    def __init__(self, names: list[str]):
        if not available():
            raise RuntimeError("需要 root 权限和 CPU cgroup 控制器")
        self.root = _root()
        self.base = self.root / f"school-bench-{os.getpid()}"
        self.base.mkdir()
        if self.root == V2:  # a v2 group shares CPU among its children only with the controller on
            (self.base / "cgroup.subtree_control").write_text("+cpu")
        self.groups = {}
        for name in names:
            path = self.base / name
            path.mkdir()
            self.groups[name] = path

    def move(self, name: str, pids: list[int]) -> None:
        """Move whole processes (every thread; their later children follow)."""
        for pid in pids:
            try:
                (self.groups[name] / "cgroup.procs").write_text(str(pid))
            except OSError:
                continue  # gone in between

    def preexec(self, name: str):
        """For ``subprocess.Popen(preexec_fn=…)``: the child joins ``name`` before it runs."""
        procs = str(self.groups[name] / "cgroup.procs")

        def join():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        return join

    def close(self) -> None:
        """Everything still in the groups back to the root group; the groups removed."""
        for path in self.groups.values():
            for pid in (path / "cgroup.procs").read_text().split():
                try:
                    (self.root / "cgroup.procs").write_text(pid)
                except OSError:
                    continue
            path.rmdir()
        self.base.rmdir()
