"""Progress, the completion rule, class hours composed with the items' own credit, the
certificate issued once, and the final exam's signal."""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from school.accounts.models import Role
from school.credits import keys, ledger
from school.credits.models import CreditEntry
from school.exams.models import Question
from school.extensions import db
from school.training import completion
from school.training.models import Certificate, Enrolment
from tests.training.helpers import finish_course, pass_exam, read_document

T0 = datetime(2026, 3, 1, 2, 0)


@pytest.fixture
def setup(make):
    t = make.tree()
    member = make.user(org=t["a1"], name="王小明")
    course = make.course(title="党章学习", credit_hours=Decimal("2"))
    make.text_lesson(course, "第一课", "正文")
    doc = make.document("关于加强党员教育的意见")
    exam = make.exam([make.question()], now=T0, credit_hours=Decimal("1"), title="结业测试")
    cls = make.training_class(t["root"], [t["a"]], now=T0, hours=Decimal("5"), exam_id=exam.id,
                              electives_required=1, title="学习贯彻专题班")
    course_item = make.class_item(cls, "course", course_id=course.id)
    text_item = make.class_item(cls, "text", title="开班导学", body="导学内容")
    doc_item = make.class_item(cls, "document", required=False, document_ref=str(doc.id))
    make.class_item(cls, "text", required=False, title="拓展阅读", body="拓展")
    make.enrolment(cls, member, T0)
    return dict(t=t, member=member, course=course, doc=doc, exam=exam, cls=cls, course_item=course_item,
                text_item=text_item, doc_item=doc_item)


def test_progress_and_the_next_item(make, setup):
    cls, member = setup["cls"], setup["member"]
    p = completion.progress_of(cls, member)
    assert p.steps(cls) == (0, 4) and p.next_item(cls).id == setup["course_item"].id
    finish_course(setup["course"], member, T0)
    completion.mark_text_done(setup["text_item"], member, T0)
    db.session.commit()
    p = completion.progress_of(cls, member)
    assert p.steps(cls) == (2, 4) and p.percent(cls) == 50
    assert p.next_item(cls).id == setup["doc_item"].id  # an elective is still needed
    read_document(setup["doc"], member, T0)
    p = completion.progress_of(cls, member)
    assert p.next_item(cls) == "exam" and not p.complete(cls)
    assert completion.check_completion(cls, member, T0) is None


def test_completing_tops_up_the_class_hours_without_counting_items_twice(make, setup):
    cls, member = setup["cls"], setup["member"]
    finish_course(setup["course"], member, T0 + timedelta(hours=1))  # 2 学时 for the course
    completion.mark_text_done(setup["text_item"], member, T0)
    read_document(setup["doc"], member, T0)
    make.entry(member, hours="0.5", source="reading", now=T0 + timedelta(hours=2))  # reading while enrolled
    make.entry(member, hours="0.7", source="reading", now=T0 - timedelta(days=3))  # before enrolling: not the class's
    pass_exam(make, setup["exam"], member, T0 + timedelta(hours=3))  # 1 学时; the signal completes the class
    db.session.expire_all()
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.member_id == member.id))
    assert enrolment.completed_at == T0 + timedelta(hours=3)
    top_up = db.session.scalar(select(CreditEntry).where(
        CreditEntry.idempotency_key == keys.class_complete(cls.id, member.id)))
    assert top_up.hours == Decimal("1.50")  # 5 − (2 course + 1 exam + 0.5 reading)
    assert top_up.source == "training" and top_up.description == "完成专题班《学习贯彻专题班》"
    # the class's items and the top-up together hold exactly the class's hours
    assert ledger.balance(member, 2026) == Decimal("5.70")  # + the 0.7 read before enrolling
    cert = db.session.scalar(select(Certificate))
    assert (cert.holder_name, cert.class_title, cert.hours, cert.organiser_name) == (
        "王小明", "学习贯彻专题班", Decimal("5.00"), "青山镇党委")
    # checking again changes nothing
    again = completion.check_completion(cls, member, T0 + timedelta(days=1))
    db.session.commit()
    assert again.id == cert.id
    assert db.session.scalar(select(func.count(Certificate.id))) == 1
    assert db.session.scalar(select(func.count(CreditEntry.id)).where(CreditEntry.source == "training")) == 1


def test_no_top_up_when_the_items_already_earned_the_class_hours(make, setup):
    cls, member = setup["cls"], setup["member"]
    cls.hours = Decimal("2.5")
    db.session.commit()
    finish_course(setup["course"], member, T0)
    completion.mark_text_done(setup["text_item"], member, T0)
    read_document(setup["doc"], member, T0)
    pass_exam(make, setup["exam"], member, T0)
    db.session.expire_all()
    assert db.session.scalar(select(CreditEntry).where(CreditEntry.source == "training")) is None
    assert db.session.scalar(select(Certificate)).hours == Decimal("2.50")


def test_a_reversed_course_credit_no_longer_reduces_the_top_up(make, setup):
    cls, member = setup["cls"], setup["member"]
    entry = finish_course(setup["course"], member, T0)
    ledger.reverse(entry, "重复记录", make.user(), T0)
    db.session.commit()
    enrolment = db.session.scalar(select(Enrolment))
    assert completion.items_credited(cls, enrolment, T0) == Decimal("0.00")


