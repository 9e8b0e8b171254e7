"""Credits that cannot be inflated: one study clock per member, progress bounded by the
playback rate, completion by credited time, server-driven presence checks.

The property tests drive the real services on the real database with explicit ``now``.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from school.courses import progress, services, watching
from school.courses.models import Lesson, LessonKind, MediaStatus, WatchState
from school.credits import clock
from school.credits.models import StudyInterval, StudyLease
from school.credits.rules import CreditRules, set_rule
from school.extensions import db
from school.library import reading
from school.library.models import ReadingDay
from school.library.services import DocumentData, create_document

T0 = datetime(2026, 3, 2, 1, 0, 0)  # 09:00 in Shanghai
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def lesson_row(course, title: str, duration: float = 300.0) -> Lesson:
    lesson = Lesson(course=course, title=title, kind=LessonKind.VIDEO, position=len(course.lessons) + 1,
                    media_key="x", media_status=MediaStatus.READY, duration_seconds=duration)
    db.session.add(lesson)
    db.session.commit()
    return lesson


@pytest.fixture
def study(app, make):
    """A course of two 300-s lessons and a published document (no media needed for the services)."""
    course = services.save_course(services.CourseData(title="党课", slug="party-lessons"), None, T0)
    db.session.commit()
    first, second = lesson_row(course, "第一课"), lesson_row(course, "第二课")
    doc = create_document(DocumentData(title="中国共产党章程", category="policy", body="第一条 内容。", status="published"),
                          make.user(role="editor"), T0)
    db.session.commit()
    return first, second, doc


def assert_evidence_consistent(member_id: int, windows: dict[tuple[str, str], list[tuple[float, float]]]):
    """The member's intervals never overlap, each lies between two beats of the page it names,
    and their seconds are their lengths; returns the credited total."""
    rows = clock.intervals(member_id)
    previous_end = None
    for row in rows:
        start, end = (row.start_at - T0).total_seconds(), (row.end_at - T0).total_seconds()
        assert end > start and row.seconds == pytest.approx(end - start, abs=0.01)
        if previous_end is not None:
            assert start >= previous_end - 1e-6, "two credited intervals overlap"
        previous_end = end
        alive = sorted(windows.get((row.activity, row.tab), []))
        # [start, end] is inside the union of that page's [previous beat, beat] windows.
        reach = start
        for s, e in alive:
            if s <= reach + 1e-6 and e > reach:
                reach = e
        assert reach >= end - 1e-6, f"credited {row.activity}/{row.tab} {start}–{end} outside its beats {alive}"
    return sum(r.seconds for r in rows)


def union_length(windows) -> float:
    spans = sorted(w for ws in windows.values() for w in ws)
    total, reach = 0.0, None
    for s, e in spans:
        if reach is None or s > reach:
            total += e - s
            reach = e
        elif e > reach:
            total += e - reach
            reach = e
    return total


PAGES = [("lesson:1", "A"), ("lesson:1", "B"), ("lesson:2", "C"), ("document:3", "D"), ("document:3", "E")]
STEP = st.tuples(
    st.floats(0, 75, allow_nan=False),       # seconds since the previous step (some beyond the 60-s gap)
    st.sampled_from([0, 0, 0, 1, 2, 3, 3, 4]),  # which page (mostly the same few, so some hold the lease)
    st.sampled_from(["beat", "beat", "beat", "answer"]),
    st.booleans(),                           # active (playing / visible)
    st.booleans(),                           # takeover
    st.booleans(),                           # the activity's own rules accept the stretch
    st.one_of(st.none(), st.floats(0, 900, allow_nan=False)),  # seconds since the page's last input
)


@SETTINGS
@given(steps=st.lists(STEP, min_size=3, max_size=40), window=st.sampled_from([None, (60.0, 120.0), (30.0, 30.0)]))
def test_the_clock_never_credits_more_than_wall_clock(app, make, steps, window):
    member = make.user()
    rng = random.Random(0)
    now, last_beat, windows = 0.0, {}, {}
    for gap, page, kind, active, takeover, earned, quiet in steps:
        now += gap
        if kind == "answer":
            clock.answer_presence(member, at(now), window, rng=rng)
        else:
            activity, tab = PAGES[page]
            reading_page = activity.startswith("document")
            credit = clock.beat(member, clock.Activity(activity, activity), tab, "测试", active=active,
                                takeover=takeover, now=at(now), earned=earned, presence=window,
                                input_at=at(now - quiet) if reading_page and quiet is not None else None,
                                input_window=300.0 if reading_page else None, rng=rng)
            assert credit.seconds >= 0
            if (activity, tab) in last_beat:
                windows.setdefault((activity, tab), []).append((last_beat[(activity, tab)], now))
            last_beat[(activity, tab)] = now
        db.session.commit()
    total = assert_evidence_consistent(member.id, windows)
    assert total <= union_length(windows) + 0.01
    assert total <= now + 0.01


VIDEO_STEP = st.tuples(
    st.floats(0, 40, allow_nan=False),       # seconds since the previous step
    st.integers(0, 3),                       # 0, 1: tabs on lesson 1 and 2; 2: the document; 3: answer the prompt
    st.floats(0, 3.5, allow_nan=False),      # claimed playback speed since the page's last beat
    st.booleans(),                           # playing / visible
    st.booleans(),                           # takeover
)


@SETTINGS
@given(steps=st.lists(VIDEO_STEP, max_size=30))
def test_videos_and_reading_credit_only_what_the_clock_granted(app, make, study, steps):
    """Two lessons in two tabs and a document, any interleaving: the watch time credited to the
    lessons plus the reading seconds never exceed the wall-clock time, and no lesson moves
    faster than the highest playback rate allows."""
    first, second, doc = study
    member = make.user()
    lessons = [first, second]
    now, seqs, positions, last_at, last_doc = 0.0, [0, 0], [0.0, 0.0], [None, None], None
    windows = {}
    for gap, page, speed, active, takeover in steps:
        now = now + max(gap, 0.0)
        if page == 3:
            watching.still_here(member, first, at(now))
        elif page == 2:
            reading.record_heartbeat(member, doc, at(now), visible=active, tab="D", takeover=takeover,
                                     input_at=at(now))
            if last_doc is not None:
                windows.setdefault((f"document:{doc.id}", "D"), []).append((last_doc, now))
            last_doc = now
        else:
            if last_at[page] is not None:
                positions[page] = min(300.0, positions[page] + speed * (now - last_at[page]))
                windows.setdefault((f"lesson:{lessons[page].id}", "tab%d" % page), []).append((last_at[page], now))
            seqs[page] += 1
            last_at[page] = now
            watching.record_heartbeat(member, lessons[page], progress.Beat(
                tab="tab%d" % page, seq=seqs[page], position=positions[page], playing=active,
                sent_at=1_000_000 + now, takeover=takeover), at(now))
        db.session.commit()
    states = db.session.scalars(select(WatchState).where(WatchState.member_id == member.id)).all()
    watched = sum(s.credited_seconds for s in states)
    read = db.session.scalar(select(ReadingDay.seconds).where(ReadingDay.member_id == member.id)) or 0
    assert watched + read <= now + 0.01
    intervals_total = assert_evidence_consistent(member.id, windows)
    assert watched + read <= intervals_total + 0.01
    beats = {lesson.id: n for lesson, n in zip(lessons, seqs)}
    for s in states:  # at most 2× the credited time, plus the jitter once per run of playing
        assert s.covered_seconds <= 2.0 * s.credited_seconds + progress.JITTER_SECONDS * beats[s.lesson_id] + 0.01


# --- the scripts, through the services --------------------------------------------


def run_script(member, lesson, tab, beats, takeover=False):
    """beats: (seconds, position); playing throughout."""
    for seq, (t, position) in enumerate(beats, start=1):
        watching.record_heartbeat(member, lesson, progress.Beat(tab=tab, seq=seq, position=position, playing=True,
                                                                sent_at=1_000_000 + t, takeover=takeover), at(t))
        db.session.commit()


def test_the_reported_faster_than_playback_script_is_refused(app, make, study):
    first, _, _ = study
    member = make.user()
    run_script(member, first, "A", [(round(2.1 * i, 1), round(6.6 * i, 1)) for i in range(46)])  # to 297 s
    state = db.session.scalar(select(WatchState).where(WatchState.member_id == member.id))
    assert state.covered_seconds == 0 and state.credited_seconds == 0 and state.completed_at is None


def test_two_300s_lessons_cannot_complete_in_95_seconds(app, make, study):
    first, second, _ = study
    member = make.user()
    # One after the other, at the highest allowed rate plus the jitter, a beat every 2 s.
    run_script(member, first, "A", [(2 * i, min(300, 5.5 * i)) for i in range(24)])           # 0–46 s
    run_script(member, second, "B", [(48 + 2 * i, min(300, 5.5 * i)) for i in range(24)])     # 48–94 s
    # And in two parallel tabs, both claiming the clock on every beat.
    other = make.user()
    for i in range(48):
        for lesson, tab in ((first, "A"), (second, "B")):
            watching.record_heartbeat(other, lesson, progress.Beat(
                tab=tab, seq=i + 1, position=min(300, 4 * i), playing=True, sent_at=1_000_000 + 2 * i,
                takeover=True), at(2 * i))
            db.session.commit()
    for who in (member, other):
        states = db.session.scalars(select(WatchState).where(WatchState.member_id == who.id)).all()
        assert states and all(s.completed_at is None for s in states)
        assert sum(s.credited_seconds for s in states) <= 95
        assert sum(r.seconds for r in clock.intervals(who.id)) <= 95


def test_two_tabs_and_a_document_earn_one_timeline(app, make, study):
    """The issue's first report: two lessons in two tabs and a document open for 30 minutes."""
    first, second, doc = study
    member = make.user()
    seq = {"A": 0, "B": 0}
    for t in range(0, 1800, 10):
        for lesson, tab in ((first, "A"), (second, "B")):
            seq[tab] += 1
            watching.record_heartbeat(member, lesson, progress.Beat(
                tab=tab, seq=seq[tab], position=min(300, t / 6), playing=True, sent_at=1_000_000 + t), at(t))
        if t % 30 == 0:
            reading.record_heartbeat(member, doc, at(t), tab="D", input_at=at(t))
        db.session.commit()
    total = sum(r.seconds for r in clock.intervals(member.id))
    assert total <= 1800
    watched = sum(s.credited_seconds for s in db.session.scalars(select(WatchState)))
    read = db.session.scalar(select(ReadingDay.seconds)) or 0
    assert watched + read <= 1800


