"""Shared fixtures: an app on a fresh database per test (SQLite, or PostgreSQL when
``SCHOOL_TEST_DATABASE_URL`` is set), a client that sends CSRF tokens like a browser,
and small factories."""
from __future__ import annotations

import contextvars
import os
import re
import shutil

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from school import create_app
from school.config import normalise_database_url
from school.extensions import db
from tests.factories import Factory, make_clip

PASSWORD = "Passw0rd!"


def _worker_database_url() -> str:
    """On PostgreSQL each pytest-xdist worker gets a database of its own (``test_gw0`` …),
    created on first use; without xdist the configured database itself is used."""
    base = os.environ.get("SCHOOL_TEST_DATABASE_URL", "")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not base or not worker:
        return base
    url = make_url(normalise_database_url(base))
    name = f"{url.database}_{worker}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    worker_url = url.set(database=name).render_as_string(hide_password=False)
    # Test modules read the variable at import (after this conftest), so they see the worker's database.
    os.environ["SCHOOL_TEST_DATABASE_URL"] = worker_url
    return worker_url


PG_URL = _worker_database_url()


@pytest.fixture(scope="session")
def _shared_app(tmp_path_factory):
    """One application for the whole session, on a schema built once.

    Building an app costs more than most tests (werkzeug compiles every URL rule), so the
    tests share one and each gets a fresh database and folders instead (``app`` below).
    PostgreSQL: the schema is created in the (worker's) database once. SQLite: it is built
    into a template file that every test copies over the session's database file.
    """
    root = tmp_path_factory.mktemp("shared-app")
    if PG_URL:
        url = normalise_database_url(PG_URL)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        template = None
    else:
        template = root / "template.db"
        url = f"sqlite:///{root / 'test.db'}"
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test-secret", "TESTING": True,
        "INSTANCE_PATH": str(root / "instance"), "MEDIA_DIR": str(root / "media"),
    })
    with app.app_context():
        db.create_all()
        db.engine.dispose()  # SQLite: the last connection checkpoints the WAL into the file
    if template is not None:
        (root / "test.db").rename(template)
    yield app, template, root / "test.db"


@pytest.fixture
def app(tmp_path, _shared_app):
    """The shared application on an empty database, with this test's own instance and media
    folders; whatever a test changes in ``app.config`` is put back afterwards."""
    app, template, database = _shared_app
    saved_config, saved_instance = dict(app.config), app.instance_path
    instance = tmp_path / "instance"
    instance.mkdir()
    app.instance_path = str(instance)
    app.config.update(INSTANCE_PATH=str(instance), MEDIA_DIR=str(tmp_path / "media"),
                      SEARCH_INDEX_DIR=str(instance / "search-index"))
    with app.app_context():
        db.engine.dispose()
        if template is not None:
            for leftover in (database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
                leftover.unlink(missing_ok=True)
            shutil.copyfile(template, database)
        else:
            tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
            db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            db.session.commit()
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()
            app.config.clear()
            app.config.update(saved_config)
            app.instance_path = saved_instance


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

    def tabs(self, n: int) -> list["CsrfClient"]:
        """``n`` more clients holding this one's session cookie: the same browser's other tabs.
        Take them after ``token()`` when the tabs post: the token is stored in the session."""
        cookie = self.client.get_cookie(self.client.application.config["SESSION_COOKIE_NAME"])
        tabs = [CsrfClient(self.client.application.test_client()) for _ in range(n)]
        for tab in tabs:
            tab.set_cookie(cookie.key, cookie.value)
        return tabs

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


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return {
        "720p": make_clip(folder / "clip720.mp4"),
        "small": make_clip(folder / "clip-small.mp4", seconds=8, size="640x360", extra=("-movflags", "+faststart")),
    }


@pytest.fixture(scope="session")
def transcoded(tmp_path_factory, clips):
    """The renditions (240p and 360p) of the 8-second 360p clip, made once by the real single pass."""
    from school.courses import transcode
    from school.courses.probe import probe

    out = tmp_path_factory.mktemp("renditions")
    info = probe(clips["small"])
    transcode.run(transcode.command(clips["small"], out, info), info.duration)
    return out, info


@pytest.fixture
def courses(app, transcoded):
    """The factory, with video lessons made from the session's real renditions."""
    return Factory(db.session, renditions=transcoded)


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
