"""A 专题班 as a study-plan item (``notices.plans.ITEM_KINDS``): assigned by its number, done
when the member's enrolment is completed (``completion.check_completion`` sets
``completed_at``), studied on the class page."""
from sqlalchemy import select

from school.extensions import db
from school.notices.plans import ItemKind, register
from school.training.models import Enrolment, TrainingClass


def _find(ref: int):
    cls = db.session.get(TrainingClass, ref)
    return (cls.id, cls.title) if cls is not None and cls.published else None


def _done():
    return select(Enrolment.member_id.label("member_id"), Enrolment.class_id.label("ref_id")).where(
        Enrolment.completed_at.is_not(None))


register(ItemKind("class", "专题班", _find, _done, lambda ref: f"/training/{ref}"))
