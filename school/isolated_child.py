"""The child process that turns an uploaded .docx or .pdf into text, under hard limits.

Run by ``school.isolation.run`` as ``python -I school/isolated_child.py <task> <params JSON>``
with the file on stdin and a result file on stdout. It is a script on purpose: it imports
nothing from ``school`` (no Flask, no database, no threads), only the standard library and
the one parser it needs, and it limits itself before reading a byte of input:

- ``RLIMIT_CPU``: past the limit the kernel sends SIGXCPU, which ends the process;
- ``RLIMIT_AS``: an allocation beyond it fails, Python raises ``MemoryError``, we exit 75;
- ``RLIMIT_FSIZE``: the result file cannot grow past the output limit (Python ignores
  SIGXFSZ, so the write fails with ``EFBIG`` and we exit 74);
- no core files, few open files.

The result is JSON on stdout: ``{"text": …}`` or ``{"error": <code>, …}``; the parent turns
codes into messages, so nothing this process writes is shown to anyone verbatim.
"""
from __future__ import annotations

import io
import json
import os
import re
import resource
import sys

EXIT_MEMORY = 75
EXIT_OUTPUT = 74
EXIT_CRASH = 70


class Refusal(Exception):
    def __init__(self, code: str, **details):
        super().__init__(code)
        self.code, self.details = code, details


def _limit(params: dict) -> None:
    cpu = max(1, int(params["cpu"]))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = int(params["memory"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    output = int(params["output"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def docx(data: bytes, params: dict) -> str:
    import mammoth

    try:
        result = mammoth.convert_to_markdown(io.BytesIO(data))
    except MemoryError:
        raise
    except Exception as exc:  # mammoth raises many kinds for a damaged file
        raise Refusal("damaged") from exc
    # Text typed in Word is text: angle brackets must not become raw HTML in the Markdown.
    return result.value.replace("<", "&lt;").replace(">", "&gt;")


def pdf(data: bytes, params: dict) -> str:
    from pypdf import PdfReader

    if not data.startswith(b"%PDF"):
        raise Refusal("not_pdf")
    max_pages, max_chars = int(params["max_pages"]), int(params["max_chars"])
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise Refusal("encrypted")
        count = len(reader.pages)  # the page tree only; no page is read yet
        if count > max_pages:
            raise Refusal("pages", pages=count)
        lines: list[str] = []
        total = 0
        for page in reader.pages:
            text = page.extract_text() or ""
            total += len(text)
            if total > max_chars:
                raise Refusal("too_much_text")
            lines.extend(text.splitlines())
    except (Refusal, MemoryError):
        raise
    except Exception as exc:  # pypdf raises many kinds for a damaged file
        raise Refusal("damaged") from exc
    # One paragraph per text line; Markdown special characters at line starts are escaped.
    lines = [re.sub(r"^([#>*+\-]|\d+\.)", r"\\\1", line.strip()) for line in lines]
    return "\n\n".join(line for line in lines if line)


TASKS = {"docx": docx, "pdf": pdf}


def main() -> int:
    task, params = TASKS[sys.argv[1]], json.loads(sys.argv[2])
    _limit(params)
    data = sys.stdin.buffer.read()
    try:
        out = {"text": task(data, params)}
    except Refusal as refusal:
        out = {"error": refusal.code, **refusal.details}
    except MemoryError:
        return EXIT_MEMORY
    try:
        sys.stdout.write(json.dumps(out))  # ASCII only: \\u escapes for Chinese
        sys.stdout.flush()
    except MemoryError:
        return EXIT_MEMORY
    except OSError:
        return EXIT_OUTPUT
    return 0


if __name__ == "__main__":
    try:
        code = main()
    except MemoryError:
        code = EXIT_MEMORY
    except BaseException:  # noqa: BLE001 - the parent only needs to know it failed
        code = EXIT_CRASH
    os._exit(code)  # no interpreter teardown (it may need memory we do not have)
