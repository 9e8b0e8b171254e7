"""The production stack for real: Debian's nginx, configured from ``deploy/``, in front of
gunicorn (``deploy/gunicorn.conf.py``) on a fresh SQLite site made by ``school init``.
Both are started once for the module (see ``stack.py``)."""
from __future__ import annotations

import gzip
import socket
import sqlite3

import pytest

from tests.conftest import PASSWORD
from tests.deploy.stack import REPO, Browser, Gunicorn, Nginx, app_env, nginx_binary, school


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    nginx_binary()  # skip (or fail under SCHOOL_REQUIRE_NGINX=1) before doing any work
    root = tmp_path_factory.mktemp("stack")
    env = app_env(root, SCHOOL_LOG_JSON="1")
    assert "数据库已是最新版本" in school(env, "init")
    site = populate(root)

    # The static folder nginx serves is the build folder (hashed names, .gz siblings), as deployed:
    # `school static build` with the site's environment (SCHOOL_STATIC_BUILD_DIR unset: <instance>/static-build).
    assert "个静态文件" in school(env, "static", "build")
    static = root / "instance" / "static-build"
    css = REPO / "school" / "static" / "css" / "site.css"

    web = Gunicorn(env, root)
    proxy = None
    try:
        proxy = Nginx(root / "nginx", [web.port], static, root / "media")
        site.update(root=root, web=web, nginx=proxy, css=css.read_bytes())
        yield site
    finally:
        if proxy is not None:
            proxy.stop()
        web.stop()


def populate(root) -> dict:
    """A member in a course's audience, and a ready video lesson with HLS files and an MP4."""
    from school import create_app
    from school.extensions import db
    from tests.factories import Factory

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{root / 'school.db'}", "SECRET_KEY": "x",
                      "TESTING": True, "INSTANCE_PATH": str(root / "instance"), "MEDIA_DIR": str(root / "media")})
    with app.app_context():
        make = Factory(db.session)
        t = make.tree()
        member = make.user(org=t["a1"])
        course = make.course(orgs=[t["a"]], title="部署测试课程")
        lesson = make.video_lesson(course)
        folder = root / "media" / "videos" / lesson.media_key
        (folder / "master.m3u8").write_text("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=400000\nv0/index.m3u8\n")
        (folder / "v0" / "index.m3u8").write_text("#EXTM3U\n#EXT-X-MAP:URI=\"init_0.mp4\"\n#EXTINF:4,\nseg000.m4s\n")
        (folder / "v0" / "init_0.mp4").write_bytes(b"\0" * 64)
        (folder / "v0" / "seg000.m4s").write_bytes(bytes(range(256)) * 40)
        (folder / "download.mp4").write_bytes(bytes(range(256)) * 1000)
        site = dict(member=member.member_no, lesson=lesson.id, key=lesson.media_key, folder=folder)
        db.session.remove()
        db.engine.dispose()
    return site


def test_failed_login_records_the_address_nginx_saw_not_a_spoofed_one(stack):
    # The client connects from 127.0.0.2; gunicorn's TCP peer is nginx (127.0.0.1). ProxyFix
    # (SCHOOL_TRUSTED_PROXIES=1) takes the address nginx appended, and only that one.
    browser = Browser(stack["nginx"].port, source="127.0.0.2")
    answer = browser.login("nobody-here", "wrong", headers={"X-Forwarded-For": "6.6.6.6"})
    assert answer.status == 401
    with sqlite3.connect(stack["root"] / "school.db") as conn:
        ips = [row[0] for row in conn.execute("SELECT ip FROM login_attempt WHERE identifier = 'name:nobody-here'")]
    assert ips == ["127.0.0.2"]  # not 127.0.0.1 (nginx) and not the client's own 6.6.6.6


def test_media_only_through_x_accel_redirect_after_the_access_check(stack):
    port, lesson, key = stack["nginx"].port, stack["lesson"], stack["key"]
    stranger = Browser(port)
    assert stranger.get(f"/courses/media/{lesson}/master.m3u8").status == 302  # to the login page
    assert stranger.get(f"/protected-media/videos/{key}/master.m3u8").status == 404  # internal only

    member = Browser(port)
    assert member.login(stack["member"], PASSWORD).status == 302
    # The pages' URLs name the media key: nginx passes the app's year-long Cache-Control on.
    playlist = member.get(f"/courses/media/{lesson}/k/{key}/master.m3u8")
    assert playlist.status == 200
    assert playlist.getheader("Content-Type").startswith("application/vnd.apple.mpegurl")
    assert playlist.body == (stack["folder"] / "master.m3u8").read_bytes()  # sent by nginx from the media folder
    assert playlist.getheader("Cache-Control") == "private, max-age=31536000, immutable"
    assert playlist.getheader("X-Accel-Redirect") is None  # consumed by nginx
    assert playlist.getheader("Set-Cookie") is None  # the session did not change
    plain = member.get(f"/courses/media/{lesson}/master.m3u8")
    assert plain.status == 200 and plain.getheader("Cache-Control") == "private, no-cache"
    assert member.get(f"/courses/media/{lesson}/k/{'0' * 20}/master.m3u8").status == 404

    segment = member.get(f"/courses/media/{lesson}/k/{key}/v0/seg000.m4s")
    assert (segment.status, segment.getheader("Content-Type")) == (200, "video/iso.segment")
    assert segment.getheader("Cache-Control") == "private, max-age=31536000, immutable"
    init = member.get(f"/courses/media/{lesson}/k/{key}/v0/init_0.mp4")
    assert (init.status, init.getheader("Content-Type")) == (200, "video/mp4")
    variant = member.get(f"/courses/media/{lesson}/k/{key}/v0/index.m3u8")
    assert variant.getheader("Content-Type").startswith("application/vnd.apple.mpegurl")


