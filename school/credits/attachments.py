"""Sign-in sheet photos and PDFs attached to offline sessions.

Stored under ``MEDIA_DIR/offline/`` with a server-generated name (never the uploaded one),
after an extension allowlist, a content check (the file must really start like a JPEG,
PNG or PDF) and a size limit. They are served only through a scoped view.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app

from school import diskspace

MAX_BYTES = 10 * 1024 * 1024
# extension -> (mimetype, magic prefixes)
ALLOWED = {
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "pdf": ("application/pdf", (b"%PDF-",)),
}


class AttachmentError(ValueError):
    pass


@dataclass(frozen=True)
class Attachment:
    data: bytes
    extension: str
    mimetype: str
    original_name: str


def check(filename: str, data: bytes) -> Attachment:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension not in ALLOWED:
        raise AttachmentError("附件只能是 JPEG、PNG 图片或 PDF 文件")
    if not data:
        raise AttachmentError("附件是空文件，请重新选择")
    if len(data) > MAX_BYTES:
        raise AttachmentError(f"附件不能超过 {MAX_BYTES // 1024 // 1024} MB")
    mimetype, magics = ALLOWED[extension]
    if not any(data.startswith(magic) for magic in magics):
        raise AttachmentError("附件内容与文件类型不符（文件可能已损坏），请重新选择")
    return Attachment(data, "jpg" if extension == "jpeg" else extension, mimetype, Path(filename).name[:200])


def _root() -> Path:
    return Path(current_app.config["MEDIA_DIR"]) / "offline"


def store(attachment: Attachment) -> str:
    """Write the file and return its name relative to the attachment folder."""
    root = _root()
    root.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{attachment.extension}"
    diskspace.write_bytes(root / name, attachment.data)  # a full disk leaves no half-written file
    return name


def path_of(name: str) -> Path:
    path = (_root() / name).resolve()
    if path.parent != _root().resolve():  # names are ours, but never follow one out of the folder
        raise AttachmentError("附件路径无效")
    return path
