"""The pages of the station pack: the course's index, a readable page per text or document
lesson, the self-check quiz (``pack_quiz``) and the attendance sheet (``pack_sheet``).

Every page stands alone on a USB stick: its CSS is inlined from ``pack.css``, its links are
relative, and nothing points outside the zip (``offline_html`` drops any link or picture
that would need the network or the site), so it works from ``file://`` with no connection.
Templates autoescape; the only HTML let through is what ``safe_html`` already sanitised.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2
import nh3
from markupsafe import Markup

from school.courses.models import Course, Lesson, LessonKind
from school.safe_html import ATTRIBUTES, TAGS

FILES = Path(__file__).parent / "templates" / "courses" / "pack"
KIND_LABELS = {LessonKind.VIDEO: "视频", LessonKind.TEXT: "图文", LessonKind.DOCUMENT: "文献"}


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    # Its own environment, not Flask's: the pack is made from the CLI as well, with no request.
    return jinja2.Environment(loader=jinja2.FileSystemLoader(FILES), autoescape=True,
                              trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


def asset(name: str) -> str:
    return (FILES / name).read_text(encoding="utf-8")


def page(template: str, course: Course, **context) -> str:
    return environment().get_template(template).render(css=Markup(asset("pack.css")),
                                                       course_title=course.title, **context)


# --- HTML that needs nothing outside the zip ------------------------------------------------

# The attributes the library's renderer adds after sanitising (heading and article anchors).
_ATTRIBUTES = {**ATTRIBUTES, **{h: {"id"} for h in ("h1", "h2", "h3", "h4")},
               "p": {"id", "class"}, "a": {"href", "title", "id", "class"}}
_BARE_IMG = re.compile(r'<img(?![^>]*\ssrc=)(?:[^>]*\salt="([^"]*)")?[^>]*>')


def _keep(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "href":  # only anchors within the page: the site's and the web's links fail offline
        return value if value.startswith("#") else None
    if attribute == "src":  # pictures carried inside the text (imported question banks) only
        return value if value.startswith("data:image/") else None
    return value


def offline_html(fragment: str) -> Markup:
    """Already-sanitised HTML, with every link and picture that would leave the zip taken out
    (a link keeps its text; a picture becomes its caption)."""
    cleaned = nh3.clean(fragment, tags=TAGS, attributes=_ATTRIBUTES, url_schemes={"data"},
                        attribute_filter=_keep, link_rel=None, strip_comments=True)
    cleaned = _BARE_IMG.sub(lambda m: f"［图：{m.group(1)}］" if m.group(1) else "［图］", cleaned)
    return Markup(cleaned)


# --- lessons ------------------------------------------------------------------------------

@dataclass
class Entry:
    """One lesson as the index lists it."""
    position: int
    title: str
    kind_label: str
    media: str | None = None  # videos/NN.mp4, when the rendition is in the zip
    page: str | None = None  # pages/NN.html, for a text or document lesson
    blurb: str = ""
    missing: str = ""

    @property
    def href(self) -> str:
        return self.page or f"#lesson-{self.position:02d}"

    @property
    def href_from_page(self) -> str:
        """The same link from a page in pages/."""
        return f"../{self.page}" if self.page else f"../index.html#lesson-{self.position:02d}"


def page_name(lesson: Lesson) -> str:
    return f"pages/{lesson.position:02d}.html"


def readable(lesson: Lesson) -> tuple[str, object, Markup, object] | str:
    """(blurb, rendering, body, document) of a text or document lesson, or why there is
    nothing to read. The rendering carries the headings (编/章/节) and articles (第X条)."""
    from school.library import rendering
    from school.library.models import DocStatus

    if lesson.kind == LessonKind.TEXT:
        rendered = rendering.render(lesson.body_md or "")
        return "", rendered, offline_html(rendered.html), None
    document = lesson.document
    if document is None:
        return "本课引用的文献已从图书馆删除，未包含在学习包中。"
    if document.status != DocStatus.PUBLISHED:
        return "本课引用的文献目前未发布，未包含在学习包中。"
    rendered = rendering.render(document.body or "")
    return document.summary or "", rendered, offline_html(rendered.html), document


def lesson_pages(course: Course, entries: list[Entry], bodies: dict[int, tuple]) -> list[tuple[str, str]]:
    """pages/NN.html of every readable lesson, each with next/previous in lesson order."""
    out = []
    for i, entry in enumerate(entries):
        if entry.page is None:
            continue
        rendered, body, document = bodies[entry.position]
        out.append((entry.page, page("lesson.html", course, lesson=entry, toc=rendered.toc,
                                     articles=rendered.articles, body=body, document=document,
                                     prev=entries[i - 1] if i > 0 else None,
                                     next=entries[i + 1] if i + 1 < len(entries) else None)))
    return out


def index_page(course: Course, entries: list[Entry], has_quiz: bool) -> str:
    return page("index.html", course, summary=course.summary, lessons=entries, quiz=has_quiz)
