"""Every JSON endpoint of courses, fed hypothesis-generated bodies: the video heartbeat,
"still here", and the editors' chunked upload (start, chunk, state, finish). Whatever
arrives, the answer is never a 500: a 4xx carries a Chinese message, and a partial upload's
stored bytes and offset are unchanged by junk — a valid upload resumed afterwards still
completes and transcodes."""
from __future__ import annotations

import json
import re
import string

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from school import jobs
from school.accounts.models import Role
from school.courses import media
from school.courses.models import Lesson, MediaStatus, Upload
from school.extensions import db

FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
CHINESE = re.compile(r"[\u4e00-\u9fff]")

NASTY = st.sampled_from([
    None, True, False, 0, -1, 1, 2**31, 2**63, 10**30, 10**400, -10**400, 0.5, 1e308, -1e308,
    float("inf"), float("-inf"), float("nan"), "", " ", "0", "1e400", "nan", "inf", "-1", "１２",
    "\x00", "a\x00b", "\ud800", "tab\udfff", "一二三", "x" * 5000, [], {}, [1, 2], {"a": 1},
])
SCALARS = NASTY | st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=60)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def bodies(keys: list[str]):
    """Mostly objects with the endpoint's own keys set to anything, sometimes anything at all."""
    shaped = st.fixed_dictionaries({}, optional={k: VALUES for k in keys})
    return st.one_of(shaped, shaped, VALUES)


def encode(body) -> bytes:
    """JSON as a browser could send it; NaN/Infinity and lone surrogates (\\udXXX escapes) included."""
    return json.dumps(body).encode()


RAW = st.one_of(st.binary(max_size=200), st.sampled_from([
    b"", b"{", b"[" * 100_000, b"{\"a\":" * 50_000, b"\xff\xfe", b"null", b"1e999999", b"\"\\ud800\"",
    b"{\"seq\": 1" + b"0" * 5000 + b"}",
]))


def assert_answer(response, allowed=(200, 400, 403, 404, 409, 413)):
    assert response.status_code != 500 and response.status_code in allowed, response.get_data(as_text=True)[:500]
    if 400 <= response.status_code < 500:
        if response.is_json:
            assert CHINESE.search(response.get_json()["error"]), response.get_json()
        else:
            assert CHINESE.search(response.get_data(as_text=True))


def post_raw(client, url, token, data: bytes, content_type="application/json"):
    return client.post(url, data=data, csrf=False, headers={"X-CSRFToken": token, "Content-Type": content_type,
                                                            "Accept": "application/json"})


# --- heartbeat and still-here -------------------------------------------------------------


@pytest.fixture
def watcher(app, client, auth, make, courses):
    lesson = courses.video_lesson(courses.course())
    auth.login(make.user())
    return lesson.id, client.token()


HEARTBEAT_KEYS = ["tab", "seq", "position", "playing", "sent_at", "rate"]


@FUZZ
@given(body=bodies(HEARTBEAT_KEYS))
@example(body=[1, 2])
@example(body="tab")
@example(body={"tab": "t", "seq": 10**400, "position": 0, "playing": True, "sent_at": 1})
@example(body={"tab": "t", "seq": 2**31, "position": 0, "playing": True, "sent_at": 1})
@example(body={"tab": "t", "seq": 1, "position": 10**400, "playing": True, "sent_at": 1})
@example(body={"tab": "t", "seq": 1, "position": 0, "playing": True, "sent_at": float("inf")})
@example(body={"tab": "t\x00", "seq": 1, "position": 0, "playing": True, "sent_at": 1})
@example(body={"tab": "\ud800", "seq": 1, "position": 0, "playing": True, "sent_at": 1})
def test_heartbeat_never_500(client, watcher, body):
    lesson_id, token = watcher
    response = post_raw(client, f"/courses/lessons/{lesson_id}/heartbeat", token, encode(body))
    assert_answer(response, allowed=(200, 400, 409))
    if not isinstance(body, dict) or not {"seq", "position", "sent_at"} <= body.keys():
        assert response.status_code == 400  # not a heartbeat at all


