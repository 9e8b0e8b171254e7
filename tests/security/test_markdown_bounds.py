"""Markdown that used to take quadratic time or blow the stack renders in bounded time;
over-long Markdown is refused where it is saved; a document is rendered once per revision.

Timing is compared as a ratio of CPU times (input × 8 → time × ~8 when linear, × ~64 when
quadratic as before: ``"[a](" * n`` of 31 KB took 20 s), never against a number of seconds.
"""
from __future__ import annotations

import time

import markdown
import pytest
from sqlalchemy import func, select

from school.accounts.models import Role
from school.courses import services as course_services
from school.courses.models import Lesson
from school.exams.formats import parse as parse_bank
from school.exams.models import Question
from school.extensions import db
from school.library import services
from school.library.models import DocStatus, Document, RenderedBody
from school.library.rendering import render
from school.safe_html import bound_markdown, markdown_to_safe_html, sanitise
from school.timeutil import utcnow

SMALL, FACTOR = 250, 8
LINEAR_ENOUGH = 24  # linear: ~8; quadratic: ~64


def _best_time(text: str, runs: int) -> float:
    """The least CPU time of this thread over ``runs`` renders: CPU time, not wall-clock, so
    that other processes on a busy machine do not count."""
    best = float("inf")
    for _ in range(runs):
        start = time.thread_time()
        markdown_to_safe_html(text)
        best = min(best, time.thread_time() - start)
    return best


@pytest.mark.parametrize("pattern", ["[a](", "[", "![a](", "[a](\n", "<http://a", "[a][", "[^a"])
def test_unclosed_openers_render_in_linear_time(pattern):
    small = _best_time(pattern * SMALL, runs=5)
    large = _best_time(pattern * (SMALL * FACTOR), runs=3)
    assert large / small < LINEAR_ENOUGH, f"{pattern!r}: ×{FACTOR} input took ×{large / small:.1f} time"


def test_deeply_nested_brackets_render_in_linear_time():
    small = _best_time("[" * SMALL + "]" * SMALL, runs=5)
    large = _best_time("[" * (SMALL * FACTOR) + "]" * (SMALL * FACTOR), runs=3)
    assert large / small < LINEAR_ENOUGH


@pytest.mark.parametrize("text", [
    "".join("    " * i + "- 第一层\n" for i in range(2000)),  # 2,000 lists nested by indentation
    "".join("\t" * i + "* 第一层\n" for i in range(2000)),
    "- " * 2000 + "末尾",  # 2,000 lists opened on one line
    "1. " * 2000 + "末尾",
    "> - " * 2000 + "末尾",
])
def test_two_thousand_nested_lists_render_without_recursion_error(text):
    html = markdown_to_safe_html(text)
    assert "末尾" in html or "第一层" in html
    assert html.count("<ul>") + html.count("<ol>") <= 40  # cut to the nesting bound


def test_ordinary_markdown_is_left_exactly_as_it_was():
    text = ("# 中国共产党章程\n\n## 第一章 党员\n\n第一条 年满十八岁的中国工人（见[说明](https://www.12371.cn)）……\n\n"
            "- 一、坚持党的领导\n    - (一) 把方向\n        1. 谋大局\n\n> 引用：<https://www.gov.cn>\n\n"
            "| 项目 | 学时 |\n|---|---|\n| 党章 | 2 |\n\n```\ncode [with] (brackets)\n```\n\n![图](https://x.cn/a.png)\n")
    assert bound_markdown(text) == text
    raw = markdown.markdown(text, extensions=["tables", "sane_lists", "fenced_code"], output_format="html")
    assert markdown_to_safe_html(text) == sanitise(raw)


