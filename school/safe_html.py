"""Markdown (or an author's HTML) to HTML that is safe to show: one nh3 allowlist for the site.

Rendered first, sanitised after, so raw HTML, scripts, ``on*`` attributes, styles and
``javascript:`` links never survive, whichever package the text comes from.

Rendering is also bounded in time and stack, whatever the text (``bound_markdown``):
Python-Markdown looks for the closing ``]``, ``)`` or ``>`` of every opener to the end of
its paragraph, so a paragraph of openers that never close (``"[a](" * n``) costs n², and it
parses each nested list or quote by recursion, so 2,000 levels raise ``RecursionError``.
Before rendering, nesting is cut to ``MAX_NESTING`` levels (deeper indentation is reduced,
further list or quote markers on a line are escaped), brackets nested deeper than
``MAX_BRACKET_DEPTH`` are escaped, and in each paragraph the openers left open at the end of
their line beyond the first ``MAX_OPEN_BRACKETS`` are escaped. Ordinary text never comes
near these bounds, so it renders exactly as before. Should the parser still run out of
stack, the text is shown as plain paragraphs.
"""
from __future__ import annotations

import html
import re
import threading

import markdown
import nh3

TAGS = {"h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "strong", "em", "b", "i", "u", "s",
        "blockquote", "ul", "ol", "li", "a", "code", "pre", "table", "thead", "tbody", "tr", "th", "td",
        "sup", "sub", "img", "span", "del", "ins"}
ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"},
              "th": {"align", "colspan", "rowspan"}, "td": {"align", "colspan", "rowspan"}}
SCHEMES = {"http", "https", "mailto"}


def valid_text(text: str) -> str:
    """``text`` without lone surrogates (JSON's "\\ud800" decodes to one), which cannot be
    encoded as UTF-8 — for nh3, for the database, for the response."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def sanitise(raw_html: str, data_urls: bool = False) -> str:
    """``data_urls`` admits inline images (question banks carry them); the CSP allows no others
    from outside the site anyway."""
    return nh3.clean(valid_text(raw_html), tags=TAGS, attributes=ATTRIBUTES, url_schemes=SCHEMES | ({"data"} if data_urls else set()),
                     link_rel="noopener noreferrer nofollow", strip_comments=True)


MAX_NESTING = 16  # list and quote levels
TAB = 4  # Python-Markdown's tab_length: one nesting level of indentation
MAX_BRACKET_DEPTH = 8
MAX_OPEN_BRACKETS = 32  # per paragraph
_CONTAINER = re.compile(r"[ \t]*((?:[-*+]|\d{1,9}[.)])[ \t]+|>[ \t]?)")
_INDENT = re.compile(r"[ \t]*")
_BLANK = re.compile(r"^[ \t]*$")
_PAIRS = {"[": "]", "(": ")", "<": ">"}
_CLOSERS = {v: k for k, v in _PAIRS.items()}
# How an opener is made literal: Markdown's escapes for [ and (; "<" has none, so an entity.
_LITERAL = {"[": "\\[", "(": "\\(", "<": "&lt;"}


def _bound_nesting(line: str) -> str:
    indent = _INDENT.match(line).group(0)
    width = len(indent.expandtabs(TAB))
    if width > MAX_NESTING * TAB:
        line = " " * (MAX_NESTING * TAB) + line[len(indent):]
        indent = " " * (MAX_NESTING * TAB)
    pos, depth = len(indent), 0
    while True:
        match = _CONTAINER.match(line, pos)
        if match is None:
            return line
        depth += 1
        if depth > MAX_NESTING:  # the marker becomes text, and so does everything after it
            at = match.start(1)
            return line[:at] + "\\" + line[at:] if line[at] in "-*+>" else \
                line[:at] + re.sub(r"^(\d+)([.)])", r"\1\\\2", line[at:])
        pos = match.end()


def _openers(line: str) -> tuple[list[int], list[int]]:
    """Positions of openers nested too deep, and of openers still open at the line's end."""
    stacks: dict[str, list[int]] = {"[": [], "(": [], "<": []}
    deep: list[int] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if ch in _PAIRS:
            stack = stacks[ch]
            if ch != "<" and len(stack) >= MAX_BRACKET_DEPTH:
                deep.append(i)
            else:
                stack.append(i)
        elif ch in _CLOSERS and stacks[_CLOSERS[ch]]:
            stacks[_CLOSERS[ch]].pop()
        i += 1
    return deep, sorted(stacks["["] + stacks["("] + stacks["<"])


def bound_markdown(text: str) -> str:
    """``text`` with the constructs that make Python-Markdown slow or recursive neutralised
    (see the module's docstring); linear in the length of the text."""
    lines = text.split("\n")
    budget = MAX_OPEN_BRACKETS  # per paragraph: reset by each blank line
    for index, line in enumerate(lines):
        if _BLANK.match(line):
            budget = MAX_OPEN_BRACKETS
            continue
        line = _bound_nesting(line)
        deep, still_open = _openers(line)
        escape = set(deep)
        if len(still_open) > budget:
            escape.update(still_open[budget:])
        budget = max(0, budget - len(still_open))
        if escape:
            line = "".join(_LITERAL[ch] if i in escape else ch for i, ch in enumerate(line))
        lines[index] = line
    return "\n".join(lines)


_converters = threading.local()


def _converter() -> markdown.Markdown:
    """This thread's Markdown instance. Building one (its parsers and ~40 patterns) cost more
    than converting a short text: an exam page renders ~100 stems and options. Python-Markdown
    documents ``reset()`` between uses of one instance; instances are not thread-safe."""
    md = getattr(_converters, "md", None)
    if md is None:
        md = _converters.md = markdown.Markdown(extensions=["tables", "sane_lists", "fenced_code"],
                                                output_format="html")
    return md


def markdown_to_safe_html(text: str, data_urls: bool = False) -> str:
    try:
        raw = _converter().reset().convert(bound_markdown(text or ""))
    except RecursionError:  # a construct the bounds above do not foresee: show the text as text
        _converters.md = None  # a parse abandoned half-way: the next text gets a fresh instance
        raw = "".join(f"<p>{html.escape(part).replace(chr(10), '<br>')}</p>"
                      for part in re.split(r"\n[ \t]*\n", text or "") if part.strip())
    return sanitise(raw, data_urls=data_urls)
