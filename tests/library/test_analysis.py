"""The Chinese analyzer: per-word positions, sub-words, stop words, and the fast indexing path."""
from collections import defaultdict

from school.library.analysis import chinese_analyzer, query_words, term_positions

TEXT = "中华人民共和国村民委员会组织法，第一条 为了保障农村村民实行自治，由村民依法办理自己的事情。ABC Word"


def test_sub_words_share_the_position_of_their_word():
    tokens = [(t.text, t.pos) for t in chinese_analyzer()(TEXT, positions=True)]
    assert ("中华人民共和国", 0) in tokens and ("人民", 0) in tokens and ("共和国", 0) in tokens
    assert ("abc", max(p for _, p in tokens) - 2) in tokens  # lower-cased; the space keeps a position
    assert "的" not in {t for t, _ in tokens}


def test_query_mode_has_no_sub_words():
    tokens = [t.text for t in chinese_analyzer()("中华人民共和国劳动法", positions=True, mode="query")]
    assert tokens == ["中华人民共和国", "劳动法"]


def test_fast_indexing_path_matches_the_analyzer_chain():
    expected = defaultdict(list)
    for token in chinese_analyzer()(TEXT, positions=True, mode="index"):
        expected[token.text].append(token.pos)
    assert term_positions(TEXT) == dict(expected)


def test_query_words_drop_question_words():
    assert query_words("农民工工资被拖欠怎么办？") == ["农民工", "工资", "拖欠"]
    assert query_words("，。！") == []


def test_sub_words_of_long_words():
    from school.library.analysis import sub_words
    assert sub_words("劳动合同") == ["劳动", "合同"]
    assert sub_words("工资") == []
