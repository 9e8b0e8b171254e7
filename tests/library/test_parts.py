"""A long document is read a chapter at a time: TOC across parts, next/previous, #第X条 and search
hits landing on the part that holds the article."""
from __future__ import annotations

import re

from school.library import rendering

CN = "一二三四五六七八九十"
BODY = "\n\n".join(
    f"## 第{CN[c]}章 第{c + 1}部分\n\n" + "\n\n".join(f"第{CN[c]}十{CN[a]}条 内容{c}-{a}，村务公开。" for a in range(9))
    for c in range(3))


def test_split_parts_by_chapter():
    parts = rendering.split_parts(rendering.render(BODY), len(BODY), threshold=100)
    assert [p.title for p in parts] == ["第一章 第1部分", "第二章 第2部分", "第三章 第3部分"]
    assert "第二十一条" in parts[1].anchors and "第二十一条" not in parts[0].anchors
    assert len(rendering.split_parts(rendering.render(BODY), len(BODY), threshold=10**6)) == 1


def test_long_document_is_served_in_parts(client, auth, make, monkeypatch):
    monkeypatch.setattr(rendering, "PART_THRESHOLD", 100)
    doc = make.document("村务公开条例", BODY)
    auth.login(make.user())
    first = client.get(f"/library/doc/{doc.id}").get_data(as_text=True)
    assert 'id="第一十一条"' in first and 'id="第二十一条"' not in first
    assert "本页第 1 部分" in first and "下一部分：第二章 第2部分" in first and "上一部分" not in first
    # The TOC links to other parts by URL, to this one by anchor.
    assert f'href="/library/doc/{doc.id}?part=2#' in first
    second = client.get(f"/library/doc/{doc.id}?part=2").get_data(as_text=True)
    assert 'id="第二十一条"' in second and "上一部分：第一章 第1部分" in second and "下一部分：第三章" in second
    # An article anywhere: ?at= picks the part that holds it (search hits link this way).
    third = client.get(f"/library/doc/{doc.id}?at=第三十二条").get_data(as_text=True)
    assert 'id="第三十二条"' in third and 'data-part="3"' in third
    # Print keeps the whole document.
    printed = client.get(f"/library/doc/{doc.id}?print=1").get_data(as_text=True)
    assert 'id="第一十一条"' in printed and 'id="第三十二条"' in printed


def test_search_hit_links_to_its_part(client, auth, make, monkeypatch):
    monkeypatch.setattr(rendering, "PART_THRESHOLD", 100)
    doc = make.document("村务公开条例", BODY.replace("内容2-3", "宅基地审批公开"))
    auth.login(make.user())
    results = client.get("/library/search?q=宅基地审批").get_data(as_text=True)
    match = re.search(rf'href="(/library/doc/{doc.id}\?at=[^"#]+)#', results)
    assert match, results[:2000]
    page = client.get(match.group(1)).get_data(as_text=True)
    assert "宅基地审批公开" in page and 'data-part="3"' in page
