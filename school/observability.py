"""Request ids, log format (text or JSON) and Prometheus metrics at ``/metrics``.

- Every request has an id: nginx's ``X-Request-ID`` (``$request_id``) when it looks like one,
  otherwise a new one; it is returned in the response's ``X-Request-ID`` and is in every log
  line written while the request runs (``request_id`` on each log record).
- ``SCHOOL_LOG_JSON=1``: one JSON object per line (time, level, logger, message, request_id,
  and exc_info as text); otherwise plain text with the id in brackets.
- ``/metrics``: request latency by route, exam saves, credits awarded, jobs by state and the RQ
  queue's depth. Only for loopback / ``SCHOOL_METRICS_ALLOW`` (comma-separated networks) or
  with ``Authorization: Bearer $SCHOOL_METRICS_TOKEN``; 404 for anyone else.
  Under gunicorn with several workers set ``PROMETHEUS_MULTIPROC_DIR`` (deploy/gunicorn.conf.py).
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import re
import time
import uuid

from flask import Flask, Response, abort, current_app, g, has_request_context, request

try:
    import prometheus_client as prom
except ImportError:  # metrics are optional; everything else works without the package
    prom = None

log = logging.getLogger("school.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")

# --- metrics (module level: one set per process, shared by every app in it) --------------

if prom is not None:
    REQUEST_SECONDS = prom.Histogram(
        "school_request_seconds", "Time to answer a request, by route (the URL rule) and method",
        ["route", "method"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
    REQUESTS = prom.Counter("school_requests", "Requests answered, by route, method and status",
                            ["route", "method", "status"])
    EXAM_SAVES = prom.Counter("school_exam_saves", "Exam answer saves acknowledged, by outcome", ["outcome"])
    CREDITS_AWARDED = prom.Counter("school_credits_awarded", "Credit entries written, by kind and source",
                                   ["kind", "source"])
    CREDIT_HOURS = prom.Counter("school_credit_hours_awarded", "Credit hours written, by kind", ["kind"])


def exam_save(outcome: str) -> None:
    if prom is not None:
        EXAM_SAVES.labels(outcome).inc()


def credit_awarded(kind: str, source: str, hours) -> None:
    if prom is not None:
        CREDITS_AWARDED.labels(str(kind), str(source)).inc()
        CREDIT_HOURS.labels(str(kind)).inc(float(hours))


# --- logging ------------------------------------------------------------------------------

_factory = logging.getLogRecordFactory()


def _record_factory(*args, **kwargs):
    record = _factory(*args, **kwargs)
    record.request_id = g.get("request_id", "-") if has_request_context() else "-"
    return record


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage(),
                 "request_id": getattr(record, "request_id", "-")}
        for name in ("method", "path", "status", "ms", "ip"):
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def configure_logging(json_lines: bool) -> logging.Handler:
    """One stderr handler on the root logger (replacing one this function added before)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "school", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.school = True
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


# --- the app ------------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    if logging.getLogRecordFactory() is _factory:
        logging.setLogRecordFactory(_record_factory)
    if app.config.get("LOG_CONFIGURE"):
        configure_logging(app.config.get("LOG_JSON", False))

    @app.before_request
    def _request_id():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response):
        response.headers["X-Request-ID"] = g.get("request_id", "-")
        started = g.get("request_started")
        if started is not None:
            seconds = time.perf_counter() - started
            route = request.url_rule.rule if request.url_rule is not None else "unmatched"
            if prom is not None:
                REQUEST_SECONDS.labels(route, request.method).observe(seconds)
                REQUESTS.labels(route, request.method, str(response.status_code)).inc()
            if app.config.get("LOG_REQUESTS"):
                log.info("%s %s %s %.0fms", request.method, request.path, response.status_code, seconds * 1000,
                         extra={"method": request.method, "path": request.path, "status": response.status_code,
                                "ms": round(seconds * 1000, 1), "ip": request.remote_addr})
        return response

    app.add_url_rule("/metrics", "metrics", metrics)


def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    networks = [n.strip() for n in current_app.config.get("METRICS_ALLOW", "").split(",") if n.strip()]
    return address.is_loopback or any(address in ipaddress.ip_network(n, strict=False) for n in networks)


def metrics():
    if not _allowed():
        abort(404)
    if prom is None:
        return Response("prometheus-client is not installed\n", status=503, mimetype="text/plain")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = prom.REGISTRY
    state = prom.CollectorRegistry()
    state.register(_StateCollector(current_app._get_current_object()))
    body = prom.generate_latest(registry) + prom.generate_latest(state)
    return Response(body, mimetype=prom.CONTENT_TYPE_LATEST)


class _StateCollector:
    """Read at each scrape: jobs by state (queued = the queue's depth, failed = failures) from the
    database, and the RQ queue's length when Redis is configured."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily
        from sqlalchemy import func, select

        from school import jobs
        from school.extensions import db

        by_state = GaugeMetricFamily("school_jobs", "Background jobs in the database, by state", labels=["state"])
        counts = dict(db.session.execute(select(jobs.Job.state, func.count()).group_by(jobs.Job.state)).all())
        for state in jobs.STATE_LABELS:
            by_state.add_metric([state], counts.get(state, 0))
        yield by_state
        if self.app.config.get("REDIS_URL"):
            depth = GaugeMetricFamily("school_rq_queue_depth", "Jobs waiting in the RQ queue (-1: Redis unreachable)")
            try:
                depth.add_metric([], len(jobs._rq_queue(self.app)))
            except Exception:
                depth.add_metric([], -1)
            yield depth
