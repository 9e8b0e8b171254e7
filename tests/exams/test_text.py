"""Question texts are rendered once per process per distinct short text, with the same HTML."""
from __future__ import annotations

from school.exams import text


def test_short_texts_are_kept_and_render_as_before():
    text._render_kept.cache_clear()
    stem = "下列哪一项是**党的根本宗旨**？"
    first = text.render(stem)
    again = text.render(stem)
    assert first == again == text._render(stem, "markdown")
    assert str(first) == "<p>下列哪一项是<strong>党的根本宗旨</strong>？</p>"
    info = text._render_kept.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    # The format is part of the key: the same characters as plain text are escaped, not rendered.
    assert str(text.render(stem, "plain")) == "下列哪一项是**党的根本宗旨**？"
    assert str(text.inline("**甲**")) == "<strong>甲</strong>"


def test_long_texts_are_rendered_each_time_not_kept():
    text._render_kept.cache_clear()
    long_text = "![图](data:image/png;base64," + "A" * text.CACHED_CHARS + ")"
    assert text.render(long_text) == text._render(long_text, "markdown")
    assert text._render_kept.cache_info().currsize == 0


def test_unsafe_html_is_removed_whether_kept_or_not():
    for source in ("<script>alert(1)</script><b>题干</b>", "<img src=x onerror=alert(1)>" + "。" * text.CACHED_CHARS):
        out = str(text.render(source, "html"))
        assert "script" not in out and "onerror" not in out
