"""Markdown is rendered then sanitised; headings give a TOC; every article gets an anchor."""
import re

import pytest

from school.library.rendering import article_of, render

LAW = "## 第一编 总则\n\n## 第一章 基本规定\n\n### 第一节 一般规定\n\n第一条 为了保护权益，制定本法。\n\n第二条 本法适用于……\n\n第一百零一条之一 补充条文。\n"


def test_toc_and_article_anchors():
    rendered = render(LAW)
    assert [(t.level, t.text) for t in rendered.toc] == [(2, "第一编 总则"), (2, "第一章 基本规定"), (3, "第一节 一般规定")]
    assert rendered.articles == ["第一条", "第二条", "第一百零一条之一"]
    assert '<p id="第二条" class="article">' in rendered.html
    assert 'id="h-第一章基本规定"' in rendered.html


def test_repeated_article_numbers_get_unique_anchors():
    rendered = render("## 一\n\n第一条 甲\n\n## 二\n\n第一条 乙\n")
    assert rendered.articles == ["第一条", "第一条-2"]


@pytest.mark.parametrize("markdown", [
    "<script>alert(1)</script>正文",
    '<img src="x" onerror="alert(1)">',
    "[点我](javascript:alert(1))",
    '<a href="javascript:alert(1)">点我</a>',
    '<div onclick="alert(1)" style="color:red">原始 HTML</div>',
    "<iframe src='https://evil.example'></iframe>",
])
def test_sanitiser_removes_active_content(markdown):
    html = render(markdown).html.lower()
    tags = re.findall(r"<[^>]+>", html)
    assert not [t for t in tags if any(bad in t for bad in ("script", "javascript:", "onerror", "onclick", "iframe", "style="))], tags


def test_article_of_offset():
    assert article_of(LAW, LAW.index("本法适用")) == "第二条"
    assert article_of(LAW, LAW.index("基本规定")) is None