def test_a_stored_pathological_document_still_opens(app, client, auth, make):
    """Text saved before the limits existed (written straight into the table here) renders:
    the old renderer raised RecursionError on the lists and spent seconds on the links."""
    body = "".join("    " * i + "- 层\n" for i in range(2000)) + "\n" + "[a](" * 4000 + "\n\n第一条 仍然可读。\n"
    doc = Document(title="旧文献", category="policy", body=body, status=DocStatus.PUBLISHED, content_hash="x")
    db.session.add(doc)
    db.session.commit()
    auth.login(make.user())
    response = client.get(f"/library/doc/{doc.id}")
    assert response.status_code == 200
    assert "仍然可读" in response.get_data(as_text=True)


def test_a_document_is_rendered_once_per_revision(app, client, auth, make):
    editor = make.user(role=Role.EDITOR)
    doc = services.create_document(services.DocumentData(title="条例", category="policy", body="第一条 初稿。\n",
                                                         status=DocStatus.PUBLISHED), editor, utcnow())
    db.session.commit()
    auth.login(editor)
    assert "初稿" in client.get(f"/library/doc/{doc.id}").get_data(as_text=True)
    row = db.session.get(RenderedBody, doc.id)
    assert row is not None and row.html == render("第一条 初稿。\n").html  # the same renderer and sanitiser
    # The stored HTML is what later views show: mark it to see it served.
    row.html = row.html.replace("初稿", "缓存中的初稿")
    db.session.commit()
    assert "缓存中的初稿" in client.get(f"/library/doc/{doc.id}").get_data(as_text=True)
    # A new revision no longer matches the stored hash: rendered afresh, once.
    services.update_document(doc, services.DocumentData(title="条例", category="policy", body="第一条 定稿。\n",
                                                        status=DocStatus.PUBLISHED), editor, utcnow())
    db.session.commit()
    page = client.get(f"/library/doc/{doc.id}").get_data(as_text=True)
    assert "定稿" in page and "初稿" not in page
    assert db.session.scalar(select(func.count()).select_from(RenderedBody)) == 1


# --- refused where saved ----------------------------------------------------------------


def test_an_over_long_document_is_refused_with_a_message(app, client, auth, make):
    app.config.update(MARKDOWN_MAX_CHARS_DOCUMENT=1000)
    auth.login(make.user(role=Role.EDITOR))
    response = client.post("/library/manage/new", data={"title": "长文", "category": "policy", "body": "字" * 1001,
                                                        "status": "draft"})
    assert "正文过长（1001 字，上限 1000 字）" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Document.id))) == 0

    preview = client.post("/library/manage/preview", json={"body": "[a](" * 1000})
    assert preview.status_code == 413 and "正文过长" in preview.get_json()["error"]


def test_an_over_long_lesson_is_refused_with_a_message(app, client, auth, make):
    app.config.update(MARKDOWN_MAX_CHARS_LESSON=1000)
    t = make.tree()
    course = course_services.save_course(course_services.CourseData(title="学习条例", slug="tiaoli",
                                                                    audience_org_ids=(t["a"].id,)), None, utcnow())
    db.session.commit()
    auth.login(make.user(role=Role.EDITOR))
    response = client.post(f"/courses/manage/{course.id}/lessons/text", data={"title": "长课时", "body": "字" * 1001},
                           follow_redirects=True)
    assert "课时正文过长（1001 字，上限 1000 字）" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Lesson.id))) == 0


def test_an_over_long_question_stem_is_refused_on_import_and_in_the_editor(app, client, auth, make):
    app.config.update(MARKDOWN_MAX_CHARS_QUESTION=100)
    result = parse_bank("aiken", "bank.txt", ("长" * 101 + "\nA. 对\nB. 错\nANSWER: A\n\n短题\nA. 对\nB. 错\nANSWER: B\n")
                        .encode())
    assert [q.stem for q in result.questions] == ["短题"]
    assert [p.message for p in result.problems] == ["题干过长（101 字，上限 100 字）"]

    auth.login(make.user(role=Role.EDITOR))
    response = client.post("/exams/bank/questions/new", data={"gift": "长" * 101 + " {=对 ~错}", "points": "1",
                                                              "difficulty": "3"})
    assert "题干过长（101 字，上限 100 字）" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Question.id))) == 0
