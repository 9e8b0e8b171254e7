"""Role boundaries: nobody changes an account they could not manage, nobody grants a role
above their own — in the member form, the member import (CSV/XLSX) and the terminal alike.

The rule under test is ``scoping.change_refusal``. Managers sit in organisation A of the
factory tree (root → A → A1, root → B → B1); a target account lives in
``own`` = A (the manager's own organisation), ``subtree`` = A1 (below it),
``outside`` = B1 (a sibling branch) or ``none`` (no organisation, as ``school user create``
without ``--org`` makes it).
"""
from __future__ import annotations

import io

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from school.accounts import auth as auth_service
from school.accounts.member_import import MEMBER_HEADERS, import_members
from school.accounts.models import AuthSession, Role, User
from school.accounts.roles import system_actor
from school.extensions import db
from school.tabular import read_table
from school.timeutil import utcnow

RELATIONS = ["own", "subtree", "outside", "none"]
TARGET_ROLES = [Role.MEMBER, Role.EDITOR, Role.SECRETARY, Role.ADMIN]
MANAGERS = [Role.SECRETARY, Role.ADMIN]
ROLE_CELL = {Role.MEMBER: "党员", Role.EDITOR: "内容编辑", Role.SECRETARY: "支部书记/组织管理员", Role.ADMIN: "全校管理员"}


def may_change(actor_role: str, target_role: str, relation: str) -> bool:
    """The expectation, written out independently of the code: an admin changes anyone; a
    secretary changes ordinary members of their own organisation or below, and the
    secretaries of organisations strictly below theirs — nobody else."""
    if actor_role == Role.ADMIN:
        return True
    if target_role == Role.MEMBER:
        return relation in ("own", "subtree")
    if target_role == Role.SECRETARY:
        return relation == "subtree"
    return False


def _place(t, relation):
    return {"own": t["a"], "subtree": t["a1"], "outside": t["b1"], "none": None}[relation]


def _csv(rows) -> bytes:
    return ("\r\n".join([",".join(MEMBER_HEADERS)] + [",".join(r) for r in rows]) + "\r\n").encode("utf-8-sig")


def _xlsx(rows) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(MEMBER_HEADERS)
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _setup(make, actor_role, target_role, relation):
    t = make.tree()
    actor = make.user(org=t["a"], role=actor_role, member_no="ACTOR1")
    target = make.user(org=_place(t, relation), role=target_role, member_no="QS0001", name="周建国",
                       phone="13900000001")
    auth_service.start_session(target, utcnow(), "10.0.0.1", "target's phone")
    db.session.commit()
    return t, actor, target


def _state(user_id):
    db.session.expire_all()
    user = db.session.get(User, user_id)
    sessions = db.session.scalar(select(func.count(AuthSession.id)).where(AuthSession.user_id == user_id))
    return dict(name=user.name, phone=user.phone, org_id=user.org_id, role=user.role, active=user.active,
                sessions=sessions)


def _attack_row(target, role_cell):
    """The reported attack: the account renamed, re-phoned, moved into A1 and deactivated,
    its role left as it is."""
    return ["改名者", target.member_no, "13700000000", "东村党支部", "正式党员", role_cell,
            "否", "", "", "停用", ""]


NEWCOMER = ["新党员", "NEW001", "", "东村党支部", "正式党员", "党员", "否", "", "", "在册", ""]

CASES = [(a, r, rel) for a in MANAGERS for r in TARGET_ROLES for rel in RELATIONS]
IDS = [f"{a}-changes-{r}-{rel}" for a, r, rel in CASES]


