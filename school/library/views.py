"""The library's pages: browse, search, read (with heartbeats), download; the editors' desk is ``manage_views``."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, render_template, request, send_file
from flask_login import current_user, login_required
from sqlalchemy import func, select

from school.accounts.roles import current_actor, is_editor
from school.credits import clock
from school.extensions import db
from school.library import columns, importer, reading, rendering, result_cache, search, services
from school.library.categories import CATEGORIES, resolve_category
from school.library.models import DocStatus, Document, LibraryColumn, ReadingPosition
from school.library.rendering import markdown_to_safe_html, render_document
from school.timeutil import utcnow

bp = Blueprint("library", __name__, url_prefix="/library", template_folder="templates")
PER_PAGE = 20



def _readable_or_404(doc_id: int) -> Document:
    doc = db.session.get(Document, doc_id)
    if doc is None or (not doc.is_published and not is_editor(current_user)):
        abort(404)
    return doc


def json_object() -> dict | None:
    """The request's JSON body if it is an object, else None. Flask answers malformed JSON
    with None here, but JSON nested thousands deep makes the decoder raise RecursionError."""
    try:
        payload = request.get_json(silent=True)
    except RecursionError:
        return None
    return payload if isinstance(payload, dict) else None


def _year_arg(name: str) -> int | None:
    year = request.args.get(name, type=int)
    return year if year is not None and 1000 <= year <= 3000 else None


def page_arg() -> int:
    return max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))


# --- browsing ---------------------------------------------------------------------------


@bp.get("/")
@login_required
def index():
    visible = services.visible_documents(current_user)
    newest = db.session.scalars(visible.order_by(Document.published_on.desc().nulls_last(),
                                                 Document.id.desc()).limit(8)).all()
    most_read = db.session.scalars(visible.where(Document.read_count > 0)
                                   .order_by(Document.read_count.desc(), Document.id).limit(8)).all()
    counts = dict(db.session.execute(
        select(Document.category, func.count()).where(Document.status == DocStatus.PUBLISHED)
        .group_by(Document.category)).all())
    return render_template("library/index.html", newest=newest, most_read=most_read, counts=counts,
                           categories=CATEGORIES, columns=columns.published_columns())


@bp.get("/category/<code>")
@login_required
def category(code: str):
    if code not in CATEGORIES:
        abort(404)
    order = request.args.get("order", "newest")
    query = services.visible_documents(current_user).where(Document.category == code)
    if order == "popular":
        query = query.order_by(Document.read_count.desc(), Document.id.desc())
    else:
        query = query.order_by(Document.published_on.desc().nulls_last(), Document.id.desc())
    page = db.paginate(query, page=page_arg(), per_page=PER_PAGE, error_out=False)
    return render_template("library/category.html", code=code, label=CATEGORIES[code], page=page, order=order)


@bp.get("/columns/<int:column_id>")
@login_required
def column(column_id: int):
    col = db.session.get(LibraryColumn, column_id)
    if col is None or (not col.published and not is_editor(current_user)):
        abort(404)
    docs = [item.document for item in col.items
            if item.document.is_published or is_editor(current_user)]
    return render_template("library/column.html", column=col, documents=docs,
                           introduction=markdown_to_safe_html(col.introduction))


@bp.get("/search")
@login_required
def search_page():
    q = request.args.get("q", "")
    code = resolve_category(request.args.get("category"))
    year_from = _year_arg("year_from")
    year_to = _year_arg("year_to")
    sort = request.args.get("sort", "relevance")
    sort = sort if sort in search.SORTS else "relevance"
    regions = result_cache.by_database_state("regions", services.regions)
    region = request.args.get("region", "").strip()
    region = region if any(region == value for value, _ in regions) else ""
    results = None
    if "q" in request.args:
        results = search.search(q, include_drafts=is_editor(current_user), category=code,
                                year_from=year_from, year_to=year_to, sort=sort, page=page_arg(),
                                region=region or None)
    return render_template("library/search.html", q=q, category=code or "", year_from=year_from,
                           year_to=year_to, sort=sort, results=results, categories=CATEGORIES,
                           sorts=search.SORTS, regions=regions, region=region)


@bp.get("/suggest")
@login_required
def suggest():
    """Titles for the search box's suggestions (characters, traditional or simplified, or pinyin)."""
    try:
        titles = search.suggest(request.args.get("q", "")[:100])
    except Exception:  # suggestions are a convenience: never an error page
        current_app.logger.exception("library suggestions failed")
        titles = []
    return jsonify(titles=titles)


