"""Model factories (Redash style), one builder per model, used by every test: each returns a
committed object built through the package's own service where one exists, so a test's data
passes the same rules as a person's. The ``make`` fixture is a ``Factory``; the ``courses``
fixture is the same ``Factory`` holding the session's real video renditions.
"""
from __future__ import annotations

import itertools
import secrets
import shutil
import subprocess
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from argon2 import PasswordHasher

from school.accounts.models import Category, Organisation, OrgKind, Role, User
from school.accounts.orgs import create_org
from school.timeutil import utcnow

_counter = itertools.count(1)
# Argon2 is deliberately slow and verification uses the cost stored in the hash, so the
# factories' shared hash of the test password is made with the smallest cost: the
# access matrix logs in more than a thousand times. Real hashes (auth.hash_password)
# keep the library's defaults, and tests of hashing use those.
_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("Passw0rd!")


def make_clip(path: Path, seconds: float = 3, size: str = "1280x720", audio: bool = True, video: bool = True,
              extra: tuple = ()) -> Path:
    """A clip generated with ffmpeg's lavfi sources (no media is committed to the repository)."""
    from school.courses.probe import ffmpeg_exe
    args = [ffmpeg_exe(), "-v", "error", "-y"]
    if video:
        args += ["-f", "lavfi", "-i", f"testsrc=duration={seconds}:size={size}:rate=25"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    if video:
        args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac" if path.suffix != ".mp3" else "libmp3lame"]
    args += [*extra, str(path)]
    subprocess.run(args, check=True)
    return path


class Factory:
    def __init__(self, session, renditions=None):
        self.session = session
        self.renditions = renditions  # (folder, probe info) of a real transcode, for video lessons

    # --- accounts -------------------------------------------------------------------------

    def org(self, name=None, parent=None, kind=OrgKind.BRANCH) -> Organisation:
        org = create_org(name or f"组织{next(_counter)}", kind, parent)
        self.session.commit()
        return org

    def user(self, org=None, role=Role.MEMBER, category=Category.FULL, name=None, member_no=None,
             phone=None, active=True, **fields) -> User:
        n = next(_counter)
        user = User(name=name or f"党员{n}", member_no=member_no or f"T{n:05d}", phone=phone, role=role,
                    org=org, category=category, active=active, password_hash=_HASH, **fields)
        self.session.add(user)
        self.session.commit()
        return user

    def tree(self):
        """root 党委 → A 党总支 (→ A1, A2 党支部), B 党总支 (→ B1 党支部)."""
        root = self.org("青山镇党委", kind=OrgKind.COMMITTEE)
        a = self.org("第一党总支", root, OrgKind.GENERAL_BRANCH)
        b = self.org("第二党总支", root, OrgKind.GENERAL_BRANCH)
        a1 = self.org("东村党支部", a)
        a2 = self.org("西村党支部", a)
        b1 = self.org("南村党支部", b)
        return dict(root=root, a=a, b=b, a1=a1, a2=a2, b1=b1)

    # --- library --------------------------------------------------------------------------

    def document(self, title="测试文献", body="第一条 内容。", category="policy", status="published", **fields):
        from school.library import services
        doc = services.create_document(services.DocumentData(title=title, category=category, body=body,
                                                             status=status, **fields), None, utcnow())
        self.session.commit()
        return doc

    def column(self, title="主题教育", published=True, **fields):
        from school.library.models import LibraryColumn
        column = LibraryColumn(title=title, published=published, **fields)
        self.session.add(column)
        self.session.commit()
        return column

    # --- credits --------------------------------------------------------------------------

    def entry(self, member, hours=1, kind="online", source="reading", key=None, now=None, **fields):
        from school.credits import ledger
        entry = ledger.award(member, hours, kind, source, key or f"test:{secrets.token_hex(6)}", now or utcnow(),
                             **fields)
        self.session.commit()
        return entry

    def offline(self, org, creator, members, hours=1, held_on=date(2026, 1, 5), topic="集中学习",
                session_type="study", attachment=(("a.pdf", b"%PDF-1.4 test"),), **fields):
        """A submitted offline training record with a sign-in sheet."""
        from school.credits import attachments, offline
        record = offline.submit(offline.SessionData(
            org=org, held_on=held_on, hours=hours, topic=topic, session_type=session_type,
            attendee_ids=[m.id for m in members], **fields), creator, utcnow(),
            *(attachments.check(name, data) for name, data in attachment))
        self.session.commit()
        return record

    # --- courses --------------------------------------------------------------------------

    def course(self, slug=None, orgs=(), categories=(), **fields):
        from school.courses import services
        data = services.CourseData(title=fields.pop("title", "测试课程"), slug=slug or f"c-{secrets.token_hex(4)}",
                                   audience_org_ids=tuple(o.id for o in orgs), audience_categories=tuple(categories),
                                   **fields)
        course = services.save_course(data, None, utcnow())
        self.session.commit()
        return course

    def text_lesson(self, course, title="学习材料", body="# 标题\n\n正文"):
        from school.courses import services
        lesson = services.add_text_lesson(course, title, body, utcnow())
        self.session.commit()
        return lesson

    def video_lesson(self, course, title="视频课", duration=None):
        """A ready lesson. With the session's renditions its files are a copy of a real transcode;
        without, tiny stand-ins (for tests of who may fetch them, not of playing them)."""
        from school.courses import media, transcode
        from school.courses.models import Lesson, LessonKind, MediaStatus
        key = secrets.token_hex(10)
        folder = media.media_root() / "videos" / key
        if self.renditions is not None:
            out, info = self.renditions
            shutil.copytree(out, folder)
            shape = dict(duration_seconds=info.duration, width=info.width, height=info.height,
                         ladder=",".join(str(r.height) for r in transcode.choose_ladder(info)))
        else:
            (folder / "v0").mkdir(parents=True)
            (folder / "master.m3u8").write_text("#EXTM3U\n")
            shape = dict(duration_seconds=60, width=426, height=240, ladder="240")
        if duration is not None:
            shape["duration_seconds"] = duration
        lesson = Lesson(course=course, title=title, kind=LessonKind.VIDEO, position=len(course.lessons) + 1,
                        media_key=key, media_status=MediaStatus.READY, has_video=True, **shape)
        self.session.add(lesson)
        self.session.commit()
        return lesson

    # --- exams ----------------------------------------------------------------------------

    def question(self, qtype="truefalse", stem="判断题", data=None, **fields):
        from school.exams.models import Question
        question = Question(qtype=qtype, stem=stem, data=data if data is not None else {"answer": True}, **fields)
        self.session.add(question)
        self.session.commit()
        return question

    def questions(self) -> list:
        """One question of each type (``tests/exams/helpers.RIGHT`` holds their right answers)."""
        from school.exams.models import Question
        bank = [
            Question(qtype="single", stem="中国共产党成立于哪一年？", explanation="1921 年 7 月。",
                     data={"options": [{"text": "1919", "weight": 0}, {"text": "1921", "weight": 100},
                                       {"text": "1949", "weight": 0}]}),
            Question(qtype="multiple", stem="下列哪些是“四个意识”？",
                     data={"options": [{"text": "政治意识", "weight": 50}, {"text": "大局意识", "weight": 50},
                                       {"text": "市场意识", "weight": 0}], "weighted": False}),
            Question(qtype="truefalse", stem="党的最高理想是实现共产主义。", data={"answer": True}),
            Question(qtype="fill", stem="党的根本宗旨是全心全意为____服务。",
                     data={"answers": [{"text": "人民", "weight": 100}, {"text": "人民群众", "weight": 100}]}),
            Question(qtype="numeric", stem="党的十八大在哪一年召开？",
                     data={"answers": [{"value": 2012, "tolerance": 0, "weight": 100}]}),
            Question(qtype="matching", stem="将会议与年份配对。",
                     data={"pairs": [{"left": "遵义会议", "right": "1935"}, {"left": "古田会议", "right": "1929"}]}),
        ]
        self.session.add_all(bank)
        self.session.commit()
        return bank

    def exam(self, bank: list, now: datetime | None = None, limit=30, closes_in=timedelta(days=7), **fields):
        """A published exam over ``bank`` (fixed questions), open since a day before ``now``."""
        from school.exams.models import Exam
        now = now or utcnow()
        exam = Exam(title=fields.pop("title", "党章知识测试"), opens_at=now - timedelta(days=1),
                    closes_at=now + closes_in if closes_in is not None else None, time_limit_minutes=limit,
                    attempts_allowed=fields.pop("attempts_allowed", 2), pass_percent=60, published=True,
                    selection={"fixed": [q.id for q in bank]}, credit_hours=fields.pop("credit_hours", Decimal("2")),
                    **fields)
        self.session.add(exam)
        self.session.commit()
        return exam

    def attempt(self, exam, member, now=None):
        from school.exams import attempts
        return attempts.start(exam, member, now or utcnow())  # start commits (see school/exams/attempts.py)

    # --- notices (通知公告, reminders, study plans) ------------------------------------------

    def notice(self, org, sender=None, title="通知", body="请按时参加学习。", now=None, **fields):
        """A notice to ``org``'s subtree, published through the service as ``sender`` (an admin by default)."""
        from school.accounts.roles import system_actor
        from school.notices import services
        attachment = fields.pop("attachment", None)
        notice = services.create_notice(
            sender or system_actor(), services.NoticeData(org=org, title=title, body=body, **fields),
            services.new_token(), now or utcnow(),
            services.check_attachment(*attachment) if attachment else None)
        self.session.commit()
        return notice

    def reminder(self, sender, members, text="请抓紧学习", now=None, **fields):
        """A reminder sent through the service (the job queued), then fanned out as its job
        begins (inbox messages and deliveries written; nothing delivered yet)."""
        from school.notices import delivery, services
        result = delivery.send_reminder(sender, [m.id for m in members], fields.pop("title", "学习提醒"), text,
                                        services.new_token(), now or utcnow(), **fields)
        self.session.commit()
        delivery.fan_out(result.reminder.id)
        return result.reminder

    def plan(self, org, year=None, title="年度学习计划", sender=None, items=(), now=None):
        """A study plan for ``org``'s subtree; ``items`` are (kind, ref id, due date)."""
        from school.accounts.roles import system_actor
        from school.notices import plans
        from school.timeutil import local_year
        now = now or utcnow()
        plan = plans.create_plan(sender or system_actor(), org, year or local_year(now), title, now)
        for kind, ref, due in items:
            plans.add_item(plan, kind, ref, due)
        self.session.commit()
        return plan
    # --- training -------------------------------------------------------------------------

    def training_class(self, org=None, audience=(), actor=None, now=None, **fields):
        """A published class organised by ``org`` (None: the whole school) for ``audience``:
        studying from a day before ``now`` for 30 days, enrolment open for 14."""
        from school.accounts.roles import system_actor
        from school.training import classes
        now = now or utcnow()
        data = classes.ClassData(
            title=fields.pop("title", "学习贯彻专题班"),
            starts_at=fields.pop("starts_at", now - timedelta(days=1)),
            ends_at=fields.pop("ends_at", now + timedelta(days=29)),
            enrol_opens_at=fields.pop("enrol_opens_at", now - timedelta(days=1)),
            enrol_closes_at=fields.pop("enrol_closes_at", now + timedelta(days=13)),
            org_id=org.id if org is not None else None, audience_org_ids=tuple(o.id for o in audience),
            published=fields.pop("published", True), **fields)
        cls = classes.save_class(data, actor or system_actor(), now)
        self.session.commit()
        return cls

    def class_item(self, cls, kind="text", required=True, title="学习材料", body="正文", **refs):
        from school.accounts.roles import system_actor
        from school.training import classes
        item = classes.add_item(cls, system_actor(), kind, required, title=title, body=body, **refs)
        self.session.commit()
        return item

    def enrolment(self, cls, member, now=None):
        from school.training import enrolment
        row = enrolment.enrol(cls, member, now or utcnow())
        self.session.commit()
        return row
