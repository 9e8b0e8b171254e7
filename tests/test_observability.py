"""Request ids, JSON logs, /metrics (content and who may read it) and /healthz's Redis check."""
from __future__ import annotations

import json
import logging

import pytest

from school import observability

pytest.importorskip("prometheus_client")


def test_request_id_is_made_or_taken_from_nginx_and_returned(client):
    made = client.get("/healthz").headers["X-Request-ID"]
    assert len(made) == 32
    assert client.get("/healthz").headers["X-Request-ID"] != made
    given = "0123456789abcdef0123456789abcdef"
    assert client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"] == given
    forged = client.get("/healthz", headers={"X-Request-ID": "<script>x</script>"}).headers["X-Request-ID"]
    assert forged != "<script>x</script>" and len(forged) == 32


def test_every_log_line_of_a_request_carries_its_id(client, caplog):
    with caplog.at_level(logging.INFO):
        response = client.get("/no-such-page", headers={"X-Request-ID": "req-0000000042"})
    lines = [r for r in caplog.records if r.name == "school.access"]
    assert lines and all(r.request_id == "req-0000000042" for r in lines)
    assert response.headers["X-Request-ID"] == "req-0000000042"
    outside = logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "m", (), None)
    assert outside.request_id == "-"


def test_json_log_lines():
    record = logging.getLogger("school.test").makeRecord("school.test", logging.WARNING, __file__, 1,
                                                        "磁盘 %s", ("满了",), None)
    record.request_id = "abc12345"
    entry = json.loads(observability.JsonFormatter().format(record))
    assert entry["message"] == "磁盘 满了" and entry["request_id"] == "abc12345" and entry["level"] == "WARNING"


def test_text_log_format_names_the_request():
    handler = observability.configure_logging(json_lines=False)
    try:
        record = logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "hello", (), None)
        record.request_id = "rid-12345678"
        assert "[rid-12345678]" in handler.format(record)
    finally:
        logging.getLogger().removeHandler(handler)


def test_metrics_content(app, client, auth, make):
    from school.credits.ledger import award
    from school.extensions import db
    from school.timeutil import utcnow

    member = make.user()
    bank = make.questions()
    exam = make.exam(bank)
    attempt = make.attempt(exam, member)
    auth.login(member)
    assert client.post(f"/exams/attempts/{attempt.id}/answers", json={"answers": "nonsense"}).status_code == 400
    award(member, 2, "online", "reading", "metrics-test-1", utcnow())
    award(member, 2, "online", "reading", "metrics-test-1", utcnow())  # a repeat is not counted again
    db.session.commit()
    client.get("/healthz")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'school_request_seconds_bucket{le="0.01",method="GET",route="/healthz"}' in text \
        or 'school_request_seconds_bucket{method="GET",route="/healthz",le="0.01"}' in text
    assert 'school_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'school_jobs{state="queued"} 0.0' in text and 'school_jobs{state="failed"} 0.0' in text
    assert "school_exam_saves_total" in text
    assert 'school_credits_awarded_total{kind="online",source="reading"}' in text


def test_metrics_counts_credits_once_per_entry(app, make):
    from school.credits.ledger import award
    from school.extensions import db
    from school.timeutil import utcnow

    member = make.user()
    counter = observability.CREDITS_AWARDED.labels("online", "reading")
    before = counter._value.get()
    award(member, 1, "online", "reading", "once-only", utcnow())
    award(member, 1, "online", "reading", "once-only", utcnow())
    db.session.commit()
    assert counter._value.get() == before + 1


def test_metrics_access(app, client):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    far = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics", environ_base=far).status_code == 404
    app.config["METRICS_ALLOW"] = "203.0.113.0/24"
    assert client.get("/metrics", environ_base=far).status_code == 200
    app.config.update(METRICS_ALLOW="", METRICS_TOKEN="s3cret-token")
    assert client.get("/metrics", environ_base=far).status_code == 404
    assert client.get("/metrics", environ_base=far, headers={"Authorization": "Bearer wrong"}).status_code == 404
    assert client.get("/metrics", environ_base=far,
                      headers={"Authorization": "Bearer s3cret-token"}).status_code == 200


def test_healthz_checks_redis_when_configured(app, client):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/9"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "ok", "redis": "unreachable"}
