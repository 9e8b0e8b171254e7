"""Pages and the credit path: editor forms, my courses, the rural track, heartbeats to credit, packs."""
from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from school.accounts.models import Role
from school.courses import completion, media, services, visibility, watching
from school.courses.models import Course, Lesson
from school.credits.models import CreditEntry, StudyInterval
from school.credits.rules import current_rules, set_rule
from school.extensions import db
from school.timeutil import utcnow


def test_editor_creates_course_with_audience(client, auth, make):
    t = make.tree()
    auth.login(make.user(role=Role.EDITOR))
    response = client.post("/courses/manage/new", data={
        "title": "茶叶种植技术", "slug": "tea", "summary": "春茶管理", "track": "rural", "category": "planting",
        "required": "y", "completion_mode": "timed", "credit_hours": "", "presence_min_minutes": "",
        "no_seek_ahead": "y", "published": "y", "audience_orgs": [str(t["a"].id)], "audience_categories": ["full"]})
    assert response.status_code == 302
    db.session.expire_all()
    course = db.session.query(Course).one()
    assert course.slug == "tea" and course.required and course.category == "planting"
    assert [o.id for o in course.audience_orgs] == [t["a"].id] and course.categories == ["full"]
    # A duplicate slug is refused in Chinese and nothing is lost.
    again = client.post("/courses/manage/new", data={"title": "另一个", "slug": "tea", "track": "theory",
                                                     "completion_mode": "timed"},
                        follow_redirects=True)
    assert "已被使用" in again.get_data(as_text=True)
    assert db.session.query(Course).count() == 1


def test_rural_course_needs_a_category(app):
    with pytest.raises(services.CourseError, match="请选择分类"):
        services.save_course(services.CourseData(title="x", slug="xx", track="rural"), None, utcnow())


def test_audience_by_subtree_and_category(app, make, courses):
    t = make.tree()
    course = courses.course(orgs=[t["a"]], categories=["cadre"])
    assert visibility.is_assigned(course, make.user(org=t["a1"], category="cadre"))
    assert not visibility.is_assigned(course, make.user(org=t["a1"], category="full"))
    assert not visibility.is_assigned(course, make.user(org=t["b1"], category="cadre"))
    open_course = courses.course()
    assert visibility.can_see(open_course, make.user(org=t["b1"]))
    secretary = make.user(org=t["root"], role=Role.SECRETARY)
    assert visibility.can_see(course, secretary)  # assigned to an organisation they manage


def test_my_courses_required_first(client, auth, make, courses):
    t = make.tree()
    courses.course(title="选修课甲", orgs=[t["a"]])
    courses.course(title="必修课乙", orgs=[t["a"]], required=True)
    auth.login(make.user(org=t["a1"]))
    page = client.get("/courses/").get_data(as_text=True)
    mine = page.split("我的课程")[1].split("课程目录")[0]
    assert mine.index("必修课乙") < mine.index("选修课甲")


def test_rural_page_has_tiles_and_plain_buttons(client, auth, make, courses):
    course = courses.course(track="rural", category="breeding", title="生猪养殖")
    lesson = courses.video_lesson(course, title="猪舍消毒")
    auth.login(make.user())
    page = client.get("/courses/rural?category=breeding").get_data(as_text=True)
    for label in ["种植", "养殖", "农产品加工", "农村电商", "务工技能"]:
        assert label in page
    assert "猪舍消毒" in page and "只听声音" in page and "下载" in page
    assert f"/courses/media/{lesson.id}/k/{lesson.media_key}/download.mp4?download=1" in page
    home = client.get("/").get_data(as_text=True)
    assert "农村实用技术" in home and "/courses/rural?category=planting" in home


def beat(client, lesson, **fields):
    return client.post(f"/courses/lessons/{lesson.id}/heartbeat", json=fields).get_json()


