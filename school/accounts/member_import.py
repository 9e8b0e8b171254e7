"""Importing members (and, for the CLI, organisations) from CSV or XLSX.

Every bad row is reported with its row number and reason; the good rows are imported;
re-importing the same file updates members by their member number and never duplicates.
A row that would change an account the importer may not manage, or hand out a role above
theirs, is such a bad row: each row goes through ``members.create_member`` /
``update_member`` and so through the one rule in ``scoping.change_refusal``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from school.accounts import auth
from school.accounts.members import MemberData, MemberError, create_member, find_by_member_no, update_member
from school.accounts.models import CATEGORY_LABELS, ORG_KIND_LABELS, ROLE_LABELS, Organisation, User
from school.accounts.orgs import OrgError, create_org, find_by_name_or_path
from school.accounts.scoping import scope_root
from school.extensions import db
from school.tabular import Table, TableError

MEMBER_HEADERS = ["姓名", "党员编号", "手机号", "所在党组织", "人员类别", "角色",
                  "流动党员", "流动去向", "联系人", "状态", "初始密码", "电子邮箱"]
MEMBER_REQUIRED = ["姓名", "党员编号", "所在党组织"]
MEMBER_EXAMPLE = ["张三", "DY2024001", "13800000001", "东村党支部", "正式党员", "党员",
                  "否", "", "", "在册", "", "zhangsan@example.com"]
ORG_HEADERS = ["组织名称", "上级组织", "组织类型"]

_CATEGORY_BY_LABEL = {label: key for key, label in CATEGORY_LABELS.items()}
_CATEGORY_BY_LABEL.update({"支部书记": "committee", "支部委员": "committee", "委员": "committee"})
_ROLE_BY_LABEL = {label: key for key, label in ROLE_LABELS.items()}
_ROLE_BY_LABEL.update({"支部书记": "secretary", "组织管理员": "secretary", "管理员": "admin", "": "member"})
_KIND_BY_LABEL = {label: key for key, label in ORG_KIND_LABELS.items()}
_YES = {"是", "Y", "y", "yes", "1", "√", "true", "TRUE"}
_NO = {"否", "N", "n", "no", "0", "", "false", "FALSE"}


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.updated + self.unchanged


def _yes_no(value: str, label: str) -> bool:
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise MemberError(f"{label}应填“是”或“否”")


def _row_to_data(row: dict[str, str], actor: User) -> tuple[MemberData, str]:
    for header in MEMBER_REQUIRED:
        if not row.get(header):
            raise MemberError(f"缺少{header}")
    org = find_by_name_or_path(row["所在党组织"], within=scope_root(actor))
    if org is None:
        raise MemberError(f"找不到党组织“{row['所在党组织']}”（或名称不唯一，请写完整路径，如 某镇党委/东村党支部）")
    category_label = row.get("人员类别") or "正式党员"
    if category_label not in _CATEGORY_BY_LABEL:
        raise MemberError(f"人员类别“{category_label}”不正确，可选：{'、'.join(CATEGORY_LABELS.values())}")
    role_label = row.get("角色", "")
    if role_label not in _ROLE_BY_LABEL:
        raise MemberError(f"角色“{role_label}”不正确，可选：{'、'.join(ROLE_LABELS.values())}")
    status = row.get("状态") or "在册"
    if status not in ("在册", "停用"):
        raise MemberError("状态应填“在册”或“停用”")
    data = MemberData(
        name=row["姓名"], member_no=row["党员编号"], org=org, phone=row.get("手机号") or None,
        email=(row.get("电子邮箱") or "").strip() or None,
        category=_CATEGORY_BY_LABEL[category_label], role=_ROLE_BY_LABEL[role_label],
        is_floating=_yes_no(row.get("流动党员", ""), "流动党员"),
        floating_place=row.get("流动去向") or None, floating_contact=row.get("联系人") or None,
        active=status == "在册",
    )
    return data, row.get("初始密码", "")


def _snapshot(user: User) -> tuple:
    return (user.name, user.member_no, user.phone, user.email, user.org_id, user.category, user.role,
            user.is_floating, user.floating_place, user.floating_contact, user.active)


def import_members(table: Table, actor: User, now: datetime) -> ImportResult:
    """Import every good row. Rows are validated before anything is changed, so a bad row
    leaves no trace and the good rows around it are kept."""
    missing = [h for h in MEMBER_REQUIRED if h not in table.headers]
    if missing:
        raise TableError(f"缺少必填列：{'、'.join(missing)}。请使用下载的模板")
    result = ImportResult()
    seen: dict[str, int] = {}
    for row_no, row in table.rows:
        member_no = row.get("党员编号", "")
        if member_no and member_no.lower() in seen:
            result.errors.append((row_no, f"党员编号 {member_no} 与第 {seen[member_no.lower()]} 行重复"))
            continue
        try:
            data, password = _row_to_data(row, actor)
            existing = find_by_member_no(data.member_no)  # out01 is OUT01's row, wherever OUT01 is
            if existing is not None:
                if "电子邮箱" not in table.headers:  # a file made before the column: keep the address
                    data.email = existing.email
                before = _snapshot(existing)
                # The same rule as the member form (scoping.change_refusal): an account the
                # importer could not manage there is refused here, and nothing of the row changes.
                update_member(existing, data, actor)
                if _snapshot(existing) == before:
                    result.unchanged += 1
                else:
                    result.updated += 1
            else:
                if password:
                    auth.check_password_policy(password)
                create_member(data, actor, password=password or None, now=now)
                result.created += 1
            seen[member_no.lower()] = row_no
        except (MemberError, auth.PasswordPolicyError) as exc:
            result.errors.append((row_no, str(exc)))
    return result


def import_orgs(table: Table) -> ImportResult:
    """Create the organisations a file lists (parents first); existing names are left as they are."""
    missing = [h for h in ("组织名称",) if h not in table.headers]
    if missing:
        raise TableError("缺少必填列：组织名称")
    result = ImportResult()
    for row_no, row in table.rows:
        name, parent_name = row.get("组织名称", ""), row.get("上级组织", "")
        kind = _KIND_BY_LABEL.get(row.get("组织类型") or "党支部")
        if kind is None:
            result.errors.append((row_no, f"组织类型“{row.get('组织类型')}”不正确，可选：党委、党总支、党支部"))
            continue
        parent = None
        if parent_name:
            parent = find_by_name_or_path(parent_name)
            if parent is None:
                result.errors.append((row_no, f"找不到上级组织“{parent_name}”"))
                continue
        existing = db.session.scalar(select(Organisation).where(
            Organisation.name == name, Organisation.parent_id == (parent.id if parent else None)))
        if existing is not None:
            result.unchanged += 1
            continue
        try:
            create_org(name, kind, parent)
            result.created += 1
        except OrgError as exc:
            result.errors.append((row_no, str(exc)))
    return result
