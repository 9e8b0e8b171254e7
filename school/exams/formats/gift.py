"""GIFT, Moodle's text format for questions: reading and writing.

Follows Moodle's own reader (question/format/gift/format.php): questions are separated
by blank lines, ``//`` lines are comments, ``$CATEGORY:`` switches category, the answer
block is between the first ``{`` and the last ``}``; ``\\~ \\= \\# \\{ \\} \\: \\\\`` escape.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation

from school.exams.formats import Parsed, ParseResult, Problem
from school.exams.models import WRITTEN_TYPES, QuestionType, written_data

# Escaped characters are swapped for private-use code points while parsing.
_ESCAPES = {"\\\\": "\ue000", "\\~": "\ue001", "\\=": "\ue002", "\\#": "\ue003", "\\{": "\ue004",
            "\\}": "\ue005", "\\:": "\ue006", "\\n": "\n"}
_RESTORE = {"\ue000": "\\", "\ue001": "~", "\ue002": "=", "\ue003": "#", "\ue004": "{", "\ue005": "}",
            "\ue006": ":"}
_META = re.compile(r"\[(tag|points|difficulty):([^\]]*)\]")
_WEIGHT = re.compile(r"^%(-?\d+(?:\.\d+)?)%")
_BLANK = "_____"
_FORMAT = re.compile(r"^\s*\[(markdown|html|plain|moodle)\]")
_FORMATS = {"moodle": "plain"}  # Moodle's auto-format is plain text with line breaks
_WRITTEN_META = re.compile(r"\[written:(\{.*\})\]\s*$")


def _marker(text: str) -> tuple[str | None, str]:
    """A leading ``[html]`` / ``[moodle]`` / ``[plain]`` / ``[markdown]`` → (our format, the text without it)."""
    match = _FORMAT.match(text)
    if not match:
        return None, text
    return _FORMATS.get(match.group(1), match.group(1)), text[match.end():]


def _protect(text: str) -> str:
    for seq, mark in _ESCAPES.items():
        text = text.replace(seq, mark)
    return text


def _restore(text: str) -> str:
    for mark, char in _RESTORE.items():
        text = text.replace(mark, char)
    return text.strip()


def _blocks(text: str):
    """Yield (first line number, lines, comment lines before it) for each question block."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    block, start, comments, pending = [], 0, [], []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("//"):
            pending.append(stripped)
            continue
        if not stripped:
            if block:
                yield start, block, comments
                block, comments = [], []
            continue
        if not block:
            start, comments, pending = number, pending, []
        block.append(line)
    if block:
        yield start, block, comments


class _Bad(ValueError):
    pass


def parse(text: str) -> ParseResult:
    result = ParseResult()
    category = ""
    for start, lines, comments in _blocks(text.lstrip("\ufeff")):
        if lines[0].strip().startswith("$CATEGORY:"):
            category = _category(lines[0].strip()[len("$CATEGORY:"):])
            lines = lines[1:]
            start += 1
            if not lines:
                continue
        try:
            question = _question("\n".join(lines), start)
        except _Bad as exc:
            result.problems.append(Problem(start, str(exc)))
            continue
        question.category = category
        _apply_meta(question, comments)
        result.questions.append(question)
    return result


def _category(raw: str) -> str:
    parts = [p.strip() for p in raw.strip().split("/") if p.strip()]
    if parts and parts[0] in ("$course$", "$system$", "$module$", "$coursecategory$"):
        parts = parts[1:]
    if parts and parts[0] == "top":
        parts = parts[1:]
    return "/".join(parts)


def _apply_meta(question: Parsed, comments: list[str]) -> None:
    tags = []
    for comment in comments:
        written = _WRITTEN_META.search(comment)
        if written and question.qtype in WRITTEN_TYPES:
            try:
                details = json.loads(written.group(1))
                qtype = details.get("type") if details.get("type") in WRITTEN_TYPES else question.qtype
                question.qtype, question.data = qtype, written_data(
                    qtype, str(details.get("reference", "")), str(details.get("rubric", "")),
                    int(details.get("min_length", 0)), int(details.get("max_length", 0)) or None)
            except (ValueError, TypeError, AttributeError):
                pass  # a hand-edited comment: the essay keeps its defaults
            continue
        for key, value in _META.findall(comment):
            value = value.strip()
            if key == "tag":
                tags.append(value)
            elif key == "points":
                try:
                    question.points = Decimal(value)
                except InvalidOperation:
                    pass
            elif key == "difficulty" and value.isdigit() and 1 <= int(value) <= 5:
                question.difficulty = int(value)
    if tags:
        question.tags = ",".join(tags)
    if question.qtype == QuestionType.MULTIPLE and any("[all-or-nothing]" in c for c in comments):
        question.data = normalise_all_or_nothing(question.data["options"])


