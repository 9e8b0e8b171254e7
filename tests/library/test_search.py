"""Search: relevance on real laws, phrases, highlighting, paging, filters, drafts, rebuild, odd queries."""
from datetime import date

import pytest

from school.extensions import db
from school.library import following, importer, index, search
from school.library.models import DocStatus
from school.timeutil import utcnow

RELEVANCE_FILES = [
    "行政法规/保障农民工工资支付条例(2019-12-30).md", "宪法相关法/村民委员会组织法(2018-12-29).md",
    "宪法相关法/城市居民委员会组织法(2018-12-29).md", "行政法/土地管理法(2019-08-26).md",
    "社会法/农村集体经济组织法(2024-06-28).md", "社会法/老年人权益保障法(2018-12-29).md",
    "民法商法/消费者权益保护法(2013-10-25).md", "诉讼与非诉讼程序法/劳动争议调解仲裁法(2007-12-29).md",
    "社会法/反家庭暴力法(2015-12-27).md", "行政法/道路交通安全法(2021-04-29).md",
    "行政法规/社会救助暂行办法(2019-03-02).md", "民法商法/农村土地承包法(2018-12-29).md",
    "社会法/劳动法(2018-12-29).md", "社会法/劳动合同法(2012-12-28).md", "行政法规/工资支付暂行规定(1994-12-06).md",
    "诉讼与非诉讼程序法/人民调解法(2010-08-28).md", "行政法/食品安全法(2021-04-29).md", "民法典/婚姻家庭编.md",
]

CASES = [
    ("农民工工资被拖欠怎么办", "保障农民工工资支付条例"),
    ("村委会", "村民委员会组织法"),
    ("村委会选举怎么搞", "村民委员会组织法"),
    ("居委会", "城市居民委员会组织法"),
    ("宅基地怎么申请", "土地管理法"),
    ('"农村集体经济组织"', "农村集体经济组织法"),
    ("老人赡养", "老年人权益保障法"),
    ("网购东西有质量问题能退货吗", "消费者权益保护法"),
    ("劳动争议怎么申请仲裁", "劳动争议调解仲裁法"),
    ("家暴", "反家庭暴力法"),
    ("低保怎么申请", "社会救助暂行办法"),
    ("土地承包经营权", "农村土地承包法"),
    ("酒后驾驶", "道路交通安全法"),
    ("离婚", "民法典"),  # the file 婚姻家庭编.md is titled 中华人民共和国民法典
    ("食品安全", "食品安全法"),
    ("劳动合同到期不续签有补偿吗", "劳动合同法"),
]


@pytest.fixture
def laws(app, copy_corpus):
    root = copy_corpus(*RELEVANCE_FILES)
    report = importer.import_tree(root, "law", None, utcnow())
    assert report.created == len(RELEVANCE_FILES) and not report.failed
    index.rebuild()
    return root


@pytest.mark.parametrize("query, title", CASES, ids=[c[0] for c in CASES])
def test_what_members_type_finds_the_right_law(laws, query, title):
    hits = search.search(query, per_page=3).hits
    assert any(title in hit.document.title for hit in hits), [h.document.title for h in hits]


def test_hit_links_to_the_matching_article_and_highlights(laws):
    results = search.search("农民工工资被拖欠怎么办", per_page=3)
    top = results.hits[0]
    assert top.anchor and top.anchor.startswith("第") and top.anchor.endswith("条")
    assert "<mark>" in top.snippet
    text = top.snippet.replace("<mark>", "").replace("</mark>", "")
    assert text.rstrip("…")[-1] in "。！？；" or len(text) <= 160


def test_phrase_versus_words(laws):
    phrase = search.search('"集体经济组织成员"', per_page=50)
    words = search.search("集体 经济 组织 成员", per_page=50)
    assert 0 < phrase.total < words.total
    assert phrase.hits[0].document.title.endswith("农村集体经济组织法")


def test_pagination_and_count(laws):
    first = search.search("劳动", per_page=3, page=1)
    second = search.search("劳动", per_page=3, page=2)
    assert first.total == second.total > 3
    assert not {h.document.id for h in first.hits} & {h.document.id for h in second.hits}
    beyond = search.search("劳动", per_page=3, page=999)
    assert beyond.page == beyond.pages and beyond.hits


def test_filters_by_category_and_year(app, make):
    make.document("乡村振兴政策汇编", "推进乡村振兴。", category="policy", published_on=date(2021, 5, 1))
    make.document("乡村振兴理论研究", "乡村振兴的理论。", category="theory", published_on=date(2018, 5, 1))
    assert search.search("乡村振兴").total == 2
    assert [h.document.title for h in search.search("乡村振兴", category="theory").hits] == ["乡村振兴理论研究"]
    assert [h.document.title for h in search.search("乡村振兴", year_from=2020).hits] == ["乡村振兴政策汇编"]
    by_date = search.search("乡村振兴", sort="date")
    assert [h.document.title for h in by_date.hits] == ["乡村振兴政策汇编", "乡村振兴理论研究"]


