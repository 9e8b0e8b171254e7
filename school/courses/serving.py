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
# Cache-Control after the access check; "private" because the files are for logged-in members.
# A URL that names the file's version (the lesson's media key, which a new transcode replaces;
# a subtitles or cover name, which a new upload replaces) never names other bytes: a year,
# immutable, so a replay or a seek back costs no request at all. A URL without it (a page
# rendered before this change, a bookmarked download) is checked each time (an ETag → 304).
VERSIONED = "private, max-age=31536000, immutable"
UNVERSIONED = "private, no-cache"


def send_media(path: Path, cache_control: str, download_name: str | None = None) -> Response:
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
        response = send_file(path, mimetype=mime, conditional=True, etag=True,
                             as_attachment=bool(download_name), download_name=download_name)
    # nginx keeps the upstream's Cache-Control when it follows X-Accel-Redirect.
    response.headers["Cache-Control"] = cache_control
    response.headers.pop("Expires", None)
    return response


def _attachment(name: str) -> str:
    from urllib.parse import quote

    return f"attachment; filename=download{Path(name).suffix}; filename*=UTF-8''{quote(name)}"
