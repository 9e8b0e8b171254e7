"""GIFT as Moodle reads it: essays, descriptions, numerical alternatives, format markers,
general feedback; Aiken and XLSX written-answer questions; export → import round trips."""
from __future__ import annotations

import io

from openpyxl import Workbook

from school.exams import bank, exports
from school.exams.formats import aiken, gift, parse, xlsx
from school.exams.text import inline
from school.timeutil import utcnow


def test_essay_imports_as_a_written_answer_with_general_feedback():
    result = gift.parse("::体会::请谈谈你对“四个自信”的理解。{####[html]<p>参考要点：道路、理论、制度、文化。</p>}\n")
    assert result.problems == []
    (essay,) = result.questions
    assert essay.qtype == "essay" and essay.name == "体会"
    assert essay.data == {"reference": "", "rubric": "", "min_length": 0, "max_length": 5000}
    assert essay.explanation == "<p>参考要点：道路、理论、制度、文化。</p>"  # the [html] marker is gone


def test_description_is_reported_with_its_line():
    result = gift.parse("第一题？{T}\n\n// 注释\n以下各题考查党章知识。\n\n第二题？{F}\n")
    assert [(p.line, p.message) for p in result.problems] == [(4, "不支持的题型：说明文字（没有答案部分 {…}）")]
    assert len(result.questions) == 2


def test_numerical_alternatives_partial_credit_and_other_answer_feedback():
    result = gift.parse("三加零？{#3:2~#Completely wrong}\n\n"
                        "遵义会议？{#=1935:0#对 =%50%1935:1#接近 ~#再想想}\n\n"
                        "范围？{#1..5}\n\n容差？{#3.1415:0.0005}\n\n首项无等号？{#1822 =%50%1823}\n")
    assert result.problems == []
    first, second, ranged, tolerance, bare = result.questions
    assert first.data == {"answers": [{"value": 3.0, "tolerance": 2.0, "weight": 100.0, "feedback": ""}],
                          "other_feedback": "Completely wrong"}
    assert [(a["weight"], a["feedback"]) for a in second.data["answers"]] == [(100.0, "对"), (50.0, "接近")]
    assert second.data["other_feedback"] == "再想想"
    assert ranged.data["answers"][0] == {"min": 1.0, "max": 5.0, "weight": 100.0, "feedback": ""}
    assert tolerance.data["answers"][0]["tolerance"] == 0.0005
    assert [a["weight"] for a in bare.data["answers"]] == [100.0, 50.0]


def test_malformed_numerical_reports_its_line():
    result = gift.parse("好题？{#1}\n\n坏题？{#abc~#错}\n\n没有对的？{#=%0%1}\n")
    assert [(p.line, p.message) for p in result.problems] == [(3, "不是数字：abc"), (5, "数值题没有正确答案")]


def test_per_answer_format_markers_are_applied_and_removed():
    result = gift.parse("颜色？{~[plain]blue#[html]<b>不对</b> =[html]<b>红</b>#[markdown]**对**}\n\n"
                        "[moodle]配对{=[plain]甲 -> [html]乙 =丙 -> 丁}\n\n填空{=[plain]人民}\n")
    assert result.problems == []
    choice, matching, fill = result.questions
    blue, red = choice.data["options"]
    assert (blue["text"], blue["format"], blue["feedback"]) == ("blue", "plain", "<b>不对</b>")
    assert (red["text"], red["format"], red["feedback"]) == ("<b>红</b>", "html", "**对**")
    assert matching.stem_format == "plain" and matching.data["pairs"][0] == {"left": "甲", "right": "乙"}
    assert fill.data["answers"][0]["text"] == "人民"
    assert "[plain]" not in str(inline(blue["text"], blue["format"]))
    assert str(inline("<b>红</b>", "html")) == "<b>红</b>"
    assert str(inline("*x*", "plain")) == "*x*"


def test_written_questions_in_aiken_and_xlsx():
    result = aiken.parse("谈谈你对四个自信的理解。\n题型：论述\n参考答案：道路、理论、制度、文化。\n\n"
                         "简述党的宗旨。\n题型：简答\n")
    assert result.problems == []
    essay, short = result.questions
    assert (essay.qtype, essay.data["reference"]) == ("essay", "道路、理论、制度、文化。")
    assert short.qtype == "short" and short.line == 5
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(xlsx.HEADERS)
    blank = [""] * 8
    sheet.append(["简答", "简述党的宗旨。", *blank, "全心全意为人民服务", "", "5", "", "", "要点一 3 分", "10-200"])
    sheet.append(["论述题", "论述“两个确立”。", *blank, "", "", "10", "", "", "", "800"])
    sheet.append(["论述", "字数写错", *blank, "", "", "", "", "", "", "很多"])
    sheet.append(["论述", "最少大于最多", *blank, "", "", "", "", "", "", "500-50"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    parsed = parse("xlsx", "题库.xlsx", buffer.getvalue())
    short, essay = parsed.questions
    assert short.data == {"reference": "全心全意为人民服务", "rubric": "要点一 3 分", "min_length": 10, "max_length": 200}
    assert essay.qtype == "essay" and essay.data["max_length"] == 800
    assert [(p.line, p.message[:4]) for p in parsed.problems] == [(4, "字数应写"), (5, "字数的最")]


def _comparable(q):
    return (q.qtype, q.name, q.stem, q.stem_format, q.explanation, str(float(q.points)), q.data)


def test_export_reads_back_unchanged_with_everything_new(app):
    text = ("::体会::谈谈体会。{####总的反馈}\n\n三？{#3:2~#Completely wrong}\n\n"
            "颜色？{~[plain]blue =[html]<b>红</b>#对}\n\n遵义会议？{#=1935:0#对 =%50%1935:1#接近 ~#再想想}\n")
    parsed = gift.parse(text).questions
    parsed[0].data = {"reference": "要点：\n一、{道路}", "rubric": "每点 2 分 [满分 10]", "min_length": 20,
                      "max_length": 600}
    parsed += aiken.parse("简述党的宗旨。\n题型：简答\n参考答案：为人民服务\n").questions
    original = bank.save_parsed(parsed, None, utcnow())
    for fmt in ("gift", "xlsx"):
        exported = exports.question_bank(original, fmt)
        again = gift.parse(exported.decode("utf-8")) if fmt == "gift" else parse("xlsx", "b.xlsx", exported)
        assert again.problems == []
        if fmt == "gift":
            assert [_comparable(q) for q in again.questions] == [_comparable(q) for q in original]
        else:  # the spreadsheet has no names, formats or feedback: the written details survive
            assert [(q.qtype, q.data) for q in again.questions if q.qtype in ("short", "essay")] == \
                [(q.qtype, q.data) for q in original if q.qtype in ("short", "essay")]
