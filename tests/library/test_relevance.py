"""Ranking that knows what a law is, documents told apart, traditional and pinyin queries,
suggestions, odd queries, and an index that always holds exactly the database's documents."""
from datetime import date

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from school.extensions import db
from school.library import following, importer, index, levels, search
from school.library.models import Document
from school.timeutil import utcnow

FILES = [
    "社会法/劳动合同法(2012-12-28).md", "行政法规/劳动合同法实施条例(2008-09-18).md",
    "司法解释/最高人民法院关于审理劳动争议案件适用法律问题的解释（一）(2020-12-29).md",
    "社会法/劳动法(2018-12-29).md", "民法典/总则.md", "民法典/合同编.md", "民法典/婚姻家庭编.md",
    "民法典/继承编.md", "社会法/妇女权益保障法(2018-10-26).md", "社会法/妇女权益保障法(2022-10-30).md",
    "行政法规/工伤保险条例(2010-12-20).md", "行政法规/保障农民工工资支付条例(2019-12-30).md",
    "行政法/道路交通安全法(2021-04-29).md", "行政法规/道路交通安全法实施条例(2017-10-07).md",
]


@pytest.fixture
def laws(app, copy_corpus, corpus):
    files = [f for f in FILES if (corpus / f).exists()]
    if len(files) < len(FILES):
        pytest.skip(f"语料中缺少 {sorted(set(FILES) - set(files))}")
    root = copy_corpus(*files)
    report = importer.import_tree(root, "law", None, utcnow())
    assert report.created == len(files) and not report.failed
    return root


def titles(query, **options):
    return [hit.document.title for hit in search.search(query, **options).hits]


# --- levels, parts, regions -----------------------------------------------------------


@pytest.mark.parametrize("path, title, level", [
    ("laws/社会法/劳动合同法(2012-12-28).md", "中华人民共和国劳动合同法", "law"),
    ("laws/行政法规/工伤保险条例(2010-12-20).md", "工伤保险条例", "regulation"),
    ("laws/司法解释/x.md", "最高人民法院关于审理劳动争议案件适用法律问题的解释（一）", "interpretation"),
    ("laws/部门规章/公安部/机动车登记规定(2021-12-17).md", "机动车登记规定", "rule"),
    ("local/广东地方法规/地方性法规/广东/深圳经济特区绿色建筑条例(2022-03-28).md", "深圳经济特区绿色建筑条例", "local"),
    (None, "中华人民共和国慈善法", "law"),
    (None, "最高人民法院关于适用《中华人民共和国民法典》继承编的解释（一）", "interpretation"),
    (None, "浙江省村经济合作社组织条例", "local"),
    (None, "学习笔记", "other"),
])
def test_level_from_folder_or_title(path, title, level):
    assert levels.classify(title, path) == level


def test_region_of_a_local_regulation():
    path = "local/广东地方法规/地方性法规/广东/深圳经济特区绿色建筑条例(2022-03-28).md"
    assert levels.region_of("深圳经济特区绿色建筑条例", path) == "广东 · 深圳"
    assert levels.region_of("广东省市场监管条例", "local/广东地方法规/地方性法规/广东/x.md") == "广东"


def test_article_numbers():
    assert [levels.chinese_number(t) for t in ("十", "十七", "一百零九", "一千零七十九", "二百零九", "133")] == \
        [10, 17, 109, 1079, 209, 133]
    assert levels.article_range("## 第一章\n\n第四百六十三条 本编……\n\n第九百八十八条 ……\n") == "463-988"


def test_a_law_issued_in_parts_is_titled_with_its_part():
    text = "# 中华人民共和国民法典\n\n# 合同编\n\n2020年5月28日 通过\n\n<!-- INFO END -->\n\n第四百六十三条 本编调整。\n"
    assert importer.parse_markdown(text, "合同编.md").title == "中华人民共和国民法典 · 合同编"
    plain = "# 中华人民共和国劳动法\n\n2018年12月29日 修正\n\n<!-- INFO END -->\n\n# 第一章\n\n第一条 为了。\n"
    assert importer.parse_markdown(plain, "劳动法.md").title == "中华人民共和国劳动法"


