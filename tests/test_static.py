"""Static files: hashed names in pages, immutable caching, precompressed Brotli/gzip; HTML compressed."""
from __future__ import annotations

import gzip
import re

import brotli


def _site_css(client) -> str:
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'href="(/static/css/site\.[0-9a-f]{12}\.css)"', page)
    assert match, "the page links the hashed stylesheet"
    return match.group(1)


def test_page_references_hashed_names(client):
    assert re.search(r'/static/favicon\.[0-9a-f]{12}\.svg', client.get("/login").get_data(as_text=True))


def test_hashed_css_is_immutable_and_precompressed(client, app):
    url = _site_css(client)
    plain = client.get("/static/css/site.css").data
    for encoding, decode in (("br", brotli.decompress), ("gzip", gzip.decompress)):
        response = client.get(url, headers={"Accept-Encoding": encoding})
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["Content-Encoding"] == encoding
        assert "Accept-Encoding" in response.headers["Vary"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert decode(response.data) == plain
    identity = client.get(url)
    assert "Content-Encoding" not in identity.headers and identity.data == plain


def test_hashed_js_is_precompressed(client, app):
    hashed = app.extensions["static_manifest"]["js/player.js"]
    assert re.fullmatch(r"js/player\.[0-9a-f]{12}\.js", hashed)
    response = client.get(f"/static/{hashed}", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert response.headers["Content-Encoding"] == "br"
    assert "immutable" in response.headers["Cache-Control"]


def test_plain_name_is_cached_briefly(client):
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert "immutable" not in response.headers["Cache-Control"]


def test_html_is_compressed_when_asked(client):
    response = client.get("/login", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert "网上党校" in gzip.decompress(response.data).decode()
    response = client.get("/login", headers={"Accept-Encoding": "br"})
    assert response.headers["Content-Encoding"] == "br"
    assert "网上党校" in brotli.decompress(response.data).decode()
    assert "Content-Encoding" not in client.get("/login").headers


def test_static_build_command_writes_hashed_precompressed_files(app, tmp_path):
    import json

    app.config["STATIC_BUILD_DIR"] = str(tmp_path / "built")
    result = app.test_cli_runner().invoke(args=["static", "build"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "built" / "manifest.json").read_text())
    hashed = manifest["js/player.js"]
    for name in (hashed, hashed + ".br", hashed + ".gz", "js/player.js.br"):
        assert (tmp_path / "built" / name).is_file(), name


def test_startup_builds_only_when_the_manifest_is_missing_or_older_than_a_source(tmp_path, monkeypatch):
    import os

    from school import assets

    source, out = tmp_path / "src", tmp_path / "built"
    (source / "css").mkdir(parents=True)
    (source / "css" / "a.css").write_text("body { color: red; }\n" * 100)
    manifest, built = assets.build_if_stale(out, source)
    assert built and set(manifest) == {"css/a.css"}

    calls = []
    real_build = assets.build
    monkeypatch.setattr(assets, "build", lambda *a, **k: calls.append(a) or real_build(*a, **k))
    assert assets.build_if_stale(out, source) == (manifest, False)  # up to date: nothing read or written
    assert calls == []

    newer = (out / "manifest.json").stat().st_mtime + 10
    (source / "css" / "a.css").write_text("body { color: blue; }\n" * 100)
    os.utime(source / "css" / "a.css", (newer, newer))
    manifest2, built = assets.build_if_stale(out, source)
    assert built and len(calls) == 1 and manifest2["css/a.css"] != manifest["css/a.css"]

    (out / "manifest.json").unlink()
    assert assets.build_if_stale(out, source)[1] is True


def test_static_build_command_builds_once(tmp_path, monkeypatch):
    from school import assets, create_app

    calls = []
    real_build = assets.build
    monkeypatch.setattr(assets, "build", lambda *a, **k: calls.append(a) or real_build(*a, **k))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}", "SECRET_KEY": "x",
                      "TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"),
                      "STATIC_BUILD_DIR": str(tmp_path / "built")})
    assert len(calls) == 1  # a fresh folder: built at start
    result = app.test_cli_runner().invoke(args=["static", "build"])
    assert result.exit_code == 0, result.output
    assert len(calls) == 1  # not a second time
    again = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}", "SECRET_KEY": "x",
                        "TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"),
                        "STATIC_BUILD_DIR": str(tmp_path / "built")})
    assert len(calls) == 1  # a restart finds the folder current
    result = again.test_cli_runner().invoke(args=["static", "build"])
    assert result.exit_code == 0, result.output
    assert len(calls) == 2  # asked for explicitly: built (the start built nothing)


def test_files_a_build_no_longer_serves_are_removed_a_week_later(tmp_path):
    from school import assets

    day = 24 * 3600
    source, out = tmp_path / "src", tmp_path / "built"
    (source / "css").mkdir(parents=True)
    (source / "css" / "a.css").write_text("body { color: red; }\n" * 100)
    (source / "gone.js").write_text("var x = 1;\n" * 200)
    first = assets.build(out, source, now=0)
    old_css = first["css/a.css"]

    (source / "css" / "a.css").write_text("body { color: blue; }\n" * 100)
    (source / "gone.js").unlink()
    second = assets.build(out, source, now=1 * day)
    new_css = second["css/a.css"]
    # (day of a later build, whether the old files are still there): dropped on day 1, a page
    # cached before then keeps its files for a week.
    for days, old_kept in ((1, True), (7, True), (8, False)):
        assets.build(out, source, now=days * day)
        for name in (old_css, old_css + ".br", old_css + ".gz", "gone.js", first["gone.js"]):
            assert (out / name).exists() is old_kept, (days, name)
        for name in (new_css, new_css + ".gz", "css/a.css", "manifest.json"):
            assert (out / name).exists(), (days, name)

    # A change reverted before its week is up: the file is served again and never removed.
    (source / "css" / "a.css").write_text("body { color: red; }\n" * 100)
    assert assets.build(out, source, now=9 * day)["css/a.css"] == old_css  # rebuilt from source
    (source / "css" / "a.css").write_text("body { color: green; }\n" * 100)
    assets.build(out, source, now=10 * day)
    (source / "css" / "a.css").write_text("body { color: red; }\n" * 100)
    assets.build(out, source, now=11 * day)
    assets.build(out, source, now=30 * day)
    assert (out / old_css).exists()
