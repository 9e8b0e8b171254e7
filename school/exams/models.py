"""Question bank, exams, attempts and answers.

Question details that differ per type (options, accepted answers, pairs) live in one
JSON column: the bank is read far more often than queried by those details.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from school.accounts.audience import AudienceMixin, audience_table
from school.accounts.models import Organisation, User
from school.extensions import db
from school.timeutil import utcnow


class QuestionType(StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    TRUEFALSE = "truefalse"
    FILL = "fill"
    NUMERIC = "numeric"
    MATCHING = "matching"
    SHORT = "short"  # 简答题: a written answer graded by a person
    ESSAY = "essay"  # 论述题: the same, longer


WRITTEN_TYPES = frozenset({QuestionType.SHORT, QuestionType.ESSAY})
DEFAULT_MAX_LENGTH = {QuestionType.SHORT: 1000, QuestionType.ESSAY: 5000}
MAX_WRITTEN_LENGTH = 20000  # no written answer is stored longer than this, whatever the question says


def written_data(qtype: str, reference: str = "", rubric: str = "", min_length: int = 0,
                 max_length: int | None = None) -> dict:
    """The details of a written-answer question; the reference answer and rubric are for graders only."""
    max_length = max_length or DEFAULT_MAX_LENGTH.get(qtype, 1000)
    max_length = max(1, min(int(max_length), MAX_WRITTEN_LENGTH))
    min_length = max(0, min(int(min_length or 0), max_length))
    return {"reference": reference or "", "rubric": rubric or "", "min_length": min_length, "max_length": max_length}

TYPE_LABELS = {
    QuestionType.SINGLE: "单选题",
    QuestionType.MULTIPLE: "多选题",
    QuestionType.TRUEFALSE: "判断题",
    QuestionType.FILL: "填空题",
    QuestionType.NUMERIC: "数值题",
    QuestionType.MATCHING: "匹配题",
    QuestionType.SHORT: "简答题",
    QuestionType.ESSAY: "论述题",
}


class AttemptState(StrEnum):
    IN_PROGRESS = "in_progress"
    FINISHED = "finished"


class Review(StrEnum):
    NEVER = "never"
    AFTER_SUBMIT = "after_submit"
    AFTER_CLOSE = "after_close"


REVIEW_LABELS = {Review.NEVER: "不允许查看", Review.AFTER_SUBMIT: "交卷后可查看",
                 Review.AFTER_CLOSE: "考试结束后可查看"}


class QuestionCategory(db.Model):
    """A node of the category tree; ``path`` is the names joined with '/' (GIFT's $CATEGORY form)."""

    __tablename__ = "exam_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("exam_category.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    path: Mapped[str] = mapped_column(String(500), unique=True)

    parent: Mapped[QuestionCategory | None] = relationship(remote_side=[id])

    @property
    def depth(self) -> int:
        return self.path.count("/")


class Question(db.Model):
    __tablename__ = "exam_question"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int | None] = mapped_column(ForeignKey("exam_category.id"), index=True)
    qtype: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), default="")
    stem: Mapped[str] = mapped_column(Text)
    stem_format: Mapped[str] = mapped_column(String(20), default="markdown")  # markdown | html | plain
    explanation: Mapped[str] = mapped_column(Text, default="")
    points: Mapped[Decimal] = mapped_column(Numeric(6, 2), default=Decimal("1"))
    difficulty: Mapped[int] = mapped_column(Integer, default=3)  # 1 easy … 5 hard
    tags: Mapped[str] = mapped_column(String(300), default="")
    # single/multiple: {"options": [{"text", "weight", "feedback"}], "weighted": bool}
    # truefalse: {"answer": bool, "feedback_true", "feedback_false"}
    # fill: {"answers": [{"text", "weight", "feedback"}]}
    # numeric: {"answers": [{"value", "tolerance"} | {"min", "max"}, + "weight", "feedback"]}
    # matching: {"pairs": [{"left", "right"}]}
    # options and pairs may carry "format": "html" | "plain" (GIFT's per-answer [html] / [plain]); default markdown
    # numeric may carry "other_feedback" (GIFT's ``~#…``: shown for any other answer)
    # short/essay: {"reference", "rubric", "min_length", "max_length"} (written_data); graded by people
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    category: Mapped[QuestionCategory | None] = relationship()

    @property
    def type_label(self) -> str:
        return TYPE_LABELS.get(self.qtype, self.qtype)


exam_audience_org = audience_table("exam")


