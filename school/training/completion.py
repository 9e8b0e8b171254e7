"""A member's progress through a class, completing it, and the class hours.

An item is studied when: a course — the member completed it (``courses.completion``: a
``course_completion`` row); a library document — the reading page reported at least one
heartbeat for it (a ``library_reading_position`` row); a text — the member marked it
(``training_item_done``). A class is complete when every required item is studied, at
least ``electives_required`` electives are, the final exam (if any) has a passed attempt,
and the reflection (if the class asks for one) is submitted and not sent back — all
before the study period ends.

Class hours and the other credits (the rule, also in docs/architecture.md): what the
class's items earn stays with them (a course's completion credit, reading credit, the
final exam's pass credit). Completing the class adds once, under
``keys.class_complete(class, member)``, only the top-up
``max(0, class hours − hours already credited this study year by the class's items)``,
where the items' hours are the ledger rows keyed by the class's courses
(``course-complete``) and its exam (``exam-pass``), net of their reversals, plus — when
the class has library documents — the reading credit the member earned between enrolling
and completing (reading credit is per day, not per document, so all of it counts). A
member therefore holds at least the class's hours for it, never the class's hours on top
of the same courses again. Reflection hours are a separate award (``reflections.py``).

Who commits: the caller, except ``_on_exam_passed`` (a listener of
``exams.signals.attempt_passed``, sent after the exam's commit; it commits what it
records, as ``courses.completion`` does).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Integer, func, or_, select, update

from school.accounts.models import User
from school.credits import keys, ledger
from school.credits.models import CreditEntry, CreditSource
from school.exams.signals import attempt_passed
from school.extensions import db
from school.timeutil import local_year
from school.training.models import (
    ClassItem,
    Enrolment,
    EnrolState,
    ItemDone,
    ItemKind,
    Reflection,
    ReflectionState,
    TrainingClass,
)

REFLECTION_OK = (ReflectionState.SUBMITTED, ReflectionState.PASSED, ReflectionState.EXCELLENT)


@dataclass(frozen=True)
class Shape:
    """What counts towards a class's progress, read from the class once (a roster of 100,000
    members would otherwise walk the class's items several times per member)."""

    required: frozenset[int]
    electives: frozenset[int]
    electives_required: int
    exam: bool
    reflection: bool

    @classmethod
    def of(cls, training_class: TrainingClass) -> Shape:
        items = list(training_class.items)
        return cls(frozenset(i.id for i in items if i.required), frozenset(i.id for i in items if not i.required),
                   training_class.electives_required, training_class.exam_id is not None,
                   bool(training_class.reflection_required))


@dataclass
class Progress:
    """One member in one class."""

    done: set[int] = field(default_factory=set)  # item ids studied
    exam_passed: bool = False
    reflection_state: str | None = None
    last_study: datetime | None = None

    def required_left(self, cls: TrainingClass) -> list[ClassItem]:
        return [i for i in cls.items if i.required and i.id not in self.done]

    def electives_done(self, cls: TrainingClass) -> int:
        return sum(1 for i in cls.items if not i.required and i.id in self.done)

    def complete(self, cls: TrainingClass) -> bool:
        return (not self.required_left(cls) and self.electives_done(cls) >= cls.electives_required
                and (cls.exam_id is None or self.exam_passed)
                and (not cls.reflection_required or self.reflection_state in REFLECTION_OK))

    def steps(self, cls: TrainingClass, shape: Shape | None = None) -> tuple[int, int]:
        """(steps done, steps) for a progress bar: required items, electives needed, exam, reflection.
        ``shape``: the class's ``Shape``, computed once by a caller counting many members."""
        shape = shape or Shape.of(cls)
        total = len(shape.required) + shape.electives_required
        done = len(self.done & shape.required)
        done += min(len(self.done & shape.electives), shape.electives_required)
        if shape.exam:
            total += 1
            done += int(self.exam_passed)
        if shape.reflection:
            total += 1
            done += int(self.reflection_state in REFLECTION_OK)
        return done, total

    def percent(self, cls: TrainingClass, shape: Shape | None = None) -> int:
        done, total = self.steps(cls, shape)
        return int(done * 100 / total) if total else 100

    def next_item(self, cls: TrainingClass) -> ClassItem | str | None:
        """What to study next: the first required item left, else an elective while more are
        needed, else "exam" or "reflection", else None."""
        left = self.required_left(cls)
        if left:
            return left[0]
        if self.electives_done(cls) < cls.electives_required:
            return next((i for i in cls.items if not i.required and i.id not in self.done), None)
        if cls.exam_id is not None and not self.exam_passed:
            return "exam"
        if cls.reflection_required and self.reflection_state not in REFLECTION_OK:
            return "reflection"
        return None


