"""``url_for`` for templates: the links that take no argument (the menu's, the page's
assets) and the links to one object by its number (a document, a course) are built once per
process and script root, not on every page.

Every page's menu holds about fifteen of them and werkzeug builds each one anew (≈ 0.1 ms
apiece: a sixth of rendering a search page); a search page links to about ten documents by
their id. A link with other arguments — a query, an article, ``_external``, ``_anchor`` — and
a blueprint-relative one (``.index``) is built each time as before. The url_defaults of this
app (the hashed static names, ``assets``) are fixed for the life of the process, as are its
routes, so the same link is the same string.
"""
from __future__ import annotations

from flask import Flask, has_request_context, request

MAX_KEPT = 20_000  # endpoints × assets × script roots, and one per linked object: ≈ 4 MB at most


def _kept_key(endpoint: str, values: dict) -> tuple | None:
    """What the link is kept under, or None when it is built each time."""
    if not values:
        return endpoint, None
    if endpoint == "static":
        return (endpoint, values["filename"]) if values.keys() == {"filename"} else None
    # numbers only (``type`` is int: not a bool), and no ``_anchor``/``_external``-like option
    if all(type(v) is int and not k.startswith("_") for k, v in values.items()):
        return endpoint, tuple(sorted(values.items()))
    return None


def init_app(app: Flask) -> None:
    build = app.jinja_env.globals["url_for"]
    built: dict[tuple, str] = {}

    def url_for(endpoint: str, **values) -> str:
        if not has_request_context() or endpoint.startswith("."):
            return build(endpoint, **values)
        kept = _kept_key(endpoint, values)
        if kept is None:
            return build(endpoint, **values)
        key = (request.script_root, *kept)
        url = built.get(key)
        if url is None:
            url = build(endpoint, **values)
            if len(built) < MAX_KEPT:
                built[key] = url
        return url

    app.jinja_env.globals["url_for"] = url_for
