"""Every route × role × (own, child, sibling, parent organisation) → expected status.

Later routes join by adding a ``Route`` row. The secretary manages organisation A; for
them "own" is A, "child" is A1 under A, "sibling" is B beside A, "parent" is the root.
Members, editors and admins are placed in A as well.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from school.accounts.models import Role

ROLES = ["anonymous", Role.MEMBER, Role.EDITOR, Role.SECRETARY, Role.ADMIN]
RELATIONS = ["own", "child", "sibling", "parent"]
MANAGERS = (Role.SECRETARY, Role.ADMIN)
EVERYONE = (Role.MEMBER, Role.EDITOR, Role.SECRETARY, Role.ADMIN)


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # may contain {org}, {member} or {entry}
    roles: tuple = MANAGERS  # who may use it at all (others: 403)
    ok: int = 200  # status when allowed
    public: bool = False
    data: tuple = ()
    # For rules the defaults cannot express (e.g. a member may open a course assigned to
    # their own organisation only): (role, relation) -> expected status.
    expect: Callable[[str, str], int] | None = None
    # For routes that answer success and refusal alike (a redirect back with a message):
    # ``effect(ctx, values)`` tells whether the change happened, and it must have happened
    # exactly when ``allowed(role, relation)`` says so (default: when the status is ``ok``).
    effect: Callable | None = None
    allowed: Callable[[str, str], bool] | None = None

    @property
    def scoped(self) -> bool:
        """Routes naming an object that belongs to an organisation are checked per relation."""
        return any("{" + name + "}" in self.path for name in PLACEHOLDERS)

    def __str__(self):
        return f"{self.method} {self.path}"


def _entry(ctx):
    return ctx.make.entry(ctx.member, key=f"matrix:{ctx.member.id}").id


def _offline(ctx):
    creator = ctx.make.user(org=ctx.org, role=Role.SECRETARY)
    return ctx.make.offline(ctx.org, creator, [ctx.member], topic="矩阵").id


def _course(ctx):
    """A course assigned to the organisation under test (and its subtree)."""
    return ctx.make.course(title="矩阵课程", slug=f"m-{ctx.org.id}-{ctx.member.id}", orgs=[ctx.org])


def _text_lesson(ctx):
    return ctx.make.text_lesson(_course(ctx), "图文课", "正文").id


def _video_lesson(ctx):
    """A ready video lesson; its files are tiny stand-ins (what is tested here is who may fetch them)."""
    return ctx.make.video_lesson(_course(ctx)).id


def _exam(ctx):
    """A published exam for the organisation under test (and its subtree)."""
    return ctx.make.exam([ctx.make.question()], title="矩阵考试", audience_orgs=[ctx.org]).id


def _attempt(ctx):
    """Someone else's attempt (the member of the organisation under test)."""
    from school.exams.models import Exam
    from school.extensions import db
    return ctx.make.attempt(db.session.get(Exam, _exam(ctx)), ctx.member).id


def _question(ctx):
    return ctx.make.question("fill", "填空题", {"answers": [{"text": "人民", "weight": 100}]}).id


def _image(ctx):
    """A picture in the question bank (stored under its hash)."""
    import io

    from PIL import Image

    from school.exams import images
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return images.save_upload(buffer.getvalue(), None).name


def _attempt_started(ctx, values):
    from sqlalchemy import func, select

    from school.exams.models import Attempt
    from school.extensions import db
    return db.session.scalar(select(func.count(Attempt.id)).where(Attempt.exam_id == values["exam"])) > 0


def _in_exam_audience(role, relation):
    """The exam is for the organisation under test; the actor sits in A."""
    return role != "anonymous" and relation in ("own", "parent")


def _offline_state(state):
    def effect(ctx, values):
        from school.credits.models import OfflineSession
        from school.extensions import db
        session = db.session.get(OfflineSession, values["offline"])
        db.session.refresh(session)
        return session.state == state
    return effect


def _approver(role, relation):
    """The parent organisation decides: admins always, the secretary of A for A1's records."""
    return role == Role.ADMIN or (role == Role.SECRETARY and relation == "child")


def _exam_page(role, relation):
    """Members see an exam only if their organisation (A) is in its audience; editors and admins always."""
    if role == "anonymous":
        return 302
    if role in (Role.EDITOR, Role.ADMIN):
        return 200
    return 200 if relation in ("own", "parent") else 404


def _others_attempt(role, relation):
    return 302 if role == "anonymous" else 404  # an attempt is its owner's only


def _results(role, relation):
    """Results of any exam; the rows are scoped to the secretary's subtree, not the exam."""
    if role == "anonymous":
        return 302
    return 200 if role in RESULT_READERS else 403