@FUZZ
@given(data=RAW, content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded",
                                                "multipart/form-data", "text/plain", "multipart/form-data; boundary=x"]))
def test_heartbeat_raw_bytes_never_500(client, watcher, data, content_type):
    lesson_id, token = watcher
    assert_answer(post_raw(client, f"/courses/lessons/{lesson_id}/heartbeat", token, data, content_type),
                  allowed=(200, 400, 409))


@FUZZ
@given(body=bodies(["ok", "tab"]), raw=RAW)
def test_still_here_never_500(client, watcher, body, raw):
    lesson_id, token = watcher
    assert_answer(post_raw(client, f"/courses/lessons/{lesson_id}/still-here", token, encode(body)))
    assert_answer(post_raw(client, f"/courses/lessons/{lesson_id}/still-here", token, raw))


# --- chunked upload -----------------------------------------------------------------------


@pytest.fixture
def partial(app, client, auth, make, courses, clips):
    """An editor's valid upload of the 8-s clip, with its first 20 000 bytes received."""
    auth.login(make.user(role=Role.EDITOR))
    course = courses.course()
    data = clips["small"].read_bytes()
    token = client.token()
    start = client.post(f"/courses/manage/{course.id}/uploads", json={"filename": "采茶.mp4", "size": len(data),
                                                                      "title": "采茶技术"})
    upload = start.get_json()["token"]
    first = client.post(f"/courses/manage/uploads/{upload}/chunk?offset=0", data=data[:20_000], csrf=False,
                        headers={"X-CSRFToken": token, "Content-Type": "application/octet-stream"})
    assert first.status_code == 200
    return course.id, upload, data, token


def stored(upload: str) -> tuple[int, bytes]:
    db.session.expire_all()
    row = db.session.query(Upload).filter_by(token=upload).one()
    return row.received, (media.media_root() / "uploads" / f"{upload}.part").read_bytes()