@pytest.mark.parametrize("actor_role,target_role,relation", CASES, ids=IDS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_import_changes_only_accounts_the_importer_manages(client, auth, make, fmt, actor_role, target_role,
                                                            relation):
    t, actor, target = _setup(make, actor_role, target_role, relation)
    before = _state(target.id)
    rows = [_attack_row(target, ROLE_CELL[target_role]), NEWCOMER]
    data = _csv(rows) if fmt == "csv" else _xlsx(rows)
    auth.login(actor)
    response = client.post("/admin/members/import", data={"file": (io.BytesIO(data), f"名单.{fmt}")},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    after = _state(target.id)
    assert db.session.scalar(select(User).where(User.member_no == "NEW001")) is not None, "the other row imports"
    if may_change(actor_role, target_role, relation):
        assert "第 2 行" not in page
        assert after == dict(name="改名者", phone="13700000000", org_id=t["a1"].id, role=target_role,
                             active=False, sessions=0)
    else:
        assert "第 2 行" in page and ("无权" in page or "管理范围" in page or "党组织" in page)
        assert after == before, "nothing of a refused row is changed"


@pytest.mark.parametrize("actor_role,target_role,relation", CASES, ids=IDS)
def test_member_form_changes_only_accounts_the_manager_manages(client, auth, make, actor_role, target_role,
                                                                relation):
    t, actor, target = _setup(make, actor_role, target_role, relation)
    before = _state(target.id)
    auth.login(actor)
    response = client.post(f"/admin/members/{target.id}", data={
        "name": "改名者", "member_no": target.member_no, "phone": "13700000000", "org_id": t["a1"].id,
        "category": "full", "role": target_role})  # "active" left unticked: deactivate
    after = _state(target.id)
    if may_change(actor_role, target_role, relation):
        assert response.status_code == 302
        assert after == dict(name="改名者", phone="13700000000", org_id=t["a1"].id, role=target_role,
                             active=False, sessions=0)
    else:
        # outside the scope (or no organisation) the account is not even found; inside, refused
        assert response.status_code == (404 if relation in ("outside", "none") else 403)
        assert after == before


GRANTS = [(a, r) for a in MANAGERS for r in TARGET_ROLES]


@pytest.mark.parametrize("actor_role,granted", GRANTS, ids=[f"{a}-grants-{r}" for a, r in GRANTS])
def test_nobody_grants_a_role_above_their_own(client, auth, make, actor_role, granted):
    """New rows and promotions of an existing member of A1: a secretary hands out 党员 only."""
    t = make.tree()
    actor = make.user(org=t["a"], role=actor_role)
    member = make.user(org=t["a1"], member_no="M0001")
    allowed = actor_role == Role.ADMIN or granted == Role.MEMBER
    rows = [["新人", "NEW002", "", "东村党支部", "正式党员", ROLE_CELL[granted], "否", "", "", "在册", ""],
            ["老党员", "M0001", "", "东村党支部", "正式党员", ROLE_CELL[granted], "否", "", "", "在册", ""]]
    result = import_members(read_table("a.csv", _csv(rows)), actor, utcnow())
    db.session.commit()
    new = db.session.scalar(select(User).where(User.member_no == "NEW002"))
    db.session.expire_all()
    if allowed:
        assert not result.errors and new.role == granted and db.session.get(User, member.id).role == granted
    else:
        assert [row for row, _ in result.errors] == [2, 3]
        assert all("无权设置" in reason for _, reason in result.errors)
        assert new is None and db.session.get(User, member.id).role == Role.MEMBER
    # the member form offers, and accepts, the same roles
    auth.login(actor)
    response = client.post("/admin/members/new", data={"name": "表单新人", "member_no": "NEW003",
                                                       "org_id": t["a1"].id, "category": "full", "role": granted,
                                                       "active": "y"})
    created = db.session.scalar(select(User).where(User.member_no == "NEW003"))
    assert (created is not None and created.role == granted) == allowed, response.status_code


def test_secretary_cannot_move_a_branch_secretary_up_beside_themselves(make):
    """The "after" half of the rule: the changed account must still be one the actor manages."""
    t = make.tree()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    branch_secretary = make.user(org=t["a1"], role=Role.SECRETARY, member_no="S0001")
    rows = [["书记", "S0001", "", "第一党总支", "正式党员", ROLE_CELL[Role.SECRETARY], "否", "", "", "在册", ""]]
    result = import_members(read_table("a.csv", _csv(rows)), secretary, utcnow())
    assert result.errors and result.errors[0][0] == 2
    db.session.rollback()
    assert db.session.get(User, branch_secretary.id).org_id == t["a1"].id


def test_reported_attack_township_secretary_disables_the_admin(client, auth, make):
    """The report: the township secretary's file deactivates QS0001, the admin, in their own organisation."""
    t = make.tree()
    secretary = make.user(org=t["root"], role=Role.SECRETARY)
    admin = make.user(org=t["root"], role=Role.ADMIN, member_no="QS0001", phone="13900000001")
    auth_service.start_session(admin, utcnow(), "10.0.0.1", "admin")
    db.session.commit()
    auth.login(secretary)
    row = ["周建国", "QS0001", "13700000000", "青山镇党委", "领导干部", "管理员", "否", "", "", "停用", ""]
    response = client.post("/admin/members/import", data={"file": (io.BytesIO(_csv([row])), "m.csv")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert "第 2 行" in page and "无权修改“全校管理员”的账号" in page
    after = _state(admin.id)
    assert after["active"] and after["phone"] == "13900000001" and after["sessions"] == 1


def test_reported_attack_branch_secretary_captures_an_admin_without_organisation(runner, client, auth, make):
    t = make.tree()
    created = runner.invoke(args=["user", "create", "--role", "admin", "--member-no", "QS0001", "--name", "管理员"],
                            input="Adm1nPassw0rd\nAdm1nPassw0rd\n")
    assert created.exit_code == 0, created.output
    secretary = make.user(org=t["a1"], role=Role.SECRETARY)
    auth.login(secretary)
    row = ["管理员", "QS0001", "", "东村党支部", "正式党员", "管理员", "否", "", "", "停用", ""]
    response = client.post("/admin/members/import", data={"file": (io.BytesIO(_csv([row])), "m.csv")},
                           content_type="multipart/form-data")
    assert "第 2 行" in response.get_data(as_text=True)
    db.session.expire_all()
    admin = db.session.scalar(select(User).where(User.member_no == "QS0001"))
    assert admin.org_id is None and admin.active


def test_the_terminal_acts_as_an_admin(runner, make, tmp_path):
    """``school org import`` goes through the same rule as system_actor(), who manages everyone."""
    t = make.tree()
    admin = make.user(org=None, role=Role.ADMIN, member_no="QS0001")
    assert system_actor().role == Role.ADMIN
    path = tmp_path / "m.csv"
    path.write_bytes(_csv([["管理员", "QS0001", "", "东村党支部", "正式党员", "管理员", "否", "", "", "在册", ""]]))
    result = runner.invoke(args=["org", "import", str(path)])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(User, admin.id).org_id == t["a1"].id


def test_member_no_cannot_equal_another_users_phone(client, auth, make):
    """Member numbers and phone numbers are both login names: a member number that is someone's
    phone (or a phone that is someone's member number) is refused, in the import and the form."""
    t = make.tree()
    admin = make.user(org=t["root"], role=Role.ADMIN)
    victim = make.user(org=t["a1"], name="周建国", phone="13900000001")
    numbered = make.user(org=t["a1"], name="李数字", member_no="13900000002")
    auth.login(admin)
    rows = [["冒名者", "13900000001", "", "东村党支部", "正式党员", "党员", "否", "", "", "在册", ""],
            ["另一人", "NEW004", "13900000002", "东村党支部", "正式党员", "党员", "否", "", "", "在册", ""],
            NEWCOMER]
    response = client.post("/admin/members/import", data={"file": (io.BytesIO(_csv(rows)), "m.csv")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert "第 2 行" in page and "与 周建国 的手机号相同" in page
    assert "第 3 行" in page and "与 李数字 的党员编号相同" in page
    assert db.session.scalar(select(User).where(User.member_no == "NEW001")) is not None, "the good row imports"
    assert db.session.scalar(select(User).where(User.member_no.in_(["13900000001", "NEW004"]))) is None

    for fields, message in [({"member_no": "13900000001"}, "与 周建国 的手机号相同"),
                            ({"member_no": "NEW005", "phone": "13900000002"}, "与 李数字 的党员编号相同")]:
        response = client.post("/admin/members/new", data={"name": "冒名者", "org_id": t["a1"].id,
                                                           "category": "full", "role": Role.MEMBER, "active": "y",
                                                           **fields}, follow_redirects=True)
        assert message in response.get_data(as_text=True)
        assert db.session.scalar(select(User).where(User.member_no == fields["member_no"])) is None
    # editing an account: the same rule, and its own phone never clashes with itself
    response = client.post(f"/admin/members/{numbered.id}", data={
        "name": "李数字", "member_no": "13900000001", "org_id": t["a1"].id, "category": "full",
        "role": Role.MEMBER, "active": "y"}, follow_redirects=True)
    assert "与 周建国 的手机号相同" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, numbered.id).member_no == "13900000002"
    assert auth_service.find_user_for_login("13900000001") == db.session.get(User, victim.id)


def test_login_looks_up_the_member_number_first_then_the_phone(make):
    """Older data may hold a member number equal to another account's phone: the answer is the
    member number's account, whatever the order of the rows."""
    t = make.tree()
    by_phone = make.user(org=t["a1"], phone="13900000003")
    by_number = make.user(org=t["a1"], member_no="13900000003")
    assert auth_service.find_user_for_login("13900000003") == by_number
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in "13900000003")
    assert auth_service.find_user_for_login(full_width) == by_number
    assert auth_service.find_user_for_login(by_phone.member_no) == by_phone
    only_phone = make.user(org=t["a1"], phone="13900000004")
    assert auth_service.find_user_for_login("13900000004") == only_phone
    assert auth_service.find_user_for_login("13900000005") is None


# --- the import route, access-matrix style ------------------------------------------------

ROUTE_ROLES = ["anonymous", Role.MEMBER, Role.EDITOR, Role.SECRETARY, Role.ADMIN]


def _route_expect(role: str) -> int:
    if role == "anonymous":
        return 302
    return 200 if role in MANAGERS else 403


@pytest.mark.parametrize("role", ROUTE_ROLES)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_import_route_by_role(client, auth, make, role, method):
    t = make.tree()
    if role != "anonymous":
        auth.login(make.user(org=t["a"], role=role))
    if method == "GET":
        response = client.get("/admin/members/import")
    else:
        response = client.post("/admin/members/import", data={"file": (io.BytesIO(_csv([NEWCOMER])), "m.csv")},
                               content_type="multipart/form-data")
    assert response.status_code == _route_expect(role)
    if role == "anonymous":
        assert "/login" in response.headers["Location"]
    created = db.session.scalar(select(User).where(User.member_no == "NEW001")) is not None
    assert created == (method == "POST" and role in MANAGERS)
