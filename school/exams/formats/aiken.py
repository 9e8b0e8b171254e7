"""Aiken: a stem, lettered options (``A.`` or ``A)``), then ``ANSWER: B``.

A written-answer question (our extension) is a stem followed by ``题型：简答`` or
``题型：论述`` and, optionally, ``参考答案：…`` on the next line.

Chinese banks often write ``答案：B`` and full-width letters or dots; NFKC makes those
the same as the ASCII forms. Several letters (``ANSWER: AC``) make a multiple choice.
"""
from __future__ import annotations

import re
import unicodedata

from school.exams.formats import Parsed, ParseResult, Problem
from school.exams.models import QuestionType, written_data

_OPTION = re.compile(r"^([A-Z])\s*[.)、]\s*(.*)$")
_RAW_PREFIX = re.compile(r"^[A-ZＡ-Ｚ]\s*[.)、．）]\s*")
_WRITTEN = re.compile(r"^(?:题型|TYPE)\s*:\s*(简答|简答题|论述|论述题|ESSAY)\s*$", re.IGNORECASE)
_REFERENCE = re.compile(r"^参考答案\s*:\s*(.*)$")
_ANSWER = re.compile(r"^(?:ANSWER|答案)\s*:\s*([A-Z](?:[\s,，、]*[A-Z])*)\s*$", re.IGNORECASE)


def parse(text: str) -> ParseResult:
    result = ParseResult()
    stem_lines: list[str] = []
    options: list[str] = []
    start = written_at = 0
    broken = False
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            if stem_lines and not options:
                stem_lines.append("")  # a blank line inside a long stem
            continue
        plain = unicodedata.normalize("NFKC", line)
        answer = _ANSWER.match(plain)
        option = _OPTION.match(plain)
        written = _WRITTEN.match(plain)
        reference = _REFERENCE.match(plain)
        if reference and result.questions and result.questions[-1].line == written_at:
            question = result.questions[-1]
            question.data = written_data(question.qtype, reference.group(1).strip())
            continue
        if written and stem_lines and not options:
            qtype = QuestionType.SHORT if written.group(1).startswith("简") else QuestionType.ESSAY
            result.questions.append(Parsed(line=start, qtype=qtype, stem="\n".join(stem_lines).strip(),
                                           data=written_data(qtype)))
            written_at, stem_lines = start, []
            continue
        if answer:
            if not stem_lines:
                result.problems.append(Problem(number, "ANSWER 行前面缺少题干"))
            elif broken:
                pass  # already reported
            elif len(options) < 2:
                result.problems.append(Problem(start, "选择题至少需要两个选项（A. … B. …）"))
            else:
                letters = sorted({c for c in answer.group(1).upper() if c.isalpha()})
                chosen = [ord(c) - ord("A") for c in letters]
                if any(i >= len(options) for i in chosen):
                    result.problems.append(Problem(number, f"答案 {''.join(letters)} 不在选项中"))
                else:
                    qtype = QuestionType.SINGLE if len(chosen) == 1 else QuestionType.MULTIPLE
                    data = {"options": [{"text": o, "weight": 100.0 if i in chosen else 0.0, "feedback": ""}
                                        for i, o in enumerate(options)]}
                    if qtype == QuestionType.MULTIPLE:
                        data["weighted"] = False
                    result.questions.append(Parsed(line=start, qtype=qtype, stem="\n".join(stem_lines).strip(),
                                                   data=data))
            stem_lines, options, broken = [], [], False
            continue
        if option and stem_lines and ord(option.group(1)) - ord("A") == len(options):
            options.append(_RAW_PREFIX.sub("", line, count=1).strip())
            if not options[-1]:
                result.problems.append(Problem(number, f"选项 {option.group(1)} 是空的"))
                broken = True
            continue
        if options:
            # Text after the options without an ANSWER line: the previous question is broken.
            result.problems.append(Problem(start, "缺少 ANSWER: 行"))
            stem_lines, options, broken = [], [], False
        if not stem_lines:
            start = number
        stem_lines.append(line)
    if stem_lines:
        result.problems.append(Problem(start, "缺少 ANSWER: 行" if options else "缺少选项和 ANSWER: 行"))
    return result
