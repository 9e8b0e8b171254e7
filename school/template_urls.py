"""``url_for`` for templates: the links that take no argument (the menu's, the page's
assets) are built once per process and script root, not on every page.

Every page's menu holds about fifteen of them and werkzeug builds each one anew (≈ 0.1 ms
apiece: a sixth of rendering a search page). A link with arguments — a document, a query,
``_external``, ``_anchor`` — and a blueprint-relative one (``.index``) is built each time as
before. The url_defaults of this app (the hashed static names, ``assets``) are fixed for the
life of the process, as are its routes, so the same link is the same string.
"""
from __future__ import annotations

from flask import Flask, has_request_context, request

MAX_KEPT = 1000


def init_app(app: Flask) -> None:
    build = app.jinja_env.globals["url_for"]
    built: dict[tuple, str] = {}

    def url_for(endpoint: str, **values) -> str:
        if (not has_request_context() or endpoint.startswith(".")
                or (values and (endpoint != "static" or values.keys() != {"filename"}))):
            return build(endpoint, **values)
        key = (request.script_root, endpoint, values.get("filename"))
        url = built.get(key)
        if url is None:
            url = build(endpoint, **values)
            if len(built) < MAX_KEPT:  # endpoints × assets × script roots: a few dozen in practice
                built[key] = url
        return url

    app.jinja_env.globals["url_for"] = url_for