def normalise_all_or_nothing(options: list[dict]) -> dict:
    """An all-or-nothing multiple choice keeps only which options are right: 100 or 0."""
    return {"options": [{**o, "weight": 100.0 if float(o["weight"]) > 0 else 0.0} for o in options],
            "weighted": False}


def _question(raw: str, line: int) -> Parsed:
    text = _protect(raw).strip()
    name = ""
    if text.startswith("::"):
        end = text.find("::", 2)
        if end < 0:
            raise _Bad("题目名称缺少结尾的 ::")
        name, text = _restore(text[2:end]), text[end + 2:].strip()
    marked, text = _marker(text)
    fmt = marked or "markdown"
    text = text.lstrip()
    open_at, close_at = text.find("{"), text.rfind("}")
    if open_at < 0 and close_at < 0:
        raise _Bad("不支持的题型：说明文字（没有答案部分 {…}）")
    if open_at < 0:
        raise _Bad("有 } 但缺少与之对应的 {")
    if close_at < open_at:
        raise _Bad("答案部分缺少结尾的 }")
    if text.find("{", open_at + 1) >= 0 and text.find("{", open_at + 1) < close_at:
        raise _Bad("一道题只能有一个答案部分 {…}；题干中的 { 请写作 \\{")
    before, answer, after = text[:open_at].strip(), text[open_at + 1:close_at].strip(), text[close_at + 1:].strip()
    stem = f"{before} {_BLANK} {after}".strip() if after else before
    stem = _restore(stem)
    if not stem:
        raise _Bad("缺少题干")
    explanation = ""
    if "####" in answer:  # general feedback: shown after the attempt, whatever the answer
        answer, explanation = answer.split("####", 1)
        answer, explanation = answer.strip(), _restore(_marker(explanation)[1])
    if not answer:  # Moodle's essay: a written answer graded by a person
        return Parsed(line=line, qtype=QuestionType.ESSAY, stem=stem, data=written_data(QuestionType.ESSAY),
                      name=name, stem_format=fmt, explanation=explanation)
    qtype, data, feedback = _answers(answer)
    if not explanation and feedback:
        explanation = feedback
    return Parsed(line=line, qtype=qtype, stem=stem, data=data, name=name, stem_format=fmt,
                  explanation=explanation)


def _split_items(answer: str) -> list[tuple[str, str]]:
    """``~a =b ~c`` → [("~", "a"), ("=", "b"), ("~", "c")]."""
    items = []
    for match in re.finditer(r"([=~])([^=~]*)", answer):
        items.append((match.group(1), match.group(2)))
    if answer.strip() and answer.strip()[0] not in "=~":
        raise _Bad(f"无法识别的答案：{_restore(answer)[:30]}")
    return items


def _weight_text(prefix: str, body: str) -> tuple[float, str, str, str | None]:
    """An answer's weight, text, feedback and format marker (``[html]`` etc., removed from the text)."""
    body = body.strip()
    weight = 100.0 if prefix == "=" else 0.0
    match = _WEIGHT.match(body)
    if match:
        weight = float(match.group(1))
        if not -100 <= weight <= 100:
            raise _Bad(f"分值比例 {match.group(1)}% 超出范围")
        body = body[match.end():].strip()
    elif body.startswith("%"):
        raise _Bad("分值比例的写法应为 %50%")
    feedback = ""
    if "#" in body:
        body, feedback = body.split("#", 1)
    fmt, body = _marker(body)
    return weight, _restore(body), _restore(_marker(feedback)[1]), fmt


def _number(text: str) -> float:
    try:
        return float(_restore(text))
    except ValueError:
        raise _Bad(f"不是数字：{_restore(text)}") from None


