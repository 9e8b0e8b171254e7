"""Sending media files: Range requests (206), the right MIME type, cache headers, or an
``X-Accel-Redirect`` to nginx's internal location when ``SCHOOL_ACCEL_REDIRECT`` is set.
Access has been checked by the view before anything here runs."""
from __future__ import annotations

import re
from pathlib import Path

from flask import Response, abort, current_app, send_file

MIME_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".ts": "video/mp2t",
    ".mp4": "video/mp4",
    ".m4a": "audio/mp4",
    ".vtt": "text/vtt; charset=utf-8",
    ".jpg": "image/jpeg",
}
# Only the names the transcoder writes; anything else is a 404.
RENDITION_NAME = re.compile(
    r"^(master\.m3u8|poster\.jpg|download\.mp4|download\.m4a|"
    r"(v\d|audio)/(index\.m3u8|init(_\d)?\.mp4|seg\d{3,6}\.(m4s|ts)))$")
# Files under one media key never change (a new transcode gets a new key), so they cache well;
# "private" because they are for logged-in members only.
CACHE_SECONDS = 7 * 24 * 3600


def send_media(path: Path, download_name: str | None = None, cache_seconds: int = CACHE_SECONDS) -> Response:
    if not path.is_file():
        abort(404)
    mime = MIME_TYPES.get(path.suffix.lower())
    if mime is None:
        abort(404)
    accel = current_app.config.get("ACCEL_REDIRECT")
    if accel:
        relative = path.resolve().relative_to(Path(current_app.config["MEDIA_DIR"]).resolve())
        response = Response(status=200, mimetype=mime)
        response.headers["X-Accel-Redirect"] = f"{accel.rstrip('/')}/{relative.as_posix()}"
        if download_name:
            response.headers["Content-Disposition"] = _attachment(download_name)
    else:
        response = send_file(path, mimetype=mime, conditional=True, etag=True, max_age=cache_seconds,
                             as_attachment=bool(download_name), download_name=download_name)
    response.headers["Cache-Control"] = f"private, max-age={cache_seconds}"
    response.headers.pop("Expires", None)
    return response


def _attachment(name: str) -> str:
    from urllib.parse import quote

    return f"attachment; filename=download{Path(name).suffix}; filename*=UTF-8''{quote(name)}"