def _notice_reader(role, relation):
    """Members (and editors) of A read notices to A and to the root above it; the secretary of A also
    those to A1 (theirs to manage); admins all."""
    if role == "anonymous":
        return 302
    if role == Role.ADMIN:
        return 200
    readable = {"own", "parent"} | ({"child"} if role == Role.SECRETARY else set())
    return 200 if relation in readable else 404


def _notice_count(count):
    def effect(ctx, values):
        from sqlalchemy import func, select

        from school.extensions import db
        from school.notices.models import Notice
        return db.session.scalar(select(func.count(Notice.id))) != count
    return effect


def _reminder_count(count):
    def effect(ctx, values):
        from sqlalchemy import func, select

        from school.extensions import db
        from school.notices.models import Reminder
        db.session.expire_all()
        return db.session.scalar(select(func.count(Reminder.id))) != count
    return effect


RESULT_READERS = (Role.EDITOR, Role.SECRETARY, Role.ADMIN)
EDITORS = (Role.EDITOR, Role.ADMIN)

def _pdf(default):
    """A PDF needs a Chinese font; without one the page redirects with an explanation."""
    from pathlib import Path

    from school.credits.record import FONT_CANDIDATES
    has_font = any(Path(p).is_file() for p in FONT_CANDIDATES)

    def expect(role, relation):
        status = default(role, relation)
        return 302 if status == 200 and not has_font else status
    return expect


# Placeholder → how to make the object for one case. ``ctx`` has ``make``, ``tree``,
# ``org`` (the organisation of the relation under test) and ``member`` (a member in it).
# A package whose routes name its own objects adds its builder here.
def _document(ctx):
    return ctx.make.document("矩阵测试文献").id


def _document_with_pdf(ctx):
    """A published document with its PDF kept for download."""
    from flask import current_app

    from school.library import importer
    doc = ctx.make.document("矩阵测试文献")
    doc.file_stored = importer.store_pdf(current_app.config["MEDIA_DIR"], b"%PDF-1.4 matrix")
    return doc.id


def _draft(ctx):
    return ctx.make.document("矩阵草稿", "第一条 草稿。", status="draft").id


def _column(ctx):
    return ctx.make.column().id


def _notice(ctx):
    """A notice to the organisation under test (its subtree), with a PDF attached, sent by an admin."""
    return ctx.make.notice(ctx.org, title="矩阵通知", attachment=("a.pdf", b"%PDF-1.4 matrix")).id


def _message(ctx):
    """A message in the inbox of the member under test (nobody else's to read)."""
    from sqlalchemy import select

    from school.accounts.roles import system_actor
    from school.notices.models import Message
    reminder = ctx.make.reminder(system_actor(), [ctx.member])
    return ctx.make.session.scalar(select(Message.id).where(Message.reminder_id == reminder.id))


def _reminder(ctx):
    """A reminder sent by someone else (the terminal's admin): only admins see its status."""
    from school.accounts.roles import system_actor
    return ctx.make.reminder(system_actor(), [ctx.member]).id


def _plan(ctx):
    return ctx.make.plan(ctx.org, title="矩阵计划").id


def _written_answer(ctx):
    """A submitted written answer by the member under test, in an exam secretaries may grade."""
    from sqlalchemy import select

    from school.exams import attempts
    from school.exams.models import Question, written_data
    from school.extensions import db

    essay = Question(qtype="essay", stem="论述题", data=written_data("essay"))
    db.session.add(essay)
    db.session.commit()
    exam = ctx.make.exam([essay], title="阅卷矩阵", audience_orgs=[ctx.org], graders="secretaries")
    attempt = ctx.make.attempt(exam, ctx.member)
    attempts.save_answers(attempt, ctx.member, [{"question": essay.id, "response": {"text": "答卷"}, "rev": 1}],
                          attempt.started_at)
    attempts.submit(attempt, ctx.member, [], attempt.started_at)
    from school.exams.models import Answer
    return db.session.scalar(select(Answer.id).where(Answer.attempt_id == attempt.id))


def _written_answer_page(ctx):
    """The grading page of that written answer: ``<exam>/questions/<question>?answer=<id>``."""
    from school.exams.models import Answer, Attempt
    from school.extensions import db

    answer = db.session.get(Answer, _written_answer(ctx))
    exam_id = db.session.get(Attempt, answer.attempt_id).exam_id
    return f"{exam_id}/questions/{answer.question_id}?answer={answer.id}"


def _written_exam_id(ctx):
    from school.exams.models import Answer, Attempt
    from school.extensions import db

    return db.session.get(Attempt, db.session.get(Answer, _written_answer(ctx)).attempt_id).exam_id