@pytest.mark.parametrize("when,completes", [
    (timedelta(days=28), True),
    (timedelta(days=29, seconds=-1), True),
    (timedelta(days=29), False),  # the study period ended
])
def test_completion_only_inside_the_study_period(make, setup, when, completes):
    cls, member = setup["cls"], setup["member"]
    cls.exam_id = None
    db.session.commit()
    finish_course(setup["course"], member, T0)
    completion.mark_text_done(setup["text_item"], member, T0)
    read_document(setup["doc"], member, T0)
    assert (completion.check_completion(cls, member, T0 + when) is not None) == completes


def test_a_failed_exam_does_not_complete(make, setup):
    cls, member = setup["cls"], setup["member"]
    finish_course(setup["course"], member, T0)
    completion.mark_text_done(setup["text_item"], member, T0)
    read_document(setup["doc"], member, T0)
    pass_exam(make, setup["exam"], member, T0, right=False)
    db.session.expire_all()
    assert db.session.scalar(select(Enrolment)).completed_at is None
    assert completion.progress_of(cls, member).next_item(cls) == "exam"


def test_members_not_enrolled_never_complete(make, setup):
    stranger = make.user(org=setup["t"]["a1"])
    assert completion.check_completion(setup["cls"], stranger, T0) is None


def test_report_metric_counts_completed_classes(make, setup):
    from school.credits.reports import METRICS, Period
    cls, member = setup["cls"], setup["member"]
    cls.exam_id = None
    db.session.commit()
    finish_course(setup["course"], member, T0)
    completion.mark_text_done(setup["text_item"], member, T0)
    read_document(setup["doc"], member, T0)
    completion.check_completion(cls, member, T0)
    db.session.commit()
    metric = next(m for m in METRICS if m.key == "training_classes")
    assert metric.label == "完成专题班"
    assert dict(db.session.execute(metric.member_values(Period(year=2026))).all()) == {member.id: 1}


def test_an_exam_pass_awarded_again_by_a_regrade_is_not_paid_twice_by_the_top_up(make, setup):
    from school.exams import regrading

    cls, member, exam = setup["cls"], setup["member"], setup["exam"]
    question = db.session.get(Question, exam.selection["fixed"][0])
    pass_exam(make, exam, member, T0)  # 1 学时 under keys.exam_pass
    editor = make.user(role=Role.EDITOR)
    for answer in (False, True):  # the key "corrected" (the pass reversed), then restored (awarded again)
        question.data = {"answer": answer}
        regrading.regrade_question(question, editor, "答案更正", T0)
        db.session.commit()
    again = db.session.scalar(select(CreditEntry).where(
        CreditEntry.source == "exam", CreditEntry.reverses_id.is_(None),
        CreditEntry.idempotency_key != keys.exam_pass(exam.id, member.id)))
    assert again.idempotency_key.startswith(keys.exam_pass(exam.id, member.id) + ":")
    enrolment = db.session.scalar(select(Enrolment))
    assert completion.items_credited(cls, enrolment, T0) == Decimal("1.00")  # 1 − 1 + 1: the exam once
    finish_course(setup["course"], member, T0 + timedelta(hours=1))
    completion.mark_text_done(setup["text_item"], member, T0)
    read_document(setup["doc"], member, T0)
    assert completion.check_completion(cls, member, T0 + timedelta(hours=2)) is not None
    db.session.commit()
    top_up = db.session.scalar(select(CreditEntry).where(
        CreditEntry.idempotency_key == keys.class_complete(cls.id, member.id)))
    assert top_up.hours == Decimal("2.00")  # 5 − (2 course + 1 exam)
    assert ledger.balance(member, 2026) == Decimal("5.00")
    assert keys.is_exam_pass(again.idempotency_key, exam.id, member.id)
    assert keys.is_exam_pass(keys.exam_pass(exam.id, member.id), exam.id, member.id)
    assert not keys.is_exam_pass(keys.exam_pass(exam.id, member.id) + "0", exam.id, member.id)  # another member


def test_study_done_before_enrolling_counts(make, setup):
    """The decision in docs/architecture.md: a course completed or an exam passed before the member
    enrolled counts for the class (and its credit this year is deducted from the top-up)."""
    cls = setup["cls"]
    late = make.user(org=setup["t"]["a2"], name="周晓")
    finish_course(setup["course"], late, T0 - timedelta(hours=5))  # 2 学时, before enrolling
    pass_exam(make, setup["exam"], late, T0 - timedelta(hours=4))  # 1 学时, before enrolling
    db.session.commit()
    make.enrolment(cls, late, T0 + timedelta(hours=1))
    p = completion.progress_of(cls, late)
    assert setup["course_item"].id in p.done and p.exam_passed
    completion.mark_text_done(setup["text_item"], late, T0 + timedelta(hours=2))
    read_document(setup["doc"], late, T0 + timedelta(hours=2))
    assert completion.check_completion(cls, late, T0 + timedelta(hours=2)) is not None
    db.session.commit()
    top_up = db.session.scalar(select(CreditEntry).where(
        CreditEntry.idempotency_key == keys.class_complete(cls.id, late.id)))
    assert top_up.hours == Decimal("2.00")  # 5 − (2 course + 1 exam), earned before enrolling
    assert ledger.balance(late, 2026) == Decimal("5.00")
