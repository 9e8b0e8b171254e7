"""The right answers to the factory's standard bank (``make.questions()``), in the shown order,
and the ways a login session stops being valid."""
from __future__ import annotations

import re
from datetime import timedelta

from flask import current_app

from school.accounts.models import AuthSession, User
from school.exams.models import Attempt
from school.extensions import db
from school.timeutil import utcnow

# The right answer to each question of ``Factory.questions``, in its own terms (identity layout).
RIGHT = [
    {"choice": 1}, {"choices": [0, 1]}, {"value": True}, {"text": " 人 民 "}, {"value": "2012"},
    {"pairs": {"0": 0, "1": 1}},
]


def start_through_views(client, auth, make):
    """A member of a branch logged in, an exam over the standard bank, and an attempt started
    through the site: (member, attempt id, the right answers in shown order, CSRF token)."""
    member = make.user(org=make.tree()["a1"])
    bank = make.questions()
    exam = make.exam(bank, utcnow())
    auth.login(member)
    token = client.token()
    attempt_id = start_by_view(client, exam.id, token)
    return member, attempt_id, shown_right(db.session.get(Attempt, attempt_id), bank), token


def start_by_view(client, exam_id: int, token: str) -> int:
    """Start ``exam_id`` as the logged-in member through the site; the new attempt's id."""
    started = client.client.post(f"/exams/{exam_id}/start", data={"csrf_token": token})
    return int(re.search(r"/attempts/(\d+)", started.headers["Location"]).group(1))


def shown_right(attempt, bank):
    """The right answers translated into the order the attempt shows them."""
    from school.exams.responses import to_shown

    by_id = {q.id: (q, RIGHT[i]) for i, q in enumerate(bank)}
    items = []
    for item in attempt.layout:
        question, right = by_id[item["q"]]
        items.append({"question": question.id, "response": to_shown(item, question.qtype, right), "rev": 1})
    return items



# Ways a signed-in browser stops being signed in (or must change its password first), for the
# tests of statements that check the login session themselves: they must refuse what the login
# checks refuse. Each: (change(member_id), where a form post is sent, a JSON call's status).
def _session_ended(member_id):  # logged out in another tab, or every session revoked
    db.session.execute(AuthSession.__table__.delete().where(AuthSession.user_id == member_id))


def _session_expired(member_id):
    lifetime = timedelta(seconds=current_app.config["PERMANENT_SESSION_LIFETIME"])
    db.session.execute(AuthSession.__table__.update().where(AuthSession.user_id == member_id)
                       .values(created_at=utcnow() - lifetime - timedelta(minutes=1)))


def _account_disabled(member_id):
    db.session.get(User, member_id).active = False


def _password_reset_by_admin(member_id):
    db.session.get(User, member_id).must_change_password = True


SESSION_BREAKERS = [
    (_session_ended, "/login", 302),
    (_session_expired, "/login", 302),
    (_account_disabled, "/login", 302),
    (_password_reset_by_admin, "/account/password", 403),  # a script is told to change it first
]
