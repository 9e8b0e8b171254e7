"""Templates' url_for: links without arguments are kept per script root, the same strings as Flask's."""
from __future__ import annotations

import pytest
from flask import url_for as flask_url_for

CALLS = [("credits.home", {}), ("library.index", {}), ("static", {"filename": "css/site.css"}),
         ("library.read", {"doc_id": 7}), ("library.read", {"doc_id": 8, "at": "第十条"}),
         ("library.search_page", {"q": "劳动合同", "page": 2}), ("credits.home", {"_anchor": "top"}),
         ("static", {"filename": "js/library-suggest.js", "v": "1"})]


@pytest.mark.parametrize("script_root", ["", "/school", "/other"])
def test_template_url_for_gives_flask_urls(app, script_root):
    template_url_for = app.jinja_env.globals["url_for"]
    for _ in range(2):  # built, then kept
        with app.test_request_context("/library/search", base_url=f"http://localhost{script_root}/"):
            for endpoint, values in CALLS:
                assert template_url_for(endpoint, **values) == flask_url_for(endpoint, **values)
                assert template_url_for(endpoint, **values).startswith(script_root + "/")


def test_hashed_static_name_in_page(client, app):
    hashed = app.extensions["static_manifest"]["css/site.css"]
    for _ in range(2):
        assert f'href="/static/{hashed}"' in client.get("/login").get_data(as_text=True)


def test_links_to_one_object_are_kept_but_other_arguments_are_not(app, monkeypatch):
    """A link by an id alone is one string per process and script root; a link with a text
    argument (a query, an article), a flag or an option is built each time."""
    from werkzeug.routing.map import MapAdapter

    template_url_for = app.jinja_env.globals["url_for"]
    builds = []
    real = MapAdapter.build
    monkeypatch.setattr(MapAdapter, "build", lambda self, endpoint, *a, **k: builds.append(endpoint)
                        or real(self, endpoint, *a, **k))
    with app.test_request_context("/library/search"):
        for _ in range(3):
            assert template_url_for("library.read", doc_id=7919) == "/library/doc/7919"
        assert len(builds) == 1
        for values in ({"doc_id": 7, "at": "第十条"}, {"q": "劳动合同"}, {"doc_id": 7, "_anchor": "x"},
                       {"doc_id": True}):
            endpoint = "library.search_page" if "q" in values else "library.read"
            builds.clear()
            for _ in range(2):
                assert template_url_for(endpoint, **values) == flask_url_for(endpoint, **values)
            assert len(builds) == 4, values  # built twice by each
    with app.test_request_context("/library/search", base_url="http://localhost/school/"):
        assert template_url_for("library.read", doc_id=7919) == "/school/library/doc/7919"
