"""Background work with its state in the database.

A job row (queued → running → done/failed, with progress and error) is the truth; the
runner is only a way to get it executed: RQ on Redis when ``SCHOOL_REDIS_URL`` is set,
otherwise a worker thread inside the web process. Because the state is in the database a
restart loses nothing: queued jobs are still queued, and a running job whose heartbeat
went stale (its worker died) is queued again.

A job names its handler as ``"module:function"`` inside the ``school`` package; the
handler receives the payload and a ``progress(percent)`` callback and raises ``JobFailed``
with a message for people when the work cannot be done.
"""
from __future__ import annotations

import json
import logging
import threading
from datetime import datetime, timedelta
from importlib import import_module
from typing import Callable

from flask import Flask, current_app
from sqlalchemy import DateTime, Integer, String, Text, event, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from school.extensions import db
from school.timeutil import utcnow

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATE_LABELS = {QUEUED: "排队中", RUNNING: "处理中", DONE: "已完成", FAILED: "失败"}
STALE_AFTER = timedelta(minutes=2)  # a running job silent this long lost its worker
MAX_ATTEMPTS = 3


class JobFailed(Exception):
    """The work cannot be done; ``str(exc)`` is shown to people."""


class Job(db.Model):
    __tablename__ = "job"

    id: Mapped[int] = mapped_column(primary_key=True)
    handler: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[str] = mapped_column(String(10), default=QUEUED, index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    def as_dict(self) -> dict:
        return {"id": self.id, "state": self.state, "state_label": self.state_label,
                "progress": self.progress, "error": self.error}


# --- enqueueing -------------------------------------------------------------------------


def enqueue(handler: str, payload: dict, now: datetime) -> Job:
    """Add a job; it is handed to a runner once the caller's transaction commits."""
    _resolve(handler)  # fail now, not in the worker, on a misspelt handler
    job = Job(handler=handler, payload=json.dumps(payload), state=QUEUED, created_at=now)
    db.session.add(job)
    db.session.flush()
    db.session.info.setdefault("school_jobs_pending", []).append(job.id)
    return job


def retry(job: Job, now: datetime) -> None:
    """Queue a failed job again (the editor's retry button)."""
    if job.state != FAILED:
        return
    job.state, job.progress, job.error, job.attempts = QUEUED, 0, None, 0
    job.created_at = now
    db.session.info.setdefault("school_jobs_pending", []).append(job.id)


@event.listens_for(Session, "after_commit")
def _dispatch_after_commit(session):
    ids = session.info.pop("school_jobs_pending", None)
    if ids:
        try:
            app = current_app._get_current_object()
        except RuntimeError:
            return
        for job_id in ids:
            _dispatch(app, job_id)


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session):
    session.info.pop("school_jobs_pending", None)


def _dispatch(app: Flask, job_id: int) -> None:
    if app.config.get("REDIS_URL"):
        try:
            _rq_queue(app).enqueue("school.jobs.rq_entry", job_id, job_timeout=6 * 3600,
                                   job_id=f"school-job-{job_id}-{utcnow():%Y%m%d%H%M%S%f}")
        except Exception:  # Redis down: the row stays queued and is handed over again by requeue_stale
            log.exception("could not hand job %s to RQ", job_id)
    elif id(app) in InlineWorker._workers:
        InlineWorker._workers[id(app)].wake()
    # Otherwise the job waits for the web process's worker (started by its first request)
    # or for `school jobs run`.


def _rq_queue(app: Flask):
    from redis import Redis
    from rq import Queue

    return Queue(app.config.get("RQ_QUEUE", "school"), connection=Redis.from_url(app.config["REDIS_URL"]))


# --- running ----------------------------------------------------------------------------


def _resolve(handler: str) -> Callable:
    module_name, _, func = handler.partition(":")
    if not module_name.startswith("school.") or not func:
        raise ValueError(f"unknown job handler {handler!r}")
    return getattr(import_module(module_name), func)


def requeue_stale(now: datetime, everything_running: bool = False) -> int:
    """Queue again the running jobs whose worker died (or all running ones, when told no worker is alive)."""
    query = select(Job).where(Job.state == RUNNING)
    if not everything_running:
        query = query.where(or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < now - STALE_AFTER))
    requeued = []
    for job in db.session.scalars(query):
        if job.attempts >= MAX_ATTEMPTS:
            job.state, job.finished_at = FAILED, now
            job.error = "处理多次中断，已停止自动重试，请点击“重试”"
        else:
            job.state = QUEUED
            requeued.append(job.id)
    if requeued and current_app.config.get("REDIS_URL"):
        # With RQ, a worker that died took its RQ job with it: hand the row to RQ again.
        db.session.info.setdefault("school_jobs_pending", []).extend(requeued)
    db.session.commit()
    return len(requeued)


def _set(job_id: int, **values) -> None:
    # Its own short transaction, so progress is visible to the editor while the job runs.
    with db.engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == job_id).values(**values))