def _regraded(ctx, values):
    from sqlalchemy import func, select

    from school.exams.models import Regrade
    from school.extensions import db
    return db.session.scalar(select(func.count()).select_from(Regrade)) > 0


def _graded(ctx, values):
    from sqlalchemy import select

    from school.exams.models import Answer
    from school.extensions import db
    return db.session.scalar(select(Answer.graded_at).where(Answer.id == values["wanswer"])) is not None


PLACEHOLDERS = {
    "org": lambda ctx: ctx.org.id,
    "member": lambda ctx: ctx.member.id,
    "entry": _entry,
    "doc": _document,
    "column": _column,
    "pdfdoc": _document_with_pdf,
    "draft": _draft,
    "offline": _offline,
    "course": lambda ctx: _course(ctx).id,
    "lesson": _text_lesson,
    "vlesson": _video_lesson,
    "exam": _exam,
    "attempt": _attempt,
    "question": _question,
    "wanswer": _written_answer,
    "wanswerpage": _written_answer_page,
    "wexam": _written_exam_id,
    "image": _image,
    "notice": _notice,
    "message": _message,
    "reminder": _reminder,
    "plan": _plan,
}


def _library_readers(ok):
    """Library objects belong to no organisation: every signed-in role reads them."""
    return lambda role, relation: 302 if role == "anonymous" else ok


def _library_editors(ok):
    return lambda role, relation: 302 if role == "anonymous" else (ok if role in (Role.EDITOR, Role.ADMIN) else 403)


LIBRARY_EDITORS = (Role.EDITOR, Role.ADMIN)


def course_audience(ok: int = 200):
    """Courses are assigned to an organisation's subtree: a member of A sees courses of A and of the
    root above it, not of A1 below or B beside; a secretary of A also sees A1's; editors and admins all."""
    def rule(role, relation):
        if role == "anonymous":
            return 302
        if role in (Role.EDITOR, Role.ADMIN):
            return ok
        visible = {"own", "parent"} | ({"child"} if role == Role.SECRETARY else set())
        return ok if relation in visible else 404
    return rule


def course_pack(role, relation):
    if role == Role.MEMBER:
        return 403
    return course_audience()(role, relation)



