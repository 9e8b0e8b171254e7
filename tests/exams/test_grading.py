"""Scoring each question type, table-driven."""
from decimal import Decimal

import pytest

from school.exams import grading
from school.exams.grading import correct_answer_text, normalise_text, score

SINGLE = {"options": [{"text": "甲", "weight": 0}, {"text": "乙", "weight": 100}, {"text": "丙", "weight": 50}]}
MULTI = {"options": [{"text": "甲", "weight": 100}, {"text": "乙", "weight": 100}, {"text": "丙", "weight": 0}],
         "weighted": False}
WEIGHTED = {"options": [{"text": "甲", "weight": -50}, {"text": "乙", "weight": 50}, {"text": "丙", "weight": 50}],
            "weighted": True}
FILL = {"answers": [{"text": "Party Member", "weight": 100}, {"text": "党员同志", "weight": 50}]}
NUMERIC = {"answers": [{"value": 1822, "tolerance": 0, "weight": 100}, {"value": 1822, "tolerance": 2, "weight": 50},
                       {"min": 3.141, "max": 3.142, "weight": 100}]}
MATCHING = {"pairs": [{"left": "遵义会议", "right": "1935"}, {"left": "古田会议", "right": "1929"},
                      {"left": "", "right": "1949"}]}

CASES = [
    ("single", SINGLE, {"choice": 1}, 1.0),
    ("single", SINGLE, {"choice": 2}, 0.5),
    ("single", SINGLE, {"choice": 0}, 0.0),
    ("single", SINGLE, {"choice": 7}, 0.0),
    ("single", SINGLE, None, 0.0),
    ("multiple", MULTI, {"choices": [0, 1]}, 1.0),
    ("multiple", MULTI, {"choices": [0]}, 0.0),  # all or nothing
    ("multiple", MULTI, {"choices": [0, 1, 2]}, 0.0),
    ("multiple", WEIGHTED, {"choices": [1]}, 0.5),
    ("multiple", WEIGHTED, {"choices": [1, 2]}, 1.0),
    ("multiple", WEIGHTED, {"choices": [0, 1, 2]}, 0.5),
    ("multiple", WEIGHTED, {"choices": [0]}, 0.0),  # never below zero
    ("truefalse", {"answer": True}, {"value": True}, 1.0),
    ("truefalse", {"answer": True}, {"value": False}, 0.0),
    ("truefalse", {"answer": True}, {"value": "true"}, 0.0),
    ("fill", FILL, {"text": "party member"}, 1.0),
    ("fill", FILL, {"text": "ＰＡＲＴＹ　ＭＥＭＢＥＲ"}, 1.0),  # full-width letters and space
    ("fill", FILL, {"text": " Party  Member "}, 1.0),
    ("fill", FILL, {"text": "党 员 同 志"}, 0.5),
    ("fill", FILL, {"text": "群众"}, 0.0),
    ("fill", FILL, {"text": ""}, 0.0),
    ("numeric", NUMERIC, {"value": "1822"}, 1.0),
    ("numeric", NUMERIC, {"value": "１８２３"}, 0.5),
    ("numeric", NUMERIC, {"value": "1825"}, 0.0),
    ("numeric", NUMERIC, {"value": "3.1415"}, 1.0),
    ("numeric", NUMERIC, {"value": "abc"}, 0.0),
    ("numeric", NUMERIC, {"value": "nan"}, 0.0),
    ("matching", MATCHING, {"pairs": {"0": 0, "1": 1}}, 1.0),
    ("matching", MATCHING, {"pairs": {"0": 0, "1": 2}}, 0.5),
    ("matching", MATCHING, {"pairs": {"0": 1, "1": 0}}, 0.0),
    ("matching", MATCHING, {"pairs": {"0": 99}}, 0.0),
]


@pytest.mark.parametrize("qtype,data,response,expected", CASES)
def test_score(qtype, data, response, expected):
    assert score(qtype, data, response) == pytest.approx(expected)


def test_normalise_and_answer_text():
    assert normalise_text("Ａｂ　ｃ") == "abc"
    assert correct_answer_text("multiple", MULTI) == "甲；乙"
    assert correct_answer_text("numeric", NUMERIC) == "1822；3.141 ~ 3.142"
    assert correct_answer_text("matching", MATCHING) == "遵义会议 → 1935；古田会议 → 1929"


@pytest.mark.parametrize("total, maximum, percent, passed", [
    ("60", "100", 60, True),      # exactly the pass mark
    ("59.99", "100", 60, False),
    ("3", "5", 60, True),
    ("2.99", "5", 60, False),
    ("0", "0", 0, False),         # a paper worth nothing never passes, even at 0 %
    ("0", None, 60, False),
    ("100", "100", 100, True),
])
def test_pass_mark(total, maximum, percent, passed):
    assert grading.passes(Decimal(total), Decimal(maximum) if maximum else maximum, percent) is passed
