"""Review never hands out the answers: while a member still has an attempt left, nothing
they can reach shows a correct answer or an explanation, whatever the exam's review
setting; after the last attempt, or once the exam has closed, the setting applies."""
from __future__ import annotations

import re
from datetime import timedelta

from school.accounts.models import Role
from school.extensions import db
from school.timeutil import utcnow

# The explanation, per-option feedback, the label, and right answers the member never gave.
SECRETS = ["解析之秘", "反馈之秘", "正确答案：", "人民群众", "2012", "遵义会议 → 1935", "政治意识；大局意识"]


def _bank(make):
    bank = make.questions()
    bank[0].explanation = "解析之秘：1921 年"
    bank[0].data = {"options": [{"text": "1919", "weight": 0, "feedback": "反馈之秘一"},
                                {"text": "1921", "weight": 100, "feedback": "反馈之秘二"}]}
    db.session.commit()
    return bank


def _leaks(body: str) -> list[str]:
    found = []
    for secret in SECRETS:
        pattern = rf"(?<!\d){re.escape(secret)}(?!\d)" if secret.isdigit() else re.escape(secret)
        if re.search(pattern, body):
            found.append(secret)
    return found


def _attempt_id(response) -> int:
    return int(re.search(r"/exams/attempts/(\d+)", response.headers["Location"]).group(1))


def _take(client, exam_id: int) -> int:
    """Start, give one wrong answer (the truefalse: 错误), hand in."""
    attempt_id = _attempt_id(client.post(f"/exams/{exam_id}/start"))
    page = client.get(f"/exams/attempts/{attempt_id}").get_data(as_text=True)
    tf = re.search(r'data-qid="(\d+)" data-qtype="truefalse"', page).group(1)
    assert client.post(f"/exams/attempts/{attempt_id}/submit", data={f"q{tf}": "false"}).status_code == 302
    return attempt_id


def _everything_reachable(client, exam_id: int, attempt_ids: list[int]) -> str:
    bodies = [client.get("/exams/"), client.get(f"/exams/{exam_id}"), client.get("/")]
    for attempt_id in attempt_ids:
        bodies += [client.get(f"/exams/attempts/{attempt_id}/result"), client.get(f"/exams/attempts/{attempt_id}"),
                   client.post(f"/exams/attempts/{attempt_id}/answers", json={"answers": []})]
    return "\n".join(b.get_data(as_text=True) for b in bodies)


def test_attempts_left_score_but_no_answers_until_the_last_attempt(client, auth, make):
    member = make.user()
    bank = _bank(make)
    exam = make.exam(bank, utcnow(), attempts_allowed=2, review="after_submit", review_answers=True)
    auth.login(member)
    first = _take(client, exam.id)
    result = client.get(f"/exams/attempts/{first}/result").get_data(as_text=True)
    assert 'id="score">0</strong> / 6' in result and "答题情况" in result  # score and own answers: yes
    assert "您还有作答机会" in result
    assert _leaks(_everything_reachable(client, exam.id, [first])) == []

    # The second (last) attempt in progress: the first one's review still hides them.
    second = _attempt_id(client.post(f"/exams/{exam.id}/start"))
    assert _leaks(client.get(f"/exams/attempts/{first}/result").get_data(as_text=True)) == []

    client.post(f"/exams/attempts/{second}/submit", data={})
    for attempt_id in (first, second):  # no attempt left: the exam's setting applies again
        result = client.get(f"/exams/attempts/{attempt_id}/result").get_data(as_text=True)
        assert "正确答案：" in result and "解析之秘" in result and "您还有作答机会" not in result


def test_a_closed_exam_shows_answers_per_its_setting_even_with_attempts_left(client, auth, make):
    member = make.user()
    bank = _bank(make)
    exam = make.exam(bank, utcnow(), attempts_allowed=3, review="after_close", review_answers=True)
    auth.login(member)
    first = _take(client, exam.id)
    assert _leaks(_everything_reachable(client, exam.id, [first])) == []
    exam.closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    result = client.get(f"/exams/attempts/{first}/result").get_data(as_text=True)
    assert "正确答案：" in result and "解析之秘" in result


def test_unlimited_attempts_never_show_answers_while_open(client, auth, make):
    member = make.user()
    bank = _bank(make)
    exam = make.exam(bank, utcnow(), attempts_allowed=0, review="after_submit", review_answers=True)
    auth.login(member)
    attempt_ids = [_take(client, exam.id) for _ in range(3)]
    assert _leaks(_everything_reachable(client, exam.id, attempt_ids)) == []


def test_the_exam_form_says_so(client, auth, make):
    auth.login(make.user(role=Role.EDITOR))
    page = client.get("/exams/manage/new").get_data(as_text=True)
    assert "党员还有作答次数时，只显示得分和自己的答案" in page
