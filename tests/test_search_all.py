"""One search over documents, courses, lessons and exams: grouped by kind, each kind showing
only what the member may see."""
from school.accounts.models import Role
from school.courses import media
from school.extensions import db
from school.search_all import search_everything


def _setup(make):
    branch_a, branch_b = make.org("甲支部"), make.org("乙支部")
    member = make.user(org=branch_a)
    ours = make.course(title="乡村振兴专题课程", summary="学习乡村振兴战略。", orgs=[branch_a])
    theirs = make.course(title="乡村振兴另一支部课程", orgs=[branch_b])
    make.text_lesson(ours, title="第一讲", body="# 第一讲\n\n乡村振兴要坚持农业农村优先发展。")
    make.text_lesson(theirs, title="乙支部专用课时", body="乡村振兴的乙支部材料。")
    make.document("乡村振兴促进法", "第一条 为了全面实施乡村振兴战略，制定本法。\n")
    make.document("乡村振兴草稿", "第一条 乡村振兴草稿内容。\n", status="draft")
    bank = make.questions()
    make.exam(bank, title="乡村振兴知识测试")
    hidden = make.exam(bank, title="乡村振兴乙支部测试")
    hidden.audience_orgs = [branch_b]
    db.session.commit()
    return member


def test_member_sees_what_they_may_study_grouped_by_kind(client, auth, make):
    member = _setup(make)
    groups = {g.kind: [item.title for item in g.items] for g in search_everything("乡村振兴", member)}
    assert list(groups) == ["documents", "courses", "lessons", "exams"]
    assert groups["documents"] == ["乡村振兴促进法"]  # the draft is hidden
    assert groups["courses"] == ["乡村振兴专题课程"]  # not the other branch's course
    assert groups["lessons"] == ["第一讲"]  # nor its lessons
    assert groups["exams"] == ["乡村振兴知识测试"]  # nor an exam outside the member's audience

    auth.login(member)
    page = client.get("/search?q=鄉村振興").get_data(as_text=True)  # traditional characters
    for title in ("乡村振兴促进法", "乡村振兴专题课程", "第一讲", "乡村振兴知识测试"):
        assert title in page
    for hidden in ("乡村振兴草稿", "另一支部课程", "乙支部专用课时", "乡村振兴乙支部测试"):
        assert hidden not in page
    assert page.index('id="kind-documents"') < page.index('id="kind-courses"') < page.index('id="kind-exams"')


def test_editor_sees_drafts_and_every_audience(make):
    _setup(make)
    editor = make.user(role=Role.EDITOR)
    groups = {g.kind: {item.title for item in g.items} for g in search_everything("乡村振兴", editor)}
    assert "乡村振兴草稿" in groups["documents"]
    assert groups["courses"] == {"乡村振兴专题课程", "乡村振兴另一支部课程"}
    assert "乡村振兴乙支部测试" in groups["exams"]


def test_subtitles_of_video_lessons_are_searched(app, make):
    course = make.course(title="党史课程")
    lesson = make.video_lesson(course, title="视频第三讲")
    other = make.video_lesson(course, title="视频第四讲")
    media.save_subtitles(lesson, "WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.000\n<v 讲师>遵義會議是党的历史上生死攸关的转折点\n"
                                 "\nNOTE 遵义会议 in a note is not spoken\n".encode())
    db.session.commit()
    assert lesson.subtitles_text == "遵义会议是党的历史上生死攸关的转折点"  # cue words only, simplified
    groups = {g.kind: g for g in search_everything("遵义会议", make.user())}
    assert [item.title for item in groups["lessons"].items] == ["视频第三讲"]
    assert groups["lessons"].items[0].excerpt.startswith("字幕：")

    # The words are the database's: the file is not read again; a new upload replaces them.
    media.subtitles_path(lesson).unlink()
    assert [i.title for i in {g.kind: g for g in search_everything("转折点", make.user())}["lessons"].items] == \
        ["视频第三讲"]
    media.save_subtitles(lesson, "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n古田会议\n".encode())
    media.save_subtitles(other, "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n遵义会议\n".encode())
    db.session.commit()
    assert [i.title for i in {g.kind: g for g in search_everything("遵义会议", make.user())}["lessons"].items] == \
        ["视频第四讲"]


def test_empty_query_and_login(client, auth, make):
    assert client.get("/search?q=x").status_code in (302, 401)
    auth.login(make.user())
    assert "搜索全部学习内容" in client.get("/search").get_data(as_text=True)
    assert "没有可以查找的词语" in client.get("/search?q=，。").get_data(as_text=True)
