"""Markdown → safe HTML, with a table of contents and a stable anchor on every article.

The Markdown is rendered, then sanitised with an nh3 allowlist (raw HTML, scripts,
``on*`` attributes and ``javascript:`` links never survive). Only afterwards are ids
added — from text that is already sanitised — to headings (编/章/节) and to every
paragraph that opens an article (第十条), so ``#第十条`` always points at that article.
"""
from __future__ import annotations

import hashlib
import html
import json
import re
from dataclasses import dataclass

from school.safe_html import markdown_to_safe_html

# Part of every cached rendering's key: change it when render() changes its output, and
# every document is rendered afresh on its next view.
RENDERER_VERSION = "2"

CN_NUM = "零〇一二三四五六七八九十百千万两"
ARTICLE_RE = re.compile(rf"(第[{CN_NUM}\d]+条(?:之[{CN_NUM}\d]+)?)")
HEADING_RE = re.compile(r"<h([1-4])>(.*?)</h\1>", re.S)
PARAGRAPH_RE = re.compile(rf"<p>(第[{CN_NUM}\d]+条(?:之[{CN_NUM}\d]+)?)")
TAG_RE = re.compile(r"<[^>]+>")


@dataclass
class TocEntry:
    level: int
    text: str
    anchor: str


@dataclass
class Rendered:
    html: str
    toc: list[TocEntry]
    articles: list[str]


def render(text: str) -> Rendered:
    body = markdown_to_safe_html(text)
    toc: list[TocEntry] = []
    used: dict[str, int] = {}

    def unique(anchor: str) -> str:
        used[anchor] = used.get(anchor, 0) + 1
        return anchor if used[anchor] == 1 else f"{anchor}-{used[anchor]}"

    def heading(match: re.Match) -> str:
        level, inner = int(match.group(1)), match.group(2)
        label = html.unescape(TAG_RE.sub("", inner)).strip()
        anchor = unique("h-" + re.sub(r"\s+", "", label)[:40]) if label else unique("h")
        toc.append(TocEntry(level, label, anchor))
        return f'<h{level} id="{html.escape(anchor)}">{inner}</h{level}>'

    articles: list[str] = []

    def article(match: re.Match) -> str:
        anchor = unique(match.group(1))
        articles.append(anchor)
        return f'<p id="{html.escape(anchor)}" class="article"><a class="article-no" href="#{html.escape(anchor)}">{match.group(1)}</a>'

    body = HEADING_RE.sub(heading, body)
    body = PARAGRAPH_RE.sub(lambda m: article(m), body)
    return Rendered(body, toc, articles)


def body_hash(text: str) -> str:
    return hashlib.sha256(f"{RENDERER_VERSION}\x1f{text}".encode("utf-8")).hexdigest()


def render_document(doc) -> Rendered:
    """``render(doc.body)``, from the ``library_rendered`` row while the body is unchanged;
    otherwise rendered now and stored (the caller commits). Two first views at once both
    render; the second write wins, with the same HTML."""
    from sqlalchemy.dialects import postgresql, sqlite

    from school.extensions import db
    from school.library.models import RenderedBody
    from school.timeutil import utcnow

    key = body_hash(doc.body or "")
    row = db.session.get(RenderedBody, doc.id)
    if row is not None and row.body_hash == key:
        return Rendered(row.html, [TocEntry(*entry) for entry in json.loads(row.toc)], json.loads(row.articles))
    rendered = render(doc.body or "")
    values = dict(document_id=doc.id, body_hash=key, html=rendered.html,
                  toc=json.dumps([[t.level, t.text, t.anchor] for t in rendered.toc], ensure_ascii=False),
                  articles=json.dumps(rendered.articles, ensure_ascii=False), rendered_at=utcnow())
    module = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = module.insert(RenderedBody).values(**values)
    db.session.execute(stmt.on_conflict_do_update(index_elements=[RenderedBody.document_id],
                                                  set_={k: stmt.excluded[k] for k in values if k != "document_id"}))
    if row is not None:
        db.session.expire(row)
    return rendered


# A document longer than this (characters of Markdown) is served a chapter at a time.
PART_THRESHOLD = 40_000
ID_RE = re.compile(r'\sid="([^"]+)"')


@dataclass
class Part:
    number: int  # 1-based
    title: str
    html: str
    anchors: set[str]


def split_parts(rendered: Rendered, source_length: int, threshold: int | None = None) -> list[Part]:
    """A long document's chapters: cut before every heading of the shallowest level that occurs
    at least twice (编 or 章); what comes before the first one goes with it. A short document, or
    one without such headings, is one part."""
    threshold = PART_THRESHOLD if threshold is None else threshold
    levels = [t.level for t in rendered.toc]
    level = next((lv for lv in sorted(set(levels)) if levels.count(lv) >= 2), None)
    if source_length <= threshold or level is None:
        return [Part(1, "", rendered.html, set(ID_RE.findall(rendered.html)))]
    starts = [m.start() for m in re.finditer(rf"<h{level}\s", rendered.html)]
    titles = [t.text for t in rendered.toc if t.level == level]
    bounds = [0, *starts[1:], len(rendered.html)]
    parts = []
    for i in range(len(bounds) - 1):
        chunk = rendered.html[bounds[i]:bounds[i + 1]]
        parts.append(Part(i + 1, titles[i] if i < len(titles) else "", chunk, set(ID_RE.findall(chunk))))
    return parts


def part_of(parts: list[Part], anchor: str | None) -> Part | None:
    if not anchor:
        return None
    return next((p for p in parts if anchor in p.anchors), None)


def article_of(text: str, offset: int) -> str | None:
    """The article (第X条) whose text contains character ``offset`` of the Markdown, if any."""
    start = text.rfind("\n第", 0, offset + 1)
    while start != -1:
        match = ARTICLE_RE.match(text, start + 1)
        if match:
            # A heading between the article and the offset means the hit is outside it.
            if text.find("\n#", start, offset) != -1:
                return None
            return match.group(1)
        start = text.rfind("\n第", 0, start)
    if text.startswith("第"):
        match = ARTICLE_RE.match(text)
        return match.group(1) if match else None
    return None


def plain_text(markdown_text: str) -> str:
    """The Markdown without its markup, for snippets and the index."""
    text = re.sub(r"<!--.*?-->", "", markdown_text or "", flags=re.S)
    text = re.sub(r"^\s{0,3}#{1,6}\s*", "", text, flags=re.M)
    text = re.sub(r"[*_`>]+", "", text)
    return text