def _numeric_spec(spec: str) -> dict:
    spec = spec.strip()
    if ".." in spec:
        low, high = spec.split("..", 1)
        low, high = _number(low), _number(high)
        if low > high:
            raise _Bad("数值范围的下限大于上限")
        return {"min": low, "max": high}
    if ":" in spec:
        value, tolerance = spec.split(":", 1)
        return {"value": _number(value), "tolerance": abs(_number(tolerance))}
    return {"value": _number(spec), "tolerance": 0}


def _numeric(body: str) -> dict:
    """Moodle's numerical answers: ``1822``, ``1822:2``, ``1..5``, several ``=`` answers with
    ``%50%`` weights and ``#feedback``, and ``~#feedback`` (from the first ``~`` on) for any
    other answer."""
    other = None
    if "~" in body:
        body, wrong = body.split("~", 1)
        other = _restore(_marker(wrong.partition("#")[2])[1])
    pieces = body.split("=")
    if pieces and not pieces[0].strip():
        pieces = pieces[1:]
    if not pieces:
        raise _Bad("数值题没有答案")
    answers = []
    for piece in pieces:
        weight, spec, feedback, _ = _weight_text("=", piece)
        answers.append({**_numeric_spec(spec), "weight": weight, "feedback": feedback})
    if not any(a["weight"] > 0 for a in answers):
        raise _Bad("数值题没有正确答案")
    data = {"answers": answers}
    if other:
        data["other_feedback"] = other
    return data


def _answers(answer: str) -> tuple[str, dict, str]:
    if answer.startswith("#"):
        return QuestionType.NUMERIC, _numeric(answer[1:].strip()), ""
    head, *feedbacks = answer.split("#")
    if head.strip().upper() in ("T", "TRUE", "F", "FALSE"):
        value = head.strip().upper().startswith("T")
        feedbacks = [_restore(_marker(f)[1]) for f in feedbacks]
        # Moodle: the first feedback is shown for a wrong answer, the second for a right one.
        return QuestionType.TRUEFALSE, {"answer": value}, feedbacks[0] if feedbacks else ""
    if "~" in answer:
        options = []
        for prefix, item in _split_items(answer):
            weight, text, feedback, fmt = _weight_text(prefix, item)
            if not text:
                raise _Bad("有空的选项")
            option = {"text": text, "weight": weight, "feedback": feedback}
            if fmt in ("html", "plain"):
                option["format"] = fmt
            options.append(option)
        if len(options) < 2:
            raise _Bad("选择题至少需要两个选项")
        if "=" in answer:
            if not any(o["weight"] >= 100 for o in options):
                raise _Bad("单选题没有满分的正确选项")
            return QuestionType.SINGLE, {"options": options}, ""
        if not any(o["weight"] > 0 for o in options):
            raise _Bad("选择题没有正确选项（用 = 或 ~%50% 标出）")
        # No "=" at all: Moodle's "multiple answers" with a weight per option.
        return QuestionType.MULTIPLE, {"options": options, "weighted": True}, ""
    items = _split_items(answer)
    if items and all("->" in item for _, item in items):
        pairs = []
        for prefix, item in items:
            if prefix != "=":
                raise _Bad("匹配题的每一对都应以 = 开头")
            left, right = item.split("->", 1)
            pairs.append({"left": _restore(_marker(left)[1]), "right": _restore(_marker(right.split("#", 1)[0])[1])})
            if not pairs[-1]["right"]:
                raise _Bad("匹配题有空的右侧答案")
        if sum(1 for p in pairs if p["left"]) < 2:
            raise _Bad("匹配题至少需要两对")
        return QuestionType.MATCHING, {"pairs": pairs}, ""
    answers = []
    for prefix, item in items:
        if prefix != "=":
            raise _Bad("填空题的答案应以 = 开头")
        weight, text, feedback, _ = _weight_text(prefix, item)
        if not text:
            raise _Bad("有空的填空答案")
        answers.append({"text": text, "weight": weight, "feedback": feedback})
    if not answers:
        raise _Bad("没有答案")
    return QuestionType.FILL, {"answers": answers}, ""


# --- writing ----------------------------------------------------------------------------


