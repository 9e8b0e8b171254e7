"""Site-wide pieces: template filters, error pages, health check, large-text switch."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from sqlalchemy import text

from school.extensions import db
from school.timeutil import format_local

ERRORS = {
    403: ("没有权限", "您没有访问此页面的权限。"),
    404: ("页面不存在", "您要找的页面不存在，或不在您的管理范围内。"),
    405: ("请求方式不正确", "此页面不支持这种操作。"),
    413: ("文件过大", "上传的文件超过了大小限制。"),
    429: ("操作过于频繁", "请稍后再试。"),
    500: ("服务器出错了", "服务器暂时出现问题，请稍后再试。已记录此错误。"),
}


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

    @app.get("/healthz")
    def healthz():
        try:
            db.session.execute(text("SELECT 1"))
            return jsonify(status="ok", database="ok")
        except Exception:  # any failure to reach the database is "unhealthy", never a 500 page
            db.session.rollback()
            return jsonify(status="error", database="unreachable"), 503
