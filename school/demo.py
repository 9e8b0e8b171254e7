"""Loading the demo content in ``content/``. Idempotent: a second run changes nothing."""
from __future__ import annotations

import csv
import secrets
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from school.accounts import auth, member_import
from school.accounts.models import Role, User
from school.credits import ledger
from school.credits.models import CreditKind, CreditSource
from school.extensions import db
from school.tabular import read_table
from school.timeutil import utcnow

_KIND = {"网络学习": CreditKind.ONLINE, "集中培训": CreditKind.CONCENTRATED}
_SOURCE = {"集中培训": CreditSource.OFFLINE, "补录": CreditSource.BACKFILL}


def _password_file() -> Path:
    return Path(current_app.instance_path) / "demo_password"


def demo_password() -> str:
    """One random password for every demo account, kept in instance/ (never committed)."""
    path = _password_file()
    if path.exists():
        return path.read_text().strip()
    password = f"demo{secrets.token_hex(3)}"
    path.write_text(password)
    path.chmod(0o600)
    return password


def load_demo() -> str:
    content = Path(current_app.config["CONTENT_DIR"])
    system = User(name="演示数据", member_no="-", role=Role.ADMIN)
    now = utcnow()
    orgs = member_import.import_orgs(read_table("organisations.csv", (content / "organisations.csv").read_bytes()))
    db.session.flush()
    people = member_import.import_members(read_table("members.csv", (content / "members.csv").read_bytes()), system, now)
    problems = orgs.errors + people.errors
    if problems:
        db.session.rollback()
        raise RuntimeError(f"演示内容有误：{problems}")
    # One hash for the shared demo password: argon2 is slow on purpose, 30 hashes are not needed.
    shared_hash = None
    for user in db.session.scalars(select(User).where(User.password_hash.is_(None))):
        shared_hash = shared_hash or auth.hash_password(demo_password())
        user.password_hash = shared_hash
        user.password_changed_at = now
    with open(content / "credits.csv", encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            member = db.session.scalar(select(User).where(User.member_no == row["党员编号"]))
            day = datetime.strptime(row["日期"], "%Y-%m-%d")
            key = f"demo:{row['党员编号']}:{row['日期']}:{row['内容']}"[:120]
            ledger.award(member, row["学时"], _KIND[row["类别"]], _SOURCE[row["来源"]], key,
                         now=day.replace(hour=4), description=row["内容"])
    db.session.commit()
    return (f"演示内容：组织新增 {orgs.created} 个（已有 {orgs.unchanged}），"
            f"党员新增 {people.created} 人、更新 {people.updated} 人（无变化 {people.unchanged}）。")


def print_logins(echo) -> None:
    path = _password_file()
    if not path.exists():
        return
    password = path.read_text().strip()
    accounts = [
        ("QS0001", "全校管理员（周建国）"),
        ("QS0002", "内容编辑（许文静）"),
        ("QS0003", "镇党委组织管理员（陈立华）"),
        ("QS0301", "东坡村党支部书记（张德福）"),
        ("QS0303", "东坡村党员（杨树林）"),
        ("QS0602", "流动党员（彭建军）"),
    ]
    echo(f"演示账号（密码均为 {password}，保存在 instance/demo_password）：")
    for member_no, label in accounts:
        echo(f"  {member_no:<8} {label}")
