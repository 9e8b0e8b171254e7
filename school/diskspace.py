"""A full disk is an expected state, not a crash: every write path recognises it and says, in
Chinese, what was kept and what to do; ``/healthz`` reports it before it happens."""
from __future__ import annotations

import errno
import shutil
from pathlib import Path

FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
# lxml (openpyxl's writer) reports a full disk as ``SerialisationError('IO_ENOSPC')``, without an errno.
FULL_TEXTS = ("no space left on device", "database or disk is full", "disk quota exceeded", "io_enospc",
              "errno 28]")


class DiskFull(Exception):
    """No space to write; ``str(exc)`` is the message for people ("磁盘空间不足：……")."""


def is_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it, e.g. the driver's error inside SQLAlchemy's) means "no space"."""
    seen = 0
    while exc is not None and seen < 5:
        if isinstance(exc, DiskFull):
            return True
        if isinstance(exc, OSError) and exc.errno in FULL_ERRNOS:
            return True
        if any(text in str(exc).lower() for text in FULL_TEXTS):
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__ or exc.__context__
        seen += 1
    return False


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write a new file; when that fails (a full disk) nothing is left at ``path``, not even a
    half-written file that keeps the disk full."""
    path = Path(path)
    try:
        path.write_bytes(data)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def message(what_happened: str, what_to_do: str = "请联系管理员清理服务器磁盘后重试。") -> str:
    return f"磁盘空间不足：{what_happened}{what_to_do}"


def free_mb(path: str | Path) -> float | None:
    """Free space of the file system holding ``path`` (its nearest existing parent), in MB."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free / (1024 * 1024)
    except OSError:
        return None


def low(paths: dict[str, str], minimum_mb: float) -> dict[str, int]:
    """The named paths whose file system has less than ``minimum_mb`` free: ``{name: free MB}``."""
    found = {}
    for name, path in paths.items():
        free = free_mb(path) if path else None
        if free is not None and free < minimum_mb:
            found[name] = int(free)
    return found
