"""The library's JSON endpoints — the reading heartbeat and the editor's preview — answer any
body with 2xx or a 4xx carrying a Chinese message, never 500 (hypothesis-generated bodies)."""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from school.accounts.models import Role
from school.extensions import db
from school.library import services
from school.library.models import DocStatus
from school.timeutil import utcnow

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=50) | st.sampled_from(["NaN", "Infinity", "-1e999999", "1e-999999", "sNaN", "0.5"]))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)
KEYS = st.sampled_from(["anchor", "fraction", "visible", "body", "x"])
OBJECTS = st.dictionaries(KEYS | st.text(max_size=10), JSON_VALUES, max_size=5)
# Raw bodies too: not JSON, truncated JSON, JSON nested far deeper than the decoder's stack,
# lone surrogates (valid JSON escapes that no UTF-8 encoder accepts).
SPECIAL = [b"[" * 100_000, b'{"a":' * 50_000, b"\xff\xfe", b"{", b"null", b'{"fraction": 1e99999}',
           b'{"body": "\\ud800"}', b'{"anchor": "\\udfff", "fraction": "\\ud800", "visible": "\\ud800"}']
RAW = st.binary(max_size=200) | st.sampled_from(SPECIAL)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])


@pytest.fixture
def editor_reading(app, client, auth, make):
    editor = make.user(role=Role.EDITOR)
    doc = services.create_document(services.DocumentData(title="条例", category="policy", body="第一条 学习。\n",
                                                         status=DocStatus.PUBLISHED), editor, utcnow())
    db.session.commit()
    auth.login(editor)
    page = client.get(f"/library/doc/{doc.id}").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    return doc.id, token


def _send(client, url: str, token: str, body: bytes):
    return client.open(url, method="POST", data=body, content_type="application/json",
                       headers={"X-CSRFToken": token})


def _check(response) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    if response.status_code >= 400:
        error = (response.get_json(silent=True) or {}).get("error", "")
        assert re.search(r"[\u4e00-\u9fff]", error), response.get_data(as_text=True)[:300]


@FUZZ
@given(payload=OBJECTS | JSON_VALUES)
def test_heartbeat_answers_any_json_without_500(client, editor_reading, payload):
    doc_id, token = editor_reading
    _check(_send(client, f"/library/doc/{doc_id}/heartbeat", token, json.dumps(payload).encode()))


@FUZZ
@given(payload=OBJECTS | JSON_VALUES)
def test_preview_answers_any_json_without_500(client, editor_reading, payload):
    _, token = editor_reading
    _check(_send(client, "/library/manage/preview", token, json.dumps(payload).encode()))


@FUZZ
@given(body=RAW)
def test_both_answer_any_bytes_without_500(client, editor_reading, body):
    doc_id, token = editor_reading
    for url in (f"/library/doc/{doc_id}/heartbeat", "/library/manage/preview"):
        _check(_send(client, url, token, body))


@pytest.mark.parametrize("body", SPECIAL)
def test_special_bodies_without_500(client, editor_reading, body):
    doc_id, token = editor_reading
    for url in (f"/library/doc/{doc_id}/heartbeat", "/library/manage/preview"):
        _check(_send(client, url, token, body))


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"body":' * 50_000 + b'"x"' + b"}" * 50_000])
def test_json_nested_past_the_decoders_stack_is_a_400(client, editor_reading, body):
    """Flask answers malformed JSON with None under silent=True, but this raises RecursionError."""
    doc_id, token = editor_reading
    for url in (f"/library/doc/{doc_id}/heartbeat", "/library/manage/preview"):
        response = _send(client, url, token, body)
        assert response.status_code == 400 and response.get_json()["error"] == "请求格式不正确"