ROUTES = [
    Route("GET", "/healthz", public=True),
    Route("GET", "/", roles=EVERYONE),
    Route("GET", "/account/password", roles=EVERYONE),
    Route("POST", "/account/large-text", roles=EVERYONE, ok=302),
    Route("GET", "/admin/orgs"),
    Route("GET", "/admin/members"),
    Route("GET", "/admin/members/new"),
    Route("GET", "/admin/members/import"),
    Route("GET", "/admin/members/template.xlsx"),
    Route("GET", "/admin/requirements", roles=(Role.ADMIN,)),
    Route("GET", "/admin/orgs/{org}"),
    Route("POST", "/admin/orgs/{org}/rename", ok=302, data=(("name", "新名称"),)),
    Route("GET", "/admin/members?org={org}"),
    Route("GET", "/admin/members/{member}"),
    Route("GET", "/admin/members/{member}/credits"),
    Route("POST", "/admin/members/{member}/reset-password"),
    Route("POST", "/admin/members/{member}/deactivate", ok=302),
    Route("POST", "/admin/credits/{entry}/reverse", ok=302, data=(("reason", "重复登记"),)),
    Route("GET", "/library/", roles=EVERYONE),
    Route("GET", "/library/category/law", roles=EVERYONE),
    Route("GET", "/library/search?q=党员", roles=EVERYONE),
    Route("GET", "/library/doc/{doc}", expect=_library_readers(200)),
    Route("GET", "/library/doc/{doc}?print=1", expect=_library_readers(200)),
    Route("GET", "/library/doc/{doc}/file", expect=_library_readers(404)),  # no PDF attached
    Route("GET", "/library/doc/{pdfdoc}/file", expect=_library_readers(200)),
    Route("GET", "/library/doc/{draft}", expect=lambda role, rel: 302 if role == "anonymous"
          else (200 if role in LIBRARY_EDITORS else 404)),
    Route("POST", "/library/doc/{doc}/heartbeat", expect=_library_readers(400)),  # form data, not JSON
    Route("GET", "/library/columns/{column}", expect=_library_readers(200)),
    Route("GET", "/library/manage/", roles=LIBRARY_EDITORS),
    Route("GET", "/library/manage/new", roles=LIBRARY_EDITORS),
    Route("POST", "/library/manage/preview", roles=LIBRARY_EDITORS, ok=400),  # form data, not JSON
    Route("POST", "/library/manage/upload", roles=LIBRARY_EDITORS, ok=302),  # no file: back with a message
    Route("GET", "/library/manage/columns", roles=LIBRARY_EDITORS),
    Route("GET", "/library/manage/columns/new", roles=LIBRARY_EDITORS),
    Route("GET", "/library/manage/columns/{column}", expect=_library_editors(200)),
    Route("GET", "/library/manage/{doc}/edit", expect=_library_editors(200)),
    Route("POST", "/library/manage/{doc}/edit", expect=_library_editors(200), data=(("title", ""),)),
    Route("GET", "/library/manage/{doc}/revisions", expect=_library_editors(200)),
    Route("GET", "/library/manage/{doc}/revisions/1", expect=_library_editors(200)),
    Route("POST", "/library/manage/{doc}/revisions/1/restore", expect=_library_editors(302)),
    Route("GET", "/library/manage/{doc}/delete", expect=_library_editors(200)),
    Route("POST", "/library/manage/{doc}/delete", expect=_library_editors(302)),  # deleted, back to the list
    # credits: rules, study record, offline training, branch reports
    Route("GET", "/admin/credit-rules", roles=(Role.ADMIN,)),
    Route("GET", "/my/record.xlsx", roles=EVERYONE),
    Route("GET", "/my/record.pdf", roles=EVERYONE,
          expect=_pdf(lambda role, rel: 302 if role == "anonymous" else 200)),
    Route("GET", "/offline/"),
    Route("GET", "/offline/new"),
    Route("GET", "/offline/backfill"),
    Route("GET", "/offline/new?org={org}"),
    Route("GET", "/offline/backfill?org={org}"),
    Route("GET", "/offline/{offline}"),
    Route("GET", "/offline/{offline}/edit"),
    Route("GET", "/offline/{offline}/attachment"),
    Route("POST", "/offline/{offline}/approve", ok=302, effect=_offline_state("approved"), allowed=_approver),
    Route("POST", "/offline/{offline}/reject", ok=302, data=(("reason", "签到表不清楚"),),
          effect=_offline_state("rejected"), allowed=_approver),
    Route("GET", "/reports/"),
    Route("GET", "/reports/export.csv"),
    Route("GET", "/reports/export.xlsx"),
    Route("GET", "/reports/?org={org}"),
    Route("GET", "/reports/chart/orgs.svg?org={org}"),
    Route("GET", "/reports/chart/distribution.svg?org={org}"),
    Route("GET", "/reports/export.csv?org={org}"),
    Route("GET", "/reports/export.xlsx?org={org}"),
    Route("GET", "/reports/members/{member}"),
    Route("GET", "/reports/members/{member}/record.xlsx"),
    # courses
    Route("GET", "/courses/", roles=EVERYONE),
    Route("GET", "/courses/rural", roles=EVERYONE),
    Route("GET", "/courses/{course}", expect=course_audience()),
    Route("GET", "/courses/lessons/{lesson}", expect=course_audience()),
    Route("POST", "/courses/lessons/{lesson}/done", expect=course_audience(302)),
    Route("GET", "/courses/lessons/{vlesson}", expect=course_audience()),
    Route("GET", "/courses/media/{vlesson}/master.m3u8", expect=course_audience()),
    Route("POST", "/courses/lessons/{vlesson}/heartbeat", expect=course_audience(),
          data=(("tab", "t"), ("seq", "1"), ("position", "0"), ("playing", "1"), ("sent_at", "0"))),
    Route("POST", "/courses/lessons/{vlesson}/still-here", expect=course_audience()),
    Route("GET", "/courses/{course}/pack.zip", expect=course_pack),
    Route("GET", "/courses/manage", roles=EDITORS),
    Route("GET", "/courses/manage/new", roles=EDITORS),
    Route("GET", "/courses/manage/{course}", roles=EDITORS),
    Route("GET", "/courses/manage/lessons/{vlesson}/status", roles=EDITORS),
    Route("POST", "/courses/manage/lessons/{lesson}/move", roles=EDITORS, ok=302, data=(("direction", "up"),)),
    Route("POST", "/courses/manage/{course}/lessons/document", roles=EDITORS, ok=302),  # no document: back with the reason
    # exams
    Route("GET", "/exams/", roles=EVERYONE),
    Route("GET", "/exams/{exam}", expect=_exam_page),
    Route("POST", "/exams/{exam}/start", expect=lambda role, rel: 302,  # to the attempt, or back with the reason
          effect=_attempt_started, allowed=_in_exam_audience),
    Route("GET", "/exams/attempts/{attempt}", expect=_others_attempt),
    Route("POST", "/exams/attempts/{attempt}/answers", expect=_others_attempt),
    Route("POST", "/exams/attempts/{attempt}/submit", expect=_others_attempt),
    Route("GET", "/exams/attempts/{attempt}/result", expect=_others_attempt),
    Route("GET", "/exams/manage", roles=EDITORS),
    Route("GET", "/exams/manage/new", roles=EDITORS),
    Route("GET", "/exams/manage/{exam}/edit", roles=EDITORS,
          expect=lambda role, rel: 302 if role == "anonymous" else (200 if role in EDITORS else 403)),
    Route("GET", "/exams/bank", roles=EDITORS),
    Route("GET", "/exams/bank/questions/new", roles=EDITORS),
    # 插入图片 is a post of the question form; without a file the form comes back with the reason
    Route("POST", "/exams/bank/questions/new", roles=EDITORS, data=(("insert_image", "插入图片"),)),
    Route("POST", "/exams/bank/questions/{question}/edit", roles=EDITORS, data=(("insert_image", "插入图片"),),
          expect=lambda role, rel: 302 if role == "anonymous" else (200 if role in EDITORS else 403)),
    # a picture in a question: part of the paper, for everyone signed in
    Route("GET", "/exams/images/{image}", expect=_library_readers(200)),
    Route("GET", "/exams/bank/questions/{question}/edit", roles=EDITORS,
          expect=lambda role, rel: 302 if role == "anonymous" else (200 if role in EDITORS else 403)),
    Route("POST", "/exams/bank/questions/{question}/delete", roles=EDITORS,
          expect=lambda role, rel: 302 if role == "anonymous" else (302 if role in EDITORS else 403)),
    Route("GET", "/exams/bank/import", roles=EDITORS),
    Route("GET", "/exams/bank/template.xlsx", roles=EDITORS),
    Route("GET", "/exams/bank/export.gift", roles=EDITORS),
    Route("GET", "/exams/bank/export.xlsx", roles=EDITORS),
    Route("GET", "/exams/results", roles=RESULT_READERS),
    Route("GET", "/exams/results/{exam}", expect=_results),
    Route("GET", "/exams/results/{exam}.xlsx", expect=_results),
    Route("GET", "/reports/members/{member}/record.pdf", expect=_pdf(
        lambda role, rel: 302 if role == "anonymous" else 403 if role not in MANAGERS
        else 404 if role == Role.SECRETARY and rel in ("sibling", "parent") else 200)),
    # offline: only a record's creator accepts changes proposed by someone else (nobody here is)
    Route("POST", "/offline/{offline}/accept", ok=302, effect=_offline_state("returned"),
          allowed=lambda role, rel: False),
    Route("GET", "/offline/{offline}/attachment?proposed=1",  # no pending proposal: nothing to fetch
          expect=lambda role, rel: 302 if role == "anonymous" else 403 if role not in MANAGERS else 404),
    Route("POST", "/admin/members/import"),  # no file: the form comes back with the reason
    # the study clock: "还在学习吗？" answered on a reading page
    Route("POST", "/library/doc/{doc}/still-here", expect=_library_readers(200)),
    # 通知公告: a notice reaches its organisation's subtree; its senders are the managers of that organisation
    Route("GET", "/notices/", roles=EVERYONE),
    Route("GET", "/notices/{notice}", expect=_notice_reader),
    Route("GET", "/notices/{notice}/attachment", expect=_notice_reader),
    Route("GET", "/notices/manage"),
    Route("GET", "/notices/manage/new"),
    Route("POST", "/notices/manage/new", effect=_notice_count(0), allowed=lambda role, rel: False),  # no data
    Route("GET", "/notices/manage/{notice}"),
    # 消息: a message is its member's only
    Route("GET", "/messages", roles=EVERYONE),
    Route("GET", "/messages/{message}", expect=lambda role, rel: 302 if role == "anonymous" else 404),
    # reminders: without members and text the send is refused with a message (redirect back), nothing sent
    Route("POST", "/reminders/send", ok=302, effect=_reminder_count(0), allowed=lambda role, rel: False),
    Route("GET", "/reminders"),
    Route("GET", "/reminders/{reminder}", expect=lambda role, rel: 302 if role == "anonymous"
          else 200 if role == Role.ADMIN else 403 if role not in MANAGERS else 404),
    Route("GET", "/reminders/behind"),
    Route("GET", "/reminders/behind?org={org}"),
    # 学习计划
    Route("GET", "/plans", roles=EVERYONE),
    Route("GET", "/plans/manage"),
    Route("GET", "/plans/manage/new"),
    Route("POST", "/plans/manage/new"),  # no data: the form comes back with the reasons
    Route("GET", "/plans/manage/{plan}"),
    Route("POST", "/plans/manage/{plan}/items", ok=302),  # no data: back to the plan with the reasons
]


