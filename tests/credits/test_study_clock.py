"""The study clock's edges: which tab ids a heartbeat may carry, a presence prompt that
survives a takeover, and one lock of the member's lease per beat.

Real services on the real database (SQLite, or PostgreSQL with SCHOOL_TEST_DATABASE_URL),
explicit ``now``. The broader rules are in tests/security/test_study_clock.py.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from sqlalchemy import event

from school.courses import progress, watching
from school.credits import clock
from school.credits.models import StudyLease
from school.extensions import db
from school.library import reading

T0 = datetime(2026, 3, 2, 1, 0, 0)  # 09:00 in Shanghai


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- tab ids ---------------------------------------------------------------------------------

BAD_TABS = {"10 000 characters": "t" * 10_000, "empty": "", "a slash": "tab/../1", "41 characters": "t" * 41,
            "a space": "tab 1", "not text": 12345, "null": None}
GOOD_TABS = ["e0e4b05c-e922-4448-8d95-a3a75c479d7f", "17330000000000a1b2c3d4e5f6", "t" * 40, "reader"]


@pytest.mark.parametrize("name", list(BAD_TABS))
def test_a_malformed_tab_id_is_refused(name):
    assert clock.tab_id(BAD_TABS[name]) is None


@pytest.mark.parametrize("tab", GOOD_TABS)
def test_the_pages_own_tab_ids_pass(tab):
    assert clock.tab_id(tab) == tab


@pytest.fixture
def pages(app, client, auth, make):
    """A member logged in, a ready video lesson and a published document."""
    member = make.user()
    lesson = make.video_lesson(make.course())
    doc = make.document("学习材料", "第一条 内容。")
    auth.login(member)
    return member, lesson, doc


def _lesson_beat(client, lesson, tab):
    return client.post(f"/courses/lessons/{lesson.id}/heartbeat",
                       json={"tab": tab, "seq": 1, "position": 0, "playing": True, "sent_at": 1_000_000})


def _reading_beat(client, doc, **fields):
    return client.post(f"/library/doc/{doc.id}/heartbeat", json={"visible": True, **fields})


@pytest.mark.parametrize("name", ["10 000 characters", "empty", "a slash", "not text", "null"])
def test_heartbeats_with_a_malformed_tab_id_are_a_chinese_400(pages, client, name):
    member, lesson, doc = pages
    for response in (_lesson_beat(client, lesson, BAD_TABS[name]), _reading_beat(client, doc, tab=BAD_TABS[name])):
        assert response.status_code == 400
        assert response.get_json() == {"error": "页面标识不正确，请刷新页面后重试。"}
    db.session.expire_all()
    assert db.session.get(StudyLease, member.id) is None  # refused before the clock was asked


def test_heartbeats_with_the_pages_tab_ids_are_answered(pages, client):
    member, lesson, doc = pages
    tab = str(uuid.uuid4())
    response = _lesson_beat(client, lesson, tab)
    assert response.status_code == 200 and response.get_json()["accepted"]
    db.session.expire_all()
    assert db.session.get(StudyLease, member.id).tab == tab
    other = str(uuid.uuid4())
    assert _reading_beat(client, doc, tab=other, takeover=True).status_code == 200
    db.session.expire_all()
    assert db.session.get(StudyLease, member.id).tab == other
    assert _reading_beat(client, doc).status_code == 200  # an old page that names no tab: "reader"


def test_the_clock_itself_refuses_a_malformed_tab_id(app, make):
    member = make.user()
    for tab in ("", "t" * 41, "a/b", "t" * 10_000):
        credit = clock.beat(member, clock.Activity("lesson:1", "课"), tab, "", active=True, takeover=True, now=T0)
        assert credit.reason == "invalid" and credit.seconds == 0


# --- a presence prompt survives a takeover ---------------------------------------------------

WINDOW = (1200.0, 1200.0)  # the prompt falls 20 minutes into a session
LESSON = (clock.Activity("lesson:1", "第一课"), "L", WINDOW)
OTHER_LESSON = (clock.Activity("lesson:2", "第二课"), "M", WINDOW)
NO_PROMPT_DOC = (clock.Activity("document:1", "文献"), "D", None)  # a page whose prompts are off
PAGES = {"L": LESSON, "M": OTHER_LESSON, "D": NO_PROMPT_DOC}


def beats(page, start, end, every=30, active=True):
    return [("beat", t, page, active, False) for t in range(start, end + 1, every)]


def take(page, t, active=True):
    return [("beat", t, page, active, True)]


TAKEOVER_CASES = {
    # name: (steps, prompt due at (s, kept from the first session), credited seconds, answers,
    #        the last beat says the prompt is due)
    "due, another lesson's tab takes over": (
        beats("L", 0, 1230) + take("M", 1240) + beats("M", 1270, 1330), 1200, 1200, 0, True),
    "pending, another lesson's tab takes over": (
        beats("L", 0, 600) + take("M", 610) + beats("M", 640, 1500), 1200, 600 + 590, 0, True),
    "due, the holder paused, another page starts without asking": (
        beats("L", 0, 1230) + beats("L", 1240, 1240, active=False) + beats("M", 1250, 1310), 1200, 1200, 0, True),
    "due, a page with prompts off takes over, then the lesson takes it back": (
        beats("L", 0, 1230) + take("D", 1240) + beats("D", 1270, 1300) + take("L", 1310) + beats("L", 1340, 1400),
        1200, 1200 + 60, 0, True),
    "pending, a page with prompts off takes over, then the lesson takes it back": (
        beats("L", 0, 600) + take("D", 610) + beats("D", 640, 880) + take("L", 910) + beats("L", 940, 1480),
        1200, 600 + 270 + 290, 0, True),
    "answered, the next one pending, through a page with prompts off and back": (
        beats("L", 0, 1230) + [("answer", 1235)] + beats("L", 1260, 1290) + take("D", 1300) + beats("D", 1330, 1330)
        + take("L", 1340) + beats("L", 1370, 1400), 1235 + 1200, 1200 + 55 + 30 + 60, 1, False),
}


@pytest.mark.parametrize("name", list(TAKEOVER_CASES))
def test_a_takeover_keeps_the_presence_prompt(app, make, name):
    steps, due_at, credited, answers, due_now = TAKEOVER_CASES[name]
    member = make.user()
    credits = []
    for step in steps:
        if step[0] == "answer":
            assert clock.answer_presence(member, at(step[1]), WINDOW)
        else:
            _, t, page, active, takeover = step
            activity, tab, window = PAGES[page]
            credits.append(clock.beat(member, activity, tab, "", active=active, takeover=takeover, now=at(t),
                                      presence=window))
        db.session.commit()
    lease = db.session.get(StudyLease, member.id)
    assert lease.presence_due_at == at(due_at)
    assert lease.presence_answers == answers
    assert sum(r.seconds for r in clock.intervals(member.id)) == pytest.approx(credited, abs=0.01)
    assert credits[-1].presence_due == due_now


SILENCE_CASES = {
    # name: (the prompt's state when the member falls silent at 1230, silence in s,
    #         the first beat after it says the prompt is due)
    "due and unanswered, back after a minute": (1230, 61, True),
    "due and unanswered, back the next day": (1230, 86400, True),
    "pending, back before it falls due": (600, 61, False),
    "pending, the silence outlasts it": (600, 900, True),
}


@pytest.mark.parametrize("name", list(SILENCE_CASES))
def test_a_silence_does_not_move_the_prompt(app, make, name):
    """A silence past the gap starts a new study session, but the prompt keeps its moment: a
    script quiet for a minute before each prompt could fall due would otherwise never see one.
    A due prompt earns nothing until it is answered; then credit resumes."""
    silent_at, silence, due_on_return = SILENCE_CASES[name]
    member = make.user()
    activity, tab, window = LESSON
    for t in range(0, silent_at + 1, 30):
        clock.beat(member, activity, tab, "", active=True, takeover=False, now=at(t), presence=window)
    back = silent_at + silence
    other, other_tab, _ = OTHER_LESSON
    credit = clock.beat(member, other, other_tab, "", active=True, takeover=True, now=at(back), presence=window)
    assert credit.reason == "started" and credit.presence_due is due_on_return
    assert db.session.get(StudyLease, member.id).presence_due_at == at(1200)
    credit = clock.beat(member, other, other_tab, "", active=True, takeover=False, now=at(back + 30), presence=window)
    assert credit.seconds == (0 if due_on_return else 30)
    if due_on_return:
        assert clock.answer_presence(member, at(back + 40), window)
        credit = clock.beat(member, other, other_tab, "", active=True, takeover=False, now=at(back + 70),
                            presence=window)
        assert credit.seconds == pytest.approx(30) and not credit.presence_due


# --- one lock per beat -----------------------------------------------------------------------


class LeaseStatements:
    """The SQL statements a block sends about the study_lease table (a real listener, no mock)."""

    def __init__(self):
        self.statements: list[str] = []

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany):
        if "study_lease" in statement:
            self.statements.append(" ".join(statement.split()).upper())

    @property
    def locks(self) -> int:  # the upsert is the lock (hold)
        return sum(1 for s in self.statements if s.startswith("INSERT INTO STUDY_LEASE"))

    @property
    def reads(self) -> int:
        return sum(1 for s in self.statements if s.startswith("SELECT"))


def test_a_lesson_heartbeat_locks_the_lease_once(app, make):
    member = make.user()
    lesson = make.video_lesson(make.course(), duration=300)
    for seq in range(1, 5):
        t = 5 * (seq - 1)
        with LeaseStatements() as seen:
            result = watching.record_heartbeat(member, lesson, progress.Beat(
                tab="A", seq=seq, position=t, playing=True, sent_at=1_000_000 + t), at(t))
            db.session.commit()
        assert (seen.locks, seen.reads) == (1, 1), seen.statements
    assert result.outcome.accepted and result.state.credited_seconds == pytest.approx(15)


def test_a_reading_heartbeat_locks_the_lease_once(app, make):
    member = make.user()
    doc = make.document("学习材料", "第一条 内容。")
    for t in (0, 30):
        with LeaseStatements() as seen:
            reading.record_heartbeat(member, doc, at(t), tab="R", takeover=t == 0, input_at=at(t))
            db.session.commit()
        assert (seen.locks, seen.reads) == (1, 1), seen.statements


def test_a_lease_handed_in_must_be_the_members(app, make):
    member, other = make.user(), make.user()
    lease = clock.hold(other.id, T0)
    with pytest.raises(ValueError):
        clock.beat(member, clock.Activity("lesson:1", "课"), "A", "", active=True, takeover=True, now=T0, lease=lease)
    db.session.rollback()
