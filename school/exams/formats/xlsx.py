"""The spreadsheet layout Chinese question banks come in, read with ``school.tabular``.

Columns: 题型, 题干, 选项A…选项H, 答案, 解析, 分值, 分类, 难度, 评分标准, 字数. One question per row.
简答 / 论述 rows: 答案 is the reference answer, 评分标准 the rubric (both for graders only),
字数 the length allowed (``50-500``, ``≤300`` or ``300``: at most).
"""
from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

from school.exams.formats import FormatError, Parsed, ParseResult, Problem
from school.exams.models import TYPE_LABELS, WRITTEN_TYPES, QuestionType, written_data
from school.export_cells import xlsx_bytes
from school.tabular import TableError, read_table

LETTERS = "ABCDEFGH"
HEADERS = ["题型", "题干", *[f"选项{c}" for c in LETTERS], "答案", "解析", "分值", "分类", "难度", "评分标准", "字数"]
EXAMPLE = ["单选题", "中国共产党的最高理想和最终目标是什么？", "实现共产主义", "全面建成小康社会", "实现现代化",
           "", "", "", "", "", "A", "党章总纲明确规定。", "2", "党章/总纲", "中", "", ""]
TYPES = {
    "单选": QuestionType.SINGLE, "单选题": QuestionType.SINGLE, "单项选择题": QuestionType.SINGLE,
    "多选": QuestionType.MULTIPLE, "多选题": QuestionType.MULTIPLE, "多项选择题": QuestionType.MULTIPLE,
    "判断": QuestionType.TRUEFALSE, "判断题": QuestionType.TRUEFALSE,
    "填空": QuestionType.FILL, "填空题": QuestionType.FILL,
    "数值": QuestionType.NUMERIC, "数值题": QuestionType.NUMERIC,
    "匹配": QuestionType.MATCHING, "匹配题": QuestionType.MATCHING, "连线题": QuestionType.MATCHING,
    "简答": QuestionType.SHORT, "简答题": QuestionType.SHORT,
    "论述": QuestionType.ESSAY, "论述题": QuestionType.ESSAY,
}
_LENGTH = re.compile(r"^(?:(\d+)\s*[-~～至]\s*)?[≤<]?\s*(\d+)$")
TRUE_WORDS = {"对", "正确", "√", "T", "TRUE", "是", "Y"}
FALSE_WORDS = {"错", "错误", "×", "X", "F", "FALSE", "否", "N"}
DIFFICULTY_WORDS = {"易": 1, "简单": 1, "较易": 2, "中": 3, "中等": 3, "一般": 3, "较难": 4, "难": 5, "困难": 5}
DIFFICULTY_LABELS = {1: "易", 2: "较易", 3: "中", 4: "较难", 5: "难"}
SEPARATORS = re.compile(r"\s*[|｜]\s*")
# Headers other systems' exports use → ours; a 序号 column is ignored.
HEADER_SYNONYMS = {"题目": "题干", "试题内容": "题干", "题目内容": "题干", "试题": "题干", "试题类型": "题型",
                   "题目类型": "题型", "正确答案": "答案", "标准答案": "答案", "答案解析": "解析", "试题解析": "解析",
                   "分数": "分值", "题目分值": "分值", "难易程度": "难度", "题目分类": "分类"}
IGNORED_HEADERS = {"序号", "编号", "题号"}


def canonical_header(header: str) -> str:
    """``A`` … ``H`` → 选项A…, the synonyms above → ours, 序号 → "" (ignored); NFKC, spaces removed."""
    name = unicodedata.normalize("NFKC", header or "").replace(" ", "")
    if name in IGNORED_HEADERS:
        return ""
    if len(name) == 1 and name.upper() in LETTERS:
        return f"选项{name.upper()}"
    if name.startswith("选项") and len(name) == 3 and name[2].upper() in LETTERS:
        return f"选项{name[2].upper()}"
    return HEADER_SYNONYMS.get(name, name)


class _Bad(ValueError):
    pass