def test_heartbeats_complete_course_and_credit_once(app, client, auth, make, courses, monkeypatch):
    course = courses.course(title="短课", credit_hours=Decimal("0.25"))  # the rule gives a clip of seconds 0
    lesson = courses.video_lesson(course)
    assert current_rules().lesson_hours(lesson.duration_seconds) == 0
    member = make.user()
    auth.login(member)
    t0 = utcnow()
    clock = {"now": t0}
    monkeypatch.setattr("school.courses.views.utcnow", lambda: clock["now"])
    sent = lambda: (clock["now"] - t0).total_seconds() + 1_000_000
    assert beat(client, lesson, tab="t1", seq=1, position=0, playing=True, sent_at=sent())["reason"] == "takeover"
    clock["now"] = t0 + timedelta(seconds=4)
    r = beat(client, lesson, tab="t1", seq=2, position=4, playing=True, sent_at=sent())
    assert r["accepted"] and r["covered"] == pytest.approx(4) and not r["lesson_complete"]
    clock["now"] = t0 + timedelta(seconds=8)
    r = beat(client, lesson, tab="t1", seq=3, position=8, playing=False, sent_at=sent())
    assert r["lesson_complete"] and r["course_complete"]
    assert Decimal(r["credit_hours"]) == Decimal("0.25")
    clock["now"] = t0 + timedelta(seconds=12)
    beat(client, lesson, tab="t1", seq=4, position=8, playing=False, sent_at=sent())
    db.session.expire_all()
    rows = db.session.query(CreditEntry).filter_by(member_id=member.id).all()
    assert len(rows) == 1 and rows[0].source == "video"
    assert rows[0].idempotency_key == f"course-complete:{course.id}:{member.id}"
    assert "完成课程《短课》" in client.get("/").get_data(as_text=True)


def test_malformed_heartbeat_is_a_chinese_400(client, auth, make, courses):
    lesson = courses.video_lesson(courses.course())
    auth.login(make.user())
    response = client.post(f"/courses/lessons/{lesson.id}/heartbeat", json={"tab": "x", "seq": "abc"})
    assert response.status_code == 400 and "格式不正确" in response.get_json()["error"]


def test_course_hours_rule_and_override(app, courses):
    course = courses.course()
    courses.video_lesson(course, duration=6 * 60)
    courses.video_lesson(course, duration=6 * 60)
    assert completion.course_hours(course) == Decimal("0.20")  # two 6-minute lessons: 0.25 × 6/15 each
    set_rule("lesson_short_hours", "0.15", None, utcnow())
    assert completion.course_hours(course) == Decimal("0.12")  # 0.15 × 6/15 each
    courses.video_lesson(course, duration=10)
    assert completion.course_hours(course) == Decimal("0.12")  # a 10-second lesson adds nothing
    course.credit_hours = Decimal("2.00")
    assert completion.course_hours(course) == Decimal("2.00")


def test_exam_mode_course_is_not_awarded_on_watching(app, make, courses):
    course = courses.course(completion_mode="exam")
    lesson = courses.text_lesson(course)
    member = make.user()
    watching.complete_text_lesson(member, lesson, utcnow())
    assert completion.check_course_completion(member, course, utcnow()) is None


def test_text_lesson_sanitised_and_sequential(client, auth, make, courses):
    course = courses.course(sequential=True)
    first = courses.text_lesson(course, body="# 学习\n\n<script>alert(1)</script><b onclick='x()'>重点</b>")
    second = courses.text_lesson(course, title="第二课")
    auth.login(make.user())
    page = client.get(f"/courses/lessons/{first.id}").get_data(as_text=True)
    assert "<h1>学习</h1>" in page and "alert(1)" not in page and "onclick" not in page
    assert client.get(f"/courses/lessons/{second.id}").status_code == 302  # locked until the first is done
    client.post(f"/courses/lessons/{first.id}/done")
    assert client.get(f"/courses/lessons/{second.id}").status_code == 200


