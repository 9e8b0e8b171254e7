"""Exam settings from the editor's form, single questions written in GIFT, and pictures put into them.

Flushes (or only changes objects); the view commits."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from school.accounts import audience
from school.accounts.models import Organisation, User
from school.exams import bank, images
from school.exams.formats import gift, too_long
from school.exams.models import DEFAULT_MAX_LENGTH, WRITTEN_TYPES, Exam, Question, QuestionCategory, written_data
from school.exams.text import render, summary
from school.extensions import db
from school.timeutil import local_to_utc, to_local


class EditError(ValueError):
    pass


def utc_to_local_naive(value: datetime | None) -> datetime | None:
    local = to_local(value)
    return local.replace(tzinfo=None) if local else None


def parse_draw_rules(text: str) -> list[dict]:
    """``党章/总纲 | 3 | 5`` per line → rules; errors name the line."""
    rules = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.replace("｜", "|").split("|")]
        if len(parts) != 3:
            raise EditError(f"抽题规则第 {number} 行应写成“分类 | 难度 | 题数”")
        path, difficulty, count = parts
        category = None
        if path:
            category = db.session.scalar(select(QuestionCategory).where(QuestionCategory.path == path.strip("/")))
            if category is None:
                raise EditError(f"抽题规则第 {number} 行：没有分类“{path}”")
        if difficulty and not (difficulty.isdigit() and 1 <= int(difficulty) <= 5):
            raise EditError(f"抽题规则第 {number} 行：难度应为 1–5 或留空")
        if not count.isdigit() or not 1 <= int(count) <= 500:
            raise EditError(f"抽题规则第 {number} 行：题数应为 1–500 的整数")
        rules.append({"category_id": category.id if category else None,
                      "difficulty": int(difficulty) if difficulty else None, "count": int(count)})
    if not rules:
        raise EditError("随机抽题至少需要一条规则")
    return rules


def draw_rules_text(exam: Exam) -> str:
    lines = []
    for rule in (exam.selection or {}).get("draw", []):
        category = db.session.get(QuestionCategory, rule["category_id"]) if rule.get("category_id") else None
        lines.append(f"{category.path if category else ''} | {rule.get('difficulty') or ''} | {rule['count']}")
    return "\n".join(lines)


def question_choices() -> list[tuple[int, str]]:
    """Every question in the bank as a choice for an exam's fixed list, by category."""
    questions = db.session.scalars(select(Question).order_by(Question.category_id, Question.id)).all()
    return [(q.id, f"#{q.id} [{q.type_label}] {(q.category.path + ' · ') if q.category else ''}{summary(q.stem)}")
            for q in questions]


def apply_form(exam: Exam, form, actor: User) -> None:
    exam.title = form.title.data.strip()
    exam.instructions = form.instructions.data or ""
    exam.course_id = form.course_id.data
    exam.opens_at = local_to_utc(form.opens_at.data)
    exam.closes_at = local_to_utc(form.closes_at.data)
    exam.time_limit_minutes = form.time_limit_minutes.data
    exam.attempts_allowed = form.attempts_allowed.data
    exam.grading = form.grading.data
    exam.pass_percent = form.pass_percent.data
    exam.credit_hours = form.credit_hours.data
    org_ids = set(form.audience_orgs.data or [])
    exam.audience_orgs = list(db.session.scalars(select(Organisation).where(Organisation.id.in_(org_ids))))
    exam.audience_categories = audience.join_categories(form.audience_categories.data or [])
    if form.selection_mode.data == "draw":
        exam.selection = {"draw": parse_draw_rules(form.draw_rules.data)}
    else:
        ids = list(dict.fromkeys(form.fixed_questions.data or []))
        if form.published.data and not ids:
            raise EditError("发布前请至少选择一道题目")
        exam.selection = {"fixed": ids}
    exam.shuffle_questions = form.shuffle_questions.data
    exam.shuffle_options = form.shuffle_options.data
    exam.one_per_page = form.one_per_page.data
    exam.review = form.review.data
    exam.review_answers = form.review_answers.data
    exam.graders = form.graders.data if form.graders.data in ("editors", "secretaries") else "editors"
    exam.anonymous_grading = bool(form.anonymous_grading.data)
    exam.second_grader_margin = form.second_grader_margin.data
    exam.published = form.published.data
    if exam.created_by_id is None:
        exam.created_by_id = actor.id


def fill_form(form, exam: Exam) -> None:
    for name in ("title", "instructions", "course_id", "time_limit_minutes", "attempts_allowed", "grading",
                 "pass_percent", "credit_hours", "shuffle_questions", "shuffle_options", "one_per_page", "review",
                 "review_answers", "published", "graders", "anonymous_grading", "second_grader_margin"):
        getattr(form, name).data = getattr(exam, name)
    form.opens_at.data = utc_to_local_naive(exam.opens_at)
    form.closes_at.data = utc_to_local_naive(exam.closes_at)
    form.audience_orgs.data = [o.id for o in exam.audience_orgs]
    form.audience_categories.data = exam.categories
    selection = exam.selection or {}
    form.selection_mode.data = "draw" if "draw" in selection else "fixed"
    form.fixed_questions.data = selection.get("fixed", [])
    form.draw_rules.data = draw_rules_text(exam)


def fill_question_form(form, question: Question) -> None:
    """The question as its editor wrote it: GIFT (without the metadata comment line), category, points, difficulty, tags."""
    form.gift.data = gift.dump_question(question).split("\n", 1)[1]
    if question.qtype in WRITTEN_TYPES:  # the written details have their own fields, not the comment
        form.gift.data = form.gift.data.split("\n", 1)[1]
        form.written_kind.data = question.qtype
        form.reference.data, form.rubric.data = question.data.get("reference", ""), question.data.get("rubric", "")
        form.min_length.data, form.max_length.data = question.data.get("min_length"), question.data.get("max_length")
    form.category.data = question.category.path if question.category else ""
    form.points.data, form.difficulty.data, form.tags.data = question.points, question.difficulty, question.tags