def parse(filename: str, data: bytes) -> ParseResult:
    try:
        table = read_table(filename, data)
    except TableError as exc:
        raise FormatError(str(exc)) from exc
    headers = [canonical_header(h) for h in table.headers]
    missing = [h for h in ("题型", "题干", "答案") if h not in headers]
    if missing:
        raise FormatError(f"表头缺少：{'、'.join(missing)}。请下载模板按模板填写")
    result = ParseResult()
    for row_number, raw in table.rows:
        row = {}
        for header, value in raw.items():  # the template's own name wins over a synonym
            name = canonical_header(header)
            if name and (name not in row or header == name):
                row[name] = value
        try:
            result.questions.append(_row(row_number, row))
        except _Bad as exc:
            result.problems.append(Problem(row_number, str(exc)))
    return result


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().upper()


def _numeric(answer: str) -> dict:
    text = unicodedata.normalize("NFKC", answer).replace(" ", "")
    try:
        for sep in ("..", "~"):
            if sep in text:
                low, high = (float(x) for x in text.split(sep, 1))
                if low > high:
                    raise _Bad("数值范围的下限大于上限")
                return {"min": low, "max": high, "weight": 100.0, "feedback": ""}
        for sep in ("±", ":"):
            if sep in text:
                value, tolerance = (float(x) for x in text.split(sep, 1))
                return {"value": value, "tolerance": abs(tolerance), "weight": 100.0, "feedback": ""}
        return {"value": float(text), "tolerance": 0, "weight": 100.0, "feedback": ""}
    except ValueError:
        raise _Bad(f"数值题的答案不是数字：{answer}") from None


def _row(number: int, row: dict) -> Parsed:
    qtype = TYPES.get(row.get("题型", "").strip())
    if qtype is None:
        raise _Bad(f"题型“{row.get('题型', '')}”无法识别（可填：单选、多选、判断、填空、数值、匹配、简答、论述）")
    stem = row.get("题干", "").strip()
    if not stem:
        raise _Bad("题干是空的")
    answer = row.get("答案", "").strip()
    options = [(c, row.get(f"选项{c}", "").strip()) for c in LETTERS]
    while options and not options[-1][1]:
        options.pop()
    if any(not text for _, text in options):
        raise _Bad(f"选项 {next(c for c, t in options if not t)} 是空的，后面却还有选项")
    if qtype in WRITTEN_TYPES:
        data = _written(qtype, answer, row)
    elif qtype in (QuestionType.SINGLE, QuestionType.MULTIPLE):
        if len(options) < 2:
            raise _Bad("选择题至少需要两个选项")
        letters = sorted({c for c in _plain(answer) if c.isalpha()})
        if not letters:
            raise _Bad("缺少答案（填选项字母，如 B 或 ABD）")
        if any(c not in LETTERS[:len(options)] for c in letters):
            raise _Bad(f"答案 {''.join(letters)} 不在选项中")
        if qtype == QuestionType.SINGLE and len(letters) != 1:
            raise _Bad("单选题只能有一个答案")
        data = {"options": [{"text": text, "weight": 100.0 if c in letters else 0.0, "feedback": ""}
                            for c, text in options]}
        if qtype == QuestionType.MULTIPLE:
            data["weighted"] = False
    elif qtype == QuestionType.TRUEFALSE:
        word = _plain(answer)
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise _Bad("判断题答案应为“对”或“错”")
        data = {"answer": word in TRUE_WORDS}
    elif qtype == QuestionType.FILL:
        accepted = [a for a in SEPARATORS.split(answer) if a]
        if not accepted:
            raise _Bad("填空题缺少答案（多个可接受答案用 | 分隔）")
        data = {"answers": [{"text": a, "weight": 100.0, "feedback": ""} for a in accepted]}
    elif qtype == QuestionType.NUMERIC:
        if not answer:
            raise _Bad("数值题缺少答案")
        data = {"answers": [_numeric(a) for a in SEPARATORS.split(answer) if a]}
    else:
        pairs = []
        for c, text in options:
            left, sep, right = text.partition("->")
            if not sep:
                left, sep, right = text.partition("=")
            if not sep or not right.strip():
                raise _Bad(f"匹配题选项{c}应写成“左边 -> 右边”")
            pairs.append({"left": left.strip(), "right": right.strip()})
        if sum(1 for p in pairs if p["left"]) < 2:
            raise _Bad("匹配题至少需要两对")
        data = {"pairs": pairs}
    points = Decimal("1")
    if row.get("分值", "").strip():
        try:
            points = Decimal(unicodedata.normalize("NFKC", row["分值"]).strip())
        except InvalidOperation:
            raise _Bad(f"分值不是数字：{row['分值']}") from None
        if not Decimal("0") < points <= Decimal("100"):
            raise _Bad("分值应在 0 到 100 之间")
    difficulty = 3
    raw = unicodedata.normalize("NFKC", row.get("难度", "")).strip()
    if raw:
        if raw.isdigit() and 1 <= int(raw) <= 5:
            difficulty = int(raw)
        elif raw in DIFFICULTY_WORDS:
            difficulty = DIFFICULTY_WORDS[raw]
        else:
            raise _Bad("难度应为 1–5 或 易/较易/中/较难/难")
    category = "/".join(p.strip() for p in row.get("分类", "").replace("／", "/").split("/") if p.strip())
    return Parsed(line=number, qtype=qtype, stem=stem, data=data, explanation=row.get("解析", "").strip(),
                  points=points, difficulty=difficulty, category=category)