# --- ranking ----------------------------------------------------------------------------


def test_a_named_law_comes_before_its_regulation_and_interpretations(laws):
    hits = search.search("劳动合同法", per_page=5).hits
    assert hits[0].document.title == "中华人民共和国劳动合同法"
    related = [d.title for d in hits[0].related]
    assert "中华人民共和国劳动合同法实施条例" in related
    assert hits[0].related_label in ("配套法规", "相关解释", "相关解释与配套法规")
    assert titles("劳动合同法实施条例")[0] == "中华人民共和国劳动合同法实施条例"
    assert titles("道路交通安全法")[0] == "中华人民共和国道路交通安全法"


def test_the_civil_code_parts_are_told_apart_and_articles_find_their_part(laws):
    first = titles("民法典", per_page=10)
    assert first[0].startswith("中华人民共和国民法典 · ") and len(set(first)) == len(first)
    assert titles("民法典第一千零七十九条")[0] == "中华人民共和国民法典 · 婚姻家庭编"
    assert titles("民法典第五百七十七条")[0] == "中华人民共和国民法典 · 合同编"
    assert titles("民法典继承编")[0] == "中华人民共和国民法典 · 继承编"
    hit = search.search("民法典第一千一百二十七条").hits[0]
    assert hit.anchor == "第一千一百二十七条"


def test_current_and_historical_versions(laws):
    hits = search.search("妇女权益保障法").hits
    assert hits[0].document.published_on == date(2022, 10, 30) and hits[0].version_label == "现行有效"
    assert [d.published_on for d in hits[0].versions] == [date(2018, 10, 26)]
    older = search.search("妇女权益保障法", sort="date", per_page=20).hits
    assert {h.version_label for h in older if "妇女权益保障法" in h.document.title} == {"现行有效", "历史版本"}


def test_results_show_level_issuer_and_date(app, client, auth, make, laws):
    auth.login(make.user())
    page = client.get("/library/search", query_string={"q": "劳动合同法"}).get_data(as_text=True)
    assert "法律" in page and "行政法规" in page and "2012-12-28" in page
    assert "全国人民代表大会常务委员会" in page


@pytest.mark.parametrize("query, title", [
    ("勞動合同法", "中华人民共和国劳动合同法"),
    ("工傷保險條例", "工伤保险条例"),
    ("laodonghetongfa", "中华人民共和国劳动合同法"),
    ("ldhtf", "中华人民共和国劳动合同法"),
    ("gongshangbaoxiantiaoli", "工伤保险条例"),
    ("道交法", "中华人民共和国道路交通安全法"),
    ("工伤条例", "工伤保险条例"),
])
def test_traditional_pinyin_and_short_forms(laws, query, title):
    assert titles(query)[0] == title


def test_common_words_weigh_less_than_the_telling_one(laws):
    # 规定 and 怎么 are in most documents; 工伤 in few.
    assert titles("工伤 怎么 规定")[0] == "工伤保险条例"
    assert titles("农民工工资被拖欠怎么办")[0] == "保障农民工工资支付条例"


def test_suggestions_by_characters_traditional_and_pinyin(app, client, auth, make, laws):
    assert "中华人民共和国劳动合同法" in search.suggest("劳动合同")
    assert "中华人民共和国劳动合同法" in search.suggest("勞動合同")
    assert "中华人民共和国劳动合同法" in search.suggest("laodonghe")
    assert "民法典" in search.suggest("mfd")
    auth.login(make.user())
    response = client.get("/library/suggest", query_string={"q": "ldht"})
    assert response.status_code == 200 and "中华人民共和国劳动合同法" in response.get_json()["titles"]


@pytest.mark.parametrize("query", ["", "党" * 10_000, "，。！？", "title:(AND OR NOT) * ? ~2 ^3", "第十条",
                                   "ldhtf", "a", "x" * 10_000, "民法典第九千九百九十九条", "劳动 OR 合同 NOT 法"])
