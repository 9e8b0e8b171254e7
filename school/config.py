"""Configuration from ``SCHOOL_*`` environment variables, with safe defaults."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from school import limits


def normalise_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs (as ops people write them) and use psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def _instance_secret(instance_path: Path) -> str:
    """A random key kept in ``instance/`` so the demo survives restarts without a committed secret."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def engine_options(url: str, env) -> dict:
    """PostgreSQL pool per process: one connection for each gunicorn thread (``SCHOOL_WEB_THREADS``,
    read by deploy/gunicorn.conf.py too) and a few more for the in-process job worker and the
    periodic sweeps. SQLAlchemy's default (5 + 10 overflow) is below 16 threads: the rest waited
    for a connection, and overflow connections were opened and closed per burst.

    Last in, first out: the connection a request takes is the one used last, so at the usual
    concurrency a few connections serve nearly every request and stay warm — their PostgreSQL
    backend has the tables' catalog entries cached and psycopg has prepared the hot statements
    (at their fifth run on a connection). First in, first out sent each request to the
    connection idle longest: after a burst of logins had opened all 16, the exam's statements
    came to each connection a sixteenth as often, cold (start on a new connection takes 12 ms
    instead of 6 in process: ``bench/exam_requests.py --fresh-connections``)."""
    if not url.startswith("postgresql"):
        return {}
    threads = int(env.get("SCHOOL_WEB_THREADS", 8))
    return {"pool_size": int(env.get("SCHOOL_DB_POOL_SIZE", threads)),
            "max_overflow": int(env.get("SCHOOL_DB_MAX_OVERFLOW", 4)),
            "pool_timeout": float(env.get("SCHOOL_DB_POOL_TIMEOUT", 30)), "pool_use_lifo": True}


