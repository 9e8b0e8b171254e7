"""Background work with its state in the database.

A job row (queued → running → done/failed, with progress and error) is the truth; the
runner is only a way to get it executed: RQ on Redis when ``SCHOOL_REDIS_URL`` is set,
otherwise a worker thread inside the web process. Because the state is in the database a
restart loses nothing: queued jobs are still queued, and a running job whose worker is gone
is queued again — at once when the worker ran on this host (the row records the worker's
host, pid and process start time, and no such process exists any more), otherwise once its
heartbeat has gone stale. Queued rows that no RQ queue holds (Redis was down when they were
queued) are handed to RQ again at every sweep. With ``SCHOOL_JOBS_FALLBACK=inprocess`` a job
is queued even while Redis is down, and the web processes' in-process worker runs the queue
for as long as Redis stays down (when it is back, that worker hands queued rows to RQ instead).

Each attempt at a job has an id of its own (``current_attempt()``); a handler that needs a
work folder names it after the attempt, so a recovered job never shares its folder with
whatever an earlier attempt left. Child processes die with their worker (``school.children``).

A job names its handler as ``"module:function"`` inside the ``school`` package; the
handler receives the payload and a ``progress(percent)`` callback and raises ``JobFailed``
with a message for people when the work cannot be done, or ``NotHere`` when this node cannot
do it (e.g. its media folder is not the one holding the job's files): the job is then left
queued for another node.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
from datetime import datetime, timedelta
from importlib import import_module
from typing import Callable

from flask import Flask, current_app
from sqlalchemy import BigInteger, DateTime, Integer, String, Text, event, select, update
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


class NotHere(Exception):
    """This node cannot run the job (but another may): it goes back to the queue untouched."""


class QueueUnavailable(Exception):
    """The job queue (Redis) cannot be reached; ``str(exc)`` is shown to people."""


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
    # "host pid start-time" of the process running it (see worker_identity / worker_gone).
    worker: Mapped[str | None] = mapped_column(String(200))

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    def as_dict(self) -> dict:
        return {"id": self.id, "state": self.state, "state_label": self.state_label,
                "progress": self.progress, "error": self.error}


# --- enqueueing -------------------------------------------------------------------------

FALLBACK_NOTE = ("任务队列（Redis）无法连接：任务已排队，改由网站进程内的任务线程处理"
                 "（SCHOOL_JOBS_FALLBACK=inprocess）；Redis 恢复后新任务仍交给 RQ。")


def falls_back(app: Flask | None = None) -> bool:
    """Whether jobs run in the web processes' in-process worker while Redis is down
    (``SCHOOL_JOBS_FALLBACK=inprocess``)."""
    app = app or current_app
    return bool(app.config.get("REDIS_URL")) and app.config.get("JOBS_FALLBACK") == "inprocess"


def _redis_reachable(app: Flask) -> bool:
    try:
        return bool(_rq_queue(app).connection.ping())
    except Exception:
        return False


def check_queue() -> str | None:
    """Raise ``QueueUnavailable`` when jobs go to RQ and Redis cannot be reached (call it before
    doing work that a job must follow, so nothing is half done when the queue is down) — unless
    the in-process fallback is configured: then the plain words to show are returned instead."""
    if not current_app.config.get("REDIS_URL"):
        return None
    try:
        _rq_queue(current_app).connection.ping()
    except Exception as exc:
        if falls_back():
            log.warning("Redis unreachable (%s): the job is left to the in-process worker", type(exc).__name__)
            return FALLBACK_NOTE
        raise QueueUnavailable(
            "任务队列（Redis）无法连接，任务没有排队，未做任何更改。"
            f"请检查 Redis 服务（SCHOOL_REDIS_URL）后重试。（{type(exc).__name__}）") from None


def enqueue(handler: str, payload: dict, now: datetime) -> Job:
    """Add a job; it is handed to a runner once the caller's transaction commits.

    With RQ configured and Redis unreachable this raises ``QueueUnavailable`` (the caller rolls
    back and says so). Should Redis go away between this check and the commit, the row stays
    queued and the next sweep (``requeue_stale``) hands it to RQ."""
    _resolve(handler)  # fail now, not in the worker, on a misspelt handler
    note = check_queue()
    if note:
        db.session.info["school_jobs_note"] = note
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
            _rq_enqueue(_rq_queue(app), job_id)
        except Exception as exc:  # Redis down: the row stays queued and the next sweep hands it over
            log.warning("job %s stays queued: Redis unreachable (%s: %s); the next sweep hands it to RQ",
                        job_id, type(exc).__name__, exc)
            if id(app) in InlineWorker._workers:  # the fallback worker of this web process
                InlineWorker._workers[id(app)].wake()
    elif id(app) in InlineWorker._workers:
        InlineWorker._workers[id(app)].wake()
    # Otherwise the job waits for the web process's worker (started by its first request)
    # or for `school jobs run`. With Redis down the row stays queued; requeue_stale's sweep
    # (redispatch_queued) hands it to RQ when Redis is back.


RQ_PREFIX = "school-job-"


def _rq_enqueue(queue, job_id: int) -> None:
    queue.enqueue("school.jobs.rq_entry", job_id, job_timeout=6 * 3600,
                  job_id=f"{RQ_PREFIX}{job_id}-{utcnow():%Y%m%d%H%M%S%f}")


def _rq_queue(app: Flask):
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=3, socket_timeout=10)
    return Queue(app.config.get("RQ_QUEUE", "school"), connection=connection)


def redispatch_queued(app: Flask | None = None) -> int:
    """Hand to RQ every queued row that its queue does not hold (queued while Redis was down,
    or its RQ job lost with a dead worker); returns how many. Quiet when Redis is still down."""
    app = app or current_app._get_current_object()
    if not app.config.get("REDIS_URL"):
        return 0
    waiting = list(db.session.scalars(select(Job.id).where(Job.state == QUEUED).order_by(Job.id)))
    if not waiting:
        return 0
    try:
        queue = _rq_queue(app)
        held = {int(rq_id[len(RQ_PREFIX):].split("-")[0]) for rq_id in queue.get_job_ids()
                if rq_id.startswith(RQ_PREFIX) and rq_id[len(RQ_PREFIX):].split("-")[0].isdigit()}
        missing = [job_id for job_id in waiting if job_id not in held]
        for job_id in missing:
            _rq_enqueue(queue, job_id)
    except Exception as exc:
        log.warning("queued jobs not handed to RQ: Redis unreachable (%s: %s)", type(exc).__name__, exc)
        return 0
    if missing:
        log.info("handed %d stranded queued job(s) to RQ: %s", len(missing), missing)
    return len(missing)


# --- running ----------------------------------------------------------------------------


def _resolve(handler: str) -> Callable:
    module_name, _, func = handler.partition(":")
    if not module_name.startswith("school.") or not func:
        raise ValueError(f"unknown job handler {handler!r}")
    return getattr(import_module(module_name), func)


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, from /proc), None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    return data[data.rindex(b")") + 2:].split()[19].decode()  # field 22, counted after "(comm)"


def worker_identity() -> str:
    """"host pid start-time" of this process; a pid reused by a later process has another start time."""
    pid = os.getpid()
    return f"{socket.gethostname()} {pid} {_process_start(pid) or '-'}"[:200]


def worker_gone(identity: str | None) -> bool:
    """True only when sure the worker is dead: it ran on this host, and no process with its pid
    and start time exists. Workers of other hosts are judged by their heartbeat instead."""
    parts = (identity or "").rsplit(" ", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid, started = int(parts[1]), parts[2]
    if os.path.isdir("/proc"):
        current = _process_start(pid)
        return current is None or (started != "-" and current != started)
    try:  # pragma: no cover - without /proc: the pid alone
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def requeue_stale(now: datetime, everything_running: bool = False) -> int:
    """Queue again the running jobs whose worker died — at once when it ran on this host and its
    process is gone, otherwise once its heartbeat is older than ``STALE_AFTER`` (or every running
    one, when told no worker is alive) — then hand RQ the queued rows it does not hold."""
    requeued = []
    for job in db.session.scalars(select(Job).where(Job.state == RUNNING)).all():
        stale = job.heartbeat_at is None or job.heartbeat_at < now - STALE_AFTER
        if not (everything_running or stale or worker_gone(job.worker)):
            continue
        if job.attempts >= MAX_ATTEMPTS:
            job.state, job.finished_at = FAILED, now
            job.error = "处理多次中断，已停止自动重试，请点击“重试”"
        else:
            job.state = QUEUED
            requeued.append(job.id)
        job.worker = None
    db.session.commit()
    redispatch_queued()
    return len(requeued)


def _set(job_id: int, attempt: int | None = None, **values) -> int:
    # Its own short transaction, so progress is visible to the editor while the job runs. With
    # ``attempt``, only while the row still belongs to that attempt (not recovered meanwhile).
    query = update(Job).where(Job.id == job_id)
    if attempt is not None:
        query = query.where(Job.attempts == attempt, Job.state == RUNNING)
    with db.engine.begin() as conn:
        return conn.execute(query.values(**values)).rowcount


_current = threading.local()


def current_attempt() -> str | None:
    """``"<job id>-<attempt>"`` of the job this thread is running (None outside a job)."""
    return getattr(_current, "attempt", None)


def run_job(job_id: int, now: datetime | None = None) -> str | None:
    """Run one queued job here and now; returns its final state (None if someone else took it,
    or this node left it for another: ``NotHere``)."""
    now = now or utcnow()
    claimed = db.session.execute(
        update(Job).where(Job.id == job_id, Job.state == QUEUED)
        .values(state=RUNNING, started_at=now, heartbeat_at=now, attempts=Job.attempts + 1, progress=0,
                error=None, worker=worker_identity())
        .execution_options(synchronize_session=False))
    db.session.commit()
    if claimed.rowcount != 1:
        return None
    job = db.session.get(Job, job_id)
    db.session.refresh(job)
    attempt = job.attempts
    last = [0, utcnow()]

    def progress(percent: float) -> None:
        percent = max(0, min(99, int(percent)))
        moment = utcnow()
        if percent != last[0] or moment - last[1] > timedelta(seconds=20):
            last[:] = [percent, moment]
            _set(job_id, attempt, progress=percent, heartbeat_at=moment)

    _current.attempt = f"{job_id}-{attempt}"
    try:
        _resolve(job.handler)(json.loads(job.payload or "{}"), progress)
    except NotHere:
        db.session.rollback()
        _set(job_id, attempt, state=QUEUED, attempts=attempt - 1, progress=0, worker=None)
        return None
    except JobFailed as exc:
        db.session.rollback()
        _set(job_id, attempt, state=FAILED, error=str(exc)[:2000], finished_at=utcnow())
        return FAILED
    except Exception as exc:  # a bug or a crash must not kill the worker; it is recorded on the job
        log.exception("job %s failed", job_id)
        db.session.rollback()
        _set(job_id, attempt, state=FAILED, error=f"处理出错：{type(exc).__name__}: {exc}"[:2000],
             finished_at=utcnow())
        return FAILED
    finally:
        _current.attempt = None
    _set(job_id, attempt, state=DONE, progress=100, finished_at=utcnow(), heartbeat_at=utcnow())
    return DONE


def next_queued(skip: set[int] | frozenset = frozenset()) -> int | None:
    query = select(Job.id).where(Job.state == QUEUED)
    if skip:
        query = query.where(Job.id.not_in(skip))
    return db.session.scalar(query.order_by(Job.id).limit(1))


def run_until_empty(now: datetime | None = None, recover_running: bool = False) -> list[tuple[int, str]]:
    """Process the queue in the foreground (``school jobs run --until-empty``); jobs this node
    cannot run (``NotHere``) stay queued for another."""
    requeue_stale(now or utcnow(), everything_running=recover_running)
    results, left = [], set()
    while (job_id := next_queued(left)) is not None:
        state = run_job(job_id)
        if state:
            results.append((job_id, state))
        else:
            left.add(job_id)
    return results


# --- periodic tasks ---------------------------------------------------------------------
# Small sweeps other packages register (e.g. handing in overdue exam attempts). They run
# in the in-process worker's loop and at each pass of ``school jobs run``; with RQ workers,
# ``school jobs sweep`` from the systemd timer. However many nodes run them, each task runs
# once per interval: a node first claims the interval (``claim``) in the database.

_periodic: dict[str, tuple[int, Callable[[datetime], object]]] = {}


def every(seconds: int, name: str, task: Callable[[datetime], object]) -> None:
    _periodic[name] = (seconds, task)


class PeriodicRun(db.Model):
    """The last interval of each periodic task that some node claimed (and so ran)."""

    __tablename__ = "periodic_run"

    task: Mapped[str] = mapped_column(String(80), primary_key=True)
    slot: Mapped[int] = mapped_column(BigInteger)  # seconds since the epoch // the task's interval
    claimed_at: Mapped[datetime] = mapped_column(DateTime)
    node: Mapped[str] = mapped_column(String(200))  # worker_identity() of the claimant


def claim(name: str, seconds: int, now: datetime) -> bool:
    """Claim interval ``now // seconds`` of task ``name`` for this process; False when another
    node (or an earlier call) already has it. One atomic UPDATE … WHERE slot < :slot decides:
    PostgreSQL makes a concurrent second update wait for the first and then re-check its
    condition, SQLite runs one writer at a time. Commits the session."""
    slot = int((now - datetime(1970, 1, 1)).total_seconds()) // seconds
    dialect = db.engine.dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = import_module(f"sqlalchemy.dialects.{dialect}").insert
        db.session.execute(insert(PeriodicRun).values(task=name, slot=-1, claimed_at=now, node="")
                           .on_conflict_do_nothing(index_elements=["task"]))
    elif db.session.get(PeriodicRun, name) is None:
        db.session.add(PeriodicRun(task=name, slot=-1, claimed_at=now, node=""))
        db.session.flush()
    won = db.session.execute(update(PeriodicRun).where(PeriodicRun.task == name, PeriodicRun.slot < slot)
                             .values(slot=slot, claimed_at=now, node=worker_identity()[:200])
                             .execution_options(synchronize_session=False)).rowcount == 1
    db.session.commit()
    return won


def run_periodic(now: datetime, last_run: dict[str, datetime]) -> list[str]:
    """Run every task whose interval has passed since ``last_run`` (updated in place) and
    whose current interval no other node has claimed."""
    ran = []
    for name, (seconds, task) in _periodic.items():
        if name in last_run and (now - last_run[name]).total_seconds() < seconds:
            continue
        try:
            if not claim(name, seconds, now):
                last_run[name] = now
                continue
        except Exception:  # the database is briefly unavailable: the next pass tries again
            db.session.rollback()
            log.exception("periodic task %s: claim", name)
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
                    if not self.app.config.get("REDIS_URL"):
                        run_until_empty()
                        run_periodic(utcnow(), self.last_periodic)
                    elif _redis_reachable(self.app):  # the fallback, idle: RQ runs the jobs
                        redispatch_queued(self.app)
                    else:  # the fallback at work: Redis is down, jobs run here
                        run_until_empty()
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
    if not app.config["JOBS_INLINE_WORKER"] or (app.config.get("REDIS_URL") and not falls_back(app)):
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
