"""One Markdown instance per thread renders exactly what a fresh instance renders: nothing of
one text (reference definitions, stashed HTML, a parse abandoned half-way) reaches the next."""
from __future__ import annotations

import sys
import threading
import traceback
from pathlib import Path

import markdown

from school import safe_html
from school.safe_html import bound_markdown, markdown_to_safe_html, sanitise

CONTENT = Path(__file__).resolve().parent.parent / "content"


def fresh(text: str, data_urls: bool = False) -> str:
    """What the site rendered before instances were kept: a new instance per text."""
    raw = markdown.markdown(bound_markdown(text), extensions=["tables", "sane_lists", "fenced_code"],
                            output_format="html")
    return sanitise(raw, data_urls=data_urls)


def samples() -> list[str]:
    texts = []
    for path in sorted(CONTENT.rglob("*.md")):
        body = path.read_text(encoding="utf-8")
        texts.append(body)
        texts.extend(body.split("\n\n")[:30])
    texts += ["| a | b |\n|---|---|\n| 1 | 2 |", "```\n<b>代码</b>\n```", "1. 一\n2. 二\n\n* 三",
              "<div>原样</div>\n\n**粗体**", "[链接][r]\n\n[r]: https://example.org", "![图](data:image/png;base64,AA==)"]
    return texts


def test_a_kept_instance_renders_what_a_fresh_one_does():
    texts = samples()
    assert len(texts) > 50
    for text in texts + texts[::-1]:  # each text after a different one
        assert markdown_to_safe_html(text) == fresh(text)
        assert markdown_to_safe_html(text, data_urls=True) == fresh(text, data_urls=True)


def test_reference_definitions_do_not_reach_the_next_text():
    assert 'href="https://example.org"' in markdown_to_safe_html("[r]: https://example.org\n\n[链接][r]")
    assert "href" not in markdown_to_safe_html("[链接][r]")


def test_a_parse_abandoned_by_recursion_leaves_no_state():
    """A real RecursionError half-way through a parse (the stack made short on purpose): the
    text is shown as text, and the texts after it render as a fresh instance renders them."""
    nested = "> " * 16 + "深层引用"
    depth = len(traceback.extract_stack())
    fell_back = False
    for headroom in (30, 40, 50):
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(depth + headroom)
        try:
            out = markdown_to_safe_html(nested)
        finally:
            sys.setrecursionlimit(limit)
        fell_back = fell_back or "<blockquote>" not in out
    assert fell_back
    for text in ("[r]: https://example.org\n\n[链接][r]", "[链接][r]", nested, "| a | b |\n|---|---|\n| 1 | 2 |"):
        assert markdown_to_safe_html(text) == fresh(text)


def test_threads_render_with_instances_of_their_own():
    texts = samples()[:40]
    expected = [fresh(t) for t in texts]
    failures = []

    def render_all():
        for _ in range(3):
            if [markdown_to_safe_html(t) for t in texts] != expected:
                failures.append(threading.current_thread().name)

    threads = [threading.Thread(target=render_all) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert safe_html._converters.md is not None  # this thread's instance is kept
