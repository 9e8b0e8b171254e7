"""The translation between what the member saw and what is stored.

An attempt's layout fixes the order of questions, options and matching answers the member
sees; answers are stored in the question's own terms, so grading never needs the layout.
``to_stored`` checks and translates a response from the page (raises ExamError),
``to_shown`` puts a stored answer back on the page, ``items_from_form`` reads the
attempt page sent as a plain form (no JavaScript).
"""
from __future__ import annotations

from sqlalchemy import select

from school.exams.errors import ExamError
from school.exams.models import Attempt, Question, QuestionType
from school.extensions import db

MAX_TEXT = 500


def layout_item(attempt: Attempt, question_id: int) -> dict | None:
    return next((item for item in attempt.layout if item["q"] == question_id), None)


def qtypes(attempt: Attempt) -> dict[int, str]:
    """Question types by id; the layout carries them (``"t"``) so a save needs no extra query."""
    if all("t" in item for item in attempt.layout):
        return {item["q"]: item["t"] for item in attempt.layout}
    return dict(db.session.execute(select(Question.id, Question.qtype).where(
        Question.id.in_([item["q"] for item in attempt.layout]))).all())


def to_stored(item: dict, qtype: str, response) -> dict | None:
    """A response in the order the member saw → in the question's own terms. Raises ExamError."""
    if response is None:
        return None
    if not isinstance(response, dict):
        raise ExamError("答案格式不正确")
    opts = item.get("opts", [])

    def option(pos):
        if not isinstance(pos, int) or isinstance(pos, bool) or not 0 <= pos < len(opts):
            raise ExamError("选项不存在")
        return opts[pos]

    if qtype == QuestionType.SINGLE:
        return {"choice": option(response.get("choice"))} if response.get("choice") is not None else None
    if qtype == QuestionType.MULTIPLE:
        choices = response.get("choices") or []
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
        value = response.get(key, "")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or len(str(value)) > MAX_TEXT:
            raise ExamError(f"答案不能超过 {MAX_TEXT} 字")
        return {key: str(value)}
    if qtype == QuestionType.MATCHING:
        rights = item.get("rights", [])
        pairs = response.get("pairs") or {}
        if not isinstance(pairs, dict) or len(pairs) > 100:
            raise ExamError("答案格式不正确")
        out = {}
        for left, pos in pairs.items():
            if pos is None or pos == "":
                continue
            if not str(left).isdigit() or not isinstance(pos, int) or not 0 <= pos < len(rights):
                raise ExamError("选项不存在")
            out[str(int(left))] = rights[pos]
        return {"pairs": out}
    raise ExamError("未知题型")


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
            if qtype == QuestionType.SINGLE and form.get(name, "").isdigit():
                response = {"choice": int(form[name])}
            elif qtype == QuestionType.MULTIPLE and form.getlist(name):
                response = {"choices": [int(v) for v in form.getlist(name) if v.isdigit()]}
            elif qtype == QuestionType.TRUEFALSE and form.get(name) in ("true", "false"):
                response = {"value": form[name] == "true"}
            elif qtype == QuestionType.FILL and form.get(name, "").strip():
                response = {"text": form[name]}
            elif qtype == QuestionType.NUMERIC and form.get(name, "").strip():
                response = {"value": form[name]}
            elif qtype == QuestionType.MATCHING:
                pairs = {key[len(name) + 1:]: int(value) for key, value in form.items()
                         if key.startswith(name + ".") and value.isdigit()}
                response = {"pairs": pairs} if pairs else None
        except ValueError:
            continue
        if response is not None or form.get(f"flag{qid}"):
            items.append({"question": qid, "response": response, "flagged": bool(form.get(f"flag{qid}")),
                          "rev": 0})
    return items
