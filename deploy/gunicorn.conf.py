"""gunicorn settings for 网上党校: ``gunicorn -c deploy/gunicorn.conf.py 'school:create_app()'``.

Every value can be set from the environment (the systemd unit reads /etc/school/school.env):

- ``SCHOOL_WEB_BIND``     address to listen on (default 127.0.0.1:8000; nginx proxies to it)
- ``SCHOOL_WEB_WORKERS``  processes (default: CPU count, at least 2)
- ``SCHOOL_WEB_THREADS``  threads per process (default 8): gthread, because most requests wait
  on the database or on nginx (heartbeats, exam saves), and threads are cheap; CPU-heavy work
  (transcoding, imports) runs in the RQ worker, not here.
- ``SCHOOL_WEB_TIMEOUT``  seconds before a stuck worker is killed (default 120). Slow uploads do not
  count: nginx buffers each body before gunicorn sees it.

Pool sizing: each worker process has its own SQLAlchemy pool, sized from the same
``SCHOOL_WEB_THREADS`` (school/config.py ``engine_options``: ``threads`` connections + 4 overflow
for the in-process job worker; ``SCHOOL_DB_POOL_SIZE`` / ``SCHOOL_DB_MAX_OVERFLOW`` override it),
so no request thread waits for a connection. PostgreSQL must allow
``workers × threads`` for every web node, plus the RQ workers (one each), the sweep timer (one)
and psql/backup sessions: 4 workers × 8 threads × 2 nodes = 64 + a few, under the default
``max_connections = 100``. For more, raise max_connections or put PgBouncer (transaction mode)
in front.

Prometheus: with more than one worker, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder
(the systemd unit uses /run/school/prometheus, emptied at each start); ``child_exit`` below
tells the client library when a worker died, and /metrics then sums every worker's counters.
"""
import gc
import multiprocessing
import os

bind = os.environ.get("SCHOOL_WEB_BIND", "127.0.0.1:8000")
worker_class = "gthread"
workers = int(os.environ.get("SCHOOL_WEB_WORKERS", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("SCHOOL_WEB_THREADS", 8))
timeout = int(os.environ.get("SCHOOL_WEB_TIMEOUT", 120))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (memory of the PDF/XLSX libraries), staggered.
max_requests = int(os.environ.get("SCHOOL_WEB_MAX_REQUESTS", 5000))
max_requests_jitter = max_requests // 10
# Only nginx on this host may set X-Forwarded-*; the app's ProxyFix (SCHOOL_TRUSTED_PROXIES=1) reads them.
forwarded_allow_ips = os.environ.get("SCHOOL_WEB_FORWARDED_ALLOW_IPS", "127.0.0.1")
# The app logs each request itself (with its request id); gunicorn's access log is off by default.
accesslog = os.environ.get("SCHOOL_WEB_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("SCHOOL_WEB_LOG_LEVEL", "info")
proc_name = "school-web"


def post_worker_init(worker):
    """Move everything the worker loaded (Flask, SQLAlchemy's mappers and compiled statements,
    Jinja, the search libraries: ~200,000 objects) out of the garbage collector's reach. A full
    collection otherwise walks all of them: ~120 ms with the GIL held, so every request thread of
    the worker stops; the exam journey triggers one about every 800 requests. Frozen, a full
    collection takes 3–6 ms (bench/gc_pause.py). Garbage from start-up is collected first: what is frozen
    is never freed."""
    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# gunicorn 25+ opens a control socket at ~/.gunicorn/gunicorn.ctl — one path for every instance of
# the user (two nodes or a test next to production would share it). Nothing here uses it.
control_socket_disable = True
