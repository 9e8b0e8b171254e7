"""Static files: content-hashed names, precompressed siblings, served by WhiteNoise; HTML compressed.

At startup (when ``manifest.json`` is missing or older than the newest file under
``school/static``) or with ``school static build`` every file under ``school/static`` is copied into
``STATIC_BUILD_DIR`` (default ``instance/static-build``, never committed) twice: under its own
name and under a content-hashed one (``css/site.3f2a9c1b7d0e.css``), each with ``.br`` and
``.gz`` siblings made by WhiteNoise's compressor. ``manifest.json`` maps names to hashed names;
``url_for('static', filename='css/site.css')`` produces the hashed name (a ``url_defaults``
callback), so templates keep writing the plain name.

WhiteNoise wraps the WSGI app and answers ``/static/…`` from the build folder: hashed names with
``Cache-Control: public, max-age=31536000, immutable``, plain names for an hour, ``.br``/``.gz``
chosen by ``Accept-Encoding`` with ``Vary: Accept-Encoding``. nginx serves the same folder (the
build folder, never ``school/static``: only it holds the hashed names) the same way (``gzip_static on``/``brotli_static on``; see docs/architecture.md).

HTML (and JSON) responses above 1 KB are compressed in ``after_request`` (Brotli or gzip, as
the browser asks), except streamed, file and ranged responses.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

from flask import Flask, request

STATIC_ROOT = Path(__file__).resolve().parent / "static"
HASHED_RE = re.compile(r"\.[0-9a-f]{12}\.[A-Za-z0-9]+$")
PLAIN_MAX_AGE = 3600
COMPRESS_MIN_BYTES = 1024
COMPRESS_TYPES = ("text/html", "application/json")
RETIRED_FILE = "retired.json"
RETIRED_KEEP_SECONDS = 7 * 24 * 3600

# Compressed bytes by content digest: a process building several apps (tests) compresses once.
_COMPRESSED: dict[tuple[str, str], bytes | None] = {}


def hashed_name(name: str, digest: str) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot or "/" in ext:
        return f"{name}.{digest}"
    return f"{stem}.{digest}.{ext}"


def _compressed(data: bytes, digest: str, kind: str) -> bytes | None:
    """Brotli (quality 11) or gzip (level 9) of ``data``; None when it saves less than 5 %."""
    key = (digest, kind)
    if key not in _COMPRESSED:
        if kind == "br":
            import brotli
            out = brotli.compress(data, quality=11)
        else:
            out = gzip.compress(data, compresslevel=9, mtime=0)
        _COMPRESSED[key] = out if len(out) < len(data) * 0.95 else None
    return _COMPRESSED[key]


def build(out_dir: Path, source: Path = STATIC_ROOT, now: float | None = None) -> dict[str, str]:
    """Copy ``source`` into ``out_dir`` with hashed names and .br/.gz siblings; returns the manifest.
    Files the previous build served and this one does not are removed ``RETIRED_KEEP_SECONDS``
    after they were dropped (``_retire``)."""
    from whitenoise.compress import Compressor

    skip = Compressor().extension_re  # images, fonts, archives: not worth compressing
    out_dir.mkdir(parents=True, exist_ok=True)
    previous = _read_manifest(out_dir)
    manifest: dict[str, str] = {}
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        name = path.relative_to(source).as_posix()
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:12]
        hashed = hashed_name(name, digest)
        manifest[name] = hashed
        for target_name in (hashed, name):
            target = out_dir / target_name
            target.parent.mkdir(parents=True, exist_ok=True)
            if not (target.exists() and target.read_bytes() == data):
                _write(target, data)
        for kind in ("br", "gz"):
            # The hashed name's sibling is compressed once (its name says what it holds: a restart,
            # or another worker starting, finds it done); the plain name's sibling is its copy.
            hashed_sibling, plain_sibling = (out_dir / f"{n}.{kind}" for n in (hashed, name))
            if skip.search(name):
                hashed_sibling.unlink(missing_ok=True)
                plain_sibling.unlink(missing_ok=True)
                continue
            if not hashed_sibling.exists():
                packed = _compressed(data, digest, kind)
                if packed is not None:
                    _write(hashed_sibling, packed)
            if hashed_sibling.exists():
                packed = hashed_sibling.read_bytes()
                if not (plain_sibling.exists() and plain_sibling.read_bytes() == packed):
                    _write(plain_sibling, packed)
            else:
                plain_sibling.unlink(missing_ok=True)
    _write(out_dir / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode())
    _retire(out_dir, _served(previous), _served(manifest), time.time() if now is None else now)
    return manifest


def _read_manifest(out_dir: Path) -> dict[str, str]:
    try:
        return json.loads((out_dir / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}


def _served(manifest: dict[str, str]) -> set[str]:
    return set(manifest) | set(manifest.values())


def _retire(out_dir: Path, before: set[str], now_served: set[str], now: float) -> None:
    """Remember when each file stopped being served (``retired.json``) and delete it, with its
    .br/.gz siblings, a week later. Not at once: a page cached in a phone, or sent by a node
    not yet restarted during a rolling deploy, still asks for last build's hashed names; not
    never: every deploy would leave its files behind for good."""
    record = out_dir / RETIRED_FILE
    try:
        retired = {str(k): float(v) for k, v in json.loads(record.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        retired = {}
    for name in before - now_served:
        retired.setdefault(name, now)
    for name, since in list(retired.items()):
        if name in now_served:  # served again (a change reverted): keep it
            del retired[name]
        elif now - since >= RETIRED_KEEP_SECONDS:
            for path in (out_dir / name, out_dir / f"{name}.br", out_dir / f"{name}.gz"):
                if out_dir.resolve() in path.resolve().parents:  # a hand-edited record names nothing outside
                    path.unlink(missing_ok=True)
            del retired[name]
    _write(record, json.dumps(retired, ensure_ascii=False, indent=1, sort_keys=True).encode())


def _write(target: Path, data: bytes) -> None:
    """Written beside and renamed into place, so a server reading the folder never sees half a file."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        partial.write_bytes(data)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def build_dir(app: Flask) -> Path:
    return Path(app.config.get("STATIC_BUILD_DIR") or Path(app.instance_path) / "static-build")