def test_range_request_answers_206(stack):
    member = Browser(stack["nginx"].port)
    member.login(stack["member"], PASSWORD)
    part = member.get(f"/courses/media/{stack['lesson']}/download.mp4", headers={"Range": "bytes=100-199"})
    assert part.status == 206
    assert part.getheader("Content-Range") == "bytes 100-199/256000"
    assert part.getheader("Content-Type") == "video/mp4"
    assert part.body == (stack["folder"] / "download.mp4").read_bytes()[100:200]


def test_static_files_compressed_and_cached(stack):
    browser = Browser(stack["nginx"].port)
    zipped = browser.get("/static/css/site.css", headers={"Accept-Encoding": "gzip"})
    assert zipped.status == 200
    assert zipped.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(zipped.body) == stack["css"]
    assert zipped.getheader("Content-Type").startswith("text/css")
    cache = ", ".join(zipped.msg.get_all("Cache-Control"))
    assert "max-age=86400" in cache and "public" in cache
    plain = browser.get("/static/css/site.css")
    assert plain.getheader("Content-Encoding") is None and plain.body == stack["css"]


def test_hashed_stylesheet_of_a_page_is_served_by_nginx(stack):
    # Pages link the content-hashed name (assets.py); nginx must find it in the folder it serves.
    import re

    browser = Browser(stack["nginx"].port)
    page = browser.get("/login").body.decode()
    href = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', page).group(1)
    zipped = browser.get(href, headers={"Accept-Encoding": "gzip"})
    assert zipped.status == 200
    assert zipped.getheader("Content-Encoding") == "gzip"
    assert gzip.decompress(zipped.body) == stack["css"]
    assert zipped.getheader("Content-Type").startswith("text/css")
    assert zipped.msg.get_all("Cache-Control") == ["public, max-age=31536000, immutable"]
    assert zipped.getheader("X-Content-Type-Options") == "nosniff"
    assert href not in stack["web"].log.read_text()  # sent by nginx from the folder; gunicorn never saw it


def raw_post(port: int, path: str, length: int, body: bytes = b"", content_type="application/octet-stream") -> bytes:
    """POST announcing ``length`` bytes and sending ``body``; the raw answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\n"
                  f"Content-Length: {length}\r\nConnection: close\r\n\r\n".encode())
        if body:
            s.sendall(body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return answer


def test_oversize_upload_refused_by_nginx_with_the_sites_page(stack):
    answer = raw_post(stack["nginx"].port, "/courses/manage/uploads/1/chunk", 13 * 1024 * 1024)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert b"text/html" in head
    assert "文件过大" in body.decode() and "12 MB" in body.decode()
    # gunicorn never saw it
    assert b"/chunk" not in (stack["web"].log.read_bytes())


def test_a_4_mb_chunk_passes_nginx(stack):
    # A multipart body (read by the app, as the chunk endpoint reads its body; an app that answers
    # without reading a large body makes nginx's write fail: 502).
    boundary = "----schooltest"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"chunk.bin\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + b"\0" * (4 * 1024 * 1024) + \
        f"\r\n--{boundary}--\r\n".encode()
    answer = raw_post(stack["nginx"].port, "/login", len(body), body, f"multipart/form-data; boundary={boundary}")
    head = answer[:300]
    assert not answer.startswith(b"HTTP/1.1 413"), head
    assert answer.startswith(b"HTTP/1.1 400"), head  # the app's own answer (no CSRF token), not nginx's


def test_healthz_through_nginx_with_nginx_request_id_in_the_json_log(stack):
    import json
    import time

    answer = Browser(stack["nginx"].port).get("/healthz")
    assert answer.status == 200
    rid = answer.getheader("X-Request-ID")
    assert rid and len(rid) == 32  # nginx's $request_id, passed on and returned by the app
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [json.loads(line) for line in stack["web"].log.read_text().splitlines() if line.startswith("{")]
        mine = [entry for entry in lines if entry.get("request_id") == rid]
        if mine:
            break
        time.sleep(0.1)
    assert mine and mine[0]["path"] == "/healthz" and mine[0]["status"] == 200


def test_metrics_only_from_this_host(stack):
    port = stack["nginx"].port
    assert Browser(port, source="127.0.0.2").get("/metrics").status == 403  # nginx: deny all but localhost
    local = Browser(port).get("/metrics")
    assert local.status == 200 and b"school_request_seconds" in local.body
