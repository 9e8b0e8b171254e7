"""Question text to safe HTML: Markdown (or the author's HTML) rendered, then sanitised by nh3."""
from __future__ import annotations

import html

import markdown
import nh3
from markupsafe import Markup

TAGS = {"p", "br", "strong", "b", "em", "i", "u", "s", "sub", "sup", "code", "pre", "blockquote",
        "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "img", "a", "span", "hr", "h3", "h4"}
ATTRIBUTES = {"img": {"src", "alt", "width", "height"}, "a": {"href", "title"}, "td": {"colspan", "rowspan"},
              "th": {"colspan", "rowspan"}}


def render(text: str, fmt: str = "markdown") -> Markup:
    if fmt == "html":
        source = text or ""
    elif fmt == "plain":
        source = html.escape(text or "").replace("\n", "<br>")
    else:
        source = markdown.markdown(text or "", extensions=["tables", "sane_lists"])
    # Images only from this site or inline data; no scripts, styles or event handlers survive.
    return Markup(nh3.clean(source, tags=TAGS, attributes=ATTRIBUTES, url_schemes={"http", "https", "data"},
                            link_rel="noopener noreferrer"))


def inline(text: str) -> Markup:
    """An option or pair text: rendered like a stem but without the wrapping paragraph."""
    out = str(render(text))
    if out.startswith("<p>") and out.endswith("</p>") and out.count("<p>") == 1:
        out = out[3:-4]
    return Markup(out)
