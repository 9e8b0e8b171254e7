"""Importing a question bank file from the editor's page in two steps: upload → preview →
confirm. The upload waits in ``MEDIA_DIR/exam-imports`` — shared by every web node, so the
confirmation may reach another node than the preview — under a server-made name (a random token;
the editor's file name is never a path) until the editor confirms the preview; files whose
preview was never confirmed are removed a day later, at the next upload.

The questions are flushed, not committed: the view commits, then ``discard``s the file.
"""
from __future__ import annotations

import secrets
import time
from datetime import datetime
from pathlib import Path

from flask import current_app

from school import diskspace
from school.accounts.models import User
from school.exams import bank
from school.exams.formats import ParseResult, parse
from school.exams.models import Question

MAX_AGE_SECONDS = 24 * 3600
_HEX = frozenset("0123456789abcdef")


class Expired(Exception):
    """The staged upload is gone (pruned, or already imported)."""


def staging_dir() -> Path:
    path = Path(current_app.config["MEDIA_DIR"]) / "exam-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def prune(max_age_seconds: int = MAX_AGE_SECONDS) -> None:
    """Uploads whose preview was never confirmed are kept a day, then removed."""
    limit = time.time() - max_age_seconds
    for old in staging_dir().iterdir():
        if old.is_file() and old.stat().st_mtime < limit:
            old.unlink(missing_ok=True)


def valid_token(token: str) -> bool:
    return len(token) == 32 and all(c in _HEX for c in token)


def preview(fmt: str, filename: str, data: bytes) -> tuple[ParseResult, str]:
    """Read the upload (raises FormatError) and keep it for the confirmation; returns the token."""
    result = parse(fmt, filename, data)
    prune()
    token = secrets.token_hex(16)
    diskspace.write_bytes(staging_dir() / token, data)
    return result, token


def save_staged(token: str, fmt: str, filename: str, category: str, actor: User | None,
                now: datetime) -> tuple[list[Question], ParseResult]:
    """Read the staged upload again and add its questions (flushed). Raises Expired or FormatError."""
    path = staging_dir() / token if valid_token(token) else None
    if path is None or not path.exists():
        raise Expired(token)
    result = parse(fmt, filename, path.read_bytes())
    return bank.save_parsed(result.questions, actor, now, category), result


def discard(token: str) -> None:
    """Remove the staged upload once its questions are committed."""
    if valid_token(token):
        (staging_dir() / token).unlink(missing_ok=True)