def run_job(job_id: int, now: datetime | None = None) -> str | None:
    """Run one queued job here and now; returns its final state (None if someone else took it)."""
    now = now or utcnow()
    claimed = db.session.execute(
        update(Job).where(Job.id == job_id, Job.state == QUEUED)
        .values(state=RUNNING, started_at=now, heartbeat_at=now, attempts=Job.attempts + 1, progress=0,
                error=None)
        .execution_options(synchronize_session=False))
    db.session.commit()
    if claimed.rowcount != 1:
        return None
    job = db.session.get(Job, job_id)
    db.session.refresh(job)
    last = [0, utcnow()]

    def progress(percent: float) -> None:
        percent = max(0, min(99, int(percent)))
        moment = utcnow()
        if percent != last[0] or moment - last[1] > timedelta(seconds=20):
            last[:] = [percent, moment]
            _set(job_id, progress=percent, heartbeat_at=moment)

    try:
        _resolve(job.handler)(json.loads(job.payload or "{}"), progress)
    except JobFailed as exc:
        db.session.rollback()
        _set(job_id, state=FAILED, error=str(exc)[:2000], finished_at=utcnow())
        return FAILED
    except Exception as exc:  # a bug or a crash must not kill the worker; it is recorded on the job
        log.exception("job %s failed", job_id)
        db.session.rollback()
        _set(job_id, state=FAILED, error=f"处理出错：{type(exc).__name__}: {exc}"[:2000], finished_at=utcnow())
        return FAILED
    _set(job_id, state=DONE, progress=100, finished_at=utcnow(), heartbeat_at=utcnow())
    return DONE


def next_queued() -> int | None:
    return db.session.scalar(select(Job.id).where(Job.state == QUEUED).order_by(Job.id).limit(1))


def run_until_empty(now: datetime | None = None, recover_running: bool = False) -> list[tuple[int, str]]:
    """Process the queue in the foreground (``school jobs run --until-empty``)."""
    requeue_stale(now or utcnow(), everything_running=recover_running)
    results = []
    while (job_id := next_queued()) is not None:
        state = run_job(job_id)
        if state:
            results.append((job_id, state))
    return results


# --- periodic tasks ---------------------------------------------------------------------
# Small sweeps other packages register (e.g. handing in overdue exam attempts). They run
# in the in-process worker's loop and at each pass of ``school jobs run``; with RQ workers,
# run ``school jobs run`` (or the package's own command) from cron/systemd instead.

_periodic: dict[str, tuple[int, Callable[[datetime], object]]] = {}


def every(seconds: int, name: str, task: Callable[[datetime], object]) -> None:
    _periodic[name] = (seconds, task)


def run_periodic(now: datetime, last_run: dict[str, datetime]) -> list[str]:
    """Run every task whose interval has passed since ``last_run`` (updated in place)."""
    ran = []
    for name, (seconds, task) in _periodic.items():
        if name in last_run and (now - last_run[name]).total_seconds() < seconds:
            continue
        try:
            task(now)
            db.session.commit()
        except Exception:  # one failing sweep must not stop the jobs or the other sweeps
            db.session.rollback()
            log.exception("periodic task %s", name)
        last_run[name] = now
        ran.append(name)
    return ran


def rq_entry(job_id: int) -> None:
    """What an RQ worker process executes: the same run, inside an app of its own."""
    with _worker_app().app_context():
        run_job(job_id)
        requeue_stale(utcnow())  # jobs whose worker died are handed out again
        db.session.remove()


_APP: Flask | None = None


def _worker_app() -> Flask:
    global _APP
    if _APP is None:
        from school import create_app

        _APP = create_app({"JOBS_INLINE_WORKER": False})
    return _APP


class InlineWorker:
    """One daemon thread per app that drains the queue; woken on enqueue, polls every few seconds."""

    _workers: dict[int, InlineWorker] = {}
    _lock = threading.Lock()

    def __init__(self, app: Flask):
        self.app = app
        self.event = threading.Event()
        self.stopping = False
        self.last_periodic: dict[str, datetime] = {}
        self.thread = threading.Thread(target=self._loop, name="school-jobs", daemon=True)
        self.thread.start()

    @classmethod
    def for_app(cls, app: Flask) -> InlineWorker:
        with cls._lock:
            if id(app) not in cls._workers:
                cls._workers[id(app)] = cls(app)
            return cls._workers[id(app)]

    def wake(self) -> None:
        self.event.set()

    def stop(self) -> None:
        self.stopping = True
        self.event.set()
        self.thread.join(timeout=30)

    def _loop(self) -> None:
        failures = 0
        while failures < 3 and not self.stopping:
            try:
                with self.app.app_context():
                    run_until_empty()
                    run_periodic(utcnow(), self.last_periodic)
                    db.session.remove()
                failures = 0
            except Exception:  # the database may be briefly unavailable; try again a little later
                failures += 1
                log.exception("inline job worker")
            self.event.wait(timeout=5)
            self.event.clear()
        # Stopped, or still failing: the next request starts a fresh worker.
        with self._lock:
            self._workers.pop(id(self.app), None)


def init_app(app: Flask) -> None:
    """Without Redis, the web process's first request starts the in-process worker, which first
    resumes what a restart interrupted. Command-line runs (``school init``…) start none."""
    app.config.setdefault("JOBS_INLINE_WORKER", not app.config.get("TESTING"))
    if not app.config["JOBS_INLINE_WORKER"] or app.config.get("REDIS_URL"):
        return

    @app.before_request
    def _start_inline_worker():
        if id(app) in InlineWorker._workers:
            return
        try:  # only with a reachable database (and its job table); otherwise a later request tries again
            db.session.execute(select(Job.id).limit(1))
        except Exception:
            db.session.rollback()
            return
        InlineWorker.for_app(app)
