"""Question bank files: Moodle's GIFT examples, Chinese GIFT/Aiken/XLSX, broken files, round trips."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from school.exams import bank, exports
from school.exams.formats import FormatError, aiken, gift, parse, xlsx
from school.exams.models import Question
from school.extensions import db
from school.timeutil import utcnow

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "gift" / "examples.txt"
if not EXAMPLES.exists():
    EXAMPLES = Path("/work/shared/conformance/gift/examples.txt")


@pytest.mark.skipif(not EXAMPLES.exists(), reason="../shared/conformance/gift/examples.txt 不在此机器上")
def test_every_gift_example_imports_or_is_reported_by_line():
    text = EXAMPLES.read_text(encoding="utf-8")
    result = gift.parse(text)
    # Every question block of the file (a line with "{" that starts a question) is accounted for.
    assert len(result.questions) + len(result.problems) == 43
    assert result.problems == []
    by_line = {q.line: q for q in result.questions}
    assert by_line[8].qtype == "single" and by_line[8].data["options"][2] == {"text": "no one", "weight": 100.0, "feedback": ""}
    assert by_line[10].stem == "Grant is _____ in Grant's tomb."
    assert by_line[12].qtype == "truefalse" and by_line[12].data == {"answer": False}
    assert by_line[16].data["answers"] == [{"value": 1822.0, "tolerance": 1.0, "weight": 100.0, "feedback": ""}]
    assert by_line[74].data["answers"][0] == {"min": 3.141, "max": 3.142, "weight": 100.0, "feedback": ""}
    assert [a["weight"] for a in by_line[76].data["answers"]] == [100.0, 50.0]
    assert by_line[61].qtype == "matching" and by_line[61].data["pairs"][3] == {"left": "India", "right": "New Delhi"}
    assert by_line[90].name == "Kanji Origins" and by_line[90].qtype == "fill"
    assert by_line[98].data["options"][0]["feedback"] == "feedback comment on the wrong answer"
    assert by_line[108].stem_format == "markdown" and "**Grant's tomb**" in by_line[108].stem
    assert by_line[113].explanation == "No one is buried in Grant's tomb."
    assert by_line[123].data["answers"][1]["weight"] == 75.0
    assert by_line[136].qtype == "multiple" and by_line[136].data["weighted"] is True
    assert [o["weight"] for o in by_line[136].data["options"]] == [-50.0, 50.0, 50.0, -50.0]
    assert [o["text"] for o in by_line[143].data["options"]] == ["= 2 + 2", "= 2 + 3", "= 2 + 4"]
    control = by_line[148]
    assert control.name == "GIFT Control Characters"
    assert [o["text"] for o in control.data["options"]] == ["~", "=", "#", "{", "}", "\\"]
    assert control.data["options"][5]["weight"] == 100.0


def test_chinese_gift_with_categories_names_and_unsupported_types():
    text = """// 党章测验
$CATEGORY: $course$/top/党章/总纲