def _written(qtype: str, reference: str, row: dict) -> dict:
    raw = unicodedata.normalize("NFKC", row.get("字数", "")).replace(" ", "").replace("字", "")
    low, high = 0, None
    if raw:
        match = _LENGTH.match(raw)
        if not match:
            raise _Bad("字数应写成 50-500（最少-最多）或 500（最多）")
        low, high = int(match.group(1) or 0), int(match.group(2))
        if low > high:
            raise _Bad("字数的最少值大于最多值")
    return written_data(qtype, reference, row.get("评分标准", "").strip(), low, high)


def _num(value) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def row_for(q, category: str) -> list:
    data = q.data
    options = [""] * len(LETTERS)
    answer = ""
    if q.qtype in (QuestionType.SINGLE, QuestionType.MULTIPLE):
        for i, option in enumerate(data["options"][:len(LETTERS)]):
            options[i] = option["text"]
        answer = "".join(LETTERS[i] for i, o in enumerate(data["options"][:len(LETTERS)])
                         if float(o.get("weight", 0)) > 0)
    elif q.qtype == QuestionType.TRUEFALSE:
        answer = "对" if data.get("answer") else "错"
    elif q.qtype == QuestionType.FILL:
        answer = " | ".join(a["text"] for a in data["answers"])
    elif q.qtype == QuestionType.NUMERIC:
        answer = " | ".join(f"{_num(a['min'])}~{_num(a['max'])}" if "min" in a
                            else f"{_num(a['value'])}±{_num(a.get('tolerance', 0))}" for a in data["answers"])
    elif q.qtype == QuestionType.MATCHING:
        for i, pair in enumerate(data["pairs"][:len(LETTERS)]):
            options[i] = f"{pair['left']} -> {pair['right']}"
    rubric = length = ""
    if q.qtype in WRITTEN_TYPES:
        answer, rubric = data.get("reference", ""), data.get("rubric", "")
        length = f"{data.get('min_length', 0)}-{data.get('max_length')}"
    return [TYPE_LABELS[q.qtype], q.stem, *options, answer, q.explanation or "", _num(q.points), category,
            DIFFICULTY_LABELS.get(q.difficulty, "中"), rubric, length]


def dump(questions, category_of) -> bytes:
    def fill(book):
        sheet = book.sheet("题库")
        sheet.append(HEADERS)
        for q in questions:
            sheet.append(row_for(q, category_of(q)))

    return xlsx_bytes(fill)
