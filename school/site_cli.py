"""Site-wide commands: ``school init``, ``demo``, ``serve``, ``backup`` and ``restore``."""
from __future__ import annotations

import gc
import os
import shutil
import sqlite3
import subprocess
import tarfile
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
    # As deploy/gunicorn.conf.py's worker hook: the site's start-up objects out of the garbage
    # collector's walks, or a full collection stops every request thread for ~120 ms.
    gc.collect()
    gc.freeze()
    serve(current_app._get_current_object(), host=host, port=port, threads=threads)


# --- backup -----------------------------------------------------------------------------


@click.command("backup", help="备份数据库到 PATH。SQLite：在线备份（VACUUM INTO）并做完整性检查；"
               "PostgreSQL：pg_dump --format=custom 并用 pg_restore --list 检查。加 --media 另存媒体目录为 PATH.media.tar。")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--media", "with_media", is_flag=True, help="同时把媒体目录打包为 PATH.media.tar")
@with_appcontext
def backup_command(path, with_media):
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    target = Path(path).resolve()
    if target.exists():
        raise click.ClickException(f"{target} 已存在，不会覆盖")
    target.parent.mkdir(parents=True, exist_ok=True)
    if url.get_backend_name() == "sqlite":
        _write_verified(target, _sqlite_backup, "备份")
    else:
        _write_verified(target, lambda partial: _pg_dump(url, partial), "备份")
    check = "完整性检查通过" if url.get_backend_name() == "sqlite" else "pg_restore --list 检查通过"
    click.echo(f"已备份到 {target}（{check}，{target.stat().st_size // 1024} KB）")
    if with_media:
        media_tar = target.with_name(target.name + ".media.tar")
        if media_tar.exists():
            raise click.ClickException(f"{media_tar} 已存在，不会覆盖")
        _write_verified(media_tar, _media_tar, "媒体备份")
        click.echo(f"媒体目录已备份到 {media_tar}（{media_tar.stat().st_size // 1024} KB）")


def _write_verified(target: Path, write, what: str) -> None:
    """``write(partial)`` makes and checks the file; it is renamed to ``target`` only then.

    A failed backup (a full disk, a crash, a failed check) leaves no file that looks like a
    backup or blocks the next try."""
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        write(partial)
        partial.rename(target)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        if diskspace.is_full(exc):
            raise click.ClickException(diskspace.message(
                f"{what}没有完成，未留下任何文件（{target.parent}）。数据库本身未受影响。",
                "请清理该磁盘或换一个空间足够的位置后重试。")) from None
        if isinstance(exc, click.ClickException):
            raise
        raise click.ClickException(f"{what}失败：{exc}；未留下备份文件。") from None


def _sqlite_backup(partial: Path) -> None:
    with db.engine.connect() as conn:
        conn.exec_driver_sql("VACUUM INTO ?", (str(partial),))
    check = sqlite3.connect(partial)
    try:
        result = check.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        check.close()
    if result != "ok":
        raise click.ClickException(f"备份完整性检查失败：{result}；未留下备份文件，请重试。")


def _libpq(url) -> tuple[str, dict]:
    """A libpq URL without the password (not shown in ``ps``) and the environment carrying it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return plain, env


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise click.ClickException(f"未找到 {name}：请安装 PostgreSQL 客户端（Debian：apt-get install postgresql-client，"
                                   "版本不低于服务器）。")
    return found


def _run(args: list[str], env: dict, what: str) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise click.ClickException(f"{what}失败（{Path(args[0]).name} 退出码 {done.returncode}）：{done.stderr.strip()[-800:]}")
    return done.stdout


def _pg_dump(url, partial: Path) -> None:
    plain, env = _libpq(url)
    _run([_pg_tool("pg_dump"), "--format=custom", f"--file={partial}", f"--dbname={plain}"], env, "pg_dump")
    listing = _run([_pg_tool("pg_restore"), "--list", str(partial)], env, "备份检查（pg_restore --list）")
    if "TABLE DATA" not in listing:
        raise click.ClickException("备份检查失败：pg_restore --list 没有列出任何表数据；未留下备份文件。")


def _media_tar(partial: Path) -> None:
    media = Path(current_app.config["MEDIA_DIR"])
    with tarfile.open(partial, "w") as tar:
        tar.add(media, arcname=".")
    with tarfile.open(partial) as tar:  # readable to the end
        for _member in tar:
            pass


@click.command("restore", help="把 school backup 的备份恢复到当前配置的数据库。数据库必须是空的（新建的），否则拒绝；"
               "加 --media TAR 同时把媒体备份解压到（空的）媒体目录。")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--media", "media_tar", type=click.Path(exists=True, dir_okay=False), help="school backup --media 写的 .media.tar")
@with_appcontext
def restore_command(path, media_tar):
    from sqlalchemy import inspect

    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    source = Path(path).resolve()
    media = Path(current_app.config["MEDIA_DIR"])
    if media_tar and media.exists() and any(p.name != ".media-id" for p in media.iterdir()):
        raise click.ClickException(f"媒体目录 {media} 不是空的，不会覆盖。请换一个空目录（SCHOOL_MEDIA_DIR）。")
    tables = inspect(db.engine).get_table_names()
    if tables:
        raise click.ClickException(f"数据库不是空的（已有 {len(tables)} 张表），不会恢复到这里。"
                                   "请新建一个空数据库，把 SCHOOL_DATABASE_URL 指向它后再运行。")
    if url.get_backend_name() == "sqlite":
        check = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            result = check.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            check.close()
        if result != "ok":
            raise click.ClickException(f"备份文件完整性检查失败：{result}")
        db.engine.dispose()
        with db.engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")  # the empty file exists; restore into it page by page
            raw = conn.connection.dbapi_connection
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            try:
                src.backup(raw)
            finally:
                src.close()
    else:
        plain, env = _libpq(url)
        db.engine.dispose()
        _run([_pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "--single-transaction",
              f"--dbname={plain}", str(source)], env, "恢复（pg_restore）")
    click.echo(f"已从 {source} 恢复数据库。")
    if media_tar:
        media.mkdir(parents=True, exist_ok=True)
        with tarfile.open(media_tar) as tar:
            tar.extractall(media, filter="data")
        click.echo(f"已把媒体备份解压到 {media}。")


@click.group("static", help="静态文件（CSS、JS）：带内容哈希的文件名和预压缩的 .br/.gz，放在 STATIC_BUILD_DIR。")
def static_group():
    pass


@static_group.command("build", help="重新生成静态文件目录（启动时若目录缺失或比源文件旧也会自动生成）；nginx 直接从这个目录发送 /static/。")
@with_appcontext
def static_build_command():
    from school import assets

    out = assets.build_dir(current_app)
    # Starting the app for this command may have just built the folder; then once is enough.
    if current_app.extensions.get("static_built_at_start") == out:
        manifest = current_app.extensions["static_manifest"]
    else:
        manifest = assets.build(out)
    click.echo(f"{len(manifest)} 个静态文件 → {out}")


COMMANDS = [init_command, demo_command, serve_command, backup_command, restore_command, static_group]