# --- training (专题班): a class organised by the organisation under test, for its subtree ---
def _tclass_obj(ctx, **fields):
    fields.setdefault("reflection_required", True)
    return ctx.make.training_class(ctx.org, [ctx.org], title="矩阵专题班", **fields)


def _titem(ctx):
    return ctx.make.class_item(_tclass_obj(ctx), "text", title="导学", body="内容").id


def _tenrol(ctx):
    return ctx.make.enrolment(_tclass_obj(ctx, enrol_mode="approval"), ctx.member).id


def _treflection(ctx):
    from school.timeutil import utcnow
    from school.training import reflections
    cls = _tclass_obj(ctx, reflection_min_chars=0)
    ctx.make.enrolment(cls, ctx.member)
    row = reflections.submit(cls, ctx.member, "学习体会", utcnow())
    return row.id


def _tcert_obj(ctx):
    from school.timeutil import utcnow
    from school.training import completion
    cls = _tclass_obj(ctx, reflection_required=False)
    item = ctx.make.class_item(cls, "text")
    ctx.make.enrolment(cls, ctx.member)
    completion.mark_text_done(item, ctx.member, utcnow())
    return completion.check_completion(cls, ctx.member, utcnow())


def _timage(ctx):
    import io

    from PIL import Image

    from school.training import media
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, "PNG")
    return media.save_picture(buffer.getvalue())