def resume_and_finish(client, course_id, upload, data, token):
    received, _ = stored(upload)
    r = client.post(f"/courses/manage/uploads/{upload}/chunk?offset={received}", data=data[received:], csrf=False,
                    headers={"X-CSRFToken": token, "Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.get_json()["received"] == len(data)
    done = client.post(f"/courses/manage/uploads/{upload}/finish", json={})
    assert done.status_code == 200, done.get_json()
    return done.get_json()["lesson_id"]


UPLOAD_KEYS = ["filename", "size", "title"]
TOKENS = st.one_of(st.text(alphabet=string.ascii_letters + string.digits + "-_", max_size=60),
                   st.text(max_size=30).filter(lambda t: "/" not in t and t not in ("", ".", "..")),
                   st.sampled_from(["%00", "a%00b", "x" * 1000, "%ff%fe", "' OR 1=1 --"]))


@FUZZ
@given(body=bodies(UPLOAD_KEYS))
@example(body=["a.mp4", 10, "t"])
@example(body={"filename": "a.mp4", "size": float("inf"), "title": "t"})
@example(body={"filename": "a.mp4", "size": 10**400, "title": "t"})
@example(body={"filename": "a\x00.mp4", "size": 10, "title": "t"})
@example(body={"filename": "a.mp4", "size": 10, "title": "\ud800"})
@example(body={"filename": "a.mp4", "size": 10, "title": "t\x00"})
def test_upload_start_never_500(client, partial, body):
    course_id, upload, data, token = partial
    before = stored(upload)
    response = post_raw(client, f"/courses/manage/{course_id}/uploads", token, encode(body))
    assert_answer(response, allowed=(200, 400))
    assert stored(upload) == before


@FUZZ
@given(data=RAW)
def test_upload_start_raw_bytes_never_500(client, partial, data):
    course_id, upload, _, token = partial
    assert_answer(post_raw(client, f"/courses/manage/{course_id}/uploads", token, data), allowed=(200, 400))


@FUZZ
@given(offset=st.one_of(st.none(), st.integers(), st.text(max_size=20), st.sampled_from(["19999", "20001", "-0", "1e4"])),
       chunk=st.one_of(st.binary(max_size=300), st.just(b"x" * 2_000_000)),
       content_type=st.sampled_from(["application/octet-stream", "application/json",
                                     "application/x-www-form-urlencoded", "multipart/form-data"]))
def test_junk_chunks_leave_the_partial_upload_alone(client, partial, offset, chunk, content_type):
    """Any chunk not at the offset the server has (or too big for the file) is refused, and the
    stored bytes and offset stay exactly as they were."""
    course_id, upload, data, token = partial
    before = stored(upload)
    query = "" if offset is None else "?" + "&".join([f"offset={offset}"])
    if str(offset).strip() == str(before[0]) and len(chunk) <= len(data) - before[0] and chunk:
        return  # that is a valid chunk, not junk
    response = post_raw(client, f"/courses/manage/uploads/{upload}/chunk{query}", token, chunk, content_type)
    assert_answer(response, allowed=(200, 400, 409, 413))
    if response.status_code == 200:
        assert response.get_json()["received"] == before[0]  # an empty body appends nothing
    assert stored(upload) == before


@FUZZ
@given(token=TOKENS, body=bodies(UPLOAD_KEYS))
def test_junk_tokens_are_404_on_every_upload_route(client, partial, token, body):
    course_id, upload, data, csrf = partial
    before = stored(upload)
    assert_answer(client.get(f"/courses/manage/uploads/{token}", headers={"Accept": "application/json"}),
                  allowed=(404,))
    for action in ("chunk?offset=0", "finish", "cancel"):
        assert_answer(post_raw(client, f"/courses/manage/uploads/{token}/{action}", csrf, encode(body)),
                      allowed=(404, 405))
    assert stored(upload) == before


def test_a_valid_upload_resumed_after_junk_completes_and_transcodes(app, client, partial):
    course_id, upload, data, token = partial
    before = stored(upload)
    junk = [("chunk?offset=0", data[:100]), ("chunk?offset=20001", b"x"), ("chunk?offset=abc", b"x"),
            (f"chunk?offset={before[0]}", b"x" * (len(data) + 1)), ("finish", b"{}"), ("chunk", b"")]
    for action, body in junk:
        response = post_raw(client, f"/courses/manage/uploads/{upload}/{action}", token, body,
                            "application/octet-stream")
        assert_answer(response, allowed=(200, 409))
    for body in ([1], {"size": float("inf")}, {"filename": "a\x00.mp4", "size": 1, "title": "t"}):
        assert_answer(post_raw(client, f"/courses/manage/{course_id}/uploads", token, encode(body)), allowed=(400,))
    assert client.get(f"/courses/manage/uploads/{upload}").get_json()["received"] == before[0]
    assert stored(upload) == before
    lesson_id = resume_and_finish(client, course_id, upload, data, token)
    assert jobs.run_until_empty() == [(db.session.get(Lesson, lesson_id).job_id, jobs.DONE)]
    db.session.expire_all()
    lesson = db.session.get(Lesson, lesson_id)
    assert lesson.media_status == MediaStatus.READY and (media.media_dir(lesson) / "master.m3u8").is_file()


@pytest.mark.parametrize("seq", [2**31, 2**63, 10**30])
def test_a_sequence_number_beyond_the_column_is_a_400(client, watcher, monkeypatch, seq):
    """An accepted beat stores its sequence number (an Integer column): one too large for it is refused."""
    from datetime import timedelta

    from school.timeutil import utcnow

    lesson_id, token = watcher
    t0 = utcnow()
    clock = {"now": t0}
    monkeypatch.setattr("school.courses.views.utcnow", lambda: clock["now"])
    body = {"tab": "t1", "seq": 1, "position": 0, "playing": True, "sent_at": 1_000_000}
    assert post_raw(client, f"/courses/lessons/{lesson_id}/heartbeat", token, encode(body)).status_code == 200
    clock["now"] = t0 + timedelta(seconds=4)
    body.update(seq=seq, position=4, sent_at=1_000_004)
    response = post_raw(client, f"/courses/lessons/{lesson_id}/heartbeat", token, encode(body))
    assert_answer(response, allowed=(400,))
    assert "格式不正确" in response.get_json()["error"]
