"""The attempt page reads the member, the attempt and its exam in the login session's statement
(issue 17 item 4): it never runs the user loader, so it must refuse whatever the login checks
refuse, and show nobody else's paper. On PostgreSQL the menu's counts and the paper (the
questions with the member's answers, as JSON) come in that statement too, so the page is one
statement; SQLite reads the paper with a second one and the counts when the menu is drawn. Both databases run these tests."""
from __future__ import annotations

import contextvars
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from school.exams import paper
from school.exams.models import Attempt, AttemptState
from school.exams.responses import to_shown
from school.extensions import db
from school.sqlcount import counting
from school.timeutil import utcnow
from tests.exams import helpers


@pytest.fixture
def taking(client, auth, make):
    return helpers.start_through_views(client, auth, make)


def _page(client, attempt_id):
    """GET the attempt page in a request of its own: the response and the statements it sent."""
    with counting(db.engine) as counter:
        response = contextvars.Context().run(client.client.get, f"/exams/attempts/{attempt_id}")
    return response, counter.statements


def _shows_paper(response) -> bool:
    return 'id="attempt-form"' in response.get_data(as_text=True)


def test_the_page_reads_member_attempt_and_exam_with_the_login_session(client, make, taking):
    member, attempt_id, items, _token = taking
    make.notice(member.org, title="考试须知")
    response, statements = _page(client, attempt_id)
    assert response.status_code == 200 and _shows_paper(response)
    page = response.get_data(as_text=True)
    assert [int(q) for q in re.findall(r'data-qid="(\d+)" data-qtype', page)] == [i["question"] for i in items]
    assert member.name in page and 'aria-label="1 条未读"' in page  # the menu: the member and the unread notice
    first = statements[0].lstrip()
    assert first.startswith("SELECT users.") and "exam_attempt.layout" in first and re.search(r"exam(_\d+)?\.title", first)
    assert sum(s.lstrip().startswith("SELECT users.") for s in statements) == 1  # no user loader after it
    assert len(statements) == (1 if db.engine.dialect.name == "postgresql" else 3)


@pytest.mark.parametrize("change, goes_to, _json_status", helpers.SESSION_BREAKERS)
def test_the_page_needs_the_members_live_session(client, taking, change, goes_to, _json_status):
    """Logged out elsewhere, expired, disabled, a password to change first: the login page or
    the change-password page, never the paper."""
    member, attempt_id, _items, _token = taking
    change(member.id)
    db.session.commit()
    response, _ = _page(client, attempt_id)
    assert response.status_code == 302 and goes_to in response.headers["Location"]