# --- presence: table-driven with explicit now ----------------------------------------------

DOC = clock.Activity("document:1", "文献")
VIDEO = clock.Activity("lesson:1", "课时")


def _steps(member, steps, window, input_window=None):
    """Run ("beat", t, active[, input_age]) / ("answer", t) / ("takeover", t, activity, tab) steps; return credits."""
    out = []
    for step in steps:
        kind, t = step[0], step[1]
        if kind == "answer":
            out.append(clock.answer_presence(member, at(t), window))
        elif kind == "takeover":
            out.append(clock.beat(member, step[2], step[3], "", active=True, takeover=True, now=at(t),
                                  presence=window, input_window=input_window))
        else:
            input_at = at(t - step[3]) if len(step) > 3 else None
            activity = DOC if input_window else VIDEO
            out.append(clock.beat(member, activity, "P", "", active=step[2], takeover=False, now=at(t),
                                  presence=window, input_at=input_at, input_window=input_window))
        db.session.commit()
    return out


def _beats(start, end, every=30):
    return [("beat", t, True) for t in range(start, end + 1, every)]


PRESENCE_CASES = {
    # name: (steps, window (s), input window (s), credited seconds, prompt flags of the last beat)
    "off: two hours of playing all count": (_beats(0, 7200), None, None, 7200, False),
    "due at 20 min, never answered: nothing after it": (_beats(0, 3600), (1200.0, 1200.0), None, 1200, True),
    "answered at 25 min: counting resumes from the answer": (
        _beats(0, 1500) + [("answer", 1500)] + _beats(1530, 1800), (1200.0, 1200.0), None, 1200 + 300, False),
    "answering early does nothing": (
        _beats(0, 600) + [("answer", 600)] + _beats(630, 1500), (1200.0, 1200.0), None, 1200, True),
    "a new page taking over keeps the due prompt": (
        _beats(0, 1230) + [("takeover", 1240, clock.Activity("lesson:2", "另一课"), "Q")], (1200.0, 1200.0), None,
        1200, True),
    "reading: no input for 10 minutes stops the credit": (
        [("beat", t, True, t) for t in range(0, 1500, 30)], None, 600.0, 600, False),
    "reading: input now and then keeps it going": (
        [("beat", t, True, t % 300) for t in range(0, 1500, 30)], None, 600.0, 1470, False),
}