def escape(text: str) -> str:
    text = (text or "").replace("\\", "\\\\")
    for char in "~=#{}:":
        text = text.replace(char, "\\" + char)
    return text.replace("\n", "\\n")


def _num(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def _weight(weight, default: float) -> str:
    weight = float(weight)
    return "" if weight == default else f"%{_num(weight)}%"


def _feedback(text: str) -> str:
    return f"#{escape(text)}" if text else ""


def _fmt(item: dict) -> str:
    return f"[{item['format']}]" if item.get("format") in ("html", "plain") else ""


def dump_question(q) -> str:
    """One question (model or Parsed) as GIFT, with our metadata in a comment Moodle ignores."""
    data = q.data
    if q.qtype in (QuestionType.SINGLE, QuestionType.MULTIPLE):
        weighted = q.qtype == QuestionType.MULTIPLE and data.get("weighted")
        parts = []
        for option in data["options"]:
            weight = float(option.get("weight", 0))
            if q.qtype == QuestionType.SINGLE and weight >= 100:
                parts.append(f"={_fmt(option)}{escape(option['text'])}{_feedback(option.get('feedback', ''))}")
            else:
                if q.qtype == QuestionType.MULTIPLE and not weighted:
                    correct = sum(1 for o in data["options"] if float(o.get("weight", 0)) > 0)
                    weight = round(100 / correct, 5) if weight > 0 else -100
                parts.append(f"~{_weight(weight, 0)}{_fmt(option)}{escape(option['text'])}"
                             f"{_feedback(option.get('feedback', ''))}")
        body = "\n\t" + "\n\t".join(parts) + "\n"
    elif q.qtype == QuestionType.TRUEFALSE:
        body = "TRUE" if data.get("answer") else "FALSE"
    elif q.qtype == QuestionType.FILL:
        body = " ".join(f"={_weight(a.get('weight', 100), 100)}{escape(a['text'])}{_feedback(a.get('feedback', ''))}"
                        for a in data["answers"])
    elif q.qtype == QuestionType.NUMERIC:
        specs = []
        for a in data["answers"]:
            spec = f"{_num(a['min'])}..{_num(a['max'])}" if "min" in a else \
                f"{_num(a['value'])}:{_num(a.get('tolerance', 0))}"
            specs.append(f"={_weight(a.get('weight', 100), 100)}{spec}{_feedback(a.get('feedback', ''))}")
        if data.get("other_feedback"):
            specs.append(f"~{_feedback(data['other_feedback'])}")
        body = "#\n\t" + "\n\t".join(specs) + "\n"
    elif q.qtype in WRITTEN_TYPES:
        body = ""
    elif q.qtype == QuestionType.MATCHING:
        body = "\n\t" + "\n\t".join(f"={escape(p['left'])} -> {escape(p['right'])}" for p in data["pairs"]) + "\n"
    else:
        raise ValueError(q.qtype)
    if q.explanation:
        body += f"####{escape(q.explanation)}"
    meta = f"// [points:{_num(q.points)}] [difficulty:{q.difficulty}]"
    if q.tags:
        meta += " " + " ".join(f"[tag:{t.strip()}]" for t in q.tags.split(",") if t.strip())
    name = f"::{escape(q.name)}::" if q.name else ""
    fmt = f"[{q.stem_format}]" if q.stem_format in ("markdown", "html", "plain") else ""
    multi = q.qtype == QuestionType.MULTIPLE and not data.get("weighted")
    if multi:
        meta += " [all-or-nothing]"
    if q.qtype in WRITTEN_TYPES:  # Moodle reads an essay; the rest is ours, in a comment Moodle ignores
        details = {"type": q.qtype, **{k: data.get(k) for k in ("reference", "rubric", "min_length", "max_length")}}
        meta += f"\n// [written:{json.dumps(details, ensure_ascii=False)}]"
    return f"{meta}\n{name}{fmt}{escape(q.stem)}{{{body}}}\n"


def dump(questions, category_of) -> str:
    """All ``questions`` grouped under ``$CATEGORY:`` lines; ``category_of(q)`` gives the path."""
    out, current = [], None
    for q in questions:
        category = category_of(q)
        if category != current:
            out.append(f"$CATEGORY: {category or 'top'}\n")
            current = category
        out.append(dump_question(q))
    return "\n".join(out)
