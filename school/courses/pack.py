"""The offline station pack: a zip a village study station (远程教育站点) copies to a USB stick.

It holds each video lesson's small MP4 and an ``index.html`` that plays them in any
browser straight from the stick, with no server and nothing loaded from outside. The site
sends it as it is zipped (``stream``): no copy of it is ever written to disk.
"""
from __future__ import annotations

import os
import time
import zipfile
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import BinaryIO, Iterator

from school.courses import media
from school.courses.models import Course, MediaStatus
from school.safe_html import markdown_to_safe_html

PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · 离线学习包</title>
<style>
body {{ font-family: "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; margin: 0 auto; max-width: 960px;
       padding: 1rem; line-height: 1.6; color: #222; }}
h1 {{ color: #b71c1c; font-size: 1.6rem; }}
section {{ border-top: 1px solid #ddd; padding: 1rem 0; }}
video {{ width: 100%; max-height: 70vh; background: #000; }}
.hint {{ color: #666; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>{summary}</p>
<p class="hint">本学习包可直接在电脑或手机的浏览器中打开，无需联网。离线观看不计入网上学时。</p>
{lessons}
</body>
</html>
"""
CHUNK = 1024 * 1024


@dataclass
class Pack:
    """What a pack holds, decided (and its files opened) while the database session is at hand;
    the bytes are made later, as they are sent."""
    files: list[tuple[str, BinaryIO]]  # (name in the zip, the open rendition)
    page: str

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.files] + ["index.html"]

    def close(self) -> None:
        for _, handle in self.files:
            handle.close()


def plan(course: Course) -> Pack:
    """The pack of ``course``. Its renditions are opened now, so a lesson re-transcoded (its old
    files deleted) while the zip is being sent does not cut the download short."""
    sections, files = [], []
    for lesson in course.lessons:
        heading = f"<h2>第 {lesson.position} 课　{escape(lesson.title)}</h2>"
        if lesson.is_video:
            folder = media.media_dir(lesson)
            source = None
            if folder is not None and lesson.media_status == MediaStatus.READY:
                source = next((p for p in (folder / "download.mp4", folder / "download.m4a") if p.is_file()), None)
            if source is None:
                sections.append(f"<section>{heading}<p class=\"hint\">此课视频尚未处理完成，未包含在学习包中。</p></section>")
                continue
            name = f"videos/{lesson.position:02d}{source.suffix}"
            files.append((name, source.open("rb")))
            tag = "video" if source.suffix == ".mp4" else "audio"
            sections.append(f"<section>{heading}<{tag} controls preload=\"metadata\" src=\"{name}\"></{tag}>"
                            f"<p><a href=\"{name}\" download>保存此视频</a></p></section>")
        else:
            sections.append(f"<section>{heading}{markdown_to_safe_html(lesson.body_md)}</section>")
    page = PAGE.format(title=escape(course.title), summary=escape(course.summary), lessons="\n".join(sections))
    return Pack(files, page)


class _Sink:
    """A write-only, unseekable file for ``zipfile``: what is written waits in memory until taken.
    ``zipfile`` then writes each member's sizes and CRC in a data descriptor after its data."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> Iterator[bytes]:
        if self.parts:
            data, self.parts = b"".join(self.parts), []
            yield data


def stream(pack: Pack, chunk: int = CHUNK) -> Iterator[bytes]:
    """The zip, made as it is read: nothing is written to disk, memory holds about one chunk.
    The videos are stored (already compressed); only index.html is deflated. Closes ``pack``."""
    sink = _Sink()
    try:
        with zipfile.ZipFile(sink, "w") as archive:
            for name, handle in pack.files:
                stat = os.fstat(handle.fileno())
                info = zipfile.ZipInfo(name, date_time=time.localtime(stat.st_mtime)[:6])
                info.compress_type, info.file_size = zipfile.ZIP_STORED, stat.st_size
                with archive.open(info, "w") as member:
                    while block := handle.read(chunk):
                        member.write(block)
                        yield from sink.take()
                yield from sink.take()
            archive.writestr("index.html", pack.page, compress_type=zipfile.ZIP_DEFLATED)
        yield from sink.take()
    finally:
        pack.close()


def build_pack(course: Course, target: Path) -> list[str]:
    """Write the zip to ``target`` (through a temporary name beside it, renamed when complete;
    nothing is left behind when writing fails, e.g. on a full disk); returns the names it contains."""
    pack = plan(course)
    names = pack.names
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with partial.open("wb") as out:
            for data in stream(pack):
                out.write(data)
        partial.replace(target)
    except BaseException:
        pack.close()
        partial.unlink(missing_ok=True)
        raise
    return names
