"""The ``school`` command: set up, load the demo, serve, and manage users from a terminal."""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy.engine import make_url

from school.extensions import db


def _create_app():
    from school import create_app
    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True,
             help="网上党校管理命令。数据库和目录由 SCHOOL_* 环境变量决定（见 README）。")
def main():
    pass


def register_commands(app: Flask) -> None:
    app.cli.add_command(init_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(serve_command)
    app.cli.add_command(user_group)
    app.cli.add_command(org_group)
    app.cli.add_command(backup_command)
    from school.library.commands import library_group, search_group
    app.cli.add_command(library_group)
    app.cli.add_command(search_group)
    app.cli.add_command(reports_group)
    from school.courses.cli import courses_group, jobs_group
    app.cli.add_command(courses_group)
    app.cli.add_command(jobs_group)
    app.cli.add_command(exams_group)


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


# --- users ------------------------------------------------------------------------------


@click.group("user", help="管理账号：创建、设置密码、停用。")
def user_group():
    pass


def _find_user(identifier):
    from school.accounts.auth import find_user_for_login

    user = find_user_for_login(identifier)
    if user is None:
        raise click.ClickException(f"找不到账号：{identifier}（请用党员编号或手机号）")
    return user


@user_group.command("create", help="创建账号。例：school user create --role admin --member-no admin01 --name 管理员。密码会提示输入两次。")
@click.option("--member-no", required=True, help="党员编号（登录用）")
@click.option("--name", required=True, help="姓名")
@click.option("--role", type=click.Choice(["member", "editor", "secretary", "admin"]), default="member",
              show_default=True, help="角色：member 党员、editor 内容编辑、secretary 支部书记/组织管理员、admin 全校管理员")
@click.option("--org", default="", help="所在党组织名称或路径（secretary 的管理范围即此组织及其下级）")
@click.option("--phone", default=None, help="手机号（也可用于登录）")
@click.option("--category", type=click.Choice(["full", "probationary", "committee", "cadre"]), default="full",
              show_default=True, help="人员类别：正式党员、预备党员、支部书记/委员、领导干部")
@click.password_option("--password", help="密码（不填则提示输入）", confirmation_prompt=True)
@with_appcontext
def user_create(member_no, name, role, org, phone, category, password):
    from school.accounts import auth, members
    from school.accounts.models import Role, User
    from school.accounts.orgs import find_by_name_or_path
    from school.timeutil import utcnow

    organisation = None
    if org:
        organisation = find_by_name_or_path(org)
        if organisation is None:
            raise click.ClickException(f"找不到党组织：{org}")
    system = User(name="命令行", member_no="-", role=Role.ADMIN)  # the terminal acts with full rights
    try:
        auth.check_password_policy(password)
        user = members.create_member(members.MemberData(
            name=name, member_no=member_no, org=organisation, phone=phone, category=category, role=role),
            system, password=password, now=utcnow())
    except (members.MemberError, auth.PasswordPolicyError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc))
    db.session.commit()
    click.echo(f"已创建账号：{user.name}（{user.member_no}，{user.role_label}）")


@user_group.command("set-password", help="为账号设置新密码，并让它在所有设备上退出登录。IDENTIFIER 是党员编号或手机号。")
@click.argument("identifier")
@click.password_option("--password", help="新密码（不填则提示输入）", confirmation_prompt=True)
@with_appcontext
def user_set_password(identifier, password):
    from school.accounts import auth
    from school.timeutil import utcnow

    user = _find_user(identifier)
    try:
        auth.set_password(user, password, utcnow())
    except auth.PasswordPolicyError as exc:
        raise click.ClickException(str(exc))
    db.session.commit()
    click.echo(f"已为 {user.name} 设置新密码。")


@user_group.command("deactivate", help="停用账号：不能再登录，已登录的会话立即失效，学习记录保留。")
@click.argument("identifier")
@with_appcontext
def user_deactivate(identifier):
    from school.accounts.members import deactivate

    user = _find_user(identifier)
    deactivate(user)
    db.session.commit()
    click.echo(f"已停用 {user.name}。")


# --- organisations ----------------------------------------------------------------------


@click.group("org", help="党组织与党员名单。")
def org_group():
    pass


