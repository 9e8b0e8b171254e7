"""Question text to safe HTML: Markdown (or the author's HTML) rendered, then sanitised."""
from __future__ import annotations

import functools
import html
import re

from markupsafe import Markup

from school.safe_html import markdown_to_safe_html, sanitise

CACHED_CHARS = 2000  # stems and options; longer texts (inline images from a bank) are rendered each time


def render(text: str, fmt: str = "markdown") -> Markup:
    """A question's text as safe HTML. The same text renders to the same HTML, and an attempt
    page shows every stem and option of a paper (~100 texts, each a Markdown parse and an nh3
    pass) on each visit of each member, so short texts are kept per process by their content."""
    text = text or ""
    if len(text) <= CACHED_CHARS:
        return _render_kept(text, fmt)
    return _render(text, fmt)


@functools.lru_cache(maxsize=4096)
def _render_kept(text: str, fmt: str) -> Markup:
    return _render(text, fmt)


def _render(text: str, fmt: str) -> Markup:
    # Images may be inline data (imported banks carry them); no scripts, styles or handlers survive.
    if fmt == "html":
        return Markup(sanitise(text, data_urls=True))
    if fmt == "plain":
        return Markup(sanitise(html.escape(text).replace("\n", "<br>")))
    return Markup(markdown_to_safe_html(text, data_urls=True))


def inline(text: str, fmt: str = "markdown") -> Markup:
    """An option or pair text: rendered like a stem (in its own format) but without the wrapping
    paragraph. Short texts are kept too: a paper shows four hundred of them."""
    text, fmt = text or "", fmt or "markdown"
    if len(text) <= CACHED_CHARS:
        return _inline_kept(text, fmt)
    return _unwrap(_render(text, fmt))


@functools.lru_cache(maxsize=4096)
def _inline_kept(text: str, fmt: str) -> Markup:
    return _unwrap(_render_kept(text, fmt))


def _unwrap(rendered: Markup) -> Markup:
    out = str(rendered)
    if out.startswith("<p>") and out.endswith("</p>") and out.count("<p>") == 1:
        out = out[3:-4]
    return Markup(out)


_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_HTML_IMAGE = re.compile(r"<img\b[^>]*>", re.I)


def summary(text: str, length: int = 60) -> str:
    """A question's text for a list: pictures become ``[图：说明]`` instead of their long address
    (or a whole ``data:`` image from an imported bank)."""
    out = _MD_IMAGE.sub(lambda m: f"[图：{m.group(1)}]" if m.group(1).strip() else "[图]", text or "")
    out = _HTML_IMAGE.sub("[图]", out)
    out = " ".join(out.split())
    return out if len(out) <= length else out[:length - 1] + "…"
