"""The offline station pack: a zip a village study station (远程教育站点) copies to a USB stick.

It holds each video lesson's small MP4, a readable page per text or document lesson
(``pages/NN.html``), a self-check quiz from the course's test (``quiz.html``, no credit), a
printable attendance sheet for group viewing (``attendance.html``, the 集中培训 form's fields)
and an ``index.html`` that links them in lesson order: any browser opens them straight from
the stick, with no server and nothing loaded from outside (``pack_pages``). The site
sends it as it is zipped (``stream``): no copy of it is ever written to disk.
"""
from __future__ import annotations

import os
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Iterator

from markupsafe import Markup

from school.courses import media, pack_pages, pack_quiz, pack_sheet
from school.courses.models import Course, MediaStatus
from school.timeutil import utcnow

CHUNK = 1024 * 1024


@dataclass
class Pack:
    """What a pack holds, decided (its files opened, its pages written) while the database
    session is at hand; the zip's bytes are made later, as they are sent."""
    files: list[tuple[str, BinaryIO]]  # (name in the zip, the open rendition)
    pages: list[tuple[str, str]]  # (name in the zip, HTML): index.html first

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.files] + [name for name, _ in self.pages]

    @property
    def videos(self) -> int:
        return len(self.files)

    @property
    def readings(self) -> int:
        return sum(name.startswith("pages/") for name, _ in self.pages)

    def close(self) -> None:
        for _, handle in self.files:
            handle.close()


def _rendition(lesson) -> Path | None:
    folder = media.media_dir(lesson)
    if folder is None or lesson.media_status != MediaStatus.READY:
        return None
    return next((p for p in (folder / "download.mp4", folder / "download.m4a") if p.is_file()), None)


def plan(course: Course, now: datetime | None = None) -> Pack:
    """The pack of ``course``. Its renditions are opened now, so a lesson re-transcoded (its old
    files deleted) while the zip is being sent does not cut the download short."""
    now = now or utcnow()
    entries, files, bodies = [], [], {}
    try:
        for lesson in course.lessons:
            entry = pack_pages.Entry(lesson.position, lesson.title, pack_pages.KIND_LABELS.get(lesson.kind, ""))
            entries.append(entry)
            if lesson.is_video:
                source = _rendition(lesson)
                if source is None:
                    entry.missing = "此课视频尚未处理完成，未包含在学习包中。"
                    continue
                entry.media = f"videos/{lesson.position:02d}{source.suffix}"
                files.append((entry.media, source.open("rb")))
                continue
            found = pack_pages.readable(lesson)
            if isinstance(found, str):
                entry.missing = found
                continue
            entry.blurb, rendered, body, document = found
            entry.page = pack_pages.page_name(lesson)
            bodies[lesson.position] = (rendered, body, document)
        quizzes = pack_quiz.quizzes(course, now)
        pages = [("index.html", pack_pages.index_page(course, entries, bool(quizzes))),
                 *pack_pages.lesson_pages(course, entries, bodies)]
        if quizzes:
            pages.append(("quiz.html", pack_pages.page("quiz.html", course, quizzes=quizzes,
                                                       script=Markup(pack_pages.asset("quiz.js")))))
        pages.append(("attendance.html", pack_pages.page("attendance.html", course, **pack_sheet.sheet(course))))
    except BaseException:
        for _, handle in files:
            handle.close()
        raise
    return Pack(files, pages)


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
    The videos are stored (already compressed); only the pages are deflated. Closes ``pack``."""
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
            for name, html in pack.pages:
                archive.writestr(name, html, compress_type=zipfile.ZIP_DEFLATED)
                yield from sink.take()
        yield from sink.take()
    finally:
        pack.close()


def build_pack(course: Course, target: Path) -> Pack:
    """Write the zip to ``target`` (through a temporary name beside it, renamed when complete;
    nothing is left behind when writing fails, e.g. on a full disk); returns what it holds."""
    pack = plan(course)
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
    return pack