def test_drafts_only_for_editors_and_index_follows_commits(app, make):
    doc = make.document("基层党组织建设草稿", "支部标准化建设。", status=DocStatus.DRAFT)
    assert search.search("标准化").total == 0
    assert search.search("标准化", include_drafts=True).total == 1
    from school.library import services
    services.update_document(doc, services.DocumentData(title=doc.title, category=doc.category, body=doc.body,
                                                        status=DocStatus.PUBLISHED), None, utcnow())
    db.session.commit()
    assert search.search("标准化").total == 1
    # A rolled-back change never reaches the index.
    doc.body = "完全不同的内容。"
    db.session.flush()
    db.session.rollback()
    assert search.search("标准化").total == 1 and search.search("完全不同").total == 0


def test_missing_or_stale_index_is_rebuilt(app, make):
    import shutil
    app.config["SEARCH_RECHECK_MS"] = 0  # look at the index at every search, not every 500 ms
    make.document("两学一做学习教育", "学党章党规、学系列讲话，做合格党员。")
    assert search.search("合格党员").total == 1
    shutil.rmtree(index.index_dir())
    assert search.search("合格党员").total == 1
    (index.index_dir() / "state.json").write_text("{}")
    assert search.search("合格党员").total == 1


def test_index_behind_the_database_catches_up_without_rebuilding(app, make, monkeypatch):
    from sqlalchemy import event
    from sqlalchemy.orm import Session
    make.document("两学一做学习教育", "学党章党规，做合格党员。")
    assert search.search("合格党员").total == 1
    # Another worker committed a document but has not written it to the index yet.
    event.remove(Session, "after_commit", following._apply_after_commit)
    try:
        make.document("三会一课制度", "支部党员大会、支部委员会、党小组会和党课。")
    finally:
        event.listen(Session, "after_commit", following._apply_after_commit)
        db.session.info.pop(following._SESSION_KEY, None)
    monkeypatch.setattr(index, "rebuild", lambda *a, **k: pytest.fail("a full rebuild was not needed"))
    assert search.search("党小组会").total == 1
    assert search.search("合格党员").hits[0].document.title == "两学一做学习教育"


def test_rebuild_gives_the_same_results(laws):
    before = [(h.document.id, h.score) for h in search.search("工资 拖欠", per_page=10).hits]
    index.rebuild()
    after = [(h.document.id, h.score) for h in search.search("工资 拖欠", per_page=10).hits]
    assert before == after and before


@pytest.mark.parametrize("query", ["", "   ", "党", "党" * 250, "，。！？……", '"农村集体', "农村”集体“",
                                   "title:(AND OR NOT) * ? ~2 ^3 [a TO z] {}", "\\", "'; DROP TABLE x; --", "𠀀𪚥"])
def test_odd_queries_have_defined_answers(app, client, auth, make, query):
    make.document("中国共产党章程", "党的基层组织。党员必须履行义务。")
    results = search.search(query)
    assert results.total >= 0
    if not query.strip():
        assert results.message == "请输入要查找的内容。"
    auth.login(make.user())
    assert client.get("/library/search", query_string={"q": query}).status_code == 200


def test_single_character_and_long_query(app, make):
    make.document("中国共产党章程", "党的基层组织。党员必须履行义务。")
    assert search.search("党").total == 1
    long = search.search("党员" * 150)
    assert long.query.truncated and "200" in long.message and long.total == 1


def test_a_single_character_finds_the_words_that_contain_it(app, make):
    make.document("支部工作", "加强党组织建设，发展党员，交纳党费。")  # 党 never stands alone here
    make.document("基层治理", "中国共产党领导的村民自治。")
    make.document("乡村振兴", "发展集体经济。")
    results = search.search("党")
    assert {h.document.title for h in results.hits} == {"支部工作", "基层治理"}
    assert results.hits[0].document.title == "支部工作"  # three words with 党 outrank one
    assert "<mark>党</mark>" in results.hits[0].snippet
    assert results.message.startswith("按单字“党”查找，也包括含有它的词语，如") and "党员" in results.message
    assert search.search("党 ").total == 2 and search.search("“党”").total >= 0


@pytest.mark.parametrize("query", ["工资 党", "党员", "A", "的"])
def test_only_a_lone_character_is_widened(query):
    from school.library.queries import parse, single_character
    assert single_character(parse(query)) is None

