import io

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from school.accounts.member_import import MEMBER_HEADERS, import_members
from school.accounts.models import Role, User
from school.extensions import db
from school.tabular import read_table
from school.timeutil import utcnow

HEADER = ",".join(MEMBER_HEADERS)


def _csv(rows, encoding="utf-8-sig") -> bytes:
    return ("\r\n".join([HEADER] + rows) + "\r\n").encode(encoding)


def _import(actor, filename, data):
    result = import_members(read_table(filename, data), actor, utcnow())
    db.session.commit()
    return result


def _count():
    return db.session.scalar(select(func.count(User.id)))


GOOD = [
    "张三,DY001,13800000001,东村党支部,正式党员,党员,否,,,在册,",
    "李四,DY002,,第一党总支/西村党支部,预备党员,,是,广东省深圳市,王五 13800000009,在册,",
]
BAD = [
    ",DY003,,东村党支部,正式党员,,,,,,",                     # row 4: no name
    "王五,DY004,123,东村党支部,正式党员,,,,,,",                # row 5: bad phone
    "赵六,DY005,,不存在的支部,正式党员,,,,,,",                 # row 6: unknown org
    "钱七,DY006,,东村党支部,群众,,,,,,",                      # row 7: bad category
    "孙八,DY001,,东村党支部,正式党员,,,,,,",                  # row 8: duplicate in file
    "周九,DY007,,东村党支部,正式党员,,也许,,,,",              # row 9: bad yes/no
]


def test_csv_with_bad_rows_imports_the_good_ones(make):
    t = make.tree()
    admin = make.user(role=Role.ADMIN)
    before = _count()
    result = _import(admin, "名单.csv", _csv(GOOD + BAD))
    assert (result.created, result.updated) == (2, 0)
    reasons = dict(result.errors)
    assert sorted(reasons) == [4, 5, 6, 7, 8, 9]
    assert "姓名" in reasons[4] and "手机号" in reasons[5] and "不存在的支部" in reasons[6]
    assert "人员类别" in reasons[7] and "第 2 行重复" in reasons[8] and "是" in reasons[9]
    assert _count() == before + 2
    li = db.session.scalar(select(User).where(User.member_no == "DY002"))
    assert li.org_id == t["a2"].id and li.is_floating and li.floating_place == "广东省深圳市"


def test_reimport_updates_and_never_duplicates(make):
    make.tree()
    admin = make.user(role=Role.ADMIN)
    _import(admin, "a.csv", _csv(GOOD))
    count = _count()
    again = _import(admin, "a.csv", _csv(GOOD))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    changed = _import(admin, "a.csv", _csv([GOOD[0].replace("张三", "张叁")]))
    assert (changed.created, changed.updated) == (0, 1)
    assert _count() == count
    assert db.session.scalar(select(User.name).where(User.member_no == "DY001")) == "张叁"


def test_gbk_csv_from_excel(make):
    make.tree()
    admin = make.user(role=Role.ADMIN)
    result = _import(admin, "excel.csv", _csv(GOOD, encoding="gbk"))
    assert result.created == 2 and not result.errors
    assert db.session.scalar(select(User.name).where(User.member_no == "DY001")) == "张三"


def test_utf8_without_bom(make):
    make.tree()
    result = _import(make.user(role=Role.ADMIN), "plain.csv", _csv(GOOD, encoding="utf-8"))
    assert result.created == 2


