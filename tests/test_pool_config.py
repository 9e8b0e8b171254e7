"""The PostgreSQL pool follows the gunicorn threads (issue 17): no request thread waits for a connection."""
from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine

from school.config import engine_options, load_config, normalise_database_url


def test_pool_follows_threads():
    url = "postgresql+psycopg://u@127.0.0.1/db"
    assert engine_options(url, {"SCHOOL_WEB_THREADS": "16"}) == {"pool_size": 16, "max_overflow": 4,
                                                                  "pool_timeout": 30.0, "pool_use_lifo": True}
    assert engine_options(url, {})["pool_size"] == 8  # gunicorn.conf.py's default threads
    assert engine_options(url, {"SCHOOL_WEB_THREADS": "16", "SCHOOL_DB_POOL_SIZE": "20",
                                "SCHOOL_DB_MAX_OVERFLOW": "0"})["pool_size"] == 20
    assert engine_options("sqlite:///x.db", {"SCHOOL_WEB_THREADS": "16"}) == {}


def test_config_carries_pool_options(monkeypatch, tmp_path):
    monkeypatch.setenv("SCHOOL_WEB_THREADS", "12")
    config = load_config({"SQLALCHEMY_DATABASE_URI": "postgresql://u@127.0.0.1/db", "SECRET_KEY": "x",
                          "INSTANCE_PATH": str(tmp_path)})
    assert config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"] == 12
    assert config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")


def test_the_connection_used_last_serves_the_next_request():
    """After a burst has opened several connections, requests one at a time keep to the one
    used last (its backend's caches and psycopg's prepared statements warm), not each idle
    connection in turn."""
    url = os.environ.get("SCHOOL_TEST_DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("PostgreSQL only: SQLite gets no pool options")
    url = normalise_database_url(url)
    engine = create_engine(url, **engine_options(url, {"SCHOOL_WEB_THREADS": "4"}))
    try:
        burst = [engine.connect() for _ in range(4)]
        pids = [conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() for conn in burst]
        for conn in burst:
            conn.close()
        assert len(set(pids)) == 4
        served = []
        for _ in range(6):
            with engine.connect() as conn:
                served.append(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar())
        assert served == [pids[-1]] * 6
    finally:
        engine.dispose()
