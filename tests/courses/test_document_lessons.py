"""A lesson that is a library document: added by number or title, read in the library, marked done."""
from sqlalchemy import select

from school.accounts.models import Role
from school.courses import completion, services
from school.courses.models import Lesson
from school.extensions import db
from school.library import services as library
from school.library.models import DocStatus
from school.timeutil import utcnow


def _doc(title, status=DocStatus.PUBLISHED):
    doc = library.create_document(library.DocumentData(title=title, category="policy", body="# 总则\n\n第一条 为了……",
                                                       status=status), None, utcnow())
    db.session.commit()
    return doc


def _course(org):
    course = services.save_course(services.CourseData(title="学习条例", slug="tiaoli", audience_org_ids=(org.id,)),
                                  None, utcnow())
    db.session.commit()
    return course


def test_editor_adds_a_document_lesson_and_a_member_completes_it(client, auth, make):
    t = make.tree()
    doc = _doc("中国共产党支部工作条例（试行）")
    _doc("未发布的草稿", status=DocStatus.DRAFT)
    course = _course(t["a"])
    auth.login(make.user(role=Role.EDITOR))
    url = f"/courses/manage/{course.id}/lessons/document"
    assert client.post(url, data={"reference": str(doc.id)}).status_code == 302
    assert client.post(url, data={"reference": "中国共产党支部工作条例（试行）", "title": "第二遍"}).status_code == 302
    refused = client.post(url, data={"reference": "未发布的草稿"}, follow_redirects=True).get_data(as_text=True)
    assert "找不到已发布的文献" in refused
    lessons = list(db.session.scalars(select(Lesson).where(Lesson.course_id == course.id).order_by(Lesson.position)))
    assert [(l.kind, l.title, l.document_id) for l in lessons] == [
        ("document", "中国共产党支部工作条例（试行）", doc.id), ("document", "第二遍", doc.id)]

    auth.logout()
    member = make.user(org=t["a1"])
    auth.login(member)
    page = client.get(f"/courses/lessons/{lessons[0].id}").get_data(as_text=True)
    assert f'href="/library/doc/{doc.id}"' in page and "阅读全文" in page
    assert client.post(f"/courses/lessons/{lessons[0].id}/done").status_code == 302
    state = completion.watch_state(member, db.session.get(Lesson, lessons[0].id), create=False)
    assert state is not None and state.completed_at is not None
