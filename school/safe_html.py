"""Markdown (or an author's HTML) to HTML that is safe to show: one nh3 allowlist for the site.

Rendered first, sanitised after, so raw HTML, scripts, ``on*`` attributes, styles and
``javascript:`` links never survive, whichever package the text comes from.
"""
from __future__ import annotations

import markdown
import nh3

TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "strong", "em", "b", "i", "u", "s",
        "blockquote", "ul", "ol", "li", "a", "code", "pre", "table", "thead", "tbody", "tr", "th", "td",
        "sup", "sub", "img", "span", "del", "ins"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
              "th": {"align", "colspan", "rowspan"}, "td": {"align", "colspan", "rowspan"}}
SCHEMES = {"http", "https", "mailto"}


def sanitise(raw_html: str, data_urls: bool = False) -> str:
    """``data_urls`` admits inline images (question banks carry them); the CSP allows no others
    from outside the site anyway."""
    return nh3.clean(raw_html, tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES | ({"data"} if data_urls else set()),
                     link_rel="noopener noreferrer nofollow", strip_comments=True)


def markdown_to_safe_html(text: str, data_urls: bool = False) -> str:
    raw = markdown.markdown(text or "", extensions=["tables", "sane_lists", "fenced_code"], output_format="html")
    return sanitise(raw, data_urls=data_urls)
