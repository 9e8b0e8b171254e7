"""Citation feedback: a question in a member's words finds the cases written in such words
first; the law those cases cite is brought up with them."""
from school.library import levels, search

LAW = "第一条 为了完善劳动合同制度，明确劳动合同双方当事人的权利和义务，制定本法。\n"


def _case(make, n):
    make.document(f"劳动者请求支付加班报酬案{n}", f"劳动者多次加班，用人单位不给加班费。依据《中华人民共和国劳动合同法》"
                  f"第三十一条，用人单位应当支付加班费。案例{n}。\n", category="law")


def test_cited_laws():
    body = "依据《中华人民共和国劳动合同法》和《劳动合同法》以及《工伤保险条例》、《某某通知》。"
    assert levels.cited_laws(body) == ["劳动合同法", "工伤保险条例"]


def test_a_question_brings_up_the_law_its_matches_cite(app, make):
    law = make.document("中华人民共和国劳动合同法", LAW, category="law")
    make.document("中华人民共和国种子法", "第一条 为了保护和合理利用种质资源，制定本法。\n", category="law")
    for n in range(3):
        _case(make, n)
    titles = [h.document.title for h in search.search("加班不给加班费怎么办").hits]
    assert law.title in titles[:3]
    # A query that asks for a document by its kind of name gets no such help.
    assert law.title not in [h.document.title for h in search.search("加班费办法").hits]
