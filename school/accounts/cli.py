"""``school user …`` and ``school org …``: accounts and the organisation tree from a terminal."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from school.accounts.roles import system_actor
from school.extensions import db

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


@user_group.command("create", help="创建账号。例：school user create --role admin --member-no admin01 --name 管理员。密码会提示输入两次；本人首次登录时须先修改密码。")
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
    from school.accounts.orgs import find_by_name_or_path
    from school.timeutil import utcnow

    organisation = None
    if org:
        organisation = find_by_name_or_path(org)
        if organisation is None:
            raise click.ClickException(f"找不到党组织：{org}")
    system = system_actor()
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


@user_group.command("set-password", help="为账号设置新密码，并让它在所有设备上退出登录；本人下次登录时须先修改密码。IDENTIFIER 是党员编号或手机号。")
@click.argument("identifier")
@click.password_option("--password", help="新密码（不填则提示输入）", confirmation_prompt=True)
@with_appcontext
def user_set_password(identifier, password):
    from school.accounts import auth, members
    from school.timeutil import utcnow

    user = _find_user(identifier)
    try:
        members.reset_password(user, system_actor(), password, utcnow())
    except (members.MemberError, auth.PasswordPolicyError) as exc:
        raise click.ClickException(str(exc))
    db.session.commit()
    click.echo(f"已为 {user.name} 设置新密码。")


@user_group.command("deactivate", help="停用账号：不能再登录，已登录的会话立即失效，学习记录保留。")
@click.argument("identifier")
@with_appcontext
def user_deactivate(identifier):
    from school.accounts.members import MemberError, deactivate_member

    user = _find_user(identifier)
    try:
        deactivate_member(user, system_actor())
    except MemberError as exc:
        raise click.ClickException(str(exc))
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
    from school.tabular import TableError, read_table
    from school.timeutil import utcnow

    path = Path(file)
    try:
        table = read_table(path.name, path.read_bytes())
        if "组织名称" in table.headers:
            result = member_import.import_orgs(table)
        else:
            result = member_import.import_members(table, system_actor(), utcnow())
    except TableError as exc:
        raise click.ClickException(str(exc))
    db.session.commit()
    click.echo(f"新增 {result.created}，更新 {result.updated}，无变化 {result.unchanged}，有问题 {len(result.errors)} 行。")
    for row, reason in result.errors:
        click.echo(f"  第 {row} 行：{reason}")
    if result.errors:
        sys.exit(1)


COMMANDS = [user_group, org_group]
