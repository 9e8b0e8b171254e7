"""The ``school`` command."""
import sqlite3

from sqlalchemy import func, select

from school.accounts.models import Organisation, User
from school.credits.models import CreditEntry
from school.extensions import db


def _counts():
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Organisation, User, CreditEntry))


def test_demo_is_idempotent_and_prints_logins(runner):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "演示账号" in first.output and "QS0001" in first.output
    counts = _counts()
    assert counts[0] >= 8 and counts[1] >= 28
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0 and "党员新增 0 人、更新 0 人" in second.output
    assert _counts() == counts
    kinds = set(db.session.scalars(select(Organisation.kind)))
    assert kinds == {"committee", "general_branch", "branch"}
    assert set(db.session.scalars(select(User.role))) == {"member", "editor", "secretary", "admin"}
    assert set(db.session.scalars(select(User.category))) == {"full", "probationary", "committee", "cadre"}
    assert db.session.scalar(select(func.count(User.id)).where(User.is_floating.is_(True))) >= 3


def test_demo_accounts_can_log_in(app, runner, client):
    runner.invoke(args=["demo"])
    from school.demo import demo_password
    password = demo_password()
    response = client.post("/login", data={"identifier": "QS0303", "password": password})
    assert response.status_code == 302
    # Decision (README, Quick start): the demo password is for a first look, not one set for
    # a real member, so demo accounts are not sent to the change-password page.
    assert client.get("/").status_code == 200


def test_user_create_set_password_and_deactivate(runner, client):
    result = runner.invoke(args=["user", "create", "--role", "admin", "--member-no", "admin01", "--name", "管理员"],
                           input="Adm1nPassw0rd\nAdm1nPassw0rd\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.member_no == "admin01"))
    assert user.role == "admin" and user.password_hash.startswith("$argon2")
    weak = runner.invoke(args=["user", "create", "--member-no", "x02", "--name", "弱", "--password", "123"])
    assert weak.exit_code != 0 and "至少" in weak.output
    assert runner.invoke(args=["user", "set-password", "admin01", "--password", "N3wPassw0rd"]).exit_code == 0
    assert client.post("/login", data={"identifier": "admin01", "password": "N3wPassw0rd"}).status_code == 302
    assert runner.invoke(args=["user", "deactivate", "admin01"]).exit_code == 0
    db.session.expire_all()
    assert not db.session.scalar(select(User.active).where(User.member_no == "admin01"))
    missing = runner.invoke(args=["user", "deactivate", "nobody"])
    assert missing.exit_code != 0 and "找不到账号" in missing.output


def test_org_import_from_files(runner, tmp_path):
    orgs_file = tmp_path / "orgs.csv"
    orgs_file.write_text("组织名称,上级组织,组织类型\n测试镇党委,,党委\n一村党支部,测试镇党委,党支部\n二村,不存在,党支部\n",
                         encoding="utf-8")
    result = runner.invoke(args=["org", "import", str(orgs_file)])
    assert "新增 2" in result.output and "第 4 行" in result.output and result.exit_code == 1
    members_file = tmp_path / "m.csv"
    members_file.write_text("姓名,党员编号,所在党组织\n张三,T1,一村党支部\n", encoding="gbk")
    result = runner.invoke(args=["org", "import", str(members_file)])
    assert result.exit_code == 0 and "新增 1" in result.output


def test_backup_sqlite_is_checked(app, runner, tmp_path):
    runner.invoke(args=["demo"])
    target = tmp_path / "backup" / "school.db"
    result = runner.invoke(args=["backup", str(target)])
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        assert result.exit_code == 0, result.output
        assert "完整性检查通过" in result.output
        con = sqlite3.connect(target)
        assert con.execute("select count(*) from users").fetchone()[0] >= 28
        con.close()
        again = runner.invoke(args=["backup", str(target)])
        assert again.exit_code != 0 and "已存在" in again.output
    else:  # pg_dump --format=custom, checked with pg_restore --list (tests/test_backup_restore.py restores it)
        assert result.exit_code == 0, result.output
        assert "检查通过" in result.output and target.stat().st_size > 0


def test_every_command_has_help(runner):
    for args in (["init"], ["demo"], ["serve"], ["user", "create"], ["user", "set-password"],
                 ["user", "deactivate"], ["org", "import"], ["backup"], ["restore"]):
        result = runner.invoke(args=args + ["--help"])
        assert result.exit_code == 0 and any("\u4e00" <= ch <= "\u9fff" for ch in result.output), args


def test_demo_has_a_library_courses_and_an_exam_to_use(runner, client):
    assert runner.invoke(args=["demo"]).exit_code == 0
    from school.demo import demo_password
    assert client.post("/login", data={"identifier": "QS0303", "password": demo_password()}).status_code == 302
    assert "茶园春季管理技术要点" in client.get("/library/search?q=催芽肥").get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    assert "党支部“三会一课”学习" in home.split('id="pending-required"')[1].split("</section>")[0]
    assert "茶园春季管理" in client.get("/courses/rural").get_data(as_text=True)
    exams = client.get("/exams/").get_data(as_text=True)
    assert "2026年度党员应知应会测试" in exams
