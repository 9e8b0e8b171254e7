"""``scoring`` gives exactly what Whoosh's collectors give: documents, scores (or dates), order, total."""
from datetime import date

import pytest
from whoosh import collectors
from whoosh import query as wq
from whoosh.searching import ResultsPage

from school.extensions import db
from school.library import importer, index, scoring, search, services
from school.library.queries import build, parse, rarity_weights, single_character
from school.timeutil import utcnow

FILES = [
    "行政法规/保障农民工工资支付条例(2019-12-30).md", "宪法相关法/村民委员会组织法(2018-12-29).md",
    "行政法/土地管理法(2019-08-26).md", "社会法/农村集体经济组织法(2024-06-28).md",
    "社会法/劳动法(2018-12-29).md", "社会法/劳动合同法(2012-12-28).md", "行政法规/工资支付暂行规定(1994-12-06).md",
    "诉讼与非诉讼程序法/劳动争议调解仲裁法(2007-12-29).md", "社会法/反家庭暴力法(2015-12-27).md",
    "民法典/婚姻家庭编.md",
]
QUERIES = [
    "农民工工资被拖欠怎么办",  # a question: an OR of words, proximity phrases, coordination
    "劳动合同法实施条例",  # long words: their parts in one field (AND), preloaded ORs
    "村委会选举怎么搞",  # a synonym: its full form as phrases in every field
    '"农村集体经济组织" 成员',  # a quoted phrase: required, the words optional
    '"劳动 争议 调解"',  # a phrase of three words
    "劳动",  # one word
    "党",  # one character: the words containing it
    "劳动合同法第十条",  # an article look-up
    "工资 拖欠 用人单位 劳动者 解除 合同 经济补偿",  # many words
    "没有这个词语",  # nothing
]


def whoosh_top(searcher, q, limit, allowed):
    collector = collectors.TopCollector(limit, usequality=False, replace=0)
    if allowed is not None:
        collector = collectors.FilterCollector(collector, allowed)
    searcher.search_with_collector(q, collector)
    results = collector.results()
    return [(hit.docnum, hit.score) for hit in results], len(results)


def whoosh_by_date(searcher, q, page, per_page, allowed):
    collector = collectors.SortingCollector("date", limit=page * per_page, reverse=True)
    if allowed is not None:
        collector = collectors.FilterCollector(collector, allowed)
    searcher.search_with_collector(q, collector)
    results = ResultsPage(collector.results(), page, per_page)
    return [(hit.docnum, hit.score) for hit in results], len(results)


def query_of(cached, text):
    parsed = parse(text)
    searcher = cached.searcher

    def frequency(word):
        return max(searcher.doc_frequency("body", word), searcher.doc_frequency("title", word))

    char = single_character(parsed)
    return build(parsed, rarity_weights(parsed.words, frequency, searcher.doc_count()),
                 {char: cached.words_containing(char)} if char else None)


def assert_same(cached):
    searcher = cached.searcher
    recent = set(searcher.docs_for_query(wq.NumericRange("year", 2010, None)))
    assert recent and len(recent) < searcher.doc_count()
    for text in QUERIES:
        q = query_of(cached, text)
        assert q is not None, text
        for limit in (3, 100):
            for allowed in (None, recent):
                assert scoring.top(searcher, q, limit, allowed) == whoosh_top(searcher, q, limit, allowed), text
        for page, per_page in ((1, 3), (2, 3), (1, 20), (99, 3)):
            for allowed in (None, recent):
                assert (scoring.by_date(searcher, q, page, per_page, allowed)
                        == whoosh_by_date(searcher, q, page, per_page, allowed)), text


@pytest.fixture
def laws(app, copy_corpus):
    report = importer.import_tree(copy_corpus(*FILES), "law", None, utcnow())
    assert report.created == len(FILES) and not report.failed
    index.rebuild()


def test_same_documents_scores_order_and_total_as_whoosh(laws):
    assert_same(search.current_searcher())
    assert search.search("没有这个词语").total == 0


def test_same_over_several_segments_with_deleted_documents(laws):
    docs = [services.create_document(services.DocumentData(
        title=f"乡村劳动合同管理办法（{n}）", category="policy", body=f"用人单位拖欠农民工工资的，劳动者可以解除劳动合同。第{n}条。",
        published_on=date(2015, 1, 1), status="published"), None, utcnow()) for n in range(3)]
    db.session.commit()  # one segment of three
    middle = docs[1]
    services.update_document(middle, services.DocumentData(title=middle.title, category=middle.category,
                                                           body=middle.body + "经济补偿按照工作年限计算。",
                                                           status=middle.status), None, utcnow())
    db.session.commit()
    cached = search.current_searcher()
    reader = cached.searcher.reader()
    # What the test is about: several segments, a deleted document between two others of its segment.
    assert not reader.is_atomic()
    assert any(0 < min(sub.reader().deleted_docs_set, default=0) < sub.reader().doc_count_all() - 1
               for sub, _ in cached.searcher.leaf_searchers())
    assert_same(cached)


def test_a_query_it_does_not_evaluate_is_left_to_whoosh(laws):
    cached = search.current_searcher()
    assert scoring.top(cached.searcher, wq.Prefix("body", "劳动"), 10, None) is None
    assert scoring.top(cached.searcher, wq.Or([wq.Term("body", "劳动"), wq.Prefix("body", "工资")]), 10, None) is None