# --- reading ----------------------------------------------------------------------------


@bp.get("/doc/<int:doc_id>")
@login_required
def read(doc_id: int):
    doc = _readable_or_404(doc_id)
    rendered = render_document(doc)  # rendered once per revision, then read from library_rendered
    position = db.session.get(ReadingPosition, (current_user.id, doc.id))
    printing = bool(request.args.get("print"))
    # A long document is served a chapter at a time: ?part=N, or the chapter holding ?at=第十条
    # (search hits and #第十条 links, which library-read.js turns into ?at=), else the one the
    # member last read.
    parts = rendering.split_parts(rendered, len(doc.body or "")) if not printing else []
    part = None
    if len(parts) > 1:
        number = request.args.get("part", type=int)
        part = (parts[number - 1] if number and 1 <= number <= len(parts) else None) \
            or rendering.part_of(parts, request.args.get("at")) \
            or rendering.part_of(parts, position.anchor if position else None) or parts[0]
    if doc.is_published and not (part and request.args.get("part")):  # moving between parts is one read
        services.count_read(doc)
    db.session.commit()  # the read count, and the rendering stored on first view
    template = "library/print.html" if printing else "library/read.html"
    return render_template(template, doc=doc, rendered=rendered, position=position, parts=parts, part=part,
                           anchor_parts={a: p.number for p in parts for a in p.anchors} if part else {},
                           heartbeat_seconds=current_app.config["LIBRARY_HEARTBEAT_SECONDS"],
                           summary_html=markdown_to_safe_html(doc.summary) if doc.summary else "")


@bp.post("/doc/<int:doc_id>/heartbeat")
@login_required
def heartbeat(doc_id: int):
    doc = _readable_or_404(doc_id)
    payload = json_object()
    if payload is None:
        return jsonify(error="请求格式不正确"), 400
    tab = clock.tab_id(payload.get("tab", reading.DEFAULT_TAB))
    if tab is None:
        return jsonify(error=clock.TAB_ID_ERROR), 400
    now = utcnow()
    visible = payload.get("visible", True) is not False
    result = None
    if doc.is_published:  # drafts being proof-read by an editor earn nothing
        result = reading.record_heartbeat(current_actor(), doc, now, visible=visible, tab=tab, **reading.page_report(
            payload, now, clock.device_label(request.user_agent.string)))
    reading.remember_position(current_actor(), doc, str(payload.get("anchor") or ""), payload.get("fraction"), now)
    db.session.commit()
    credit = result.credit if result else None
    return jsonify(ok=True, credited_seconds=result.credited_seconds if result else 0,
                   awarded_hours=str(result.awarded_hours) if result else "0",
                   today_hours=str(result.today_hours) if result else "0",
                   elsewhere=bool(credit and credit.reason == "elsewhere"),
                   presence_prompt=bool(credit and credit.presence_due),
                   interval=current_app.config["LIBRARY_HEARTBEAT_SECONDS"])


@bp.post("/doc/<int:doc_id>/still-here")
@login_required
def still_here(doc_id: int):
    _readable_or_404(doc_id)
    answered = reading.still_here(current_actor(), utcnow())
    db.session.commit()
    return jsonify(ok=answered)


@bp.get("/doc/<int:doc_id>/file")
@login_required
def download(doc_id: int):
    doc = _readable_or_404(doc_id)
    if not doc.file_stored:
        abort(404)
    try:
        path = importer.pdf_path(current_app.config["MEDIA_DIR"], doc.file_stored)
    except FileNotFoundError:
        abort(404)
    if not path.is_file():
        abort(404)
    return send_file(path, mimetype="application/pdf", as_attachment=True,
                     download_name=doc.file_name or f"{doc.title}.pdf")
