"""The attempt lifecycle with explicit times: deadlines, grace, finishing once, credit once."""
from __future__ import annotations

import contextvars
import random
import threading
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from school.credits.models import CreditEntry
from school.exams import attempts, eligibility
from school.exams.attempts import ExamError
from school.exams.models import Answer, Attempt
from school.extensions import db
from tests.exams import helpers

T0 = datetime(2026, 6, 1, 8, 0, 0)  # naive UTC, like the database
M = timedelta(minutes=1)
S = timedelta(seconds=1)

# (start, limit min, close, grace s, save at, submit at) → save accepted?, final state, finish reason
DEADLINES = [
    # plenty of time
    (T0, 30, T0 + 60 * M, 30, T0 + 10 * M, T0 + 20 * M, True, "finished", "submitted"),
    # the limit ends before the close: deadline = start + limit
    (T0, 30, T0 + 60 * M, 30, T0 + 30 * M, T0 + 30 * M + 20 * S, True, "finished", "submitted"),
    (T0, 30, T0 + 60 * M, 30, T0 + 30 * M + 30 * S, None, True, "in_progress", None),
    (T0, 30, T0 + 60 * M, 30, T0 + 30 * M + 31 * S, None, False, "finished", "overdue"),
    # the close comes first: deadline = close, even with time left on the limit
    (T0 + 50 * M, 30, T0 + 60 * M, 30, T0 + 60 * M + 20 * S, None, True, "in_progress", None),
    (T0 + 50 * M, 30, T0 + 60 * M, 30, T0 + 61 * M, None, False, "finished", "overdue"),
    # no grace at all: one second late is refused
    (T0, 10, None, 0, T0 + 10 * M + 1 * S, None, False, "finished", "overdue"),
    (T0, 10, None, 0, T0 + 10 * M, T0 + 10 * M, True, "finished", "submitted"),
    # no limit: only the close counts
    (T0, None, T0 + 120 * M, 30, T0 + 119 * M, T0 + 119 * M, True, "finished", "submitted"),
    # a submit after the grace still finishes once, as overdue, from saved answers
    (T0, 30, None, 30, T0 + 5 * M, T0 + 45 * M, True, "finished", "overdue"),
]


@pytest.mark.parametrize("start,limit,close,grace,save_at,submit_at,accepted,state,reason", DEADLINES)
def test_deadline_table(app, make, start, limit, close, grace, save_at, submit_at, accepted, state, reason):
    app.config["EXAM_GRACE_SECONDS"] = grace
    member = make.user()
    bank = make.questions()
    exam = make.exam(bank, start, limit=limit, closes_in=None)
    exam.opens_at = start - M
    exam.closes_at = close
    db.session.commit()
    attempt = attempts.start(exam, member, start, random.Random(1))
    expected_deadline = min([d for d in (start + limit * M if limit else None, close) if d])
    assert attempt.deadline_at == expected_deadline
    items = helpers.shown_right(attempt, bank)[:1]
    if accepted:
        assert attempts.save_answers(attempt, member, items, save_at).saved == [items[0]["question"]]
    else:
        with pytest.raises(ExamError):
            attempts.save_answers(attempt, member, items, save_at)
    if submit_at is not None:
        attempts.submit(attempt, member, [], submit_at)
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt.id)
    assert attempt.state == state
    assert attempt.finish_reason == reason
    saved = db.session.scalar(select(func.count()).select_from(Answer).where(Answer.attempt_id == attempt.id))
    assert saved == (1 if accepted else 0)
    if state == "finished":
        assert attempt.score == (Decimal("1.00") if accepted else Decimal("0"))
        if reason == "overdue":
            assert attempt.finished_at == attempt.deadline_at


def test_deadline_is_fixed_at_start_even_if_exam_changes(app, make):
    member = make.user()
    bank = make.questions()
    exam = make.exam(bank, T0, limit=30)
    attempt = attempts.start(exam, member, T0)
    exam.time_limit_minutes = 5
    exam.closes_at = T0 + 10 * M
    db.session.commit()
    assert attempts.start(exam, member, T0 + M).id == attempt.id
    assert attempt.deadline_at == T0 + 30 * M


def test_all_right_passes_and_credits_once_per_exam(app, make):
    member = make.user()
    bank = make.questions()
    exam = make.exam(bank, T0, shuffle_questions=True, shuffle_options=True)
    first = attempts.start(exam, member, T0, random.Random(7))
    assert sorted(item["q"] for item in first.layout) == sorted(q.id for q in bank)
    attempts.submit(first, member, helpers.shown_right(first, bank), T0 + M)
    assert first.score == Decimal("6.00") and first.passed
    second = attempts.start(exam, member, T0 + 2 * M, random.Random(8))
    attempts.submit(second, member, helpers.shown_right(second, bank), T0 + 3 * M)
    assert second.passed
    entries = db.session.scalars(select(CreditEntry).where(CreditEntry.member_id == member.id)).all()
    assert [(e.hours, e.source, e.idempotency_key) for e in entries] == [
        (Decimal("2.00"), "exam", f"exam-pass:{exam.id}:{member.id}")]
    with pytest.raises(ExamError, match="次数已用完"):
        attempts.start(exam, member, T0 + 4 * M)


