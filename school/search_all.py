"""One search over everything a member can study: library documents, courses, lessons (titles,
text lesson bodies and the subtitles of video lessons) and exams, grouped by kind (``/search``).

This module sits above ``library``, ``courses`` and ``exams`` (it imports all three; none of them
imports it). Documents keep the library's Whoosh ranking (``library.search``). Courses, lessons
and exams are few: they are matched with SQL ``LIKE`` (courses, lessons with their subtitle words) or in Python
(exams) on the query's words, after the library's own parsing (traditional characters
converted to simplified, stop words dropped), and ranked by how many words they hold, a title
counting most. Each kind shows only what the member may see: drafts to editors only, courses
and their lessons by ``courses.visibility.visible_condition``, exams by ``exams.eligibility``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import Blueprint, render_template, request
from flask_login import login_required
from sqlalchemy import or_, select
from sqlalchemy.orm import undefer

from school.accounts.roles import current_actor, is_editor
from school.courses import visibility
from school.courses.models import Course, Lesson, LessonKind
from school.exams import eligibility
from school.exams.models import Exam
from school.extensions import db
from school.library import search as library_search
from school.library.queries import parse, simplified

bp = Blueprint("search_all", __name__)
SHOWN = 10  # results shown per kind (documents: a link leads on to the library's own pages)
MAX_TERMS = 8


@dataclass
class Found:
    title: str
    url_args: tuple  # (endpoint, {args})
    context: str = ""  # the course of a lesson, the level of a document …
    excerpt: str = ""
    score: float = 0.0
    draft: bool = False


@dataclass
class Group:
    kind: str
    label: str
    items: list[Found] = field(default_factory=list)
    total: int = 0
    more: tuple | None = None  # (endpoint, {args}) of the full results, when there are more


def terms_of(text: str) -> list[str]:
    """The words to look for: the library's query words, else the whole (simplified) query."""
    parsed = parse(text)
    words = [w for w in dict.fromkeys(parsed.words) if w.strip()]
    if parsed.compact and parsed.compact not in words:
        words.insert(0, parsed.compact)
    return words[:MAX_TERMS]


def _like(column, term: str):
    return column.contains(term, autoescape=True)


def score(terms: list[str], title: str, *texts: str) -> float:
    """Words found in the title count three times, elsewhere once; the whole query more."""
    title = simplified(title or "")
    rest = simplified(" ".join(t or "" for t in texts))
    total = 0.0
    for i, term in enumerate(terms):
        weight = 2.0 if i == 0 and len(terms) > 1 else 1.0  # the whole query, as typed
        total += weight * (3.0 * (term in title) + 1.0 * (term in rest))
    return total


def excerpt(text: str, terms: list[str], width: int = 60) -> str:
    """A plain-text piece of ``text`` around the first word found (escaped by the template)."""
    plain = re.sub(r"[#>*_`\[\]()!|-]+", " ", text or "")
    plain = re.sub(r"\s+", " ", plain).strip()
    positions = [p for p in (plain.find(t) for t in terms) if p >= 0]
    if not positions:
        return plain[:width * 2]
    start = max(0, min(positions) - width // 2)
    return ("…" if start else "") + plain[start:start + width * 2] + ("…" if start + width * 2 < len(plain) else "")


# --- each kind --------------------------------------------------------------------------


def documents(text: str, user) -> Group:
    group = Group("documents", "图书馆文献")
    results = library_search.search(text, include_drafts=is_editor(user), per_page=SHOWN, with_snippets=False)
    group.total = results.total
    for hit in results.hits:
        doc = hit.document
        group.items.append(Found(doc.title, ("library.read", {"doc_id": doc.id}),
                                 context=doc.level_label or doc.category_label,
                                 excerpt=(doc.summary or "")[:120], score=hit.score, draft=not doc.is_published))
    if group.total > len(group.items):
        group.more = ("library.search_page", {"q": text})
    return group


def courses(terms: list[str], user) -> Group:
    group = Group("courses", "课程")
    matches = or_(*[or_(_like(Course.title, t), _like(Course.summary, t)) for t in terms])
    rows = db.session.scalars(select(Course).where(visibility.visible_condition(user), matches)).all()
    found = [Found(c.title, ("courses.course", {"course_id": c.id}), excerpt=excerpt(c.summary, terms),
                   score=score(terms, c.title, c.summary), draft=not c.published) for c in rows]
    return _ranked(group, found)


def lessons(terms: list[str], user) -> Group:
    group = Group("lessons", "课时")
    visible = select(Lesson, Course.title).join(Course, Course.id == Lesson.course_id) \
        .where(visibility.visible_condition(user))
    # A video lesson's subtitle words are a column (``courses.subtitles``), matched in the same statement.
    matches = or_(*[or_(_like(Lesson.title, t), _like(Lesson.body_md, t), _like(Lesson.subtitles_text, t))
                    for t in terms])
    found = []
    for lesson, course_title in db.session.execute(visible.where(matches).options(undefer(Lesson.subtitles_text))):
        words = lesson.subtitles_text if lesson.kind == LessonKind.VIDEO else ""
        in_body, in_subtitles = score(terms, "", lesson.body_md), score(terms, "", words)
        # The text around a word found: in the body, else in the subtitles, else the body's start.
        shown = "字幕：" + excerpt(words, terms) if in_subtitles and not in_body else excerpt(lesson.body_md, terms)
        found.append(Found(lesson.title, ("courses.lesson", {"lesson_id": lesson.id}), context=course_title,
                           excerpt=shown, score=score(terms, lesson.title) + in_body + in_subtitles))
    return _ranked(group, found)


def exams(terms: list[str], user) -> Group:
    group = Group("exams", "考试")
    if is_editor(user):
        candidates = db.session.scalars(select(Exam).order_by(Exam.id.desc())).all()
    else:
        candidates = eligibility.exams_for(user)
    found = []
    for exam in candidates:
        points = score(terms, exam.title, exam.instructions)
        if points:
            found.append(Found(exam.title, ("exams.exam_detail", {"exam_id": exam.id}),
                               excerpt=excerpt(exam.instructions, terms), score=points, draft=not exam.published))
    return _ranked(group, found)


def _ranked(group: Group, found: list[Found]) -> Group:
    found.sort(key=lambda f: (-f.score, f.title))
    group.total = len(found)
    group.items = found[:SHOWN]
    return group


def search_everything(text: str, user) -> list[Group]:
    terms = terms_of(text)
    if not terms:
        return []
    return [documents(text, user), courses(terms, user), lessons(terms, user), exams(terms, user)]


@bp.get("/search")
@login_required
def search_page():
    q = request.args.get("q", "").strip()[:300]
    user = current_actor()
    groups = search_everything(q, user) if q else []
    message = "" if not q or groups else "没有可以查找的词语，请换个说法。"
    return render_template("search_all.html", q=q, groups=groups, message=message,
                           total=sum(g.total for g in groups))
