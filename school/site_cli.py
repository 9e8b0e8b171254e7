"""Site-wide commands: ``school init``, ``demo``, ``serve`` and ``backup``."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import make_url

from school import diskspace
from school.extensions import db


@click.command("init", help="创建或升级数据库（运行全部数据库迁移），并建好 instance/ 和 media/ 目录。可重复运行。")
@with_appcontext
def init_command():
    from flask_migrate import upgrade

    Path(current_app.instance_path).mkdir(parents=True, exist_ok=True)
    Path(current_app.config["MEDIA_DIR"]).mkdir(parents=True, exist_ok=True)
    upgrade()
    click.echo("数据库已是最新版本。")


@click.command("demo", help="载入 content/ 中的演示组织、党员和学时（可重复运行，不会重复添加），并打印演示账号。")
@with_appcontext
def demo_command():
    from school.demo import load_demo, print_logins

    summary = load_demo()
    click.echo(summary)
    print_logins(click.echo)


@click.command("serve", help="启动网站（waitress），默认 http://127.0.0.1:5000 。生产环境请用 gunicorn，见 README。")
@click.option("--host", default="127.0.0.1", show_default=True, help="监听地址")
@click.option("--port", default=5000, show_default=True, help="端口")
@click.option("--threads", default=8, show_default=True, help="处理请求的线程数")
@with_appcontext
def serve_command(host, port, threads):
    from waitress import serve

    from school.demo import print_logins

    print_logins(click.echo)
    click.echo(f"网上党校已启动：http://{host}:{port}  （按 Ctrl+C 停止）")
    serve(current_app._get_current_object(), host=host, port=port, threads=threads)


# --- backup -----------------------------------------------------------------------------


@click.command("backup", help="备份数据库到 PATH。SQLite：在线备份（VACUUM INTO）并做完整性检查；PostgreSQL：打印应运行的 pg_dump 命令。")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def backup_command(path):
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    target = Path(path).resolve()
    if url.get_backend_name() != "sqlite":
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        click.echo("PostgreSQL 请用 pg_dump 备份：")
        click.echo(f"  pg_dump --format=custom --file={target} '{plain}'")
        return
    if target.exists():
        raise click.ClickException(f"{target} 已存在，不会覆盖")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed only after its integrity check: a failed backup
    # (a full disk, a crash) leaves no file that looks like a backup or blocks the next try.
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("VACUUM INTO ?", (str(partial),))
        check = sqlite3.connect(partial)
        try:
            result = check.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            check.close()
        if result != "ok":
            raise click.ClickException(f"备份完整性检查失败：{result}；未留下备份文件，请重试。")
        partial.rename(target)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        if diskspace.is_full(exc):
            raise click.ClickException(diskspace.message(
                f"备份没有完成，未留下任何文件（{target.parent}）。数据库本身未受影响。",
                "请清理该磁盘或换一个空间足够的位置后重试。")) from None
        if isinstance(exc, click.ClickException):
            raise
        raise click.ClickException(f"备份失败：{exc}；未留下备份文件。") from None
    click.echo(f"已备份到 {target}（完整性检查通过，{target.stat().st_size // 1024} KB）")


@click.group("static", help="静态文件（CSS、JS）：带内容哈希的文件名和预压缩的 .br/.gz，放在 STATIC_BUILD_DIR。")
def static_group():
    pass


@static_group.command("build", help="重新生成静态文件目录（启动时也会自动生成）；nginx 直接从这个目录发送 /static/。")
@with_appcontext
def static_build_command():
    from school import assets

    out = assets.build_dir(current_app)
    manifest = assets.build(out)
    click.echo(f"{len(manifest)} 个静态文件 → {out}")


COMMANDS = [init_command, demo_command, serve_command, backup_command, static_group]
