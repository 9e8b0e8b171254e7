"""What a first-time search page keeps per process beside the pages: document bodies (per
revision) for snippets and the listed documents (per index version). Nothing is keyed by the
query; a saved document is read again, a draft is never shown to a member, and both are bounded."""
import pytest
from sqlalchemy import func, select

from school.extensions import db
from school.library import index, result_cache, search, services, snippets
from school.library.models import DocStatus, Document
from school.timeutil import utcnow


@pytest.fixture(autouse=True)
def _computed_pages(app):
    app.config["SEARCH_PAGES_KEPT"] = 0  # every page computed: only the per-document caches take part
    result_cache.bodies.clear()
    result_cache.documents.clear()


def _save(doc, **changes):
    data = services.data_of(doc)
    for name, value in changes.items():
        setattr(data, name, value)
    assert services.update_document(doc, data, None, utcnow())
    db.session.commit()


def test_a_saved_body_gives_the_new_snippet(app, make):
    doc = make.document("乡村振兴政策汇编", "第一条 推进乡村振兴，发展集体经济。")
    assert "发展集体经济" in search.search("乡村振兴").hits[0].snippet
    assert len(result_cache.bodies) == 1
    _save(doc, body="第一条 乡村振兴要靠人才，培养本土人才。")
    hit = search.search("乡村振兴").hits[0]
    assert "培养本土人才" in hit.snippet and "集体经济" not in hit.snippet


def test_a_changed_title_and_an_unpublished_document_are_not_shown_from_memory(app, make):
    doc = make.document("乡村振兴政策汇编", "推进乡村振兴。")
    make.document("乡村振兴理论研究", "乡村振兴的理论。")
    assert {h.document.title for h in search.search("乡村振兴").hits} == {"乡村振兴理论研究", "乡村振兴政策汇编"}
    _save(doc, title="乡村振兴政策选编")
    assert {h.document.title for h in search.search("乡村振兴").hits} == {"乡村振兴理论研究", "乡村振兴政策选编"}
    _save(doc, status=DocStatus.DRAFT)
    assert [h.document.title for h in search.search("乡村振兴").hits] == ["乡村振兴理论研究"]
    draft = [h.document for h in search.search("乡村振兴", include_drafts=True).hits if h.document.id == doc.id][0]
    assert not draft.is_published


def test_draft_badge_on_the_editors_page_follows_publishing(app, client, auth, make):
    from school.accounts.models import Role

    draft = make.document("三会一课记录要求", "三会一课要有记录。", status=DocStatus.DRAFT)
    auth.login(make.user(role=Role.EDITOR))
    assert '<span class="badge">草稿</span>' in client.get("/library/search?q=三会一课").get_data(as_text=True)
    _save(draft, status=DocStatus.PUBLISHED)
    page = client.get("/library/search?q=三会一课").get_data(as_text=True)
    assert "三会一课记录要求" in page and '<span class="badge">草稿</span>' not in page


def test_listed_documents_are_read_only_and_look_like_documents(app, make):
    doc = make.document("乡村振兴政策汇编", "推进乡村振兴。", issuer="农业农村部", summary="摘要")
    listed = search.search("乡村振兴").hits[0].document
    assert isinstance(listed, search.ListedDocument)
    for name in ("id", "title", "issuer", "summary", "category_label", "level_label", "is_published",
                 "status_label", "tag_list", "published_on", "source_path"):
        assert getattr(listed, name) == getattr(doc, name), name
    assert not hasattr(listed, "body")
    with pytest.raises(AttributeError):
        listed.title = "改过的标题"


def test_bodies_kept_are_bounded_in_characters(app, make):
    app.config["SEARCH_BODIES_KEPT_CHARS"] = 30
    for i in range(3):
        make.document(f"乡村振兴文件{i}", "推进乡村振兴。" + "发展集体经济。" * (i + 1))
    assert search.search("乡村振兴").total == 3
    assert result_cache.bodies.chars <= 30 and len(result_cache.bodies) < 3
    app.config["SEARCH_BODIES_KEPT_CHARS"] = 0
    result_cache.bodies.clear()
    assert search.search("乡村振兴").total == 3 and len(result_cache.bodies) == 0


def test_database_state_counts_and_dates_as_before(app, make):
    for i in range(3):
        make.document(f"文件{i}", "内容。")
    count, newest = db.session.execute(select(func.count(Document.id), func.max(Document.updated_at))).one()
    assert index.database_state() == {"schema": index.SCHEMA_VERSION, "count": count, "newest": newest.isoformat()}


@pytest.mark.parametrize("terms", [["劳动合同"], ["劳动", "合同", "工资"], ["AB", "ab", "第三条"], ["。"], ["无此词"], []])
def test_snippets_with_kept_sentence_ends_are_the_same(terms):
    bodies = ["# 第一章\n\n第一条 劳动合同。第二条 合同；劳动合同期限\n第三条 工资！AB ab。\n",
              "劳动" * 400 + "。合同\n" + "工资，劳动合同。" * 50, "没有句号的一段话 劳动 合同 AB", ""]
    for body in bodies:
        expected = snippets.snippet(body, terms, fallback="摘要")
        assert snippets.snippet(body, terms, fallback="摘要", ends=snippets.sentence_ends(body)) == expected


def test_term_lookups_are_shared_within_one_search_only(app, make):
    from school.library import scoring

    make.document("乡村振兴政策汇编", "推进乡村振兴。")
    assert search.search("乡村振兴").total == 1
    searcher = search.current_searcher().searcher
    tables = [sub.reader()._terms._tindex for sub, _ in searcher.leaf_searchers()]
    assert tables and not any(isinstance(t, scoring._LookedUpOnce) for t in tables)  # nothing left behind
    reader = searcher.reader()
    words = [w.decode() for w in reader.lexicon("body")] + ["无此词语"]
    before = [(("body", w) in reader, reader.doc_frequency("body", w), reader.frequency("body", w)) for w in words]
    with scoring.terms_looked_up_once(searcher):
        for _ in range(2):  # looked up, then answered from the first look-up
            assert [(("body", w) in reader, reader.doc_frequency("body", w), reader.frequency("body", w))
                    for w in words] == before
            assert reader.term_info("body", words[0]).doc_frequency() == before[0][1]
            with pytest.raises(Exception):
                reader.term_info("body", "无此词语")
    assert before[0][0] and not before[-1][0]
    assert [sub.reader()._terms._tindex for sub, _ in searcher.leaf_searchers()] == tables
