"""Loading the demo content in ``content/``. Idempotent: a second run changes nothing."""
from __future__ import annotations

import csv
import secrets
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from school.accounts import auth, member_import
from school.accounts.models import User
from school.accounts.roles import system_actor
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
    password = f"demo{secrets.randbelow(10)}{secrets.token_hex(3)}"  # a digit always: the policy wants letters and digits
    path.write_text(password)
    path.chmod(0o600)
    return password


def load_demo() -> str:
    content = Path(current_app.config["CONTENT_DIR"])
    system = system_actor("演示数据")
    now = utcnow()
    orgs = member_import.import_orgs(read_table("organisations.csv", (content / "organisations.csv").read_bytes()))
    db.session.flush()
    people = member_import.import_members(read_table("members.csv", (content / "members.csv").read_bytes()), system, now)
    problems = orgs.errors + people.errors
    if problems:
        db.session.rollback()
        raise RuntimeError(f"演示内容有误：{problems}")
    # One hash for the shared demo password: argon2 is slow on purpose, 30 hashes are not needed.
    # The demo password does not count as "set by someone else": the demo is for a first look
    # at every role, so its accounts open without a forced change (see README, Quick start).
    shared_hash = None
    for user in db.session.scalars(select(User).where(User.password_hash.is_(None))):
        shared_hash = shared_hash or auth.hash_password(demo_password())
        user.password_hash = shared_hash
        user.password_changed_at = now
        user.must_change_password = False
    with open(content / "credits.csv", encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            member = db.session.scalar(select(User).where(User.member_no == row["党员编号"]))
            day = datetime.strptime(row["日期"], "%Y-%m-%d")
            key = f"demo:{row['党员编号']}:{row['日期']}:{row['内容']}"[:120]
            ledger.award(member, row["学时"], _KIND[row["类别"]], _SOURCE[row["来源"]], key,
                         now=day.replace(hour=4), description=row["内容"])
    db.session.commit()
    learning = load_learning(content, now)
    return (f"演示内容：组织新增 {orgs.created} 个（已有 {orgs.unchanged}），"
            f"党员新增 {people.created} 人、更新 {people.updated} 人（无变化 {people.unchanged}）。{learning}")


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


# --- the demo's library, question bank, exam and courses ----------------------------------

DEMO_EXAM = "2026年度党员应知应会测试"


def load_learning(content: Path, now: datetime) -> str:
    """Library documents, a question bank, an exam and two courses, each created once."""
    from datetime import timedelta
    from decimal import Decimal

    from school.courses import services as courses
    from school.courses.models import Course
    from school.exams import bank
    from school.exams.formats import parse
    from school.exams.models import Exam, Question
    from school.library.importer import import_tree
    from school.library.models import Document

    editor = db.session.scalar(select(User).where(User.member_no == "QS0002"))
    documents = 0
    for folder in sorted(p for p in (content / "library").iterdir() if p.is_dir()):
        report = import_tree(folder, folder.name, editor, now)
        if report.failed:
            raise RuntimeError(f"演示文献有误：{report.failed}")
        documents += report.created
    db.session.commit()

    if db.session.scalar(select(Question.id).where(Question.name == "青山-01")) is None:
        parsed = parse("gift", "questions.gift", (content / "questions.gift").read_bytes())
        if parsed.problems:
            raise RuntimeError(f"演示题库有误：{parsed.problems}")
        bank.save_parsed(parsed.questions, editor, now)
    questions = list(db.session.scalars(select(Question).where(Question.name.like("青山-%")).order_by(Question.name)))

    def doc(title):
        return db.session.scalar(select(Document).where(Document.title == title))

    created_courses = 0
    if db.session.scalar(select(Course.id).where(Course.slug == "sanhui-yike")) is None:
        course = courses.save_course(courses.CourseData(
            title="党支部“三会一课”学习", slug="sanhui-yike", required=True, completion_mode="exam",
            summary="学习镇党委印发的“三会一课”工作指引，并通过课程测试。"), editor, now)
        courses.add_document_lesson(course, "", str(doc("青山镇党支部“三会一课”工作指引").id), now)
        created_courses += 1
    if db.session.scalar(select(Course.id).where(Course.slug == "tea-spring")) is None:
        course = courses.save_course(courses.CourseData(
            title="茶园春季管理", slug="tea-spring", track="rural", category="planting",
            summary="春季施肥、病虫害防治和采摘保鲜，适合茶园村党员和种植户。"), editor, now)
        courses.add_text_lesson(course, "春季施肥三要点", "## 春季施肥三要点\n\n1. 开采前 30–40 天施催芽肥。\n"
                                "2. 开沟 10 厘米左右，施后覆土。\n3. 农家肥要充分腐熟。", now)
        courses.add_document_lesson(course, "", str(doc("茶园春季管理技术要点").id), now)
        created_courses += 1
    db.session.flush()

    if db.session.scalar(select(Exam.id).where(Exam.title == DEMO_EXAM)) is None:
        test_course = db.session.scalar(select(Course).where(Course.slug == "sanhui-yike"))
        db.session.add(Exam(
            title=DEMO_EXAM,
            instructions="共 10 题，限时 20 分钟，60 分及格，可作答 3 次；通过后获得学时，并完成《党支部“三会一课”学习》"
                         "课程。交卷后即可查看得分；用完 3 次或考试结束后，才显示正确答案和解析。",
            course_id=test_course.id, opens_at=now - timedelta(days=1), closes_at=datetime(2027, 12, 31, 15, 59),
            time_limit_minutes=20, attempts_allowed=3, pass_percent=60, credit_hours=Decimal("1.00"),
            selection={"fixed": [q.id for q in questions]}, shuffle_options=True, review="after_submit",
            review_answers=True, published=True, created_at=now, created_by_id=editor.id))
    db.session.commit()
    return f"学习内容：文献新增 {documents} 篇，课程新增 {created_courses} 门，题库 {len(questions)} 题。"
