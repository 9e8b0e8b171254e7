"""Site basics: security headers, health check, error pages, large text, assets."""
import re

from school import create_app
from school.accounts.models import Role
from school.extensions import db


def test_security_headers_on_every_page(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_pages_load_nothing_from_outside(client, auth, make):
    auth.login(make.user(role=Role.ADMIN))
    for path in ["/", "/admin/orgs", "/admin/members", "/admin/requirements", "/account/password"]:
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r'(src|href)="(https?:)?//', page), path
        assert "<script>" not in page  # no inline script without a nonce


def test_healthz_reports_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_when_database_is_unreachable(tmp_path):
    from school import create_app
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/x.db", "SECRET_KEY": "x",
                      "INSTANCE_PATH": str(tmp_path / "i")})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_friendly_error_pages_in_chinese(client, auth, make):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and "页面不存在" in response.get_data(as_text=True)
    auth.login(make.user())
    response = client.get("/admin/orgs")
    assert response.status_code == 403 and "没有权限" in response.get_data(as_text=True)


def test_internal_error_page(app):
    # A route of its own needs an application of its own (the shared one has served requests).
    own = create_app({name: app.config[name] for name in
                      ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "TESTING", "INSTANCE_PATH", "MEDIA_DIR")})

    @own.get("/boom")
    def boom():
        raise RuntimeError("boom")

    own.config["PROPAGATE_EXCEPTIONS"] = False
    response = own.test_client().get("/boom")
    assert response.status_code == 500 and "服务器出错了" in response.get_data(as_text=True)


def test_large_text_is_remembered_per_user(client, auth, make):
    user = make.user()
    auth.login(user)
    assert 'class="large-text"' not in client.get("/").get_data(as_text=True)
    client.post("/account/large-text", data={"next": "/"})
    auth.logout()
    auth.login(user)
    assert 'class="large-text"' in client.get("/").get_data(as_text=True)
    db.session.refresh(user)
    assert user.large_text


def test_json_post_needs_csrf_header(client, auth, make):
    auth.login(make.user())
    response = client.post("/account/large-text", json={}, csrf=False)
    assert response.status_code == 400
    assert client.post("/account/large-text", json={}).status_code == 302


def test_static_assets_are_served(client):
    assert client.get("/static/css/site.css").status_code == 200


def test_a_full_disk_is_a_refused_write_not_a_lost_database():
    import sqlite3

    from sqlalchemy.exc import OperationalError

    from school.web import DB_DISK_FULL, DB_DOWN, DB_READ_ONLY, database_refusal

    for text in ("database or disk is full", 'could not extend file "base/1/2": No space left on device'):
        assert database_refusal(OperationalError("INSERT …", {}, sqlite3.OperationalError(text))) == DB_DISK_FULL
    assert DB_DISK_FULL[1].startswith("磁盘空间不足：") and "没有保存" in DB_DISK_FULL[1]
    assert database_refusal(OperationalError("INSERT …", {}, sqlite3.OperationalError(
        "attempt to write a readonly database"))) == DB_READ_ONLY
    assert database_refusal(OSError(28, "No space left on device")) == DB_DISK_FULL
    assert database_refusal(OperationalError("SELECT 1", {}, sqlite3.OperationalError("unable to open"))) == DB_DOWN