def _chunks(ids: list[int], size: int = 500):
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def progress_for(cls: TrainingClass, member_ids: list[int], members=None) -> dict[int, Progress]:
    """Progress of many members at once (a handful of queries, whatever the roster's size).

    ``members``, when given, is a SELECT of exactly these members' ids (the roster's own
    condition): each table is then read once with ``IN (SELECT …)`` instead of once per
    chunk of 500 ids — at 100,000 members, 6 statements instead of about 1,000.
    """
    out = {member_id: Progress() for member_id in member_ids}
    if members is not None:
        _load_progress(cls, out, lambda column: column.in_(members))
    else:
        for ids in _chunks(member_ids):
            _load_progress(cls, out, lambda column, ids=ids: column.in_(ids))
    return out


def _load_progress(cls: TrainingClass, out: dict[int, Progress], among) -> None:
    """Fill ``out`` from the rows of the members ``among(member_id_column)`` selects; a row of
    a member not in ``out`` (enrolled after the roster was read) is left out."""
    from school.courses.models import CourseCompletion, Lesson, WatchState
    from school.exams.models import Attempt
    from school.library.models import ReadingPosition

    course_items = defaultdict(list)
    doc_items = defaultdict(list)
    text_items = []
    for item in cls.items:
        if item.kind == ItemKind.COURSE and item.course_id:
            course_items[item.course_id].append(item.id)
        elif item.kind == ItemKind.DOCUMENT and item.document_id:
            doc_items[item.document_id].append(item.id)
        elif item.kind == ItemKind.TEXT:
            text_items.append(item.id)

    def seen(p, at):
        if at is not None and (p.last_study is None or at > p.last_study):
            p.last_study = at

    def each(statement):
        for member_id, *values in db.session.execute(statement):
            p = out.get(member_id)
            if p is not None:
                yield p, *values

    if course_items:
        for p, course_id, at in each(
                select(CourseCompletion.member_id, CourseCompletion.course_id, CourseCompletion.completed_at)
                .where(among(CourseCompletion.member_id), CourseCompletion.course_id.in_(course_items))):
            p.done.update(course_items[course_id])
            seen(p, at)
        for p, at in each(
                select(WatchState.member_id, func.max(WatchState.updated_at))
                .join(Lesson, Lesson.id == WatchState.lesson_id)
                .where(among(WatchState.member_id), Lesson.course_id.in_(course_items))
                .group_by(WatchState.member_id)):
            seen(p, at)
    if doc_items:
        for p, document_id, at in each(
                select(ReadingPosition.member_id, ReadingPosition.document_id, ReadingPosition.updated_at)
                .where(among(ReadingPosition.member_id), ReadingPosition.document_id.in_(doc_items))):
            p.done.update(doc_items[document_id])
            seen(p, at)
    if text_items:
        for p, item_id, at in each(
                select(ItemDone.member_id, ItemDone.item_id, ItemDone.done_at)
                .where(among(ItemDone.member_id), ItemDone.item_id.in_(text_items))):
            p.done.add(item_id)
            seen(p, at)
    if cls.exam_id is not None:
        for p, passed, at in each(
                select(Attempt.member_id, func.max(Attempt.passed.cast(Integer)), func.max(Attempt.started_at))
                .where(Attempt.exam_id == cls.exam_id, among(Attempt.member_id))
                .group_by(Attempt.member_id)):
            p.exam_passed = bool(passed)
            seen(p, at)
    for p, state, at in each(
            select(Reflection.member_id, Reflection.state, Reflection.saved_at)
            .where(Reflection.class_id == cls.id, among(Reflection.member_id))):
        p.reflection_state = state
        seen(p, at)


def progress_of(cls: TrainingClass, member: User) -> Progress:
    return progress_for(cls, [member.id])[member.id]


def mark_text_done(item: ClassItem, member: User, now: datetime) -> None:
    if item.kind != ItemKind.TEXT:
        return
    if db.session.get(ItemDone, (item.id, member.id)) is None:
        db.session.add(ItemDone(item_id=item.id, member_id=member.id, done_at=now))
        db.session.flush()


