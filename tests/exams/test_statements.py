"""Statements per request on the exam path (issue 17): a save, start, the attempt page and
submit cost a small fixed number of SQL statements, sessions and user included, so
PostgreSQL's round trips stay few. Counting is deterministic: these are not timing tests."""
from __future__ import annotations

import contextvars
import os
import re

import pytest

from school.exams.models import Attempt
from school.extensions import db
from school.sqlcount import counting
from tests.exams import helpers

# The most each request may send (BEGIN/COMMIT not counted; see school/sqlcount.py).
# Submit, passed with a credit: user, attempt, the finish's UPDATE, the graded read, the fractions
# and the score (one statement on PostgreSQL: a CTE), the credit's INSERT … RETURNING, the
# classes the exam ends. Start: user, the exam with its audience and the member's attempts (one
# statement), the questions' shapes, the INSERT. The attempt page: the member with the attempt
# and its exam (one statement), the questions with the answers, the menu's counts.
LIMITS = {"save": 4, "save_same_signals": 3, "start": 3, "page": 3, "exam_page": 3, "submit": 8,
          "result": 6}
# PostgreSQL: a save to a paper the process knows is one statement, the login session included;
# the usual submit reads the attempt with its paper in the login session's statement and writes
# the finish with the grades in one (no user read; a pass adds the credit and the classes);
# a page's menu counts come with the login session (school/notices/menu.py), and the attempt
# page's paper too (``paper.paper_column``). Start is 3 here: the first start of the process
# reads the fixed paper's questions (later ones: 2, ``test_start_paths.py``).
PG_LIMITS = dict(LIMITS, submit=4, save_same_signals=1, page=1, exam_page=2, result=5)
SHOW = os.environ.get("SCHOOL_SHOW_STATEMENTS") == "1"


def _count(app, call):
    with counting(db.engine) as counter:
        response = contextvars.Context().run(call)
    if SHOW:
        print(f"\n--- {len(counter)} statements")
        for statement in counter.statements:
            print("   ", re.sub(r"\s+", " ", statement)[:200])
    return response, len(counter)


@pytest.fixture
def taking(app, client, auth, make):
    member = make.user(org=make.tree()["a1"])  # a member of a branch, as every real one is
    bank = make.questions()
    exam = make.exam(bank)
    auth.login(member)
    token = client.token()
    return member, bank, exam, token


def test_statements_per_request(app, client, taking):
    member, bank, exam, token = taking
    raw, exam_id = client.client, exam.id
    # The exam's page reads the member's attempts once (open one, count, result), before and after.
    response, exam_page = _count(app, lambda: raw.get(f"/exams/{exam_id}"))
    assert response.status_code == 200 and 'id="start-button"' in response.get_data(as_text=True)
    response, start = _count(app, lambda: raw.post(f"/exams/{exam_id}/start", data={"csrf_token": token}))
    assert response.status_code == 302
    attempt_id = int(re.search(r"/attempts/(\d+)", response.headers["Location"]).group(1))

    response, page = _count(app, lambda: raw.get(f"/exams/attempts/{attempt_id}"))
    assert response.status_code == 200
    response, exam_page_open = _count(app, lambda: raw.get(f"/exams/{exam_id}"))
    assert response.status_code == 200 and 'id="resume"' in response.get_data(as_text=True)

    attempt = db.session.get(Attempt, attempt_id)
    items = helpers.shown_right(attempt, bank)
    saves = []
    # The page sends its integrity counts with every save: written only when they grew (the
    # first save and the fourth here). The first save of an answer inserts, later ones update.
    for n, hidden in enumerate((0, 0, 0, 1, 1)):
        body = {"answers": [dict(items[n % 2], rev=n + 1)], "signals": {"hidden": hidden, "pastes": {}}}
        response, save = _count(app, lambda: raw.post(f"/exams/attempts/{attempt_id}/answers", json=body,
                                                      headers={"X-CSRFToken": token}))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["saved"] == [items[n % 2]["question"]]
        saves.append(save)
    limits = PG_LIMITS if db.engine.dialect.name == "postgresql" else LIMITS
    assert saves[1] == saves[2] == saves[4] <= limits["save_same_signals"], saves
    db.session.expire_all()
    assert db.session.get(Attempt, attempt_id).integrity == {"hidden": 1, "pastes": {}}
    # Several answers in one save: one upsert each.
    response, save_all = _count(app, lambda: raw.post(f"/exams/attempts/{attempt_id}/answers",
                                                      json={"answers": items}, headers={"X-CSRFToken": token}))
    assert response.status_code == 200

    response, submit = _count(app, lambda: raw.post(f"/exams/attempts/{attempt_id}/submit",
                                                    data={"csrf_token": token, "answers": "[]"}))
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Attempt, attempt_id).passed is True
    # The result with the review: the member's attempts, the questions and answers read once each.
    response, result = _count(app, lambda: raw.get(f"/exams/attempts/{attempt_id}/result"))
    assert response.status_code == 200 and 'id="review-title"' in response.get_data(as_text=True)
    figures = {"save": max(saves), "start": start, "page": page, "exam_page": max(exam_page, exam_page_open),
               "submit": submit, "result": result}
    print("statements per request:", figures, "save of", len(items), "answers:", save_all)
    for kind in figures:
        assert figures[kind] <= limits[kind], (kind, figures)
    assert save_all <= LIMITS["save"] + len(items) - 1
