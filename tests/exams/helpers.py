"""Small builders for exam tests: a question of each type and a published exam over them."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from school.exams.models import Exam, Question
from school.extensions import db


def questions() -> list[Question]:
    bank = [
        Question(qtype="single", stem="中国共产党成立于哪一年？", explanation="1921 年 7 月。",
                 data={"options": [{"text": "1919", "weight": 0}, {"text": "1921", "weight": 100},
                                   {"text": "1949", "weight": 0}]}),
        Question(qtype="multiple", stem="下列哪些是“四个意识”？",
                 data={"options": [{"text": "政治意识", "weight": 50}, {"text": "大局意识", "weight": 50},
                                   {"text": "市场意识", "weight": 0}], "weighted": False}),
        Question(qtype="truefalse", stem="党的最高理想是实现共产主义。", data={"answer": True}),
        Question(qtype="fill", stem="党的根本宗旨是全心全意为____服务。",
                 data={"answers": [{"text": "人民", "weight": 100}, {"text": "人民群众", "weight": 100}]}),
        Question(qtype="numeric", stem="党的十八大在哪一年召开？", data={"answers": [{"value": 2012, "tolerance": 0, "weight": 100}]}),
        Question(qtype="matching", stem="将会议与年份配对。",
                 data={"pairs": [{"left": "遵义会议", "right": "1935"}, {"left": "古田会议", "right": "1929"}]}),
    ]
    db.session.add_all(bank)
    db.session.commit()
    return bank


# The right answer for each question above, in the questions' own terms (identity layout).
RIGHT = [
    {"choice": 1}, {"choices": [0, 1]}, {"value": True}, {"text": " 人 民 "}, {"value": "2012"},
    {"pairs": {"0": 0, "1": 1}},
]


def exam(bank: list[Question], now: datetime, limit=30, closes_in=timedelta(days=7), **fields) -> Exam:
    exam = Exam(title=fields.pop("title", "党章知识测试"), opens_at=now - timedelta(days=1),
                closes_at=now + closes_in if closes_in is not None else None, time_limit_minutes=limit,
                attempts_allowed=fields.pop("attempts_allowed", 2), pass_percent=60, published=True,
                selection={"fixed": [q.id for q in bank]}, credit_hours=fields.pop("credit_hours", Decimal("2")),
                **fields)
    db.session.add(exam)
    db.session.commit()
    return exam


def shown_right(attempt, bank):
    """The right answers translated into the order the attempt shows them."""
    from school.exams.responses import to_shown

    by_id = {q.id: (q, RIGHT[i]) for i, q in enumerate(bank)}
    items = []
    for item in attempt.layout:
        question, right = by_id[item["q"]]
        items.append({"question": question.id, "response": to_shown(item, question.qtype, right), "rev": 1})
    return items
