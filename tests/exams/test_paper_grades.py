"""``paper_grades.grade_paper``: what a finished paper's grading writes, from the questions and
the saved responses alone (both hand-in paths write exactly this)."""
from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from school.exams.paper_grades import grade_paper

SINGLE = SimpleNamespace(qtype="single", points=Decimal("2"),
                         data={"options": [{"text": "1919", "weight": 0}, {"text": "1921", "weight": 100}]})
MULTIPLE = SimpleNamespace(qtype="multiple", points=Decimal("4"),
                           data={"weighted": True, "options": [{"text": "甲", "weight": 50}, {"text": "乙", "weight": 50},
                                             {"text": "丙", "weight": -100}]})
ESSAY = SimpleNamespace(qtype="essay", points=Decimal("4"), data={"min_length": 5})
QUESTIONS = {1: SINGLE, 2: MULTIPLE, 3: ESSAY}
IDS = [1, 2, 3]
RIGHT = {1: {"choice": 1}, 2: {"choices": [0, 1]}}


@pytest.mark.parametrize("responses, pass_percent, score, fractions, awarded, comments, passed, awaiting", [
    # Nothing saved: nothing to write for the answers, 0 of 10, failed.
    ({}, 60, 0, {}, {}, {}, False, False),
    # Both choices right, the essay left empty: graded 0 with no comment, 6 of 10 passes at 60 %.
    (RIGHT | {3: {"text": "   "}}, 60, 6, {1: 1, 2: 1, 3: 0}, {3: 0}, {}, True, False),
    # ... and fails at 70 %.
    (RIGHT | {3: {"text": ""}}, 70, 6, {1: 1, 2: 1, 3: 0}, {3: 0}, {}, False, False),
    # An essay shorter than min_length: 0, the reason as the comment.
    (RIGHT | {3: {"text": "太短"}}, 60, 6, {1: 1, 2: 1, 3: 0}, {3: 0}, {3: "字数不足：2 字，至少应写 5 字，按 0 分计"},
     True, False),
    # Long enough: waits for a grader, no verdict yet (so no credit), the score provisional.
    (RIGHT | {3: {"text": "五个字以上的回答"}}, 60, 6, {1: 1, 2: 1, 3: None}, {3: None}, {}, None, True),
    # A saved null (cleared) answer scores nothing; a wrong option's negative weight cancels a right one.
    ({1: None, 2: {"choices": [0, 2]}}, 60, 0, {1: 0, 2: 0}, {}, {}, False, False),
    # Half of a weighted multiple: half its points.
    ({2: {"choices": [0]}}, 10, 2, {2: Decimal("0.5")}, {}, {}, True, False),
])
def test_grade_paper(responses, pass_percent, score, fractions, awarded, comments, passed, awaiting):
    grades = grade_paper(IDS, QUESTIONS, responses, pass_percent)
    assert grades.attempt == {"score": score, "max_score": 10, "awaiting_grading": awaiting, "passed": passed}
    assert grades.fractions == fractions and grades.awarded == awarded and grades.comments == comments


def test_a_paper_worth_nothing_never_passes():
    free = SimpleNamespace(qtype="single", points=Decimal("0"), data=SINGLE.data)
    assert grade_paper([1], {1: free}, {1: {"choice": 1}}, 0).attempt["passed"] is False


def test_a_question_missing_from_the_paper_is_an_error_not_a_free_pass():
    with pytest.raises(KeyError):
        grade_paper([1, 9], QUESTIONS, RIGHT, 60)