def question_from_gift(text: str, question: Question | None, form, actor: User, now: datetime) -> Question:
    """Create or update one question written in GIFT, with the form's category, points, difficulty, tags."""
    result = gift.parse(text)
    if result.problems:
        raise EditError("；".join(f"第 {p.line} 行：{p.message}" for p in result.problems))
    if len(result.questions) != 1:
        raise EditError("请只写一道题（题目之间的空行会被当作分隔）")
    parsed = result.questions[0]
    reason = too_long(parsed)
    if reason:
        raise EditError(reason)
    if question is None:
        question = Question(created_at=now, created_by_id=actor.id)
        db.session.add(question)
    question.qtype, question.name, question.stem = parsed.qtype, parsed.name[:200], parsed.stem
    question.stem_format, question.explanation, question.data = parsed.stem_format, parsed.explanation, parsed.data
    if parsed.qtype in WRITTEN_TYPES:
        kind = form.written_kind.data if form.written_kind.data in WRITTEN_TYPES else parsed.qtype
        if (form.min_length.data or 0) > (form.max_length.data or DEFAULT_MAX_LENGTH[kind]):
            raise EditError("最少字数不能大于最多字数")
        question.qtype = kind
        question.data = written_data(kind, form.reference.data or "", form.rubric.data or "", form.min_length.data or 0,
                                     form.max_length.data)
    question.category = bank.category_for_path(form.category.data or parsed.category)
    question.points, question.difficulty = form.points.data, form.difficulty.data
    question.tags = ",".join(t.strip() for t in (form.tags.data or "").replace("，", ",").split(",") if t.strip())
    db.session.flush()
    return question


# --- pictures in a question written in GIFT ---------------------------------------------


@dataclass(frozen=True)
class InsertedImage:
    text: str  # the GIFT text with the picture in it
    caret: int  # where the inserted snippet ends (code points, "\n" line ends)
    snippet: str  # what was inserted, as the editor would paste it
    image: images.Stored


def _unescaped(text: str, char: str) -> list[int]:
    """Positions of ``char`` not preceded by GIFT's escaping backslash."""
    found, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == char:
            found.append(i)
        i += 1
    return found


def stem_format(text: str) -> str:
    """The text format a GIFT question declares (``[html]`` …), Markdown when it declares none."""
    lines = [line for line in (text or "").splitlines() if not line.strip().startswith("//")]
    body = "\n".join(lines).strip()
    if body.startswith("::"):
        ends = [i for i in _unescaped(body, ":") if i >= 2 and body[i + 1:i + 2] == ":"]
        body = body[ends[0] + 2:].lstrip() if ends else body
    match = re.match(r"^\[(markdown|html|plain|moodle)\]", body)
    return {"moodle": "plain"}.get(match.group(1), match.group(1)) if match else "markdown"


def image_snippet(text: str, url: str, alt: str) -> str:
    """The picture written the way this question's format shows it, escaped for GIFT."""
    fmt = stem_format(text)
    if fmt == "plain":
        raise EditError("纯文本格式（[plain] 或 [moodle]）的题目不能显示图片，请去掉格式标记（默认 Markdown）后再插入")
    if fmt == "html":
        alt = html.escape(re.sub(r"[\r\n]+", " ", alt or "").strip()[:100] or "图片")
        return gift.escape(f'<img src="{url}" alt="{alt}">')
    return gift.escape(images.markdown(url, alt))


def insert_snippet(text: str, snippet: str, at: int | None = None) -> tuple[str, int]:
    """Put ``snippet`` into a GIFT question; returns the new text and where the snippet ends.

    ``at`` is the editor's cursor, when the page's script could tell it (it may be inside an
    option: pictures in options are fine). Otherwise the picture goes on a line of its own at
    the end of the question text: before the answer block ``{…}``, or after it when the
    sentence goes on past a blank (a fill-in question), or at the end when there is no block
    yet. "On a line of its own" is a hard line break (Markdown's two trailing spaces, ``<br>``
    in HTML): a blank line would end the question in GIFT.
    """
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    if at is not None and 0 <= at <= len(text):
        return text[:at] + snippet + text[at:], at + len(snippet)
    brk = "<br>\n" if stem_format(text) == "html" else "  \n"
    opens, closes = _unescaped(text, "{"), _unescaped(text, "}")
    if not opens or (closes and text[closes[-1] + 1:].strip()):
        head = text.rstrip()
        joined = head + (brk if head else "") + snippet
        return joined + "\n", len(joined)
    head = text[:opens[0]].rstrip()
    joined = head + (brk if head else "") + snippet
    return joined + "\n" + text[opens[0]:], len(joined)


def insert_uploaded_image(text: str, data: bytes, alt: str, at: int | None, url_of, actor: User) -> InsertedImage:
    """Check and store an editor's picture, then put it into the question text (not saved yet).

    ``url_of(name)`` gives the picture's address. The format is checked first, so a question
    that cannot show pictures stores nothing.
    """
    image_snippet(text, "/", alt)  # raises for [plain] before anything is stored
    stored = images.save_upload(data, actor)
    snippet = image_snippet(text, url_of(stored.name), alt)
    new_text, caret = insert_snippet(text, snippet, at)
    return InsertedImage(new_text, caret, snippet, stored)


def preview(text: str):
    """The question text of unsaved GIFT, rendered as members will see it; None if it does not parse."""
    result = gift.parse(text or "")
    if result.problems or len(result.questions) != 1:
        return None
    return render(result.questions[0].stem, result.questions[0].stem_format)