def test_xlsx_import_with_numbers_as_numbers(make):
    make.tree()
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(MEMBER_HEADERS)
    sheet.append(["张三", "DY001", 13800000001, "东村党支部", "正式党员", "党员", "否", None, None, "在册", None])
    sheet.append(["", "DY002", None, "东村党支部", None, None, None, None, None, None, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = _import(make.user(role=Role.ADMIN), "名单.xlsx", buffer.getvalue())
    assert result.created == 1
    assert result.errors == [(3, "缺少姓名")]
    assert db.session.scalar(select(User.phone).where(User.member_no == "DY001")) == "13800000001"


def test_secretary_imports_only_inside_their_subtree(make):
    t = make.tree()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    outsider = make.user(org=t["b1"], member_no="OUT01")
    rows = [
        "张三,DY001,,东村党支部,正式党员,,,,,,",
        "李四,DY002,,南村党支部,正式党员,,,,,,",          # outside: not found within scope
        "王五,DY003,,东村党支部,正式党员,管理员,,,,,",       # may not hand out admin
        f"改名,{outsider.member_no},,东村党支部,正式党员,,,,,,",  # someone else's member
    ]
    result = _import(secretary, "s.csv", _csv(rows))
    assert result.created == 1
    assert [row for row, _ in result.errors] == [3, 4, 5]
    db.session.refresh(outsider)
    assert outsider.org_id == t["b1"].id


def test_member_number_differing_only_in_case_is_the_same_number(make):
    """out01 while OUT01 lives outside the secretary's scope: refused, not a second account."""
    from school.accounts import auth as auth_service
    from school.accounts import members

    t = make.tree()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    outsider = make.user(org=t["b1"], member_no="OUT01")
    count = db.session.scalar(select(func.count(User.id)))
    result = _import(secretary, "s.csv", _csv(["冒名,out01,,东村党支部,正式党员,,,,,,"]))
    assert result.created == 0 and [row for row, _ in result.errors] == [2]
    db.session.rollback()
    assert db.session.scalar(select(func.count(User.id))) == count
    assert db.session.get(User, outsider.id).org_id == t["b1"].id

    # within one file, and through the form's rule, too
    admin = make.user(role=Role.ADMIN)
    result = _import(admin, "a.csv", _csv(["甲,NEW01,,东村党支部,正式党员,,,,,,", "乙,new01,,东村党支部,正式党员,,,,,,"]))
    assert result.created == 1 and result.errors == [(3, "党员编号 new01 与第 2 行重复")]
    db.session.commit()
    with pytest.raises(members.MemberError, match="已被"):
        members.create_member(members.MemberData(name="丙", member_no="Out01", org=t["a1"]), admin)
    assert auth_service.find_user_for_login("out01") == db.session.get(User, outsider.id)


def test_broken_files_get_a_clear_message(client, auth, make):
    make.tree()
    auth.login(make.user(role=Role.ADMIN))
    for name, data, message in [
        ("a.xlsx", b"not a zip", "不是有效的 Excel"),
        ("a.csv", b"", "文件是空的"),
        ("a.pdf", b"%PDF-1.4", "只支持"),
        ("a.csv", "姓名,手机号\n张三,1\n".encode(), "缺少必填列"),
    ]:
        response = client.post("/admin/members/import", data={"file": (io.BytesIO(data), name)},
                               content_type="multipart/form-data")
        assert response.status_code == 200
        assert message in response.get_data(as_text=True), name


def test_import_page_reports_rows(client, auth, make):
    make.tree()
    auth.login(make.user(role=Role.ADMIN))
    response = client.post("/admin/members/import", data={"file": (io.BytesIO(_csv(GOOD + BAD[:1])), "m.csv")},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert "新增 2 人" in page and "第 4 行" in page


def test_templates_download_with_chinese_headers(client, auth, make):
    auth.login(make.user(role=Role.ADMIN))
    xlsx = client.get("/admin/members/template.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert [c.value for c in sheet[1]] == MEMBER_HEADERS
    csv = client.get("/admin/members/template.csv")
    assert csv.data.startswith("\ufeff".encode()) and "党员编号" in csv.data.decode("utf-8-sig")


# --- 电子邮箱: optional, validated, kept when an older file has no such column -------------------

def test_email_column_is_imported_and_a_bad_address_is_refused(make):
    make.tree()
    admin = make.user(role=Role.ADMIN)
    assert MEMBER_HEADERS[-1] == "电子邮箱"
    before = _count()
    bad = _import(admin, "m.csv", _csv(["张三,DY001,,东村党支部,正式党员,,,,,,,zhang@@example"]))
    assert bad.created == 0 and bad.errors == [(2, "电子邮箱“zhang@@example”格式不正确，应形如 name@example.com（可不填）")]
    db.session.rollback()
    assert _count() == before  # nothing imported
    good = _import(admin, "m.csv", _csv(["张三,DY001,,东村党支部,正式党员,,,,,,,zhang.san@example.cn",
                                         "李四,DY002,,东村党支部,正式党员,,,,,,,"]))
    assert good.created == 2 and not good.errors
    emails = dict(db.session.execute(select(User.member_no, User.email).where(
        User.member_no.in_(["DY001", "DY002"]))).all())
    assert emails == {"DY001": "zhang.san@example.cn", "DY002": None}


def test_a_file_without_the_email_column_keeps_the_address(make):
    make.tree()
    admin = make.user(role=Role.ADMIN)
    _import(admin, "m.csv", _csv(["张三,DY001,,东村党支部,正式党员,,,,,,,zhang@example.cn"]))
    old_header = ",".join(MEMBER_HEADERS[:-1])
    old = (old_header + "\r\n" + "张叁,DY001,,东村党支部,正式党员,,,,,,\r\n").encode("utf-8-sig")
    assert _import(admin, "old.csv", old).updated == 1
    user = db.session.scalar(select(User).where(User.member_no == "DY001"))
    assert (user.name, user.email) == ("张叁", "zhang@example.cn")


def test_xlsx_with_an_email(make):
    make.tree()
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(MEMBER_HEADERS)
    sheet.append(["张三", "DY001", None, "东村党支部", None, None, None, None, None, None, None, "a b@example.cn"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = _import(make.user(role=Role.ADMIN), "名单.xlsx", buffer.getvalue())
    assert result.created == 0 and "电子邮箱“a b@example.cn”格式不正确" in result.errors[0][1]


def test_member_form_sets_and_validates_the_email(client, auth, make):
    t = make.tree()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    member = make.user(org=t["a1"], name="王芳")
    auth.login(secretary)
    form = {"name": "王芳", "member_no": member.member_no, "org_id": t["a1"].id, "category": "full",
            "role": "member", "active": "y"}
    refused = client.post(f"/admin/members/{member.id}", data={**form, "email": "wangfang"})
    assert refused.status_code == 200 and "电子邮箱“wangfang”格式不正确" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, member.id).email is None
    saved = client.post(f"/admin/members/{member.id}", data={**form, "email": " wang.fang@example.cn "})
    assert saved.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, member.id).email == "wang.fang@example.cn"
    assert "wang.fang@example.cn" in client.get(f"/admin/members/{member.id}").get_data(as_text=True)
    client.post(f"/admin/members/{member.id}", data={**form, "email": ""})
    db.session.expire_all()
    assert db.session.get(User, member.id).email is None  # optional: cleared
    created = client.post("/admin/members/new", data={**form, "member_no": "DY900", "email": "x@example.cn"})
    assert created.status_code == 302
    assert db.session.scalar(select(User.email).where(User.member_no == "DY900")) == "x@example.cn"


@pytest.mark.parametrize("who,sees_name", [("secretary_a", False), ("secretary_root", True), ("admin", True)])
def test_a_clashing_number_names_its_owner_only_within_scope(make, who, sees_name):
    """Typing a phone or member number must not tell a secretary who owns it in another branch."""
    from school.accounts import members

    t = make.tree()
    make.user(org=t["b1"], name="南村王某", member_no="SOUTH01", phone="13900000001")
    make.user(org=t["b1"], name="南村王某某", member_no="13900000002")
    actor = {"secretary_a": make.user(org=t["a"], role=Role.SECRETARY),
             "secretary_root": make.user(org=t["root"], role=Role.SECRETARY),
             "admin": make.user(role=Role.ADMIN)}[who]
    attempts = [dict(member_no="NEW01", phone="13900000001"), dict(member_no="SOUTH01"),
                dict(member_no="13900000001"), dict(member_no="NEW02", phone="13900000002")]
    for fields in attempts:
        data = members.MemberData(name="新人", org=t["a1"], **fields)
        with pytest.raises(members.MemberError) as refused:
            members.create_member(data, actor)
        message = str(refused.value)
        assert ("南村王某" in message) is sees_name, message
        assert sees_name or "其他党组织的一名党员" in message, message
