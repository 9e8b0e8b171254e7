"""Question bank file formats: each reader returns ``Parsed`` questions and ``Problem``s with
line or row numbers; nothing is saved until the person confirms (see ``bank.save_parsed``)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal


@dataclass
class Parsed:
    line: int
    qtype: str
    stem: str
    data: dict
    name: str = ""
    stem_format: str = "markdown"
    explanation: str = ""
    points: Decimal = Decimal("1")
    difficulty: int = 3
    tags: str = ""
    category: str = ""  # "党章/总纲"; empty: the category chosen at import

    def as_dict(self) -> dict:
        out = asdict(self)
        out["points"] = str(self.points)
        return out


@dataclass
class Problem:
    line: int
    message: str


@dataclass
class ParseResult:
    questions: list[Parsed] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


FORMATS = {"gift": "GIFT（Moodle）", "aiken": "Aiken", "xlsx": "Excel 表格（.xlsx）"}


class FormatError(ValueError):
    """The whole file cannot be read (wrong encoding, not a spreadsheet)."""


def too_long(item: Parsed) -> str:
    """Why a question's text is refused for its length ("" when it is within the limit)."""
    from school.limits import limit

    max_chars = int(limit("MARKDOWN_MAX_CHARS_QUESTION"))
    for label, text in (("题干", item.stem), ("解析", item.explanation)):
        if len(text or "") > max_chars:
            return f"{label}过长（{len(text)} 字，上限 {max_chars} 字）"
    return ""


def parse(fmt: str, filename: str, data: bytes) -> ParseResult:
    """Read a file in ``fmt``; questions whose text is over the length limit become problems."""
    result = _parse(fmt, filename, data)
    for item in list(result.questions):
        reason = too_long(item)
        if reason:
            result.questions.remove(item)
            result.problems.append(Problem(item.line, reason))
    result.problems.sort(key=lambda p: p.line)
    return result


def _parse(fmt: str, filename: str, data: bytes) -> ParseResult:
    from school.exams.formats import aiken, gift, xlsx
    from school.tabular import TableError, decode_text

    if fmt == "xlsx":
        return xlsx.parse(filename, data)
    if fmt not in ("gift", "aiken"):
        raise FormatError("不支持的格式，请选择 GIFT、Aiken 或 XLSX")
    if not data.strip():
        raise FormatError("文件是空的")
    try:
        text = decode_text(data)
    except TableError as exc:
        raise FormatError(str(exc)) from exc
    if "\x00" in text:
        raise FormatError("文件不是文本格式")
    return gift.parse(text) if fmt == "gift" else aiken.parse(text)
