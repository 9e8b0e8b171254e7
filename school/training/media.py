"""Pictures of the training package (class covers, reflection pictures, seals).

Checked exactly like exam pictures (``exams.images.check``: magic bytes, every pixel
decoded by Pillow, redrawn without metadata, at most 2000 px) and stored content-addressed
under ``MEDIA_DIR/training-images/`` — a name is the SHA-256 of the stored bytes, so it
cannot be guessed and never changes what it points to.
"""
from __future__ import annotations

from pathlib import Path

from flask import Response, current_app, send_file

from school.exams.images import MIME_TYPES, NAME, ImageError, check, write_once

FOLDER = "training-images"

__all__ = ["ImageError", "save_picture", "path_of", "send"]


def path_of(name: str) -> Path | None:
    if not NAME.match(name or ""):
        return None
    return Path(current_app.config["MEDIA_DIR"]) / FOLDER / name[:2] / name


def save_picture(data: bytes) -> str:
    """Check and store an upload; returns its name. Raises ``ImageError`` with the reason."""
    prepared = check(data)
    write_once(path_of(prepared.name), prepared.data)
    return prepared.name


def send(name: str) -> Response | None:
    path = path_of(name)
    if path is None or not path.is_file():
        return None
    response = send_file(path, mimetype=MIME_TYPES[name.rsplit(".", 1)[1]], conditional=True, max_age=86400)
    response.headers["Cache-Control"] = "private, max-age=86400"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