PLACEHOLDERS.update({
    "tclass": lambda ctx: _tclass_obj(ctx).id,
    "titem": _titem,
    "tenrol": _tenrol,
    "treflection": _treflection,
    "tcert": lambda ctx: _tcert_obj(ctx).id,
    "tcode": lambda ctx: _tcert_obj(ctx).code,
    "timage": _timage,
})


def training_class_page(ok: int = 200):
    """A member of A sees classes for A and for the root above it; a secretary of A also the classes
    organised in A's subtree (which they manage) and those whose audience reaches A; admins all."""
    def rule(role, relation):
        if role == "anonymous":
            return 302
        if role == Role.ADMIN:
            return ok
        visible = {"own", "parent"} | ({"child"} if role == Role.SECRETARY else set())
        return ok if relation in visible else 404
    return rule


def training_roster(role, relation):
    """Managers of the class (A's subtree) and secretaries whose subtree the audience reaches (the root's class)."""
    if role == "anonymous":
        return 302
    if role not in MANAGERS:
        return 403
    return 404 if role == Role.SECRETARY and relation == "sibling" else 200


def _enrolled_self(ctx, values):
    from sqlalchemy import select

    from school.extensions import db
    from school.training.models import Enrolment
    return ctx.actor is not None and db.session.scalar(select(Enrolment.id).where(
        Enrolment.class_id == values["tclass"], Enrolment.member_id == ctx.actor.id)) is not None


def _training_state(model, key, attribute, value):
    def effect(ctx, values):
        from school.extensions import db
        from school.training import models
        row = db.session.get(getattr(models, model), values[key])
        if row is None:
            return value is None
        db.session.refresh(row)
        return getattr(row, attribute) == value if value is not None else False
    return effect


def _revoked(ctx, values):
    from school.extensions import db
    from school.training.models import Certificate
    cert = db.session.get(Certificate, values["tcert"])
    db.session.refresh(cert)
    return cert.revoked_at is not None


def _item_gone(ctx, values):
    from school.extensions import db
    from school.training.models import ClassItem
    db.session.expire_all()
    return db.session.get(ClassItem, values["titem"]) is None