# --- hours ------------------------------------------------------------------------------


def items_credited(cls: TrainingClass, enrolment: Enrolment, now: datetime) -> Decimal:
    """Hours the class's items already credited the member in the study year of ``now`` (see
    the module docstring)."""
    member_id, year = enrolment.member_id, local_year(now)
    item_keys = [keys.course_complete(i.course_id, member_id) for i in cls.items
                 if i.kind == ItemKind.COURSE and i.course_id]
    total = Decimal("0")
    if item_keys or cls.exam_id is not None:
        # The exam pass under every key it may have: the first award and one awarded again by a regrade.
        credited = CreditEntry.idempotency_key.in_(item_keys)
        if cls.exam_id is not None:
            credited = credited | ledger.exam_pass_key(cls.exam_id, member_id)
        originals = select(CreditEntry.id).where(credited, CreditEntry.member_id == member_id)
        total += db.session.scalar(select(func.coalesce(func.sum(CreditEntry.hours), 0)).where(
            CreditEntry.member_id == member_id, CreditEntry.year == year,
            or_(CreditEntry.id.in_(originals), CreditEntry.reverses_id.in_(originals))))
    if any(i.kind == ItemKind.DOCUMENT for i in cls.items):
        total += db.session.scalar(select(func.coalesce(func.sum(CreditEntry.hours), 0)).where(
            CreditEntry.member_id == member_id, CreditEntry.year == year,
            CreditEntry.source == CreditSource.READING,
            CreditEntry.created_at >= enrolment.applied_at, CreditEntry.created_at <= now))
    return ledger.to_hours(total)


def top_up(cls: TrainingClass, enrolment: Enrolment, now: datetime) -> Decimal:
    return max(ledger.to_hours(cls.hours) - items_credited(cls, enrolment, now), Decimal("0.00"))


# --- completing -------------------------------------------------------------------------


def check_completion(cls: TrainingClass, member: User, now: datetime):
    """When the member has completed the class: record it once, award the top-up once and
    issue the certificate. Returns the certificate (also one issued before) or None."""
    from school.training import certificates

    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.class_id == cls.id,
                                                          Enrolment.member_id == member.id))
    if enrolment is None or enrolment.state != EnrolState.ENROLLED:
        return None
    if enrolment.completed_at is None:
        if now >= cls.ends_at or not progress_of(cls, member).complete(cls):
            return None
        moved = db.session.execute(
            update(Enrolment).where(Enrolment.id == enrolment.id, Enrolment.completed_at.is_(None))
            .values(completed_at=now).execution_options(synchronize_session=False)).rowcount
        db.session.refresh(enrolment)
        if moved == 1:
            hours = top_up(cls, enrolment, now)
            if hours > 0:
                ledger.award(member, hours, cls.credit_kind, CreditSource.TRAINING,
                             keys.class_complete(cls.id, member.id), now,
                             description=f"完成专题班《{cls.title}》"[:300])
    return certificates.issue(cls, member, enrolment.completed_at)


@attempt_passed.connect
def _on_exam_passed(attempt, now: datetime, **_):
    """A passed final exam may complete the classes it ends (commits: see the module docstring)."""
    classes = list(db.session.scalars(
        select(TrainingClass).join(Enrolment, Enrolment.class_id == TrainingClass.id)
        .where(TrainingClass.exam_id == attempt.exam_id, Enrolment.member_id == attempt.member_id,
               Enrolment.state == EnrolState.ENROLLED, Enrolment.completed_at.is_(None))))
    if not classes:
        return
    member = db.session.get(User, attempt.member_id)
    for cls in classes:
        check_completion(cls, member, now)
    db.session.commit()


# --- for the member's pages ---------------------------------------------------------------


@dataclass
class MemberRow:
    cls: TrainingClass
    enrolment: Enrolment
    progress: Progress


def member_rows(member: User) -> list[MemberRow]:
    """The member's classes (enrolled or waiting), newest first."""
    rows = db.session.execute(
        select(TrainingClass, Enrolment).join(Enrolment, Enrolment.class_id == TrainingClass.id)
        .where(Enrolment.member_id == member.id, Enrolment.state.in_((EnrolState.ENROLLED, EnrolState.PENDING)))
        .order_by(Enrolment.completed_at.is_not(None), TrainingClass.ends_at, TrainingClass.id)).all()
    return [MemberRow(cls, enrolment, progress_of(cls, member)) for cls, enrolment in rows]
