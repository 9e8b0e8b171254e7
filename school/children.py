"""Child processes (ffmpeg) that die with the process that started them.

Each child runs in a process group of its own (so a signal meant for the site's process group
— Ctrl+C in a terminal, a supervisor's stop — does not hit it half-way, and the group can be
killed as a whole) and asks the kernel (Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``) to kill it
when its parent dies. ``kill -9`` of ``school jobs run`` in the middle of a transcode thus ends
its ffmpeg too, instead of leaving it re-parented to PID 1 and writing into a work folder that
a recovered job would reuse.

The death signal fires when the *thread* that started the child ends; the job runners wait for
their child in the thread that started it, so that is the worker's death too. Elsewhere than
on Linux only the process group is set up.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1

try:  # resolved once, before any fork: the child only calls it
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
    _prctl = None


def _die_with_parent(parent: int) -> None:  # runs in the child between fork and exec
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)


def options() -> dict:
    """Keyword arguments for ``subprocess.Popen``/``run`` that tie the child's life to ours."""
    parent = os.getpid()
    return {"process_group": 0, "preexec_fn": lambda: _die_with_parent(parent)}


def popen(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(args, **options(), **kwargs)


def run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, **options(), **kwargs)


def kill(process: subprocess.Popen) -> None:
    """Kill the child and whatever it started (its whole process group), then reap it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