ROUTES += [
    Route("GET", "/training/", roles=EVERYONE),
    Route("GET", "/training/certificates", roles=EVERYONE),
    Route("GET", "/training/{tclass}", expect=training_class_page()),
    Route("GET", "/training/items/{titem}", expect=training_class_page()),
    Route("POST", "/training/{tclass}/enrol", expect=training_class_page(302), effect=_enrolled_self,
          allowed=_in_exam_audience),  # the class is for the organisation under test; the actor sits in A
    Route("POST", "/training/{tclass}/withdraw", expect=training_class_page(302)),  # not enrolled: back with the reason
    Route("POST", "/training/items/{titem}/done", expect=training_class_page(302)),  # not enrolled: back with the reason
    Route("GET", "/training/{tclass}/reflection", expect=training_class_page(302)),  # not enrolled: back with the reason
    Route("POST", "/training/{tclass}/reflection/autosave", expect=training_class_page(400)),  # form data, not JSON
    Route("GET", "/training/images/{timage}", expect=_library_readers(200)),
    Route("GET", "/training/certificates/{tcert}.pdf", expect=_pdf(
        lambda role, rel: 302 if role == "anonymous" else 200 if role == Role.ADMIN
        else 200 if role == Role.SECRETARY and rel in ("own", "child") else 404)),
    Route("GET", "/verify/{tcode}", public=True),
    Route("GET", "/verify/forged-code-0000000000", public=True, ok=404),
    Route("GET", "/training/manage/"),
    Route("GET", "/training/manage/new"),
    Route("GET", "/training/manage/seals", roles=(Role.ADMIN,)),
    Route("GET", "/training/manage/{tclass}"),
    Route("GET", "/training/manage/{tclass}/edit"),
    Route("POST", "/training/manage/{tclass}/items", ok=302),  # nothing chosen: back with the reason
    Route("POST", "/training/manage/items/{titem}/move", ok=302, data=(("direction", "up"),)),
    Route("POST", "/training/manage/items/{titem}/delete", ok=302, effect=_item_gone),
    Route("POST", "/training/manage/enrolments/{tenrol}/approve", ok=302,
          effect=_training_state("Enrolment", "tenrol", "state", "enrolled")),
    Route("POST", "/training/manage/enrolments/{tenrol}/reject", ok=302, data=(("reason", "名额有限"),),
          effect=_training_state("Enrolment", "tenrol", "state", "rejected")),
    Route("GET", "/training/manage/{tclass}/roster", expect=training_roster),
    Route("GET", "/training/manage/{tclass}/roster?behind=1&page=2", expect=training_roster),  # paged, filtered
    Route("GET", "/training/manage/{tclass}/roster.xlsx", expect=training_roster),
    Route("GET", "/training/manage/{tclass}/reflections", expect=training_roster),
    Route("GET", "/training/manage/reflections/{treflection}", expect=lambda role, rel: class_reviewer(role, rel)),
    Route("POST", "/training/manage/reflections/{treflection}", data=(("verdict", "passed"),), ok=302,
          expect=lambda role, rel: _as_status(class_reviewer, 302)(role, rel),
          effect=_training_state("Reflection", "treflection", "state", "passed")),
    Route("POST", "/training/manage/certificates/{tcert}/revoke", roles=(Role.ADMIN,), ok=302,
          data=(("reason", "错发"),), effect=_revoked),
    # one search over documents, courses, lessons and exams (each filtered by what the member may see)
    Route("GET", "/search?q=党员", roles=EVERYONE),
    # grading written answers (阅卷): secretaries only attempts of members in their subtree
    Route("GET", "/exams/grading/", roles=RESULT_READERS),
    # the exam's written questions: the exam lets secretaries grade; their rows are scoped, the page is not
    Route("GET", "/exams/grading/{wexam}", roles=RESULT_READERS,
          expect=lambda role, rel: 302 if role == "anonymous" else (200 if role in RESULT_READERS else 403)),
    Route("GET", "/exams/grading/{wanswerpage}", roles=RESULT_READERS),  # one answer: 404 outside the scope
    Route("POST", "/exams/bank/questions/{question}/regrade", roles=EDITORS, ok=302, data=(("reason", "矩阵"),),
          expect=lambda role, rel: 302 if role == "anonymous" else (302 if role in EDITORS else 403), effect=_regraded),
    Route("POST", "/exams/grading/answers/{wanswer}", roles=RESULT_READERS, ok=302, data=(("points", "1"),),
          effect=_graded),
]


# --- 心得体会 asked by a course or a plan item (the class's own are above) ---
def _rcourse_obj(ctx):
    return ctx.make.course(title="心得课程", slug=f"r-{ctx.org.id}-{ctx.member.id}", orgs=[ctx.org],
                           reflection_required=True, reflection_min_chars=0)


def _rplan_item(ctx):
    """A plan item of the organisation under test that asks for a reflection."""
    from datetime import date

    from school.notices import plans
    plan = ctx.make.plan(ctx.org, title="心得计划")
    item = plans.add_item(plan, "course", _course(ctx).id, date(plan.year, 12, 31), reflection_required=True,
                          reflection_min_chars=0)
    ctx.make.session.commit()
    return item


def _submitted(ctx, target):
    from school.timeutil import utcnow
    from school.training import reflections
    return reflections.submit(target, ctx.member, "学习体会", utcnow()).id


PLACEHOLDERS.update({
    "rcourse": lambda ctx: _rcourse_obj(ctx).id,
    "rplan": lambda ctx: _rplan_item(ctx).id,
    "rcourseref": lambda ctx: _submitted(ctx, _rcourse_obj(ctx)),
    "rplanref": lambda ctx: _submitted(ctx, _rplan_item(ctx)),
})
REVIEWERS = (Role.EDITOR, Role.SECRETARY, Role.ADMIN)


