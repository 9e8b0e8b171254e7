"""Tell the library which documents training classes use, so such a document is not deleted."""
from sqlalchemy import select

from school.extensions import db
from school.library.services import DOCUMENT_USES
from school.training.models import ClassItem, TrainingClass


def classes_using(document_id: int) -> list[str]:
    rows = db.session.scalars(
        select(TrainingClass.title).join(ClassItem, ClassItem.class_id == TrainingClass.id)
        .where(ClassItem.document_id == document_id).order_by(TrainingClass.title, TrainingClass.id))
    return [f"专题班《{title}》的学习内容" for title in rows]


DOCUMENT_USES.append(classes_using)
