"""Tell the library which documents course lessons use, so such a document is not deleted."""
from sqlalchemy import select

from school.courses.models import Course, Lesson
from school.extensions import db
from school.library.services import DOCUMENT_USES


def lessons_using(document_id: int) -> list[str]:
    rows = db.session.execute(
        select(Course.title, Lesson.title).join(Course, Course.id == Lesson.course_id)
        .where(Lesson.document_id == document_id).order_by(Course.title, Course.id, Lesson.position, Lesson.id))
    return [f"课程《{course}》的课时《{lesson}》" for course, lesson in rows]


DOCUMENT_USES.append(lessons_using)
