"""A course completed by its test (exams → courses through the attempt_passed signal),
the home page's pending required courses, and the report columns of both packages."""
from decimal import Decimal

from sqlalchemy import select

from school.courses import completion
from school.courses.models import CourseCompletion
from school.credits import reports
from school.credits.models import CreditEntry
from school.exams import attempts
from school.extensions import db
from school.timeutil import local_year, utcnow
from tests.exams.helpers import shown_right


def _course(make, org, mode, title="党章学习"):
    course = make.course(title=title, slug=f"c-{mode}", required=True, completion_mode=mode, orgs=[org])
    make.text_lesson(course, "导读", "# 导读\n\n正文")
    return course


def _pass_test(make, course, member):
    bank = make.questions()
    test = make.exam(bank, utcnow(), course_id=course.id)
    attempt = attempts.start(test, member, utcnow())
    db.session.commit()
    return attempts.submit(attempt, member, shown_right(attempt, bank), utcnow())


def _course_entry(course, member):
    return db.session.scalar(select(CreditEntry).where(
        CreditEntry.idempotency_key == f"course-complete:{course.id}:{member.id}"))


def test_exam_mode_course_is_completed_by_passing_its_test(make):
    t = make.tree()
    member = make.user(org=t["a1"])
    course = _course(make, t["a"], "exam")
    assert completion.required_pending(member) == [course]
    attempt = _pass_test(make, course, member)
    assert attempt.passed
    entry = _course_entry(course, member)
    assert entry is not None and entry.hours == Decimal("0.50")  # no video: only the test bonus rule
    assert completion.required_pending(member) == []
    assert db.session.scalar(select(CourseCompletion).where(CourseCompletion.member_id == member.id))


def test_both_mode_needs_lessons_and_test(client, auth, make):
    t = make.tree()
    member = make.user(org=t["a1"])
    course = _course(make, t["a"], "both")
    _pass_test(make, course, member)
    assert _course_entry(course, member) is None
    auth.login(member)
    page = client.get(f"/courses/{course.id}").get_data(as_text=True)
    assert "课程测试" in page and "党章知识测试" in page
    lesson = course.lessons[0]
    assert client.post(f"/courses/lessons/{lesson.id}/done").status_code == 302
    db.session.expire_all()
    assert _course_entry(course, member) is not None


def test_home_lists_pending_required_courses(client, auth, make):
    t = make.tree()
    member = make.user(org=t["a1"])
    course = _course(make, t["a"], "timed", title="必修：新党章解读")
    auth.login(member)
    assert "必修：新党章解读" in client.get("/").get_data(as_text=True)
    client.post(f"/courses/lessons/{course.lessons[0].id}/done")
    page = client.get("/").get_data(as_text=True)
    assert "必修：新党章解读" not in page.split('id="pending-required"')[1].split("</section>")[0]


def test_reports_count_required_courses_and_exams_passed(make):
    t = make.tree()
    member = make.user(org=t["a1"])
    make.user(org=t["a2"])
    make.user(org=t["b1"])
    course = _course(make, t["a"], "exam")
    _pass_test(make, course, member)
    period = reports.Period(year=local_year(utcnow()))
    report = reports.org_report(t["a"], period)
    assert report.total.metrics["required_courses"] == 1
    assert report.total.metrics["exams_passed"] == 1
    assert reports.org_report(t["b"], period).total.metrics["exams_passed"] == 0


def test_member_detail_shows_courses_and_exams(client, auth, make):
    from school.accounts.models import Role

    t = make.tree()
    member = make.user(org=t["a1"], name="杨树林")
    course = _course(make, t["a"], "exam", title="党章学习课")
    _pass_test(make, course, member)
    auth.login(make.user(org=t["a"], role=Role.SECRETARY))
    page = client.get(f"/reports/members/{member.id}").get_data(as_text=True)
    courses = page.split('id="member-courses"')[1].split("</section>")[0]
    exams = page.split('id="member-exams"')[1].split("</section>")[0]
    assert "党章学习课" in courses and "未完成" not in courses
    assert "党章知识测试" in exams and "通过" in exams