def _immutable(path: str, url: str) -> bool:
    return bool(HASHED_RE.search(url))


def _static_headers(headers, path: str, url: str) -> None:
    headers["X-Content-Type-Options"] = "nosniff"
    if _immutable(path, url):
        headers["Cache-Control"] = "public, max-age=31536000, immutable"


def is_current(out_dir: Path, source: Path = STATIC_ROOT) -> bool:
    """Whether ``out_dir``'s manifest exists and is not older than the newest file of ``source``."""
    try:
        built = (out_dir / "manifest.json").stat().st_mtime
    except OSError:
        return False
    return all(p.stat().st_mtime <= built for p in source.rglob("*") if p.is_file())


def build_if_stale(out_dir: Path, source: Path = STATIC_ROOT) -> tuple[dict[str, str], bool]:
    """The manifest, building first when it is missing or older than a source file; (manifest, built)."""
    if is_current(out_dir, source):
        try:
            return json.loads((out_dir / "manifest.json").read_text()), False
        except (OSError, ValueError):  # half a file from elsewhere, or removed meanwhile: build it
            pass
    return build(out_dir, source), True


def init_app(app: Flask) -> None:
    from whitenoise import WhiteNoise

    out = build_dir(app)
    if out.exists() and not os.access(out, os.W_OK):  # a read-only deployment built it beforehand
        manifest, built = json.loads((out / "manifest.json").read_text()), False
    else:
        manifest, built = build_if_stale(out)
    app.extensions["static_manifest"] = manifest
    app.extensions["static_built_at_start"] = out if built else None  # `school static build` needn't repeat it

    @app.url_defaults
    def hashed_static(endpoint, values):
        if endpoint == "static" and "filename" in values:
            values["filename"] = manifest.get(values["filename"], values["filename"])

    app.wsgi_app = WhiteNoise(app.wsgi_app, root=str(out), prefix="/static/", max_age=PLAIN_MAX_AGE,
                              immutable_file_test=_immutable, add_headers_function=_static_headers)
    app.after_request(compress_response)


def compress_response(response):
    """Brotli or gzip for HTML/JSON bodies above 1 KB, when the browser accepts it."""
    if (response.direct_passthrough or response.is_streamed or response.status_code not in (200, 201, 400, 403, 404)
            or "Content-Encoding" in response.headers or response.mimetype not in COMPRESS_TYPES):
        return response
    response.vary.add("Accept-Encoding")
    accepted = request.accept_encodings
    encoding = "br" if accepted["br"] else "gzip" if accepted["gzip"] else None
    if encoding is None:
        return response
    data = response.get_data()
    if len(data) < COMPRESS_MIN_BYTES:
        return response
    if encoding == "br":
        import brotli
        packed = brotli.compress(data, quality=5)
    else:
        packed = gzip.compress(data, compresslevel=6)
    response.set_data(packed)
    response.headers["Content-Encoding"] = encoding
    return response


def clean(out_dir: Path) -> None:
    shutil.rmtree(out_dir, ignore_errors=True)
