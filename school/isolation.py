"""Parsing untrusted files without letting them stall the server.

Two layers:

1. **Cheap checks first, in the server process** — ``check_zip`` reads only a zip's central
   directory (a .docx or .xlsx is a zip) and refuses a total uncompressed size or a
   per-member compression ratio past the limits, before anything is unpacked. (Python's
   ``zipfile`` never inflates a member past the size the directory declares — it fails the
   CRC instead — so a lying directory cannot get around this.)
2. **The parsing itself in a child process** — ``run`` starts ``school/isolated_child.py``
   with ``subprocess`` (``python -I``, a fresh interpreter), which sets ``RLIMIT_CPU``,
   ``RLIMIT_AS`` and ``RLIMIT_FSIZE`` on itself before it reads the file; the parent waits
   at most ``UPLOAD_PARSE_TIMEOUT`` seconds of wall-clock time and then kills the child's
   process group (``children.popen``/``children.kill``, as for ffmpeg; the child also dies
   with the process that started it). Input and output are temporary files (no pipes, so no deadlock and no
   reader thread); the output is JSON (never pickle) and its size is capped twice, by
   ``RLIMIT_FSIZE`` in the child and by a size check in the parent.

Why ``subprocess`` and a script rather than ``multiprocessing``: "fork" would copy a server
with threads (the job runner, the search index writer) and open database connections;
"spawn" re-imports the parent's ``__main__`` (gunicorn, waitress, pytest …) and pickles the
result back; "forkserver" keeps a long-lived helper and still unpickles what a process that
just parsed hostile input sends. A script run with ``-I`` imports only the standard library
and one parser, receives bytes and returns JSON — the smallest surface, and the same under
every server. It costs one interpreter start (~0.2–0.5 s) per upload, which editors do not
notice next to the upload itself.

At most ``UPLOAD_PARSE_CONCURRENCY`` children run at once on a machine, whichever worker
process started them (one lock file per slot under the instance folder, ``flock``): without
that, sixteen uploads at once (2 workers × 8 threads) would start sixteen children allowed
512 MB each. An upload waits up to ``UPLOAD_PARSE_QUEUE_SECONDS`` for a slot, then is refused
with a message to try again; nothing is imported.
"""
from __future__ import annotations

import fcntl
import io
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path

from flask import current_app, has_app_context

from school import children
from school.limits import limit

log = logging.getLogger(__name__)
CHILD = str(Path(__file__).resolve().with_name("isolated_child.py"))
RATIO_FLOOR = 1024 * 1024  # members smaller than this are not judged by their ratio
MAX_ZIP_MEMBERS = 10_000
EXIT_MEMORY, EXIT_OUTPUT = 75, 74


class Refused(ValueError):
    """The file is refused; the message (Chinese) says why and is shown to the person."""


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


def check_zip(data: bytes, what: str, broken: str = "") -> None:
    """Refuse a zip whose declared contents are too big or suspiciously compressed
    (``broken``: the message for a file that is no zip at all)."""
    max_total = int(limit("UPLOAD_MAX_UNPACKED_MB")) * 1024 * 1024
    max_ratio = float(limit("UPLOAD_MAX_COMPRESSION_RATIO"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise Refused(broken or f"{what}已损坏或格式不正确") from exc
    if len(members) > MAX_ZIP_MEMBERS:
        raise Refused(f"{what}内部的文件过多（{len(members)} 个），未导入")
    total = 0
    for member in members:
        total += member.file_size
        if member.file_size >= RATIO_FLOOR and member.file_size > max_ratio * max(member.compress_size, 1):
            ratio = member.file_size / max(member.compress_size, 1)
            raise Refused(f"{what}中有压缩比异常的内容（约 {ratio:.0f} 倍，上限 {max_ratio:.0f} 倍），"
                          "可能是恶意构造的文件，未导入")
    if total > max_total:
        raise Refused(f"{what}解压后过大（约 {_mb(total)}，上限 {_mb(max_total)}），未导入")


def _slot_folder() -> Path:
    base = current_app.instance_path if has_app_context() else tempfile.gettempdir()
    folder = Path(base) / "parse-slots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def parse_slot():
    """Hold one of the machine's ``UPLOAD_PARSE_CONCURRENCY`` parsing slots (see module doc)."""
    folder, count = _slot_folder(), max(1, int(limit("UPLOAD_PARSE_CONCURRENCY")))
    deadline = time.monotonic() + float(limit("UPLOAD_PARSE_QUEUE_SECONDS"))
    while True:
        for i in range(count):
            fd = os.open(folder / f"{i}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                yield
            finally:
                os.close(fd)  # closing the descriptor releases the lock
            return
        if time.monotonic() >= deadline:
            raise Refused("服务器正在处理其他上传的文件，请稍后再试（本次未导入）")
        time.sleep(0.05)


def run(task: str, data: bytes, **params) -> dict:
    """Run ``task`` of the child on ``data``; returns its JSON result (``text`` or ``error``),
    or raises ``Refused`` when the child ran out of time, memory or output, or crashed, or
    no parsing slot came free in time."""
    with parse_slot():
        return _run(task, data, **params)


def _run(task: str, data: bytes, **params) -> dict:
    timeout = float(limit("UPLOAD_PARSE_TIMEOUT"))
    output_bytes = int(limit("UPLOAD_PARSE_OUTPUT_MB")) * 1024 * 1024
    params.update(cpu=int(limit("UPLOAD_PARSE_CPU_SECONDS")), output=output_bytes,
                  memory=int(limit("UPLOAD_PARSE_MEMORY_MB")) * 1024 * 1024)
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stdout, \
            tempfile.TemporaryFile() as stderr:
        stdin.write(data)
        stdin.seek(0)
        # A process group of its own, and killed by the kernel if this process dies (children.py).
        proc = children.popen([sys.executable, "-I", CHILD, task, json.dumps(params)], stdin=stdin,
                              stdout=stdout, stderr=stderr, close_fds=True,
                              env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"})
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            children.kill(proc)
            log.warning("isolated %s: killed after %.1f s", task, timeout)
            raise Refused(f"文件处理超时（超过 {timeout:g} 秒），可能过于复杂或是恶意构造的文件，未导入") from None
        if code != 0:
            stderr.seek(0)
            said = stderr.read(2000).decode("utf-8", "replace")
            log.warning("isolated %s: exit %s %s", task, code, said)
            raise Refused(_failure(code, said))
        size = stdout.seek(0, os.SEEK_END)
        if size > output_bytes:
            raise Refused("从文件中提取的文字过多，未导入")
        stdout.seek(0)
        try:
            result = json.loads(stdout.read())
        except ValueError:
            raise Refused("文件无法处理，未导入") from None
    if not isinstance(result, dict) or not isinstance(result.get("text", ""), str):
        raise Refused("文件无法处理，未导入")
    return result


def _failure(code: int, said: str = "") -> str:
    if code == -signal.SIGXCPU or code == -signal.SIGKILL:
        return "文件处理超时（计算量超出限制），可能过于复杂或是恶意构造的文件，未导入"
    # At the cap the interpreter may abort before the child's handler runs ("Fatal Python
    # error: … Cannot recover from MemoryErrors …", SIGABRT): still the memory cap.
    if code == EXIT_MEMORY or (code == -signal.SIGABRT and "MemoryError" in said):
        return "文件处理所需内存超出限制，可能过于复杂或是恶意构造的文件，未导入"
    if code == EXIT_OUTPUT:
        return "从文件中提取的文字过多，未导入"
    return "文件无法处理（可能已损坏），未导入"