def test_pack_cli_and_button(app, client, auth, make, runner, courses, tmp_path):
    course = courses.course(slug="pack-me", title="离线课")
    lesson = courses.video_lesson(course, title="第一课")
    courses.text_lesson(course, title="读一读", body="**要点**")
    out = tmp_path / "out.zip"
    result = runner.invoke(args=["courses", "pack", "pack-me", str(out)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["attendance.html", "index.html", "pages/02.html", "videos/01.mp4"]
        index = archive.read("index.html").decode()
        assert 'src="videos/01.mp4"' in index and 'href="pages/02.html"' in index and "http" not in index
        assert "<strong>要点</strong>" in archive.read("pages/02.html").decode()
        assert archive.read("videos/01.mp4") == (media.media_dir(lesson) / "download.mp4").read_bytes()
    auth.login(make.user(role=Role.SECRETARY, org=make.org()))
    assert client.get(f"/courses/{course.id}/pack.zip").status_code == 200
    auth.logout()
    auth.login(make.user())
    assert client.get(f"/courses/{course.id}/pack.zip").status_code == 403


def test_editor_pages_render(client, auth, make, courses):
    course = courses.course()
    courses.video_lesson(course)
    courses.text_lesson(course)
    auth.login(make.user(role=Role.EDITOR))
    for url in ["/courses/manage", "/courses/manage/new", f"/courses/manage/{course.id}"]:
        assert client.get(url).status_code == 200
    page = client.get(f"/courses/manage/{course.id}").get_data(as_text=True)
    assert "上传视频课时" in page and "已可播放" in page


def test_second_tab_takes_the_clock_and_presence_answer_resumes(app, client, auth, make, courses, monkeypatch):
    course = courses.course(presence_min_minutes=1, presence_max_minutes=1)
    lesson = courses.video_lesson(course)
    member = make.user()
    auth.login(member)
    t0 = utcnow()
    clock = {"now": t0}
    monkeypatch.setattr("school.courses.views.utcnow", lambda: clock["now"])

    def at(seconds, **fields):
        clock["now"] = t0 + timedelta(seconds=seconds)
        return beat(client, lesson, sent_at=1_000_000 + seconds, **fields)

    assert at(0, tab="A", seq=1, position=0, playing=True)["reason"] == "takeover"
    assert at(3, tab="B", seq=1, position=0, playing=True)["reason"] == "takeover"  # B pressed play
    assert at(6, tab="A", seq=2, position=6, playing=True)["superseded"]
    assert at(6, tab="B", seq=2, position=3, playing=True)["reason"] == "ok"
    at(30, tab="B", seq=3, position=5, playing=True)
    at(58, tab="B", seq=4, position=6, playing=True)
    r = at(70, tab="B", seq=5, position=6.5, playing=True)  # the prompt fell due at 60 s (1 minute)
    assert r["presence_prompt"]
    assert at(75, tab="B", seq=6, position=6.5, playing=False)["presence_prompt"]  # nothing until answered
    assert client.post(f"/courses/lessons/{lesson.id}/still-here").get_json()["ok"]  # at 75 s
    assert at(80, tab="B", seq=7, position=6.5, playing=True)["reason"] == "ok"
    at(85, tab="B", seq=8, position=7, playing=True)
    db.session.expire_all()
    rows = db.session.scalars(select(StudyInterval).order_by(StudyInterval.start_at)).all()
    assert [((r.start_at - t0).total_seconds(), (r.end_at - t0).total_seconds(), r.presence_answers)
            for r in rows] == [(3, 60, 0), (80, 85, 1)]
    assert all(r.tab == "B" and r.activity == f"lesson:{lesson.id}" for r in rows)
    # Answering when nothing is due does nothing.
    assert not client.post(f"/courses/lessons/{lesson.id}/still-here").get_json()["ok"]


def test_cli_create_course(app, runner):
    result = runner.invoke(args=["courses", "create", "pig-farming", "--title", "生猪养殖", "--track", "rural",
                                 "--category", "breeding", "--required"])
    assert result.exit_code == 0, result.output
    course = db.session.query(Course).one()
    assert (course.track, course.category, course.required) == ("rural", "breeding", True)
    again = runner.invoke(args=["courses", "create", "pig-farming", "--title", "重复"])
    assert again.exit_code != 0 and "已被使用" in again.output
    assert runner.invoke(args=["courses", "--help"]).output.count("课程") > 0


def test_cover_upload_reencoded_and_bad_image_refused(app, client, auth, make, courses, tmp_path):
    import subprocess

    from school.courses.probe import ffmpeg_exe

    course = courses.course()
    png = tmp_path / "cover.png"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=1200x800", "-frames:v", "1",
                    str(png)], check=True)
    auth.login(make.user(role=Role.EDITOR))
    bad = client.post(f"/courses/manage/{course.id}/cover", data={"file": (io.BytesIO(b"not an image"), "a.png")},
                      content_type="multipart/form-data", follow_redirects=True)
    assert "无法读取这张图片" in bad.get_data(as_text=True)
    client.post(f"/courses/manage/{course.id}/cover", data={"file": (io.BytesIO(png.read_bytes()), "cover.png")},
                content_type="multipart/form-data")
    response = client.get(f"/courses/{course.id}/cover.jpg")
    assert response.status_code == 200 and response.mimetype == "image/jpeg" and response.data[:2] == b"\xff\xd8"
    assert len(list((media.media_root() / "covers").iterdir())) == 1


def test_deleting_a_lesson_removes_its_files(app, client, auth, make, courses):
    course = courses.course()
    lesson = courses.video_lesson(course)
    folder = media.media_dir(lesson)
    assert folder.is_dir()
    auth.login(make.user(role=Role.EDITOR))
    assert client.post(f"/courses/manage/lessons/{lesson.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.query(Lesson).count() == 0 and not folder.exists()
