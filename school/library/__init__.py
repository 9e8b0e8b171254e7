"""The 党建工作图书馆: documents, Markdown rendering, Chinese full-text search, reading credit."""


def init_app(app) -> None:
    """Register the library's pages and make the search index follow the database."""
    from school.library import following
    from school.library.manage_views import bp as manage_bp
    from school.library.views import bp

    following.init_app(app)
    app.register_blueprint(bp)
    app.register_blueprint(manage_bp)
