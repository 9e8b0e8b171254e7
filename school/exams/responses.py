"""The translation between what the member saw and what is stored.

An attempt's layout fixes the order of questions, options and matching answers the member
sees; answers are stored in the question's own terms, so grading never needs the layout.
``to_stored`` checks and translates a response from the page (raises ExamError),
``parse_items`` checks a whole save request (all or nothing), ``to_shown`` puts a stored answer back on the page, ``items_from_form`` reads the
attempt page sent as a plain form (no JavaScript).
"""
from __future__ import annotations

import re

from sqlalchemy import select

from school.exams.errors import AnswerError, ExamError
from school.exams.models import MAX_WRITTEN_LENGTH, WRITTEN_TYPES, Attempt, Question, QuestionType
from school.extensions import db

MAX_TEXT = 500
MAX_PAIRS = 100
MAX_ITEMS = 200  # a paper has at most this many questions
_ASCII_INDEX = re.compile(r"[0-9]{1,4}")  # str.isdigit() also takes '²' and '٣', which int() refuses


def layout_item(attempt: Attempt, question_id: int) -> dict | None:
    return next((item for item in attempt.layout if item["q"] == question_id), None)


def qtypes(attempt: Attempt) -> dict[int, str]:
    """Question types by id; the layout carries them (``"t"``) so a save needs no extra query."""
    if all("t" in item for item in attempt.layout):
        return {item["q"]: item["t"] for item in attempt.layout}
    return dict(db.session.execute(select(Question.id, Question.qtype).where(
        Question.id.in_([item["q"] for item in attempt.layout]))).all())


def _is_index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _clean_text(value) -> str:
    """A typed answer as stored text: at most ``MAX_TEXT`` characters of valid Unicode."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ExamError("答案格式不正确")
    if isinstance(value, int) and value.bit_length() > 2000:  # str() of a longer int refuses
        raise ExamError(f"答案不能超过 {MAX_TEXT} 字")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TEXT:
        raise ExamError(f"答案不能超过 {MAX_TEXT} 字")
    if _has_bad_chars(text):
        raise ExamError("答案中有无法识别的字符")
    return text


def _has_bad_chars(text: str) -> bool:
    """NUL and lone surrogates (valid JSON escapes, not text) cannot be stored; tabs and newlines can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return "\x00" in text


def _left(key) -> int:
    """A matching left-hand index as the page sends it: a JSON object key of ASCII digits."""
    if not isinstance(key, str) or not _ASCII_INDEX.fullmatch(key):
        raise ExamError("选项不存在")
    return int(key)


def to_stored(item: dict, qtype: str, response) -> dict | None:
    """A response in the order the member saw → in the question's own terms.

    Every input has a defined answer: a stored response, ``None`` (no answer), or ExamError
    with the reason in Chinese; nothing else is raised, whatever JSON arrives.
    """
    if response is None:
        return None
    if not isinstance(response, dict):
        raise ExamError("答案格式不正确")
    opts = item.get("opts", [])

    def option(pos):
        if not _is_index(pos) or not 0 <= pos < len(opts):
            raise ExamError("选项不存在")
        return opts[pos]

    if qtype == QuestionType.SINGLE:
        return {"choice": option(response.get("choice"))} if response.get("choice") is not None else None
    if qtype == QuestionType.MULTIPLE:
        choices = response.get("choices")
        if choices is None:
            choices = []
        if not isinstance(choices, list) or len(choices) > len(opts):
            raise ExamError("选项不存在")
        return {"choices": sorted({option(c) for c in choices})}
    if qtype == QuestionType.TRUEFALSE:
        value = response.get("value")
        if value is not None and not isinstance(value, bool):
            raise ExamError("答案格式不正确")
        return {"value": value} if value is not None else None
    if qtype in (QuestionType.FILL, QuestionType.NUMERIC):
        key = "text" if qtype == QuestionType.FILL else "value"
        value = response.get(key)
        return {key: _clean_text("" if value is None else value)}
    if qtype in WRITTEN_TYPES:
        return _written(item, response.get("text"))
    if qtype == QuestionType.MATCHING:
        rights = item.get("rights", [])
        pairs = response.get("pairs")
        if pairs is None:
            pairs = {}
        if not isinstance(pairs, dict) or len(pairs) > MAX_PAIRS:
            raise ExamError("答案格式不正确")
        out = {}
        for key, pos in pairs.items():
            left = _left(key)
            if pos is None or pos == "":
                continue
            if not _is_index(pos) or not 0 <= pos < len(rights) or left >= MAX_PAIRS:
                raise ExamError("选项不存在")
            out[str(left)] = rights[pos]
        return {"pairs": out}
    raise ExamError("未知题型")


def written_length(text: str) -> int:
    """The length a member is told and held to: characters (code points), as the page counts them."""
    return len(text or "")