@org_group.command("import", help="从 CSV 或 XLSX 导入：表头含“组织名称”的文件导入组织架构，含“党员编号”的文件导入党员名单（按编号更新，不会重复）。")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def org_import(file):
    from school.accounts import member_import
    from school.accounts.models import Role, User
    from school.tabular import TableError, read_table
    from school.timeutil import utcnow

    path = Path(file)
    try:
        table = read_table(path.name, path.read_bytes())
        if "组织名称" in table.headers:
            result = member_import.import_orgs(table)
        else:
            system = User(name="命令行", member_no="-", role=Role.ADMIN)
            result = member_import.import_members(table, system, utcnow())
    except TableError as exc:
        raise click.ClickException(str(exc))
    db.session.commit()
    click.echo(f"新增 {result.created}，更新 {result.updated}，无变化 {result.unchanged}，有问题 {len(result.errors)} 行。")
    for row, reason in result.errors:
        click.echo(f"  第 {row} 行：{reason}")
    if result.errors:
        sys.exit(1)


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
    with db.engine.connect() as conn:
        conn.exec_driver_sql("VACUUM INTO ?", (str(target),))
    check = sqlite3.connect(target)
    try:
        result = check.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        check.close()
    if result != "ok":
        raise click.ClickException(f"备份完整性检查失败：{result}")
    click.echo(f"已备份到 {target}（完整性检查通过，{target.stat().st_size // 1024} KB）")


# --- reports ----------------------------------------------------------------------------


@click.group("reports", help="学时报表。")
def reports_group():
    pass


@reports_group.command("branch", help="把某个党组织（含全部下级）的学时报表导出为 Excel 或 CSV 文件。"
                       "ORG 是党组织名称或路径，例如 青山镇党委/第一党总支。")
@click.argument("org")
@click.option("--year", type=int, default=None, help="年度（默认今年）")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), default="xlsx", show_default=True,
              help="文件格式：xlsx 按下级组织分表，csv 为一张党员明细表")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="保存到的文件")
@with_appcontext
def reports_branch(org, year, fmt, output):
    from school.accounts.orgs import find_by_name_or_path
    from school.credits import exports, reports
    from school.timeutil import local_year, utcnow

    organisation = find_by_name_or_path(org)
    if organisation is None:
        raise click.ClickException(f"找不到党组织：{org}（名称重复时请写路径，如 某镇党委/第一党总支）")
    try:
        period = reports.Period.parse(year or local_year(utcnow()), None, None, utcnow().date())
    except reports.ReportError as exc:
        raise click.ClickException(str(exc))
    with open(output, "wb") as target:
        if fmt == "xlsx":
            exports.write_xlsx(organisation, period, target)
        else:
            for line in exports.csv_lines(reports.all_members(organisation, period), reports.METRICS, db.session):
                target.write(line.encode("utf-8"))
    click.echo(f"已导出 {organisation.name} {period.label}学时报表：{output}")
# --- exams ------------------------------------------------------------------------------


@click.group("exams", help="在线考试：导入题库、结束超时未交的答卷。")
def exams_group():
    pass


@exams_group.command("import", help="从文件导入题库（GIFT、Aiken 或 XLSX），打印创建了（或将创建）哪些题和每一处问题及其行号。")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["gift", "aiken", "xlsx"]), required=True, help="文件格式")
@click.option("--category", default="", help="导入到这个分类下（用 / 分隔层级，如 党章/总纲）")
@click.option("--dry-run", is_flag=True, help="只检查并列出结果，不保存")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出，便于其他程序读取")
@with_appcontext
def exams_import(file, fmt, category, dry_run, as_json):
    import json

    from school.exams import bank
    from school.exams.formats import FormatError, parse
    from school.exams.models import TYPE_LABELS
    from school.timeutil import utcnow

    path = Path(file)
    try:
        result = parse(fmt, path.name, path.read_bytes())
    except FormatError as exc:
        raise click.ClickException(str(exc))
    ids = []
    if not dry_run:
        created = bank.save_parsed(result.questions, None, utcnow(), category)
        db.session.commit()
        ids = [q.id for q in created]
    if as_json:
        click.echo(json.dumps({
            "dry_run": dry_run, "created": len(ids), "would_create": len(result.questions),
            "questions": [{**q.as_dict(), "id": ids[i] if ids else None} for i, q in enumerate(result.questions)],
            "problems": [{"line": p.line, "message": p.message} for p in result.problems],
        }, ensure_ascii=False, indent=2))
    else:
        verb = "将创建" if dry_run else "已创建"
        click.echo(f"{verb} {len(result.questions)} 道题，{len(result.problems)} 处问题。")
        for q in result.questions:
            where = "/".join(p for p in (category, q.category) if p)
            click.echo(f"  第 {q.line} 行：{TYPE_LABELS[q.qtype]}　{q.stem[:40]}" + (f"　［{where}］" if where else ""))
        for p in result.problems:
            click.echo(f"  问题 第 {p.line} 行：{p.message}")
    if result.problems:
        sys.exit(1)


@exams_group.command("finish-overdue", help="把已过截止时间（含宽限期）仍未交卷的答卷按已保存的答案交卷并评分。可放进定时任务每分钟运行。")
@with_appcontext
def exams_finish_overdue():
    from school.exams.attempts import finish_overdue
    from school.timeutil import utcnow

    count = finish_overdue(utcnow())
    click.echo(f"已为 {count} 份超时答卷交卷。")
