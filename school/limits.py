"""Bounds on what uploaded or stored text may cost to parse: one table of defaults.

Each limit is a Flask config key, set from the ``SCHOOL_<KEY>`` environment variable when
present (``config.load_config``), otherwise the default below; code reads it with
``limit(KEY)``, which also works outside an application (CLI helpers, the demo loader).
README's configuration table lists them.
"""
from __future__ import annotations

from flask import current_app, has_app_context

DEFAULTS: dict[str, int | float] = {
    # The child process that converts .docx / .pdf uploads to text (school.isolation).
    "UPLOAD_PARSE_TIMEOUT": 30.0,  # wall-clock seconds, enforced by the parent
    "UPLOAD_PARSE_CPU_SECONDS": 20,  # RLIMIT_CPU in the child
    "UPLOAD_PARSE_MEMORY_MB": 512,  # RLIMIT_AS in the child (address space, not resident memory)
    "UPLOAD_PARSE_OUTPUT_MB": 16,  # RLIMIT_FSIZE on the child's result file
    "UPLOAD_PARSE_CONCURRENCY": 2,  # children at once on one machine, across every worker process
    "UPLOAD_PARSE_QUEUE_SECONDS": 20.0,  # how long an upload waits for a free child before it is refused
    # Checked before anything is unpacked: the zip central directory of .docx / .xlsx …
    "UPLOAD_MAX_UNPACKED_MB": 64,  # total uncompressed size of all members
    "UPLOAD_MAX_COMPRESSION_RATIO": 100,  # per member (members under 1 MB are not judged)
    # … and the page count of a PDF (first thing the child reads).
    "UPLOAD_MAX_PDF_PAGES": 1000,
    # Spreadsheets and CSV (member import, question-bank import).
    "TABLE_MAX_BYTES": 10 * 1024 * 1024,
    "TABLE_MAX_ROWS": 20_000,
    "TABLE_MAX_COLUMNS": 100,
    # Markdown accepted when saved (characters).
    "MARKDOWN_MAX_CHARS_DOCUMENT": 1_000_000,
    "MARKDOWN_MAX_CHARS_LESSON": 200_000,
    "MARKDOWN_MAX_CHARS_QUESTION": 200_000,
}


def from_environment(env) -> dict:
    """The limits as config entries, each overridable by ``SCHOOL_<KEY>``."""
    out = {}
    for key, default in DEFAULTS.items():
        raw = env.get(f"SCHOOL_{key}")
        out[key] = type(default)(raw) if raw not in (None, "") else default
    return out


def limit(key: str):
    if has_app_context():
        return current_app.config.get(key, DEFAULTS[key])
    return DEFAULTS[key]