def load_config(overrides: dict | None = None) -> dict:
    env = os.environ
    overrides = overrides or {}
    instance_path = Path(overrides.get("INSTANCE_PATH") or env.get("SCHOOL_INSTANCE_PATH", "instance")).resolve()
    production = env.get("SCHOOL_ENV", "development") == "production"

    secret = overrides.get("SECRET_KEY") or env.get("SCHOOL_SECRET_KEY")
    if not secret:
        if production:
            raise RuntimeError("生产环境必须设置 SCHOOL_SECRET_KEY（SCHOOL_ENV=production）")
        secret = _instance_secret(instance_path)

    database_url = overrides.get("SQLALCHEMY_DATABASE_URI") or env.get("SCHOOL_DATABASE_URL") or (
        f"sqlite:///{instance_path / 'school.db'}"
    )
    config = {
        "INSTANCE_PATH": str(instance_path),
        "SECRET_KEY": secret,
        "PRODUCTION": production,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "MEDIA_DIR": str(Path(env.get("SCHOOL_MEDIA_DIR", "media")).resolve()),
        "CONTENT_DIR": str(Path(env.get("SCHOOL_CONTENT_DIR", Path(__file__).resolve().parent.parent / "content"))),
        "CORPUS_DIR": env.get("SCHOOL_CORPUS_DIR", ""),
        # The library's Whoosh index; rebuilt from the database whenever it is missing.
        "SEARCH_INDEX_DIR": str(Path(overrides.get("SEARCH_INDEX_DIR") or env.get("SCHOOL_SEARCH_INDEX_DIR")
                                     or instance_path / "search-index").resolve()),
        # Several nodes sharing one index (SCHOOL_SEARCH_INDEX_DIR on shared storage): how often
        # at most each searcher looks whether another node rebuilt or merged it (its generation).
        "SEARCH_RECHECK_MS": int(env.get("SCHOOL_SEARCH_RECHECK_MS", 500)),
        # Search result pages each process keeps (library.result_cache); 0 turns the cache off.
        "SEARCH_PAGES_KEPT": int(env.get("SCHOOL_SEARCH_PAGES_KEPT", 2000)),
        # Characters of document bodies each process keeps for snippets (per revision); 0: none.
        "SEARCH_BODIES_KEPT_CHARS": int(env.get("SCHOOL_SEARCH_BODIES_KEPT_CHARS", 8_000_000)),
        "LIBRARY_HEARTBEAT_SECONDS": int(env.get("SCHOOL_LIBRARY_HEARTBEAT_SECONDS", 30)),
        "COURSES_HEARTBEAT_SECONDS": float(env.get("SCHOOL_COURSES_HEARTBEAT_SECONDS", 10)),
        # A TrueType font with Chinese glyphs for PDF study records (default: WenQuanYi Micro Hei).
        "PDF_FONT": env.get("SCHOOL_PDF_FONT", ""),
        "REDIS_URL": env.get("SCHOOL_REDIS_URL", ""),
        "RQ_QUEUE": env.get("SCHOOL_RQ_QUEUE", "school"),
        # "inprocess": while Redis cannot be reached, jobs are queued anyway and the web
        # processes' in-process worker runs them (instead of refusing to queue).
        "JOBS_FALLBACK": env.get("SCHOOL_JOBS_FALLBACK", ""),
        # nginx internal location that maps to MEDIA_DIR, e.g. "/protected-media" (empty: Flask sends files).
        "ACCEL_REDIRECT": env.get("SCHOOL_ACCEL_REDIRECT", ""),
        # How many reverse proxies in front of the app set X-Forwarded-For/-Proto (nginx: 1).
        # 0 trusts no such header: the address is the TCP peer, so it cannot be spoofed.
        "TRUSTED_PROXIES": int(env.get("SCHOOL_TRUSTED_PROXIES", 0)),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env.get("SCHOOL_COOKIE_SECURE", "1" if production else "0") == "1",
        "SESSION_COOKIE_NAME": "school_session",
        "PERMANENT_SESSION_LIFETIME": 12 * 3600,
        # The cookie is sent when the session changes (login, logout, a flash message), not on
        # every response: a re-signed cookie changes every second, and media responses carry
        # "Vary: Cookie", so each new cookie made the browser's cached segments miss (a 304
        # round trip each). The login's lifetime is counted on the server from the login
        # (auth.load_session_user), and the cookie set at login expires at the same time.
        "SESSION_REFRESH_EACH_REQUEST": False,
        "MAX_CONTENT_LENGTH": 32 * 1024 * 1024,
        "WTF_CSRF_TIME_LIMIT": None,  # the token is bound to the session, which expires on its own
        # Login throttling: failures counted in the database within a sliding window.
        "LOGIN_WINDOW_SECONDS": int(env.get("SCHOOL_LOGIN_WINDOW_SECONDS", 15 * 60)),
        "LOGIN_MAX_FAILURES_PER_ACCOUNT": int(env.get("SCHOOL_LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)),
        "LOGIN_MAX_FAILURES_PER_IP": int(env.get("SCHOOL_LOGIN_MAX_FAILURES_PER_IP", 30)),
        # Exams: saves still in flight this many seconds after an attempt's deadline are accepted.
        "EXAM_GRACE_SECONDS": int(env.get("SCHOOL_EXAM_GRACE_SECONDS", 30)),
        # /healthz answers 503 when the media or instance folder has less free space than this.
        "MIN_FREE_MB": int(env.get("SCHOOL_MIN_FREE_MB", 200)),
        # Reminders (通知公告 / 消息): e-mail through SMTP, SMS through the county platform's webhook.
        "SMTP_URL": env.get("SCHOOL_SMTP_URL", ""),  # smtp://user:pass@host:587?starttls=1, smtps://…
        "SMTP_FROM": env.get("SCHOOL_SMTP_FROM", "noreply@localhost"),
        "SMS_WEBHOOK": env.get("SCHOOL_SMS_WEBHOOK", ""),  # JSON POST {"phone": …, "text": …}
        "DELIVERY_TIMEOUT_SECONDS": float(env.get("SCHOOL_DELIVERY_TIMEOUT_SECONDS", 10)),
        "REMINDER_DAILY_LIMIT": int(env.get("SCHOOL_REMINDER_DAILY_LIMIT", 3)),
        # Logs: SCHOOL_LOG_JSON=1 writes one JSON object per line; every line carries the request id.
        # The stderr handler is installed in production or with SCHOOL_LOG_JSON (SCHOOL_LOG_CONFIGURE=0: never).
        "LOG_JSON": env.get("SCHOOL_LOG_JSON", "0") == "1",
        "LOG_CONFIGURE": env.get("SCHOOL_LOG_CONFIGURE", "1" if production or env.get("SCHOOL_LOG_JSON") == "1"
                                 else "0") == "1",
        "LOG_REQUESTS": env.get("SCHOOL_LOG_REQUESTS", "1") == "1",  # one INFO line per request
        # /metrics: loopback, these networks (e.g. "10.0.0.0/8"), or "Authorization: Bearer <token>".
        "METRICS_TOKEN": env.get("SCHOOL_METRICS_TOKEN", ""),
        "METRICS_ALLOW": env.get("SCHOOL_METRICS_ALLOW", ""),
        # Hashed and precompressed static files (school static build); default instance/static-build.
        "STATIC_BUILD_DIR": env.get("SCHOOL_STATIC_BUILD_DIR", ""),
        "TESTING": False,
        # Parsing bounds for uploads and stored Markdown (school/limits.py: SCHOOL_UPLOAD_PARSE_TIMEOUT …).
        **limits.from_environment(env),
    }
    config.update(overrides)
    config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(config["SQLALCHEMY_DATABASE_URI"])
    if "SQLALCHEMY_ENGINE_OPTIONS" not in overrides:
        config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(config["SQLALCHEMY_DATABASE_URI"], env)
    return config