def test_failing_gives_no_credit_and_default_hours_come_from_rules(app, make):
    member = make.user()
    bank = make.questions()
    exam = make.exam(bank, T0, credit_hours=None)
    attempt = attempts.start(exam, member, T0)
    attempts.submit(attempt, member, helpers.shown_right(attempt, bank)[:3], T0 + M)
    assert attempt.passed is False and attempt.score == Decimal("3.00")
    assert db.session.scalar(select(func.count()).select_from(CreditEntry)) == 0
    attempt = attempts.start(exam, member, T0 + 2 * M)
    attempts.submit(attempt, member, helpers.shown_right(attempt, bank), T0 + 3 * M)
    assert db.session.scalar(select(CreditEntry.hours)) == Decimal("1.00")  # exam_default_hours


def test_stale_resend_does_not_overwrite_newer_answer(app, make):
    member = make.user()
    bank = make.questions()
    exam = make.exam(bank, T0)
    attempt = attempts.start(exam, member, T0)
    qid = bank[3].id
    attempts.save_answers(attempt, member, [{"question": qid, "response": {"text": "新"}, "rev": 200}], T0 + M)
    attempts.save_answers(attempt, member, [{"question": qid, "response": {"text": "旧"}, "rev": 100}], T0 + 2 * M)
    db.session.expire_all()
    assert db.session.scalar(select(Answer.response).where(Answer.question_id == qid)) == {"text": "新"}


def test_finish_overdue_sweep(app, make):
    bank = make.questions()
    exam = make.exam(bank, T0, limit=10)
    late, fresh = make.user(), make.user()
    a = attempts.start(exam, late, T0)
    attempts.save_answers(a, late, helpers.shown_right(a, bank), T0 + M)
    b = attempts.start(exam, fresh, T0 + 5 * M)
    assert attempts.finish_overdue(T0 + 10 * M + 31 * S) == 1
    assert attempts.finish_overdue(T0 + 10 * M + 31 * S) == 0
    db.session.expire_all()
    assert db.session.get(Attempt, a.id).state == "finished" and db.session.get(Attempt, a.id).passed
    assert db.session.get(Attempt, b.id).state == "in_progress"


def test_refuses_outside_window_audience_and_someone_elses_attempt(app, make):
    t = make.tree()
    inside, outside = make.user(org=t["a1"]), make.user(org=t["b1"])
    bank = make.questions()
    exam = make.exam(bank, T0, audience_orgs=[t["a"]])
    with pytest.raises(ExamError, match="参考范围"):
        attempts.start(exam, outside, T0)
    with pytest.raises(ExamError, match="尚未开始"):
        attempts.start(exam, inside, T0 - 2 * timedelta(days=1))
    attempt = attempts.start(exam, inside, T0)
    with pytest.raises(ExamError, match="不是您的答卷"):
        attempts.save_answers(attempt, outside, [], T0)


def test_ten_simultaneous_submits_finish_once_and_credit_once(app, make, monkeypatch):
    winners = []
    real_finish = attempts.finish

    def counting_finish(*args, **kwargs):
        attempt, won = real_finish(*args, **kwargs)
        winners.append(won)
        return attempt, won

    monkeypatch.setattr(attempts, "finish", counting_finish)
    member = make.user()
    bank = make.questions()
    exam = make.exam(bank, T0)
    attempt = attempts.start(exam, member, T0)
    answers = helpers.shown_right(attempt, bank)
    attempt_id, member_id = attempt.id, member.id
    db.session.remove()
    barrier = threading.Barrier(10)
    outcomes, errors = [], []

    def submit():
        try:
            with app.app_context():
                mine = db.session.get(Attempt, attempt_id)
                who = mine.member
                barrier.wait()
                result = attempts.submit(mine, who, answers, T0 + M)
                outcomes.append((result.state, result.score))
                db.session.remove()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(repr(exc))

    threads = [threading.Thread(target=contextvars.Context().run, args=(submit,)) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(winners) == [False] * 9 + [True]
    assert outcomes == [("finished", Decimal("6.00"))] * 10
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(CreditEntry).where(
        CreditEntry.member_id == member_id)) == 1
    finished = db.session.scalar(select(func.count()).select_from(Attempt).where(Attempt.state == "finished"))
    assert finished == 1


