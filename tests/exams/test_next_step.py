"""After the result: 再考一次（还剩 N 次） while attempts remain, else the course or the record."""
from __future__ import annotations

from school.exams import attempts
from school.extensions import db
from school.timeutil import utcnow


def _result(client, attempt_id):
    return client.get(f"/exams/attempts/{attempt_id}/result").get_data(as_text=True)


def test_retry_while_attempts_remain_then_the_course(client, auth, make):
    bank = make.questions()
    exam = make.exam(bank, attempts_allowed=3)
    member = make.user(org=make.org())
    auth.login(member)
    now = utcnow()
    first = attempts.submit(make.attempt(exam, member, now), member, [], now)
    page = _result(client, first.id)
    assert "再考一次（还剩 2 次）" in page and f'action="/exams/{exam.id}/start"' in page
    second = attempts.submit(make.attempt(exam, member, now), member, [], now)
    assert "再考一次（还剩 1 次）" in _result(client, second.id)
    third = attempts.submit(make.attempt(exam, member, now), member, [], now)
    page = _result(client, third.id)
    assert "再考一次" not in page and "查看我的学时" in page and "返回课程" not in page
    exam.course_id = 77
    db.session.commit()
    assert 'href="/courses/77"' in _result(client, third.id)


def test_unlimited_attempts_say_no_count(client, auth, make):
    exam = make.exam(make.questions(), attempts_allowed=0)
    member = make.user(org=make.org())
    auth.login(member)
    now = utcnow()
    attempt = attempts.submit(make.attempt(exam, member, now), member, [], now)
    page = _result(client, attempt.id)
    assert "再考一次" in page and "还剩" not in page