def _written(item: dict, value) -> dict | None:
    """A written answer (简答 / 论述): text, at most the question's ``max_length`` (fixed in the
    layout at start) — longer is refused, nothing saved. The minimum is not checked here: a
    draft is short while it is written; an answer still below it when the attempt ends is
    graded 0 (``attempts._grade``)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ExamError("答案格式不正确")
    limit = min(int(item.get("max") or MAX_WRITTEN_LENGTH), MAX_WRITTEN_LENGTH)
    if written_length(value) > limit:
        raise ExamError(f"答案不能超过 {limit} 字（现在 {written_length(value)} 字）")
    if _has_bad_chars(value):
        raise ExamError("答案中有无法识别的字符")
    return {"text": value} if value.strip() else None


MAX_SIGNAL = 100_000


def parse_signals(attempt: Attempt, raw) -> dict | None:
    """The page's integrity counts (``{"hidden": n, "pastes": {"<question id>": n}}``) checked
    strictly like the answers: anything malformed raises AnswerError and nothing is saved."""
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"hidden", "pastes"}:
        raise AnswerError("请求格式不正确")
    hidden, pastes = raw.get("hidden", 0), raw.get("pastes", {})
    if not _is_index(hidden) or not 0 <= hidden <= MAX_SIGNAL or not isinstance(pastes, dict) or len(pastes) > MAX_ITEMS:
        raise AnswerError("请求格式不正确")
    types = qtypes(attempt)
    out = {}
    for key, count in pastes.items():
        if not isinstance(key, str) or not _ASCII_INDEX.fullmatch(key) or types.get(int(key)) not in WRITTEN_TYPES \
                or not _is_index(count) or not 0 <= count <= MAX_SIGNAL:
            raise AnswerError("请求格式不正确")
        out[str(int(key))] = count
    return {"hidden": hidden, "pastes": out}


def merge_signals(old: dict | None, new: dict) -> dict:
    """Counts only grow: a late, older copy from the offline queue never lowers them."""
    old = old or {}
    pastes = dict(old.get("pastes", {}))
    for key, count in new["pastes"].items():
        pastes[key] = max(pastes.get(key, 0), count)
    return {"hidden": max(old.get("hidden", 0), new["hidden"]), "pastes": pastes}


def parse_items(attempt: Attempt, items) -> list[dict]:
    """The answers a page sends (``[{"question", "response", "flagged", "rev"}]``, shown order)
    → rows to store (``question_id``, ``response`` in the question's terms, ``flagged``,
    ``client_rev``). All or nothing: raises AnswerError (Chinese) if anything is malformed,
    so a bad request never replaces a saved answer."""
    if not isinstance(items, list):
        raise AnswerError("请求格式不正确")
    if len(items) > MAX_ITEMS:
        raise AnswerError("一次提交的答案过多")
    types = qtypes(attempt)
    rows, errors = [], {}
    for raw in items:
        qid = raw.get("question") if isinstance(raw, dict) else None
        if not _is_index(qid) or (item := layout_item(attempt, qid)) is None:
            raise AnswerError("答案对应的题目不在本试卷中")
        rev, flagged = raw.get("rev"), raw.get("flagged")
        if rev is None:
            rev = 0
        if not _is_index(rev) or not 0 <= rev < 2**62:
            raise AnswerError("请求格式不正确", {qid: "请求格式不正确"})
        if flagged is not None and not isinstance(flagged, bool):
            raise AnswerError("请求格式不正确", {qid: "请求格式不正确"})
        try:
            stored = to_stored(item, types.get(qid, ""), raw.get("response"))
        except ExamError as exc:
            errors[qid] = str(exc)
            continue
        rows.append({"question_id": qid, "response": stored, "flagged": bool(flagged), "client_rev": rev})
    if errors:
        raise AnswerError(f"有答案未能保存：{next(iter(errors.values()))}", errors)
    return rows


def to_shown(item: dict, qtype: str, stored: dict | None):
    """The inverse of ``to_stored``, to put a saved answer back on the page."""
    if not stored:
        return None
    opts = item.get("opts", [])
    if qtype == QuestionType.SINGLE and stored.get("choice") in opts:
        return {"choice": opts.index(stored["choice"])}
    if qtype == QuestionType.MULTIPLE:
        return {"choices": sorted(opts.index(c) for c in stored.get("choices", []) if c in opts)}
    if qtype == QuestionType.MATCHING:
        rights = item.get("rights", [])
        return {"pairs": {k: rights.index(v) for k, v in stored.get("pairs", {}).items() if v in rights}}
    return stored


def items_from_form(attempt: Attempt, form) -> list[dict]:
    """The attempt page also works as a plain form (no JavaScript): its fields → save items."""
    types = qtypes(attempt)
    items = []
    for item in attempt.layout:
        qid = item["q"]
        name, qtype = f"q{qid}", types.get(qid)
        response = None
        try:
            if qtype == QuestionType.SINGLE and _ASCII_INDEX.fullmatch(form.get(name, "")):
                response = {"choice": int(form[name])}
            elif qtype == QuestionType.MULTIPLE and form.getlist(name):
                response = {"choices": [int(v) for v in form.getlist(name) if _ASCII_INDEX.fullmatch(v)]}
            elif qtype == QuestionType.TRUEFALSE and form.get(name) in ("true", "false"):
                response = {"value": form[name] == "true"}
            elif qtype == QuestionType.FILL and form.get(name, "").strip():
                response = {"text": form[name]}
            elif qtype == QuestionType.NUMERIC and form.get(name, "").strip():
                response = {"value": form[name]}
            elif qtype in WRITTEN_TYPES and form.get(name, "").strip():
                response = {"text": form[name]}
            elif qtype == QuestionType.MATCHING:
                pairs = {key[len(name) + 1:]: int(value) for key, value in form.items()
                         if key.startswith(name + ".") and _ASCII_INDEX.fullmatch(value)}
                response = {"pairs": pairs} if pairs else None
        except ValueError:
            continue
        if response is not None or form.get(f"flag{qid}"):
            items.append({"question": qid, "response": response, "flagged": bool(form.get(f"flag{qid}")),
                          "rev": 0})
    return items