def test_overdue_attempts_are_handed_in_by_the_periodic_sweep(make):
    """The in-process worker and `school jobs run` run registered sweeps; exams registers one."""
    from school import jobs
    from school.timeutil import utcnow

    member = make.user()
    started = utcnow() - timedelta(hours=2)
    attempt = attempts.start(make.exam(make.questions(), started, limit=30), member, started)
    db.session.commit()
    last_run: dict = {}
    assert "exams-finish-overdue" in jobs.run_periodic(utcnow(), last_run)
    db.session.expire_all()
    assert db.session.get(Attempt, attempt.id).state == "finished"
    assert jobs.run_periodic(utcnow(), last_run) == []  # not again within its minute


def test_every_answers_fraction_is_stored_by_one_update(app, make):
    """Grading writes the fractions of all the choice answers in one ``UPDATE … CASE``
    (``attempts._write_grades``): each stored fraction is what ``grading.score`` gives for the
    stored response, right, wrong and half right alike; unanswered questions have no row."""
    from school.exams import grading
    from school.exams.responses import to_shown
    from school.sqlcount import counting

    member = make.user()
    bank = make.questions()
    bank[1].data = dict(bank[1].data, weighted=True)  # one of the two right options: half the points
    db.session.commit()
    exam = make.exam(bank, T0, closes_in=None)
    attempt = attempts.start(exam, member, T0, random.Random(3))
    items = helpers.shown_right(attempt, bank)
    by_id = {item["q"]: item for item in attempt.layout}
    wrong = {"question": bank[0].id, "response": to_shown(by_id[bank[0].id], "single", {"choice": 0}), "rev": 1}
    half = {"question": bank[1].id, "response": to_shown(by_id[bank[1].id], "multiple", {"choices": [0]}), "rev": 1}
    given = [wrong, half] + [i for i in items if i["question"] not in (bank[0].id, bank[1].id, bank[4].id)]
    attempts.save_answers(attempt, member, given, T0 + M)
    with counting(db.engine) as counter:
        finished, changed = attempts.finish(attempt.id, T0 + 2 * M)
    assert changed
    # (On PostgreSQL the answers' UPDATE is a CTE of the attempt's: ``WITH graded AS (UPDATE …``.)
    assert sum(1 for s in counter.statements if "UPDATE EXAM_ANSWER" in s.upper()) == 1
    db.session.expire_all()
    stored = {a.question_id: a for a in db.session.scalars(select(Answer).where(Answer.attempt_id == attempt.id))}
    assert set(stored) == {i["question"] for i in given}  # the numeric question was left unanswered
    questions = {q.id: q for q in bank}
    fractions = {}
    for qid, answer in stored.items():
        expected = grading.score(questions[qid].qtype, questions[qid].data, answer.response)
        assert answer.fraction == Decimal(str(round(expected, 4))), (questions[qid].qtype, answer.fraction)
        fractions[questions[qid].qtype] = answer.fraction
    assert fractions["single"] == 0 and fractions["truefalse"] == 1 and fractions["matching"] == 1
    assert fractions["multiple"] == Decimal("0.5")
    total = sum(grading.points_for(questions[qid].points, float(a.fraction)) for qid, a in stored.items())
    assert db.session.get(Attempt, attempt.id).score == total


def test_exam_and_attempts_in_one_read_repeat_nothing_and_start_counts_them(app, make):
    """The exam page's and start's one read: joined with a two-organisation audience, each of
    the member's attempts comes once, in order, and nobody else's; the limit counts them."""
    t = make.tree()
    member, other = make.user(org=t["a1"]), make.user(org=t["b1"])
    exam = make.exam(make.questions(), T0, audience_orgs=[t["a"], t["b"]], attempts_allowed=3)
    assert eligibility.exam_and_attempts(exam.id, member) == (exam, [])
    for minute in (0, 40):
        attempts.finish(attempts.start(exam, member, T0 + minute * M).id, T0 + minute * M + S, "submitted")
    attempts.start(exam, other, T0)
    db.session.expire_all()
    read, mine = eligibility.exam_and_attempts(exam.id, member)
    assert {o.name for o in read.audience_orgs} == {t["a"].name, t["b"].name}
    assert [a.number for a in mine] == [1, 2] and {a.member_id for a in mine} == {member.id}
    third = attempts.start(read, member, T0 + 80 * M, mine=mine)
    assert third.number == 3
    attempts.finish(third.id, T0 + 81 * M, "submitted")
    with pytest.raises(ExamError, match="次数已用完"):
        attempts.start(exam, member, T0 + 90 * M, mine=eligibility.exam_and_attempts(exam.id, member)[1])
    assert eligibility.exam_and_attempts(10**6, member) == (None, [])