def test_odd_queries_never_fail(app, client, auth, make, query):
    make.document("中华人民共和国劳动合同法", "第十条 建立劳动关系，应当订立书面劳动合同。")
    assert search.search(query).total >= 0
    search.suggest(query)
    auth.login(make.user())
    assert client.get("/library/search", query_string={"q": query}).status_code == 200
    assert client.get("/library/suggest", query_string={"q": query}).status_code == 200


# --- the index holds exactly the database's documents ------------------------------------


def _without_index_writes(action):
    """Run ``action`` as a killed import would: committed, never written to the index."""
    event.remove(Session, "after_commit", following._apply_after_commit)
    try:
        action()
    finally:
        event.listen(Session, "after_commit", following._apply_after_commit)
        db.session.info.pop(following._SESSION_KEY, None)


def test_a_killed_import_then_a_smaller_one_leaves_no_gap(app, make):
    for n in range(3):
        make.document(f"第{n}号文件", f"内容{n}。")
    assert search.search("内容").total == 3
    # The killed import: its documents are committed, the index never hears of them.
    _without_index_writes(lambda: [make.document(f"中断导入{n}", f"遗漏的正文{n}。") for n in range(5)])
    # The smaller re-import writes only its own change — and must find the gap.
    make.document("补充文件", "补充的正文。")
    assert index.index_revisions() == index.database_revisions()
    assert index.index_state() == index.database_state()
    assert search.search("遗漏").total == 5


def test_a_gap_behind_a_state_that_claims_current_is_filled_at_start(app, make):
    make.document("甲文件", "鲸鱼。")
    search.search("鲸鱼")
    _without_index_writes(lambda: make.document("乙文件", "骆驼。"))
    index.write_state(index.index_dir())  # the old bug: the state claims the whole database
    assert index.is_current() and len(index.index_revisions()) == 1
    index._verified.clear()  # a new process starts
    from school.library import search as search_module
    search_module._local.__dict__.clear()
    assert search.search("骆驼").total == 1
    assert index.index_revisions() == index.database_revisions()


def test_a_changed_revision_or_deleted_document_is_found_on_the_next_import(app, make, tmp_path):
    doc = make.document("甲文件", "甲的正文。")
    gone = make.document("乙文件", "乙的正文。")
    search.search("正文")

    def change():
        doc.status = "draft"
        doc.updated_at = utcnow()
        db.session.delete(gone)
        db.session.commit()
    _without_index_writes(change)
    (tmp_path / "laws").mkdir()
    importer.import_tree(tmp_path / "laws", "law", None, utcnow())  # an import with nothing to add
    assert index.index_revisions() == index.database_revisions()
    assert search.search("正文").total == 0


def test_a_document_change_compares_every_document_only_when_the_index_is_out_of_step(app, make, monkeypatch):
    make.document("甲文件", "鲸鱼。")
    search.search("鲸鱼")  # the index exists and was compared at start
    calls = []
    real = index.reconcile
    monkeypatch.setattr(index, "reconcile", lambda *a: calls.append(a) or real(*a))
    doc = make.document("乙文件", "骆驼。")
    doc.title = "乙文件（修订）"
    doc.updated_at = utcnow()
    db.session.commit()
    db.session.delete(doc)
    db.session.commit()
    assert calls == []  # in step after each write: the state is recorded, nothing scanned
    assert index.index_state() == index.database_state()
    assert index.index_revisions() == index.database_revisions()

    _without_index_writes(lambda: make.document("丙文件", "遗漏的正文。"))
    make.document("丁文件", "补充的正文。")
    assert len(calls) == 1  # out of step (a document missing): every document compared
    assert index.index_revisions() == index.database_revisions()
    assert search.search("遗漏").total == 1


def test_imported_documents_store_level(laws):
    levels_by_title = dict(db.session.execute(db.select(Document.title, Document.level)).all())
    assert levels_by_title["中华人民共和国劳动合同法"] == "law"
    assert levels_by_title["中华人民共和国劳动合同法实施条例"] == "regulation"
    assert levels_by_title["最高人民法院关于审理劳动争议案件适用法律问题的解释（一）"] == "interpretation"
