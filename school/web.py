"""Site-wide pieces: template filters, error pages, health check, large-text switch."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, jsonify, render_template, request
from sqlalchemy import text
from sqlalchemy.exc import InternalError, OperationalError

from school import autocommit, diskspace
from school.extensions import db
from school.timeutil import format_local

log = logging.getLogger(__name__)

ERRORS = {
    403: ("没有权限", "您没有访问此页面的权限。"),
    404: ("页面不存在", "您要找的页面不存在，或不在您的管理范围内。"),
    405: ("请求方式不正确", "此页面不支持这种操作。"),
    413: ("文件过大", "上传的文件超过了大小限制。"),
    429: ("操作过于频繁", "请稍后再试。"),
    500: ("服务器出错了", "服务器暂时出现问题，请稍后再试。已记录此错误。"),
    503: ("暂时无法服务", "网站暂时无法处理您的请求，请稍后再试。"),
}
DB_READ_ONLY = ("数据库暂时无法写入", "数据库暂时无法写入（磁盘空间不足或数据库处于只读状态），"
                "您刚才的操作没有保存。请稍后再试；如果一直这样，请联系管理员。")
DB_DISK_FULL = ("磁盘空间不足", diskspace.message("数据库无法写入，您刚才的操作没有保存。"))
DISK_FULL = ("磁盘空间不足", diskspace.message("您刚才的操作没有完成，上传的文件和填写的内容都没有保存。"))
DB_DOWN = ("数据库暂时无法使用", "暂时连不上数据库，您刚才的操作没有保存。请稍后再试；如果一直这样，请联系管理员。")
# Besides a full disk (diskspace.is_full: its errno and texts), which refuses writes the same way.
READ_ONLY_TEXTS = ("readonly database", "read-only transaction", "read only", "disk i/o error", "database is locked")


def safe_next(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site, else ``default`` — for ``next``/``back`` values
    and stored links that a redirect or a link follows. Refused: anything not starting with one
    "/", a host (``//evil``), a backslash (browsers read ``/\\evil`` as ``//evil``) and control
    characters (browsers drop tabs and line breaks, which can make ``//`` too)."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(c) < 32 or ord(c) == 127 for c in target)):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def database_refusal(exc: BaseException) -> tuple[str, str] | None:
    """The (title, message) to show when ``exc`` means the database cannot write or be reached now;
    None for other errors (bugs stay 500s)."""
    from sqlalchemy.exc import InternalError, OperationalError

    text_ = str(getattr(exc, "orig", exc)).lower()
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None) or ""
    if diskspace.is_full(exc):
        return DB_DISK_FULL
    if sqlstate in ("25006", "53100") or any(t in text_ for t in READ_ONLY_TEXTS):
        return DB_READ_ONLY
    if isinstance(exc, OperationalError):
        return DB_DOWN
    if isinstance(exc, InternalError) and sqlstate.startswith(("08", "53", "57")):
        return DB_DOWN
    return None


def init_app(app: Flask) -> None:
    app.jinja_env.filters["local"] = format_local
    app.jinja_env.filters["hours"] = lambda v: f"{v:.2f}".rstrip("0").rstrip(".") if v is not None else "0"

    def render_error(error):
        code = getattr(error, "code", 500) or 500
        title, message = ERRORS.get(code, ERRORS[500])
        if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
            return jsonify(error=message), code
        return render_template("errors/error.html", code=code, title=title, message=message), code

    for code in ERRORS:
        app.register_error_handler(code, render_error)

    def database_error(error):
        refusal = database_refusal(error)
        if refusal is None:
            raise error
        try:
            db.session.rollback()
        except Exception:  # the connection may be gone too
            pass
        log.warning("database refused %s %s: %s", request.method, request.path, error.__class__.__name__)
        title, message = refusal
        if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json" \
                or request.is_json:
            return jsonify(error=message), 503, {"Retry-After": "30"}
        return render_template("errors/error.html", code=503, title=title, message=message), 503, \
            {"Retry-After": "30"}

    app.register_error_handler(OperationalError, database_error)
    app.register_error_handler(InternalError, database_error)

    def disk_full(error):
        """A full disk on any write path that does not say more itself: 507 with the Chinese
        message (the path removed what it had half-written); other OS errors stay 500s."""
        if not diskspace.is_full(error):
            raise error
        try:
            db.session.rollback()
        except Exception:
            pass
        log.warning("disk full during %s %s: %s", request.method, request.path, error)
        title, message = ("磁盘空间不足", str(error)) if isinstance(error, diskspace.DiskFull) else DISK_FULL
        if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json" \
                or request.is_json:
            return jsonify(error=message), 507
        return render_template("errors/error.html", code=507, title=title, message=message), 507

    app.register_error_handler(OSError, disk_full)
    app.register_error_handler(diskspace.DiskFull, disk_full)
    try:  # openpyxl writes through lxml, whose full-disk error is no OSError
        from lxml.etree import Error as LxmlError
    except ImportError:
        pass
    else:
        app.register_error_handler(LxmlError, disk_full)

    @app.get("/healthz")
    @autocommit.reads  # SELECT 1 alone: no BEGIN/ROLLBACK around it (load balancers ask often)
    def healthz():
        try:
            db.session.execute(text("SELECT 1"))
        except Exception:  # any failure to reach the database is "unhealthy", never a 500 page
            db.session.rollback()
            return jsonify(status="error", database="unreachable"), 503
        extra = {}
        if app.config.get("REDIS_URL"):  # background jobs need it: a node without it is unhealthy
            try:
                from redis import Redis

                Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=1, socket_timeout=1).ping()
                extra["redis"] = "ok"
            except Exception:
                return jsonify(status="error", database="ok", redis="unreachable"), 503
        minimum = app.config.get("MIN_FREE_MB", 200)
        low = diskspace.low({"media": app.config.get("MEDIA_DIR"), "instance": app.instance_path}, minimum)
        if low:
            where = "、".join(f"{name} 目录剩余 {free} MB" for name, free in low.items())
            return jsonify(status="error", database="ok", **extra, disk="low", free_mb=low, min_free_mb=minimum,
                           reason=f"磁盘空间不足：{where}，低于 SCHOOL_MIN_FREE_MB={minimum}"), 503
        return jsonify(status="ok", database="ok", **extra)
