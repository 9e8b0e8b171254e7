"""网上党校 · Online Party School — the application factory."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from school.config import load_config
from school.extensions import csrf, db, login_manager, migrate


def create_app(overrides: dict | None = None) -> Flask:
    config = load_config(overrides)
    app = Flask(__name__, instance_path=config["INSTANCE_PATH"], instance_relative_config=False)
    app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    if app.config["TRUSTED_PROXIES"] > 0:
        # The client address (login throttling, session rows) and the scheme come from the
        # headers the trusted proxies add, counted from the right; more are ignored.
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    from school import observability
    observability.init_app(app)  # request id, log format, /metrics (first, so every hook logs the id)
    from school import sqlcount
    sqlcount.init_app(app)  # X-Statements with SCHOOL_COUNT_STATEMENTS=1 (before any hook that queries)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"),
                     render_as_batch=True)
    csrf.init_app(app)
    _init_login(app)
    from school import autocommit
    autocommit.init_app(app)  # PostgreSQL: views marked @autocommit.reads need no BEGIN/COMMIT
    from school import read_commit
    read_commit.init_app(app)  # PostgreSQL: a transaction that only read ends with COMMIT (after db.init_app)

    # Documents used by course lessons are not deleted from the library.
    import school.courses.library_uses  # noqa: F401

    # Report columns of courses and exams (registered once, on first import).
    import school.courses.metrics  # noqa: F401
    import school.exams.metrics  # noqa: F401

    # Study plans' report columns, and the sweep that retries reminder deliveries.
    import school.notices.delivery  # noqa: F401
    import school.notices.plans  # noqa: F401
    import school.training.library_uses  # noqa: F401
    import school.training.metrics  # noqa: F401
    import school.training.plan_kind  # noqa: F401  (a class as a study-plan item)
    from school import assets, jobs, library, security, template_urls, web
    from school.accounts.admin_views import bp as admin_bp
    from school.accounts.views import bp as accounts_bp
    from school.courses.manage_views import bp as courses_manage_bp
    from school.courses.views import bp as courses_bp
    from school.credits.offline_views import bp as offline_bp
    from school.credits.report_views import bp as reports_bp
    from school.credits.views import bp as credits_bp
    from school.exams.editor_views import bp as exam_editor_bp
    from school.exams.marking_views import bp as exam_grading_bp
    from school.exams.member_views import bp as exams_bp
    from school.exams.result_views import bp as exam_results_bp
    from school.notices.views import bp as notices_bp
    from school.training.manage_views import bp as training_manage_bp
    from school.training.views import bp as training_bp
    from school.training.views import public as training_public_bp

    security.init_app(app)
    web.init_app(app)
    assets.init_app(app)
    template_urls.init_app(app)  # after assets: its static names are url_defaults
    app.register_blueprint(accounts_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(credits_bp)
    library.init_app(app)
    app.register_blueprint(offline_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(courses_bp)
    app.register_blueprint(courses_manage_bp)
    jobs.init_app(app)
    app.register_blueprint(exams_bp)
    app.register_blueprint(exam_editor_bp)
    app.register_blueprint(exam_results_bp)
    app.register_blueprint(notices_bp)
    app.register_blueprint(training_bp)
    app.register_blueprint(training_manage_bp)
    app.register_blueprint(training_public_bp)
    from school.search_all import bp as search_all_bp
    app.register_blueprint(search_all_bp)
    app.register_blueprint(exam_grading_bp)

    from school.cli import register_commands
    register_commands(app)
    return app


def _init_login(app: Flask) -> None:
    from datetime import timedelta

    from school.accounts.auth import load_session_user
    from school.notices.menu import load_page_user
    from school.timeutil import utcnow

    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = "请先登录"
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # sessions are checked on the server instead
    max_age = timedelta(seconds=app.config["PERMANENT_SESSION_LIFETIME"])
    def load_user(token):
        # A JSON call (autosave, heartbeat) renders no menu: its user comes without the
        # organisation. A page's may come with the menu's counts; a form's post usually
        # redirects, and reads them only if it draws a page after all.
        if not has_request_context():
            return load_session_user(token, utcnow(), max_age)
        if request.is_json:
            return load_session_user(token, utcnow(), max_age, with_org=False)
        if request.method not in ("GET", "HEAD"):
            return load_session_user(token, utcnow(), max_age)
        return load_page_user(token, utcnow(), max_age)

    login_manager.user_loader(load_user)


def _is_sqlite(dbapi_connection) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """WAL, a busy timeout and foreign keys for every SQLite connection (no-op elsewhere).

    The driver's own transaction handling is switched off (``isolation_level = None``): pysqlite
    neither begins a transaction before a SAVEPOINT nor knows that RELEASE of the outermost
    savepoint then commits, so a released ``begin_nested()`` could not be rolled back. SQLAlchemy
    emits BEGIN instead (``_sqlite_begin`` below), as its pysqlite dialect documentation describes.
    """
    if _is_sqlite(dbapi_connection):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


# Statements that may run before the transaction has taken SQLite's write lock.
_SQLITE_READS = ("SELECT", "PRAGMA", "VACUUM", "EXPLAIN")


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """SQLAlchemy began a transaction: on SQLite, BEGIN IMMEDIATE is emitted before its first write.

    Reads before the first write run as pysqlite ran them (no lock held, so a long page never
    blocks writers); the first INSERT/UPDATE/DELETE/SAVEPOINT/DDL takes the write lock with
    BEGIN IMMEDIATE, which waits (busy_timeout) for another writer instead of failing the way a
    deferred BEGIN whose read snapshot went stale does. Everything after it, savepoints included,
    is one transaction that COMMIT or ROLLBACK ends.
    """
    if conn.dialect.name == "sqlite" and conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        conn.info["school_begin_pending"] = True


@event.listens_for(Engine, "before_cursor_execute")
def _sqlite_begin_before_write(conn, cursor, statement, parameters, context, executemany):
    if conn.info.get("school_begin_pending") and not statement.lstrip().upper().startswith(_SQLITE_READS):
        conn.info["school_begin_pending"] = False
        if not conn.connection.dbapi_connection.in_transaction:
            cursor.execute("BEGIN IMMEDIATE")


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _sqlite_transaction_ended(conn):
    conn.info.pop("school_begin_pending", None)
