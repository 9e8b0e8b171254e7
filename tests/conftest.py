"""Shared fixtures: an app on a fresh database per test (SQLite, or PostgreSQL when
``SCHOOL_TEST_DATABASE_URL`` is set), a client that sends CSRF tokens like a browser,
and small factories."""
from __future__ import annotations

import contextvars
import os
import re

import pytest
from sqlalchemy import create_engine, text

from school import create_app
from school.config import normalise_database_url
from school.extensions import db
from tests.factories import Factory

PG_URL = os.environ.get("SCHOOL_TEST_DATABASE_URL", "")
PASSWORD = "Passw0rd!"


@pytest.fixture(scope="session")
def _pg_schema():
    """On PostgreSQL the schema is created once; each test then starts from empty tables."""
    if not PG_URL:
        yield None
        return
    url = normalise_database_url(PG_URL)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test", "TESTING": True})
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    yield url


@pytest.fixture
def app(tmp_path, _pg_schema):
    url = _pg_schema or f"sqlite:///{tmp_path / 'test.db'}"
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": "test-secret",
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "MEDIA_DIR": str(tmp_path / "media"),
    })
    with app.app_context():
        if _pg_schema:
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.session.commit()
        else:
            db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


class CsrfClient:
    """Wraps the test client: every POST carries the page's CSRF token, as a browser would.

    Each request runs in an empty ``contextvars`` context, so it gets its own app context,
    ``g`` and database session exactly as in production, not the test's own.
    """

    def __init__(self, client):
        self.client = client

    def __getattr__(self, name):
        return getattr(self.client, name)

    def get(self, *args, **kwargs):
        return contextvars.Context().run(self.client.get, *args, **kwargs)

    def open(self, *args, **kwargs):
        return contextvars.Context().run(self.client.open, *args, **kwargs)

    def token(self) -> str:
        page = self.get("/login").get_data(as_text=True)
        if "csrf-token" not in page:  # logged in: /login redirects
            page = self.get("/").get_data(as_text=True)
        return re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)

    def post(self, url, data=None, csrf=True, json=None, headers=None, **kwargs):
        headers = dict(headers or {})
        if csrf:
            token = self.token()
            if json is not None:
                headers["X-CSRFToken"] = token
            else:
                data = dict(data or {})
                data.setdefault("csrf_token", token)
        return contextvars.Context().run(self.client.post, url, data=data, json=json, headers=headers, **kwargs)


@pytest.fixture
def client(app):
    return CsrfClient(app.test_client())


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make(app):
    return Factory(db.session)


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, user_or_identifier, password=PASSWORD):
        identifier = getattr(user_or_identifier, "member_no", user_or_identifier)
        return self.client.post("/login", data={"identifier": identifier, "password": password})

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    return Auth(client)
