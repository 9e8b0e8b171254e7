"""The search page cache (``library.result_cache``): kept pages are the pages computed, forgotten
when the documents change, bounded, and never show a draft to someone who may not see it."""
import pytest

from school.accounts.models import Role
from school.extensions import db
from school.library import result_cache, search, services, snippets
from school.library.models import DocStatus
from school.timeutil import utcnow


def _titles(results):
    return [h.document.title for h in results.hits]


def _publish(doc):
    services.update_document(doc, services.DocumentData(title=doc.title, category=doc.category, body=doc.body,
                                                        status=DocStatus.PUBLISHED), None, utcnow())
    db.session.commit()


def test_a_page_asked_again_is_the_kept_page(app, make):
    result_cache.pages.clear()
    make.document("乡村振兴政策汇编", "推进乡村振兴。第二条 乡村振兴要靠人才。")
    make.document("乡村振兴理论研究", "乡村振兴的理论。")
    first = search.search("乡村振兴")
    assert len(result_cache.pages) == 1
    again = search.search("  乡村振兴 ")  # the same query, normalised
    assert len(result_cache.pages) == 1
    assert _titles(again) == _titles(first) and again.total == first.total == 2
    assert [(h.snippet, h.anchor, h.score) for h in again.hits] == [(h.snippet, h.anchor, h.score) for h in first.hits]
    app.config["SEARCH_PAGES_KEPT"] = 0  # the same page, computed
    computed = search.search("乡村振兴")
    assert [(h.document.id, h.snippet, h.score) for h in computed.hits] == \
        [(h.document.id, h.snippet, h.score) for h in first.hits]


def test_kept_pages_are_forgotten_when_a_document_is_published(app, make):
    make.document("三会一课制度", "支部党员大会、支部委员会、党小组会和党课。")
    draft = make.document("三会一课记录要求", "三会一课要有记录。", status=DocStatus.DRAFT)
    assert _titles(search.search("三会一课")) == ["三会一课制度"]
    _publish(draft)
    assert sorted(_titles(search.search("三会一课"))) == ["三会一课制度", "三会一课记录要求"]


def test_a_draft_never_reaches_a_member_through_the_cache(app, make):
    make.document("发展党员工作细则", "发展党员要经过支部大会讨论。")
    make.document("发展党员工作细则修订稿", "发展党员要经过支部大会讨论，草稿。", status=DocStatus.DRAFT)
    editor_page = search.search("发展党员", include_drafts=True)
    assert len(editor_page.hits) == 2
    member_page = search.search("发展党员")
    assert _titles(member_page) == ["发展党员工作细则"] and member_page.total == 1


def test_over_http_an_editor_page_is_not_a_member_page(app, client, auth, make):
    make.document("发展党员工作细则", "发展党员要经过支部大会讨论。")
    make.document("发展党员工作细则修订稿", "发展党员要经过支部大会讨论，草稿。", status=DocStatus.DRAFT)
    editor, member = make.user(role=Role.EDITOR), make.user()
    auth.login(editor)
    page = client.get("/library/search?q=发展党员").get_data(as_text=True)
    assert "修订稿" in page and "草稿" in page
    auth.logout()
    auth.login(member)
    page = client.get("/library/search?q=发展党员").get_data(as_text=True)
    assert "发展党员工作细则" in page and "修订稿" not in page
    # The whole-site search uses the same pages.
    page = client.get("/search?q=发展党员").get_data(as_text=True)
    assert "发展党员工作细则" in page and "修订稿" not in page


def _local(make, title, region):
    doc = make.document(title, "物业管理。", category="law")
    doc.level, doc.region, doc.updated_at = "local", region, utcnow()
    db.session.commit()


def test_the_regions_filter_follows_the_documents(app, client, auth, make):
    auth.login(make.user())
    _local(make, "深圳市物业管理条例", "广东 · 深圳")
    page = client.get("/library/search?q=物业").get_data(as_text=True)
    assert '<option value="广东 · 深圳">' in page and "杭州" not in page
    _local(make, "杭州市物业管理条例", "浙江 · 杭州")
    page = client.get("/library/search?q=物业").get_data(as_text=True)
    assert '<option value="浙江 · 杭州">' in page and "杭州市物业管理条例" in page


def test_pages_kept_are_bounded_and_zero_turns_the_cache_off(app, make):
    result_cache.pages.clear()
    make.document("乡村振兴政策汇编", "推进乡村振兴，发展集体经济，培养人才。")
    app.config["SEARCH_PAGES_KEPT"] = 2
    for query in ("乡村振兴", "集体经济", "人才", "乡村振兴"):
        assert search.search(query).total == 1
    assert len(result_cache.pages) == 2
    result_cache.pages.clear()
    app.config["SEARCH_PAGES_KEPT"] = 0
    assert search.search("人才").total == 1
    assert len(result_cache.pages) == 0


@pytest.mark.parametrize("since", [0, 1, 10, 17])  # the previous sentence's end, or before it, or none
def test_snippet_sentence_is_found_from_the_previous_end(since):
    body = "# 第一章\n\n第一条 甲乙。第二条 合同；劳动合同期限\n第三条 无关！"
    assert [body.index(ch) for ch in "\n。；"] == [5, 13, 20]
    for offset, expected in [(0, "# 第一章"), (body.index("合同"), "第二条 合同；"), (body.index("劳动"), "劳动合同期限"),
                             (body.index("无关"), "第三条 无关！")]:
        if offset >= since:
            start, end = snippets._sentence_around(body, offset, since)
            assert body[start:end].strip() == expected


def test_a_rebuilt_shared_index_is_a_new_version(app, make):
    """Another node's rebuild of a shared index changes no database state, only the index
    generation: pages computed from the old index are not served from the new one."""
    from school.library import index

    result_cache.pages.clear()
    app.config["SEARCH_RECHECK_MS"] = 0
    make.document("乡村振兴政策汇编", "推进乡村振兴。")
    search.search("乡村振兴")
    search.search("乡村振兴")
    assert len(result_cache.pages) == 1
    index.rebuild()
    assert _titles(search.search("乡村振兴")) == ["乡村振兴政策汇编"]
    assert len(result_cache.pages) == 2


def test_a_search_page_reads_the_database_state_once(app, client, auth, make, monkeypatch):
    from school.library import index

    make.document("乡村振兴政策汇编", "推进乡村振兴。")
    reads = []
    real = index.database_state
    monkeypatch.setattr(index, "database_state", lambda: reads.append(1) or real())
    auth.login(make.user())
    client.get("/library/search?q=政策")  # the searcher opened (and the index checked) once
    reads.clear()
    assert "乡村振兴政策汇编" in client.get("/library/search?q=乡村振兴").get_data(as_text=True)
    assert len(reads) == 1  # the 地区 choices and the searcher share it
    make.document("乡村振兴理论研究", "乡村振兴的理论。")  # the next request sees the change
    assert "乡村振兴理论研究" in client.get("/library/search?q=乡村振兴").get_data(as_text=True)
    reads.clear()
    search.search("乡村振兴")
    search.search("乡村振兴")
    assert len(reads) == 2  # outside a request: read each time
