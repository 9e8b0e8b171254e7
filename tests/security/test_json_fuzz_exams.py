"""JSON endpoints never answer 500: the exam autosave and the hand-in, fuzzed.

Whatever body arrives (wrong types, huge numbers, Unicode digits, nested junk, missing keys,
out-of-range indexes, very long strings), the answer is 200/302 or a 4xx with a Chinese
message; a refused request changes no saved answer, and every stored answer stays one the
grading and the review can read.
"""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from school.exams import attempts, grading, paper, responses
from school.exams.errors import ExamError
from school.exams.models import Answer, Attempt, Question
from school.extensions import db
from school.timeutil import utcnow
from tests.exams import helpers

CHINESE = re.compile(r"[\u4e00-\u9fff]")
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# --- strategies ---------------------------------------------------------------------------

TRICKY_STRINGS = ["²", "٣", "１", "0", "1", "-1", "01", "99999", "1e400", "NaN", "", " ", "\x00", "\ud800",
                  "true", "null", "人民", "x" * 501, "答" * 20000]
TRICKY_INTS = [0, 1, -1, 2, 99, 2**31, 2**62, 2**63, -(2**63), 10**30, 10**300]
KEYS = ["question", "response", "choice", "choices", "value", "text", "pairs", "rev", "flagged", "answers",
        "0", "1", "²", "٣", "-1"]

leaves = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.sampled_from(TRICKY_INTS)
          | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30) | st.sampled_from(TRICKY_STRINGS))
anything = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), inner, max_size=4),
                        max_leaves=15)
index = st.sampled_from(TRICKY_INTS) | st.integers(-3, 5) | anything
response = st.fixed_dictionaries({}, optional={
    "choice": index, "choices": st.lists(index, max_size=6) | anything, "value": anything | st.booleans(),
    "text": anything | st.sampled_from(TRICKY_STRINGS),
    "pairs": st.dictionaries(st.sampled_from(TRICKY_STRINGS[:9]) | st.text(max_size=4), index, max_size=4) | anything,
}) | anything


def item(qids):
    question = st.sampled_from(qids) | st.sampled_from([True, 0, -1, 2**63, "1", None]) | anything
    return st.fixed_dictionaries({"question": question}, optional={
        "response": response, "rev": st.integers(-5, 2**63) | anything, "flagged": anything})


def body(qids):
    answers = st.lists(item(qids), max_size=5) | anything
    return st.fixed_dictionaries({"answers": answers}) | anything


# --- the attempt under fuzz -----------------------------------------------------------------


def _setup(client, auth, make, attempts_allowed=1):
    member = make.user()
    bank = make.questions()
    exam = make.exam(bank, utcnow(), attempts_allowed=attempts_allowed, limit=None)
    attempt = attempts.start(exam, member, utcnow())
    # A valid answer to every question, saved before any junk arrives.
    attempts.save_answers(attempt, member, helpers.shown_right(attempt, bank), utcnow())
    auth.login(member)
    return member, bank, exam, attempt.id


def _stored(attempt_id: int) -> dict:
    db.session.expire_all()
    return {a.question_id: (a.response, a.flagged, a.client_rev)
            for a in db.session.scalars(select(Answer).where(Answer.attempt_id == attempt_id))}


def _readable(attempt_id: int, stored: dict) -> None:
    """Every stored answer can be graded, put back on the page and shown in the review."""
    attempt = db.session.get(Attempt, attempt_id)
    questions = {q.id: q for q in db.session.scalars(select(Question))}
    for qid, (stored_response, _, _) in stored.items():
        question = questions[qid]
        grading.score(question.qtype, question.data, stored_response)
        paper._given_text(question, stored_response)
        responses.to_shown(responses.layout_item(attempt, qid), question.qtype, stored_response)


def _post_json(client, url: str, raw: str, token: str):
    return client.post(url, data=raw, csrf=False,
                       headers={"X-CSRFToken": token, "Content-Type": "application/json"})


