"""Question text to safe HTML: Markdown (or the author's HTML) rendered, then sanitised."""
from __future__ import annotations

import html
import re

from markupsafe import Markup

from school.safe_html import markdown_to_safe_html, sanitise


def render(text: str, fmt: str = "markdown") -> Markup:
    # Images may be inline data (imported banks carry them); no scripts, styles or handlers survive.
    if fmt == "html":
        return Markup(sanitise(text or "", data_urls=True))
    if fmt == "plain":
        return Markup(sanitise(html.escape(text or "").replace("\n", "<br>")))
    return Markup(markdown_to_safe_html(text, data_urls=True))


def inline(text: str, fmt: str = "markdown") -> Markup:
    """An option or pair text: rendered like a stem (in its own format) but without the wrapping paragraph."""
    out = str(render(text, fmt or "markdown"))
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