def in_my_plan(ok: int = 200):
    """A plan item is written about by the members of the plan's subtree: whoever sits in A has
    the plans of A and of the root above it, not of A1 below or B beside (admins included)."""
    return lambda role, relation: 302 if role == "anonymous" else (ok if relation in ("own", "parent") else 404)


def course_reviewer(role, relation):
    """Editors and admins review every course reflection; a secretary of A those of A's subtree."""
    if role == "anonymous":
        return 302
    if role not in REVIEWERS:
        return 403
    if role == Role.SECRETARY:
        return 200 if relation in ("own", "child") else 404
    return 200


def plan_reviewer(role, relation):
    """Admins, and the secretaries whose subtree holds the plan's organisation (A's and A1's plans
    for the secretary of A); editors have no say in a plan."""
    if role == "anonymous":
        return 302
    if role not in REVIEWERS:
        return 403
    if role == Role.EDITOR:
        return 404
    return 200 if role == Role.ADMIN or relation in ("own", "child") else 404


def class_reviewer(role, relation):
    """A class reflection: as before for managers; editors pass the door (course ones are theirs) but
    not this one."""
    if role == Role.EDITOR:
        return 404
    return expected(Route("GET", "/training/manage/reflections/{treflection}"), role, relation)


def _reviewed(key):
    def effect(ctx, values):
        from school.extensions import db
        from school.training.models import Reflection
        row = db.session.get(Reflection, values[key])
        db.session.refresh(row)
        return row.state == "passed"
    return effect


def _as_status(rule, ok):
    return lambda role, relation: ok if rule(role, relation) == 200 else rule(role, relation)


ROUTES += [
    Route("GET", "/training/reflections/class/{tclass}", expect=training_class_page(302)),  # not enrolled
    Route("GET", "/training/reflections/course/{rcourse}", expect=course_audience()),
    Route("POST", "/training/reflections/course/{rcourse}/autosave", expect=course_audience(400)),  # not JSON
    Route("GET", "/training/reflections/plan/{rplan}", expect=in_my_plan()),
    Route("POST", "/training/reflections/plan/{rplan}/autosave", expect=in_my_plan(400)),  # not JSON
    Route("GET", "/training/manage/reflections", roles=REVIEWERS),
    Route("GET", "/training/manage/reflections?kind=plan", roles=REVIEWERS),
    Route("GET", "/training/manage/reflections/{rcourseref}", expect=course_reviewer),
    Route("POST", "/training/manage/reflections/{rcourseref}", data=(("verdict", "passed"),),
          expect=_as_status(course_reviewer, 302), ok=302, effect=_reviewed("rcourseref")),
    Route("GET", "/training/manage/reflections/{rplanref}", expect=plan_reviewer),
    Route("POST", "/training/manage/reflections/{rplanref}", data=(("verdict", "passed"),),
          expect=_as_status(plan_reviewer, 302), ok=302, effect=_reviewed("rplanref")),
]


def expected(route: Route, role: str, relation: str) -> int:
    if route.expect is not None:
        return route.expect(role, relation)
    if route.public:
        return route.ok
    if role == "anonymous":
        return 302  # to the login page
    if role not in route.roles:
        return 403
    if route.scoped and role == Role.SECRETARY and relation in ("sibling", "parent"):
        return 404
    return route.ok


CASES = [(route, role, relation) for route in ROUTES for role in ROLES
         for relation in (RELATIONS if route.scoped else ["-"])]


@pytest.mark.parametrize("route,role,relation", CASES, ids=[f"{r}|{role}|{rel}" for r, role, rel in CASES])
def test_access_matrix(client, auth, make, route, role, relation):
    from types import SimpleNamespace

    from school.extensions import db

    t = make.tree()
    target_org = {"own": t["a"], "child": t["a1"], "sibling": t["b"], "parent": t["root"], "-": t["a"]}[relation]
    ctx = SimpleNamespace(make=make, tree=t, org=target_org, member=make.user(org=target_org))
    values = {name: build(ctx) for name, build in PLACEHOLDERS.items() if "{" + name + "}" in route.path}
    db.session.commit()
    ctx.actor = None
    if role != "anonymous":
        ctx.actor = make.user(org=t["a"], role=role)
        auth.login(ctx.actor)
    path = route.path.format(**values)
    if route.method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data=dict(route.data))
    want = expected(route, role, relation)
    assert response.status_code == want, f"{route} as {role} on {relation}: {response.status_code} != {want}"
    if want == 302 and role == "anonymous":
        assert "/login" in response.headers["Location"]
    if route.effect is not None:
        allowed = route.allowed(role, relation) if route.allowed else (want == route.ok and role != "anonymous")
        assert route.effect(ctx, values) == allowed, f"{route} as {role} on {relation}: effect != {allowed}"
