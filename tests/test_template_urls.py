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
