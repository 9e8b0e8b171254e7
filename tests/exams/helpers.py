"""The right answers to the factory's standard bank (``make.questions()``), in the shown order."""
from __future__ import annotations

# The right answer to each question of ``Factory.questions``, in its own terms (identity layout).
RIGHT = [
    {"choice": 1}, {"choices": [0, 1]}, {"value": True}, {"text": " 人 民 "}, {"value": "2012"},
    {"pairs": {"0": 0, "1": 1}},
]


def shown_right(attempt, bank):
    """The right answers translated into the order the attempt shows them."""
    from school.exams.responses import to_shown

    by_id = {q.id: (q, RIGHT[i]) for i, q in enumerate(bank)}
    items = []
    for item in attempt.layout:
        question, right = by_id[item["q"]]
        items.append({"question": question.id, "response": to_shown(item, question.qtype, right), "rev": 1})
    return items
