"""Pictures in questions: an editor uploads a photo, chart or scan; members see it in the paper.

An upload is accepted by what it *is*, never by its name: the first bytes must be PNG, JPEG,
GIF or WebP, and Pillow (opened for that one format only) must decode every pixel, so a
renamed text file, an SVG or a half-uploaded photo is refused with a message saying which.
The picture is then drawn again from its pixels alone: the phone's EXIF (GPS position,
camera, time), XMP, text chunks and comments never reach the stored file, a photo taken
sideways is turned upright first, and anything larger than ``STORE_MAX_SIDE`` is scaled
down for members on a weak connection.

The stored file is named by the SHA-256 of its own bytes, under ``MEDIA_DIR/exam-images/``
(beside the other uploads, on the volume every node shares), so the same picture uploaded
twice is one file and its URL never changes what it points to — it can be cached for a year.
Nothing is written before every check has passed.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from flask import Response, current_app, send_file
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024  # what an editor may upload; the stored file is usually far smaller
MAX_SIDE = 12_000  # pixels, either side, of the upload
MAX_PIXELS = 50_000_000  # of one frame: a 48-megapixel phone photo passes, a decompression bomb does not
MAX_FRAMES = 300  # of an animated GIF or WebP
MAX_ANIMATED_PIXELS = 100_000_000  # all frames together
STORE_MAX_SIDE = 2000  # larger pictures are scaled down to this (longer side) before they are stored
JPEG_QUALITY = 85

# Pillow's format name -> (extension, MIME type)
FORMATS = {
    "PNG": ("png", "image/png"),
    "JPEG": ("jpg", "image/jpeg"),
    "GIF": ("gif", "image/gif"),
    "WEBP": ("webp", "image/webp"),
}
# What survives of an image's ``info``: palette transparency and the colour profile (so colours
# stay right); the profile says nothing about where or by whom the picture was taken.
KEEP = ("transparency", "icc_profile")
MIME_TYPES = {ext: mime for ext, mime in FORMATS.values()}
NAME = re.compile(r"^[0-9a-f]{64}\.(png|jpg|gif|webp)$")
FOLDER = "exam-images"

TOO_BIG = f"图片不能超过 {MAX_BYTES // 1024 // 1024} MB，请先压缩或缩小后再上传"
EMPTY = "文件是空的（0 字节），请重新选择图片"
NOT_IMAGE = "这个文件不是图片：只能上传 PNG、JPEG（.jpg）、GIF 或 WebP 格式的图片（改扩展名没有用）"
BROKEN = "图片不完整或已损坏（可能没有上传完），无法读取，请重新选择文件"
TOO_LARGE_PIXELS = f"图片尺寸过大（每边不超过 {MAX_SIDE} 像素、总计不超过 {MAX_PIXELS // 1_000_000} 百万像素），请缩小后再上传"
TOO_MANY_FRAMES = f"动图的帧数过多（最多 {MAX_FRAMES} 帧），请换一张图片"


class ImageError(ValueError):
    """An upload that is refused; the message is for the editor."""


@dataclass(frozen=True)
class Prepared:
    """A checked picture, re-encoded and ready to store."""

    data: bytes
    extension: str
    mimetype: str
    width: int
    height: int

    @property
    def name(self) -> str:
        return f"{hashlib.sha256(self.data).hexdigest()}.{self.extension}"


@dataclass(frozen=True)
class Stored:
    name: str
    mimetype: str
    width: int
    height: int
    size: int
    new: bool  # False: the same picture was already there


def sniff(data: bytes) -> str | None:
    """The format the first bytes announce, or None."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def check(data: bytes) -> Prepared:
    """Validate an upload and re-encode it without its metadata. Raises ``ImageError``."""
    if not data:
        raise ImageError(EMPTY)
    if len(data) > MAX_BYTES:
        raise ImageError(TOO_BIG)
    fmt = sniff(data)
    if fmt is None:
        raise ImageError(NOT_IMAGE)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _reencode(data, fmt)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(TOO_LARGE_PIXELS) from None
        except ImageError:
            raise
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError,
                TypeError, ZeroDivisionError):
            # Pillow reports damaged data through many exception types; all mean "cannot be read".
            raise ImageError(BROKEN) from None


def _open(data: bytes, fmt: str) -> Image.Image:
    image = Image.open(io.BytesIO(data), formats=[fmt])
    # Pillow calls a JPEG with extra pictures inside (a phone's depth map or preview) "MPO";
    # it is still a JPEG, and its first picture is the photo.
    if image.format != fmt and not (fmt == "JPEG" and image.format == "MPO"):
        raise ImageError(NOT_IMAGE)
    return image


def _reencode(data: bytes, fmt: str) -> Prepared:
    image = _open(data, fmt)  # reads the header only
    width, height = image.size
    if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        raise ImageError(TOO_LARGE_PIXELS)
    frames_count = getattr(image, "n_frames", 1) if fmt in ("GIF", "WEBP") else 1
    if frames_count > MAX_FRAMES:
        raise ImageError(TOO_MANY_FRAMES)
    if frames_count * width * height > MAX_ANIMATED_PIXELS:
        raise ImageError(TOO_LARGE_PIXELS)
    # verify() walks the file's structure (PNG checks every chunk's CRC) without decoding;
    # a verified image cannot be used further, so the pixels come from a fresh open.
    _open(data, fmt).verify()
    image = _open(data, fmt)
    if frames_count > 1:
        return _animated(image, fmt)
    image.load()  # decodes every pixel: a truncated file fails here
    upright = ImageOps.exif_transpose(image)  # a phone photo taken sideways
    clean = _pixels_only(upright, fmt)
    if max(clean.size) > STORE_MAX_SIDE:
        if clean.mode in ("P", "1"):
            clean = clean.convert("RGBA")
        clean.thumbnail((STORE_MAX_SIDE, STORE_MAX_SIDE), Image.Resampling.LANCZOS)
        clean.info = {k: v for k, v in clean.info.items() if k in KEEP}
    out = io.BytesIO()
    _save(clean, out, fmt)
    extension, mimetype = FORMATS[fmt]
    return Prepared(out.getvalue(), extension, mimetype, *clean.size)