@pytest.mark.parametrize("name", list(PRESENCE_CASES))
def test_presence_rules(app, make, name):
    steps, window, input_window, credited, prompt = PRESENCE_CASES[name]
    member = make.user()
    credits = _steps(member, steps, window, input_window)
    assert sum(r.seconds for r in clock.intervals(member.id)) == pytest.approx(credited, abs=0.01)
    last = [c for c in credits if isinstance(c, clock.Credit)][-1]
    assert last.presence_due == prompt


@pytest.mark.parametrize("low, high", [(1200.0, 1800.0), (60.0, 90.0)])
def test_the_prompt_falls_at_a_random_moment_in_the_window(app, make, low, high):
    dues = set()
    for seed in range(5):
        member = make.user()
        clock.beat(member, VIDEO, "P", "", active=True, takeover=True, now=T0, presence=(low, high),
                   rng=random.Random(seed))
        lease = db.session.get(StudyLease, member.id)
        offset = (lease.presence_due_at - T0).total_seconds()
        assert low <= offset <= high
        dues.add(round(offset, 3))
    assert len(dues) > 1


def test_a_rule_change_affects_only_later_prompts(app, make, study):
    """The school's window is read at each beat; a prompt already scheduled stays where it was."""
    first, _, _ = study
    member = make.user()
    set_rule("presence_min_minutes", "1", None, T0)
    set_rule("presence_max_minutes", "1", None, T0)
    db.session.commit()
    run_script(member, first, "A", [(0, 0), (30, 30)])
    set_rule("presence_min_minutes", "10", None, at(30))
    set_rule("presence_max_minutes", "10", None, at(30))
    db.session.commit()
    lease = db.session.get(StudyLease, member.id)
    assert lease.presence_due_at == at(60)
    assert watching.still_here(member, first, at(70))
    db.session.commit()
    db.session.refresh(lease)
    assert lease.presence_due_at == at(70 + 600)
    rules = CreditRules(presence_min_minutes=Decimal("0"))
    assert rules.presence_window() is None  # 0 turns the prompt off


def test_device_label_is_short():
    ua = ("Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Mobile Safari/537.36")
    assert clock.device_label(ua) == "Android 手机 · Chrome"
    assert clock.device_label("") == "未知设备"
    assert len(clock.device_label("x" * 500)) <= 60


def test_intervals_of_one_page_are_extended_not_multiplied(app, make):
    member = make.user()
    _steps(member, _beats(0, 600, every=10), None)
    rows = db.session.scalars(select(StudyInterval)).all()
    assert len(rows) == 1 and rows[0].seconds == pytest.approx(600)