class Exam(AudienceMixin, db.Model):
    __tablename__ = "exam"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="")
    # The course this exam is the test of (courses read it; no foreign key, so exams need not know courses).
    course_id: Mapped[int | None] = mapped_column(Integer)
    opens_at: Mapped[datetime | None] = mapped_column(DateTime)
    closes_at: Mapped[datetime | None] = mapped_column(DateTime)
    time_limit_minutes: Mapped[int | None] = mapped_column(Integer)
    attempts_allowed: Mapped[int] = mapped_column(Integer, default=1)  # 0 = unlimited
    grading: Mapped[str] = mapped_column(String(20), default="highest")  # highest | last
    pass_percent: Mapped[int] = mapped_column(Integer, default=60)
    credit_hours: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))  # None: the rules' default
    # {"fixed": [question ids]} or {"draw": [{"category_id", "difficulty", "count"}]}
    selection: Mapped[dict] = mapped_column(JSON, default=dict)
    shuffle_questions: Mapped[bool] = mapped_column(Boolean, default=False)
    shuffle_options: Mapped[bool] = mapped_column(Boolean, default=False)
    one_per_page: Mapped[bool] = mapped_column(Boolean, default=False)
    review: Mapped[str] = mapped_column(String(20), default=Review.AFTER_SUBMIT)
    review_answers: Mapped[bool] = mapped_column(Boolean, default=False)  # show correct answers + explanations
    published: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who grades written answers: "editors" (editors and admins) or "secretaries" (also secretaries,
    # each only the attempts of members in their subtree).
    graders: Mapped[str] = mapped_column(String(20), default="editors", server_default="editors")
    anonymous_grading: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Double marking: None = one grader; else two graders each, and a third decides when their
    # points differ by more than this margin (``marking``).
    second_grader_margin: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    audience_orgs: Mapped[list[Organisation]] = relationship(secondary=exam_audience_org)  # empty: every one


class Attempt(db.Model):
    __tablename__ = "exam_attempt"
    __table_args__ = (
        # With ``number`` ≤ the exam's attempts_allowed (checked at start) this caps the attempts.
        UniqueConstraint("exam_id", "member_id", "number", name="uq_exam_attempt_exam_member_number"),
        Index("ix_exam_attempt_state_deadline", "state", "deadline_at"),
        # One attempt in progress per member and exam, whatever races (attempts.start).
        Index("uq_exam_attempt_one_open", "exam_id", "member_id", unique=True,
              sqlite_where=text("state = 'in_progress'"), postgresql_where=text("state = 'in_progress'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(ForeignKey("exam.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    number: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(20), default=AttemptState.IN_PROGRESS)
    started_at: Mapped[datetime] = mapped_column(DateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(DateTime)  # fixed at start
    last_saved_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    finish_reason: Mapped[str | None] = mapped_column(String(20))  # submitted | overdue
    # Drawn once at start: [{"q": question id, "t": its type, "opts": [original option index in shown order],
    # "rights": [original pair index in shown order] (matching)}]
    layout: Mapped[list] = mapped_column(JSON, default=list)
    score: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    max_score: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    passed: Mapped[bool | None] = mapped_column(Boolean)
    # Finished with written answers not yet graded (待阅卷): score provisional, passed None, no credit yet.
    awaiting_grading: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Integrity signals the page counted, shown to graders (never a verdict by themselves):
    # {"hidden": times the page was left, "pastes": {question id: pastes into its written answer}}
    integrity: Mapped[dict | None] = mapped_column(JSON)

    exam: Mapped[Exam] = relationship()
    member: Mapped[User] = relationship()

    @property
    def percent(self) -> float:
        if not self.max_score:
            return 0.0
        return float(self.score or 0) * 100 / float(self.max_score)


class Answer(db.Model):
    """One row per (attempt, question): every save is an upsert of this row."""

    __tablename__ = "exam_answer"
    __table_args__ = (UniqueConstraint("attempt_id", "question_id", name="uq_exam_answer_attempt_question"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("exam_attempt.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("exam_question.id"), index=True)
    response: Mapped[dict | None] = mapped_column(JSON)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    saved_at: Mapped[datetime] = mapped_column(DateTime)
    # The browser's change time (ms, server-corrected): a late, stale re-send never
    # overwrites a newer answer saved from another tab or device.
    client_rev: Mapped[int] = mapped_column(BigInteger, default=0)
    fraction: Mapped[Decimal | None] = mapped_column(Numeric(6, 4))  # set when the attempt is graded
    # Written answers (简答 / 论述): graded by a person (``marking``); fraction stays None until then.
    awarded_points: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    grader_comment: Mapped[str | None] = mapped_column(Text)
    graded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    graded_at: Mapped[datetime | None] = mapped_column(DateTime)


class Regrade(db.Model):
    """The audit row of one regrade (``regrading.regrade_question``): who, when, why, and per
    attempt whose score changed the score and verdict before and after."""

    __tablename__ = "exam_regrade"

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("exam_question.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # [{"attempt", "old_score", "new_score", "old_passed", "new_passed"}]
    changes: Mapped[list] = mapped_column(JSON, default=list)
    credits_awarded: Mapped[int] = mapped_column(Integer, default=0)
    credits_reversed: Mapped[int] = mapped_column(Integer, default=0)


class Grade(db.Model):
    """One grader's points for one written answer under double marking (``Exam.second_grader_margin``);
    the answer's ``awarded_points`` is the result (mean of two within the margin, else the third's)."""

    __tablename__ = "exam_grade"
    __table_args__ = (UniqueConstraint("answer_id", "grader_id", name="uq_exam_grade_answer_grader"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("exam_answer.id", ondelete="CASCADE"), index=True)
    grader_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    points: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
