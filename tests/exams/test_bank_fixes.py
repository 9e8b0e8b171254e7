"""The question bank: the heading counts the questions; a question in use is not deleted, the exam is named."""
from __future__ import annotations

from sqlalchemy import func, select

from school.accounts.models import Role
from school.exams import bank
from school.exams.models import Exam, Question
from school.extensions import db


def test_heading_counts_every_question(client, auth, make):
    questions = make.questions() + make.questions()
    auth.login(make.user(role=Role.EDITOR))
    page = client.get("/exams/bank").get_data(as_text=True)
    assert f"共 {len(questions)} 道" in page
    assert "共 2 道" in client.get("/exams/bank?type=single").get_data(as_text=True)


def test_question_in_use_is_refused_with_the_exam_named(client, auth, make):
    used, drawn, answered, free = make.questions()[:4]
    make.exam([used], title="党章考试")
    # A drawn paper holds ``drawn`` only in an attempt's layout; ``answered`` has an answer row.
    draw_exam = make.exam([drawn, answered], title="抽题考试")
    member = make.user(org=make.org())
    attempt = make.attempt(draw_exam, member)
    draw_exam.selection = {"draw": [{"category_id": None, "difficulty": None, "count": 1}]}
    db.session.commit()
    from school.exams import attempts
    attempts.save_answers(attempt, member, [{"question": answered.id, "response": {"value": True}, "rev": 1}],
                          attempt.started_at)
    auth.login(make.user(role=Role.EDITOR))
    for question, title in ((used, "党章考试"), (drawn, "抽题考试"), (answered, "抽题考试")):
        response = client.post(f"/exams/bank/questions/{question.id}/delete")
        assert response.status_code == 303
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert f"“{title}”" in page and "不能删除" in page
        assert db.session.get(Question, question.id) is not None
        assert bank.delete_refusal(question) is not None
    free_id = free.id
    response = client.post(f"/exams/bank/questions/{free_id}/delete")
    assert response.status_code == 302 and "已删除" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Question).where(Question.id == free_id)) == 0
    assert db.session.scalar(select(func.count()).select_from(Exam)) == 2