::建党::中国共产党成立于哪一年？{
  ~1919年#五四运动那年
  =1921年#正确！
  ~1949年
  ####1921 年 7 月，中国共产党第一次全国代表大会召开。}

::宗旨::党的根本宗旨是全心全意为{=人民 =人民群众}服务。

[html]<p>党的最高理想是实现共产主义。</p>{T}

这是一段说明文字，没有答案。

请谈谈你对“四个自信”的理解。{}

$CATEGORY: 党史

遵义会议召开于哪一年？{#1935}
"""
    result = gift.parse(text)
    assert [(p.line, p.message) for p in result.problems] == [
        (14, "不支持的题型：说明文字（没有答案部分 {…}）"),
    ]
    # ``{}`` is Moodle's essay: a written answer graded by a person (it used to be refused).
    first, fill, tf, essay, numeric = result.questions
    assert (essay.line, essay.qtype) == (16, "essay")
    assert (first.line, first.name, first.category) == (4, "建党", "党章/总纲")
    assert first.explanation == "1921 年 7 月，中国共产党第一次全国代表大会召开。"
    assert first.data["options"][0]["feedback"] == "五四运动那年"
    assert fill.stem == "党的根本宗旨是全心全意为 _____ 服务。"
    assert tf.stem_format == "html" and tf.data == {"answer": True}
    assert numeric.category == "党史" and numeric.line == 20


def test_broken_gift_reports_line_numbers_and_keeps_the_good_ones():
    text = "第一题？{=对 ~错\n\n第二题？{~甲 ~乙}\n\n第三题？{#abc}\n\n第四题？{~%500%甲 =乙}\n\n好题？{=好}\n\n::没结尾\n题干{=x}\n"
    result = gift.parse(text)
    assert [(p.line, p.message) for p in result.problems] == [
        (1, "答案部分缺少结尾的 }"),
        (3, "选择题没有正确选项（用 = 或 ~%50% 标出）"),
        (5, "不是数字：abc"),
        (7, "分值比例 500% 超出范围"),
        (11, "题目名称缺少结尾的 ::"),
    ]
    assert [q.stem for q in result.questions] == ["好题？"]


def test_chinese_aiken_with_full_width_and_a_broken_question():
    text = """中国共产党的根本组织原则是什么？
A. 民主集中制
B. 集体领导
C、个人分工负责
ANSWER: A

下列属于党的纪律的有（　）
Ａ．政治纪律
Ｂ．组织纪律
Ｃ．廉洁纪律
答案：ABC

这道题没有答案行
A. 甲
B. 乙

答案不在选项里的题
A. 甲
B. 乙
ANSWER: D
"""
    result = aiken.parse(text)
    single, multiple = result.questions
    assert single.qtype == "single" and [o["weight"] for o in single.data["options"]] == [100.0, 0.0, 0.0]
    assert single.data["options"][2]["text"] == "个人分工负责"
    assert multiple.qtype == "multiple" and multiple.data["weighted"] is False
    assert [o["text"] for o in multiple.data["options"]] == ["政治纪律", "组织纪律", "廉洁纪律"]
    assert [(p.line, p.message) for p in result.problems] == [(13, "缺少 ANSWER: 行"), (20, "答案 D 不在选项中")]


def _xlsx(rows) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(xlsx.HEADERS)
    for row in rows:
        sheet.append(row + [""] * (len(xlsx.HEADERS) - len(row)))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _row(kind, stem, options, answer, explanation="", points="", category="", difficulty=""):
    return [kind, stem, *(options + [""] * (8 - len(options))), answer, explanation, points, category, difficulty]


def test_chinese_xlsx_every_type_and_row_problems():
    data = _xlsx([
        _row("单选题", "党的最高理想是？", ["共产主义", "小康社会"], "A", "党章总纲", "2", "党章/总纲", "易"),
        _row("多选", "“四个意识”包括？", ["政治意识", "大局意识", "市场意识"], "A、B", "", "", "", "4"),
        _row("判断", "党员必须履行义务。", [], "对"),
        _row("填空题", "全心全意为____服务。", [], "人民 | 人民群众"),
        _row("数值", "党的十八大召开年份？", [], "2012±0"),
        _row("匹配", "会议与年份配对", ["遵义会议 -> 1935", "古田会议 -> 1929"], ""),
        _row("问答题", "谈谈体会", [], ""),
        _row("单选", "", ["甲", "乙"], "A"),
        _row("单选", "缺答案的题", ["甲", "乙"], "E"),
        _row("判断", "判断题", [], "也许"),
    ])
    result = parse("xlsx", "题库.xlsx", data)
    assert [q.qtype for q in result.questions] == ["single", "multiple", "truefalse", "fill", "numeric", "matching"]
    first = result.questions[0]
    assert (first.line, str(first.points), first.category, first.difficulty) == (2, "2", "党章/总纲", 1)
    assert result.questions[1].data["options"][1]["weight"] == 100.0 and result.questions[1].difficulty == 4
    assert [a["text"] for a in result.questions[3].data["answers"]] == ["人民", "人民群众"]
    assert [(p.line, p.message[:6]) for p in result.problems] == [
        (8, "题型“问答题"), (9, "题干是空的"), (10, "答案 E 不"), (11, "判断题答案应")]


def test_broken_files_are_refused_in_chinese():
    with pytest.raises(FormatError, match="不是有效的 Excel"):
        parse("xlsx", "坏.xlsx", b"not a zip")
    with pytest.raises(FormatError, match="表头缺少"):
        parse("xlsx", "表.xlsx", xlsx.dump([], lambda q: "")[:0] or _headers_only())
    with pytest.raises(FormatError, match="文件是空的"):
        parse("gift", "x.txt", b"  \n")


def _headers_only():
    workbook = Workbook()
    workbook.active.append(["姓名", "题目"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _comparable(q):
    return (q.qtype, q.name, q.stem, q.stem_format, q.explanation, str(float(q.points)), q.difficulty, q.tags,
            q.category.path if q.category else "", q.data)


@pytest.mark.skipif(not EXAMPLES.exists(), reason="../shared/conformance/gift/examples.txt 不在此机器上")
def test_gift_export_then_import_gives_the_same_questions(app):
    parsed = gift.parse(EXAMPLES.read_text(encoding="utf-8")).questions
    parsed += gift.parse("$CATEGORY: 党章/总纲\n\n::多选::哪些是纪律？{~%50%政治纪律 ~%50%组织纪律 ~%-100%自由}\n").questions
    parsed += aiken.parse("选哪些？\nA. 甲\nB. 乙\nC. 丙\nANSWER: AB\n").questions
    original = bank.save_parsed(parsed, None, utcnow())
    original[0].tags, original[0].points, original[0].difficulty = "党章,基础", 2, 5
    db.session.commit()
    exported = exports.question_bank(original, "gift")
    again = bank.save_parsed(gift.parse(exported.decode("utf-8")).questions, None, utcnow())
    assert [_comparable(q) for q in again] == [_comparable(q) for q in sorted(original, key=lambda q: (
        q.category.path if q.category else "", q.id))]


def test_xlsx_export_then_import_gives_the_same_questions(app):
    data = _xlsx([
        _row("单选题", "党的最高理想是？", ["共产主义", "小康社会"], "A", "党章总纲", "2", "党章/总纲", "易"),
        _row("多选", "“四个意识”包括？", ["政治意识", "大局意识", "市场意识"], "AB", "", "1.5", "党章", "较难"),
        _row("判断", "党员必须履行义务。", [], "错"),
        _row("填空题", "全心全意为____服务。", [], "人民|人民群众"),
        _row("数值", "圆周率（三位小数）？", [], "3.141~3.142"),
        _row("匹配", "会议与年份配对", ["遵义会议 -> 1935", "古田会议 -> 1929"], ""),
    ])
    original = bank.save_parsed(parse("xlsx", "a.xlsx", data).questions, None, utcnow())
    db.session.commit()
    exported = exports.question_bank(original, "xlsx")
    assert load_workbook(io.BytesIO(exported)).active.cell(1, 1).value == "题型"
    again = bank.save_parsed(parse("xlsx", "b.xlsx", exported).questions, None, utcnow())
    db.session.commit()
    key = lambda q: (q.category.path if q.category else "", q.id)  # noqa: E731
    assert [_comparable(q) for q in again] == [_comparable(q) for q in sorted(original, key=key)]
    assert db.session.scalar(select(db.func.count()).select_from(Question)) == 12
