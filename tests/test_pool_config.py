"""The PostgreSQL pool follows the gunicorn threads (issue 17): no request thread waits for a connection."""
from __future__ import annotations

from school.config import engine_options, load_config


def test_pool_follows_threads():
    url = "postgresql+psycopg://u@127.0.0.1/db"
    assert engine_options(url, {"SCHOOL_WEB_THREADS": "16"}) == {"pool_size": 16, "max_overflow": 4,
                                                                  "pool_timeout": 30.0}
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