def _check_refusal(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if response.status_code != 200:
        assert 400 <= response.status_code < 500
        assert CHINESE.search(response.get_json()["error"])


def test_autosave_fuzz_never_500_and_refusals_change_nothing(client, auth, make):
    _, bank, _, attempt_id = _setup(client, auth, make)
    url = f"/exams/attempts/{attempt_id}/answers"
    token = client.token()
    qids = [q.id for q in bank]

    @FUZZ
    @given(payload=body(qids))
    @example(payload={"answers": [{"question": bank[5].id, "response": {"pairs": {"²": 0}}}]})
    @example(payload={"answers": [{"question": bank[5].id, "response": {"pairs": {"٣": 0}}}]})
    @example(payload={"answers": [{"question": bank[0].id, "response": {"choice": 0}, "rev": 9},
                                  {"question": bank[3].id, "response": {"text": "x" * 501}}]})
    @example(payload={"answers": [{"question": True, "response": {"choice": 0}, "rev": 9}]})
    @example(payload={"answers": [{"question": bank[3].id, "response": {"text": "\ud800"}, "rev": 9}]})
    @example(payload={"answers": [{"question": bank[4].id, "response": {"value": 10**300}, "rev": 9}]})
    @example(payload={"answers": [{"question": bank[1].id, "response": {"choices": "01"}, "rev": 9}]})
    def run(payload):
        before = _stored(attempt_id)
        try:
            raw = json.dumps(payload)
        except ValueError:  # an int too long to print: send its digits as the parser would meet them
            raw = '{"answers": [{"question": 1, "response": {"value": ' + "9" * 5000 + "}}]}"
        response = _post_json(client, url, raw, token)
        _check_refusal(response)
        after = _stored(attempt_id)
        if response.status_code != 200:
            assert after == before, "a refused save changed a saved answer"
        _readable(attempt_id, after)
        assert db.session.get(Attempt, attempt_id).state == "in_progress"

    run()


def test_junk_next_to_a_valid_change_saves_nothing(client, auth, make):
    """All or nothing: one malformed answer refuses the request, so the valid answer saved
    earlier survives even the valid-looking part of a junk save."""
    _, bank, _, attempt_id = _setup(client, auth, make)
    before = _stored(attempt_id)
    single, matching = bank[0], bank[5]
    for junk in ({"pairs": {"²": 0}}, {"pairs": {"0": 99}}, {"pairs": "0"}):
        response = client.post(f"/exams/attempts/{attempt_id}/answers", json={"answers": [
            {"question": single.id, "response": None, "rev": 10**12},
            {"question": matching.id, "response": junk, "rev": 10**12}]})
        assert response.status_code == 400
        assert CHINESE.search(response.get_json()["error"])
        assert str(matching.id) in response.get_json()["errors"]
    assert _stored(attempt_id) == before


def test_json_nested_deeper_than_the_parser_is_400(client, auth, make):
    _, _, _, attempt_id = _setup(client, auth, make)
    token = client.token()
    raw = '{"answers": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = _post_json(client, f"/exams/attempts/{attempt_id}/answers", raw, token)
    assert response.status_code == 400 and CHINESE.search(response.get_json()["error"])
    bad = client.post(f"/exams/attempts/{attempt_id}/submit", data={"answers": "[" * 100_000})
    assert bad.status_code == 400 and "答案格式不正确" in bad.get_data(as_text=True)


@pytest.mark.parametrize("key", ["²", "٣", "１", "-1", "1.0", "", " 1", "99999"])
def test_matching_left_keys_have_a_defined_answer(key):
    with pytest.raises(ExamError, match="选项不存在"):
        responses.to_stored({"rights": [0, 1]}, "matching", {"pairs": {key: 0}})
    assert responses.to_stored({"rights": [0, 1]}, "matching", {"pairs": {"1": 1}}) == {"pairs": {"1": 1}}


def test_submit_fuzz_never_500_and_a_refused_submit_finishes_nothing(client, auth, make):
    member, bank, exam, first_id = _setup(client, auth, make, attempts_allowed=0)
    current = {"id": first_id}
    qids = [q.id for q in bank]

    @FUZZ
    @given(payload=st.lists(item(qids), max_size=5) | anything, as_json=st.booleans())
    @example(payload=[{"question": bank[5].id, "response": {"pairs": {"²": 0}}}], as_json=True)
    @example(payload=[{"question": bank[0].id, "response": {"choice": 7}}], as_json=True)
    @example(payload={"answers": []}, as_json=True)
    @example(payload=[], as_json=True)
    @example(payload=None, as_json=False)
    def run(payload, as_json):
        attempt_id = current["id"]
        before = _stored(attempt_id)
        try:
            raw = json.dumps(payload)
        except ValueError:
            raw = "[" + "9" * 5000 + "]"
        if not as_json:  # the same body, but sent as the plain form's fields
            raw = raw[:2000]
        data = {"answers": raw} if as_json else {f"q{qid}": raw for qid in qids}
        response = client.post(f"/exams/attempts/{attempt_id}/submit", data=data)
        assert response.status_code in (302, 400), response.get_data(as_text=True)[:500]
        attempt = db.session.get(Attempt, attempt_id, populate_existing=True)
        if response.status_code == 400:
            assert CHINESE.search(response.get_data(as_text=True))
            assert attempt.state == "in_progress" and _stored(attempt_id) == before
            return
        assert attempt.state == "finished" and attempt.score is not None
        _readable(attempt_id, _stored(attempt_id))
        fresh = attempts.start(exam, member, utcnow())
        attempts.save_answers(fresh, member, helpers.shown_right(fresh, bank), utcnow())
        current["id"] = fresh.id

    run()
