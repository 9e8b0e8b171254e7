"""Double marking: two graders, the mean within the margin; beyond it a third decides; the
same grader twice is one grade; a fourth is refused once the result is final."""
from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from school.accounts.models import Role
from school.exams import attempts, marking
from school.exams.errors import ExamError
from school.exams.models import Answer, Attempt, Grade
from school.extensions import db
from school.timeutil import utcnow
from tests.exams.test_written import _answer, _written_exam


def _submitted(make, exam, choice, essay, text):
    member = make.user(org=make.org())
    now = utcnow()
    attempt = make.attempt(exam, member, now)
    _answer(attempt, member, choice, essay, text, now)
    attempts.submit(attempt, member, [], now)
    return db.session.scalar(select(Answer).where(Answer.attempt_id == attempt.id, Answer.question_id == essay.id))


def test_two_graders_within_the_margin_then_a_third_beyond_it(app, make):
    exam, choice, essay = _written_exam(make, second_grader_margin=Decimal("2"))
    near = _submitted(make, exam, choice, essay, "第一份足够长的答卷。")
    far = _submitted(make, exam, choice, essay, "第二份足够长的答卷。")
    one, two, three, four = (make.user(role=Role.EDITOR) for _ in range(4))
    now = utcnow()
    assert not marking.grade(one, near, "6", "好", now).finalised
    assert not marking.grade(one, near, "6", "好", now).finalised  # the same grader again: one grade
    db.session.commit()
    assert db.session.scalar(select(Answer.fraction).where(Answer.id == near.id)) is None
    assert marking.waits_for(two, near, marking.grades_by_answer([near.id])[near.id])
    assert not marking.waits_for(one, near, marking.grades_by_answer([near.id])[near.id])
    marking.grade(two, near, "7", "", now)
    db.session.commit()
    assert db.session.get(Answer, near.id).awarded_points == Decimal("6.50")  # the mean
    marking.grade(one, far, "1", "", now)
    marking.grade(two, far, "8", "", now)  # 7 apart > 2: not final
    db.session.commit()
    assert db.session.get(Answer, far.id).fraction is None
    graded = marking.grade(three, far, "5", "第三评", now)
    db.session.commit()
    assert graded.finalised and db.session.get(Answer, far.id).awarded_points == Decimal("5.00")
    try:
        marking.grade(four, db.session.get(Answer, far.id), "8", "", now)
    except ExamError as exc:
        assert "已确定" in str(exc)
    db.session.rollback()
    assert len(db.session.scalars(select(Grade).where(Grade.answer_id == far.id)).all()) == 3
    assert not any(a.awaiting_grading for a in db.session.scalars(select(Attempt)))


def test_the_queue_gives_each_grader_the_answers_they_have_not_graded(client, auth, make):
    exam, choice, essay = _written_exam(make, second_grader_margin=Decimal("1"))
    answer = _submitted(make, exam, choice, essay, "一份足够长的答卷。")
    one, two, three = (make.user(role=Role.EDITOR) for _ in range(3))
    url = f"/exams/grading/{exam.id}/questions/{essay.id}"
    auth.login(one)
    assert "第一评" in client.get(url).get_data(as_text=True)
    client.post(f"/exams/grading/answers/{answer.id}", data={"points": "2"})
    assert "已全部评完" in client.get(url).get_data(as_text=True)  # nothing left for this grader
    auth.logout()
    auth.login(two)
    page = client.get(url).get_data(as_text=True)
    assert "已有一人评分" in page and "2.00" not in page  # independent: the first points are not shown
    client.post(f"/exams/grading/answers/{answer.id}", data={"points": "8"})
    auth.logout()
    auth.login(three)
    page = client.get(url).get_data(as_text=True)
    assert "作为第三人裁定" in page
    client.post(f"/exams/grading/answers/{answer.id}", data={"points": "6"})
    db.session.expire_all()
    assert db.session.get(Answer, answer.id).awarded_points == Decimal("6.00")


def _hint(page: str) -> str:
    return re.search(r'id="double-marking">(.*?)</p>', page, re.S).group(1)


def test_the_first_two_graders_cannot_change_their_grade_once_both_have_graded(client, auth, make):
    exam, choice, essay = _written_exam(make, second_grader_margin=Decimal("2"))
    answer = _submitted(make, exam, choice, essay, "一份足够长的答卷。")
    one, two, three = (make.user(role=Role.EDITOR) for _ in range(3))
    now = utcnow()
    marking.grade(one, answer, "1.5", "", now)
    marking.grade(two, answer, "7.25", "", now)  # 5.75 apart > 2: a third grader decides
    db.session.commit()
    for grader, points in ((one, "7"), (two, "2")):
        try:
            marking.grade(grader, db.session.get(Answer, answer.id), points, "", now)
        except ExamError as exc:
            assert "第三位阅卷人" in str(exc)
        else:
            raise AssertionError("a first grader changed their grade after the second")
        db.session.rollback()
    assert [g.points for g in db.session.scalars(select(Grade).where(Grade.answer_id == answer.id)
                                                 .order_by(Grade.id))] == [Decimal("1.50"), Decimal("7.25")]
    assert db.session.get(Answer, answer.id).fraction is None
    url = f"/exams/grading/{exam.id}/questions/{essay.id}?answer={answer.id}"
    auth.login(one)
    response = client.post(f"/exams/grading/answers/{answer.id}", data={"points": "7"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "第三位阅卷人" in page and "1.5" not in _hint(page) and "7.25" not in _hint(page)
    db.session.expire_all()
    assert db.session.get(Answer, answer.id).fraction is None
    auth.logout()
    auth.login(two)
    hint = _hint(client.get(url).get_data(as_text=True))
    assert "不显示分数" in hint and "1.5" not in hint and "7.25" not in hint
    auth.logout()
    auth.login(three)
    page = client.get(url).get_data(as_text=True)
    assert "作为第三人裁定" in page and "两评 1.5 与 7.25 分" in _hint(page)
    client.post(f"/exams/grading/answers/{answer.id}", data={"points": "6"})
    db.session.expire_all()
    assert db.session.get(Answer, answer.id).awarded_points == Decimal("6.00")
