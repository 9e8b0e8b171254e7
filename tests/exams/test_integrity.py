"""Integrity signals: the page's counts (page left, pastes into a written answer) are checked
strictly, only grow, and are shown to graders."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from school.accounts.models import Role
from school.exams import attempts
from school.exams.models import Answer, Attempt
from school.extensions import db
from tests.exams.test_written import _written_exam


def test_signals_are_strict_grow_only_and_shown_to_graders(client, auth, make):
    exam, choice, essay = _written_exam(make)
    member = make.user(org=make.org())
    attempt = make.attempt(exam, member)
    auth.login(member)
    url = f"/exams/attempts/{attempt.id}/answers"
    item = {"question": essay.id, "response": {"text": "这是一份足够长的答卷。"}, "rev": 5}
    for bad in ([1], {"hidden": -1}, {"hidden": True}, {"hidden": 1, "other": 2}, {"pastes": {str(choice.id): 1}},
                {"pastes": {"abc": 1}}, {"pastes": {str(essay.id): "3"}}, {"pastes": []}):
        response = client.post(url, json={"answers": [item], "signals": bad})
        assert response.status_code == 400, bad
    assert db.session.scalar(select(func.count()).select_from(Answer)) == 0
    assert client.post(url, json={"answers": [item], "signals": {"hidden": 2, "pastes": {str(essay.id): 3}}}).status_code == 200
    late = dict(item, rev=4)  # an older copy from the offline queue: lower counts do not win
    assert client.post(url, json={"answers": [late], "signals": {"hidden": 1, "pastes": {str(essay.id): 1}}}).status_code == 200
    assert db.session.scalar(select(Attempt.integrity)) == {"hidden": 2, "pastes": {str(essay.id): 3}}
    attempts.submit(db.session.get(Attempt, attempt.id), member, [], attempt.started_at)
    auth.logout()
    auth.login(make.user(role=Role.EDITOR))
    page = client.get(f"/exams/grading/{exam.id}/questions/{essay.id}").get_data(as_text=True)
    assert re.search(r"切出页面 2 次 · 本题粘贴 3 次", page)