def test_a_made_up_session_token_gets_the_login_page(client, taking):
    _member, attempt_id, _items, _token = taking
    with client.client.session_transaction() as session:
        session["_user_id"] = "made-up-token"
    response, _ = _page(client, attempt_id)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_stranger_gets_the_login_page(app, taking):
    _member, attempt_id, _items, _token = taking
    stranger = app.test_client()  # no cookie at all
    response = contextvars.Context().run(stranger.get, f"/exams/attempts/{attempt_id}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_someone_elses_attempt_is_not_found(client, auth, make, taking):
    member, attempt_id, _items, _token = taking
    auth.logout()
    auth.login(make.user(org=member.org))
    response, _ = _page(client, attempt_id)
    assert response.status_code == 404 and not _shows_paper(response)
    assert _page(client, 10**6)[0].status_code == 404


@pytest.mark.parametrize("past_deadline, state", [
    (timedelta(seconds=-60), AttemptState.IN_PROGRESS),  # before the deadline: the paper
    (timedelta(minutes=10), AttemptState.FINISHED),  # past deadline + grace: handed in, to the result
])
def test_an_overdue_attempt_is_handed_in_on_the_page(client, taking, past_deadline, state):
    _member, attempt_id, _items, _token = taking
    attempt = db.session.get(Attempt, attempt_id)
    attempt.deadline_at = utcnow() - past_deadline
    db.session.commit()
    response, _ = _page(client, attempt_id)
    db.session.expire_all()
    assert db.session.get(Attempt, attempt_id).state == state
    if state == AttemptState.FINISHED:
        assert response.status_code == 302 and response.headers["Location"].endswith(f"/attempts/{attempt_id}/result")
    else:
        assert response.status_code == 200 and _shows_paper(response)


def test_the_paper_read_as_json_is_the_paper_read_as_rows(client, auth, make):
    """PostgreSQL reads the paper as one JSON column of the page's statement
    (``paper.paper_column``). Every question type, points with decimals, an HTML stem, an
    essay's length limits, a flagged question with a cleared answer, saved answers and an
    unanswered question: the paper built from it is the paper built from the ORM's rows, and
    the page shows the member's saved answers."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite reads the paper with a second statement")
    bank = make.questions() + [
        make.question("essay", stem="谈谈你对**基层治理**的认识。", points=Decimal("12.5"),
                      data={"reference": "参考要点", "rubric": "评分细则", "min_length": 50, "max_length": 800}),
        make.question("single", stem="<b>HTML</b> 题干", stem_format="html", points=Decimal("1.10"),
                      data={"options": [{"text": "甲", "weight": 100}, {"text": "<i>乙</i>", "weight": 0,
                                                                       "format": "html"}]}),
    ]
    exam = make.exam(bank, utcnow())
    member = make.user(org=make.tree()["a1"])
    auth.login(member)
    token = client.token()
    started = client.client.post(f"/exams/{exam.id}/start", data={"csrf_token": token})
    attempt_id = int(re.search(r"/attempts/(\d+)", started.headers["Location"]).group(1))
    standard = {q.id: (q, helpers.RIGHT[i]) for i, q in enumerate(bank[:6])}
    right = {item["q"]: to_shown(item, standard[item["q"]][0].qtype, standard[item["q"]][1])
             for item in db.session.get(Attempt, attempt_id).layout if item["q"] in standard}
    essay, html_single, fill = bank[6].id, bank[7].id, bank[3].id
    answers = [{"question": q.id, "response": right[q.id], "flagged": q.id == bank[0].id, "rev": 1}
               for q in bank[:6] if q.id != fill]
    answers += [{"question": essay, "response": {"text": "基层治理要靠群众。"}, "rev": 1},
                {"question": html_single, "response": None, "flagged": True, "rev": 2}]
    saved = client.client.post(f"/exams/attempts/{attempt_id}/answers", json={"answers": answers},
                               headers={"X-CSRFToken": token})
    assert saved.status_code == 200, saved.get_data(as_text=True)
    db.session.expire_all()

    row = db.session.execute(select(Attempt, paper.paper_column()).where(Attempt.id == attempt_id)).one()
    as_json = paper.paper(row.Attempt, *paper.paper_from(row.paper))
    as_rows = paper.paper(db.session.get(Attempt, attempt_id))
    assert [vars(entry) for entry in as_json] == [vars(entry) for entry in as_rows]
    by_id = {entry.id: entry for entry in as_json}
    assert by_id[fill].response is None and by_id[fill].rev == 0  # not answered
    assert by_id[html_single].flagged is True and by_id[html_single].rev == 2 and by_id[html_single].response is None
    assert by_id[bank[0].id].flagged is True and by_id[bank[1].id].flagged is False and by_id[essay].max_length == 800
    # Decimals as the ORM gives them (a float 1.1 would compare unequal to Decimal("1.10") only by luck).
    assert [(type(by_id[q].points), str(by_id[q].points)) for q in (essay, html_single)] == \
        [(Decimal, "12.50"), (Decimal, "1.10")]
    assert "1921 年 7 月" not in repr(row.paper)  # the explanations are not read

    response, statements = _page(client, attempt_id)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and len(statements) == 1
    assert "基层治理要靠群众。" in page and "<b>HTML</b> 题干" in page
    assert "参考要点" not in page and "评分细则" not in page and "weight" not in page  # nothing for graders


def test_an_attempt_with_an_empty_layout_shows_an_empty_paper(client, taking):
    """``json_agg`` over no questions is NULL: the page falls back to the rows, which are none."""
    _member, attempt_id, _items, _token = taking
    db.session.get(Attempt, attempt_id).layout = []
    db.session.commit()
    response, _ = _page(client, attempt_id)
    assert response.status_code == 200 and _shows_paper(response)
    assert 'data-qid="' not in response.get_data(as_text=True)