def _pixels_only(image: Image.Image, fmt: str) -> Image.Image:
    """A copy that carries the pixels, palette transparency and colour profile, and nothing else."""
    mode = image.mode
    if fmt == "JPEG" and mode not in ("L", "RGB"):
        image = image.convert("RGB")  # CMYK and the like: browsers show RGB reliably
    elif fmt == "WEBP" and mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    elif fmt == "PNG" and mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"):
        image = image.convert("RGBA")
    clean = image.copy()
    keep = KEEP if image.mode == mode else ("transparency",)  # a CMYK profile does not describe RGB
    clean.info = {k: v for k, v in image.info.items() if k in keep and v is not None}
    return clean


def _save(image: Image.Image, out, fmt: str) -> None:
    """Write the pixels with no EXIF, XMP, text chunk or comment (the colour profile stays)."""
    icc = {"icc_profile": image.info["icc_profile"]} if image.info.get("icc_profile") else {}
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True, **icc)
    elif fmt == "PNG":
        image.save(out, "PNG", optimize=image.width * image.height <= 1_000_000, **icc)
    elif fmt == "GIF":
        image.save(out, "GIF")
    else:
        image.save(out, "WEBP", quality=JPEG_QUALITY, method=4, **icc)


def _animated(image: Image.Image, fmt: str) -> Prepared:
    """An animated GIF or WebP: every frame redrawn (scaled down if needed), durations and looping kept."""
    frames, durations = [], []
    loop = image.info.get("loop")
    for frame in ImageSequence.Iterator(image):
        frame.load()
        durations.append(int(frame.info.get("duration") or 100))
        copy = frame.convert("RGBA")
        copy.info = {}
        if max(copy.size) > STORE_MAX_SIDE:
            copy.thumbnail((STORE_MAX_SIDE, STORE_MAX_SIDE), Image.Resampling.LANCZOS)
        frames.append(copy)
    out = io.BytesIO()
    options = {"save_all": True, "append_images": frames[1:], "duration": durations}
    if loop is not None:
        options["loop"] = loop
    if fmt == "GIF":
        frames[0].save(out, "GIF", disposal=2, **options)
    else:
        frames[0].save(out, "WEBP", quality=JPEG_QUALITY, **options)
    extension, mimetype = FORMATS[fmt]
    return Prepared(out.getvalue(), extension, mimetype, *frames[0].size)


# --- storage ----------------------------------------------------------------------------


def root() -> Path:
    return Path(current_app.config["MEDIA_DIR"]) / FOLDER


def path_of(name: str) -> Path | None:
    """Where a stored picture lives, or None for a name the server never makes."""
    if not NAME.match(name or ""):
        return None
    return root() / name[:2] / name


def store(prepared: Prepared) -> Stored:
    """Write the picture under its content hash; the same picture again is not written twice."""
    new = write_once(path_of(prepared.name), prepared.data)
    return Stored(prepared.name, prepared.mimetype, prepared.width, prepared.height, len(prepared.data), new)


def write_once(path: Path, data: bytes) -> bool:
    """Write a content-addressed file unless it is already there; True when it was written.
    Written beside its final place, then renamed: a reader never sees half a file."""
    if path.is_file():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return True


def save_upload(data: bytes, actor) -> Stored:
    """Check, clean and store an editor's upload (the caller has checked the editor's role)."""
    stored = store(check(data))
    log.info("exam image %s %s by user %s (%d bytes, %dx%d)", stored.name, "stored" if stored.new else "reused",
             getattr(actor, "id", None), stored.size, stored.width, stored.height)
    return stored


def markdown(url: str, alt: str) -> str:
    """``![说明](url)``; brackets and line breaks in the description would end it early."""
    alt = re.sub(r"[\[\]\r\n\\]+", " ", alt or "").strip()[:100] or "图片"
    return f"![{alt}]({url})"


# --- serving ----------------------------------------------------------------------------

CACHE_SECONDS = 365 * 24 * 3600  # a name is its content's hash: what it names never changes


def send(name: str) -> Response | None:
    """The stored picture with its own MIME type and a year's private caching; None if there is
    no such picture. Access has been checked by the view. With ``SCHOOL_ACCEL_REDIRECT`` set,
    nginx sends the file from the media volume."""
    path = path_of(name)
    if path is None or not path.is_file():
        return None
    mimetype = MIME_TYPES[name.rsplit(".", 1)[1]]
    accel = current_app.config.get("ACCEL_REDIRECT")
    if accel:
        response = Response(status=200, mimetype=mimetype)
        response.headers["X-Accel-Redirect"] = f"{accel.rstrip('/')}/{FOLDER}/{name[:2]}/{name}"
    else:
        response = send_file(path, mimetype=mimetype, conditional=True, etag=True, max_age=CACHE_SECONDS)
    # "private": only signed-in people may fetch it, so no shared cache should keep it.
    response.headers["Cache-Control"] = f"private, max-age={CACHE_SECONDS}, immutable"
    response.headers.pop("Expires", None)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = f"inline; filename={name}"
    return response
