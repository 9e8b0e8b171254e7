"""The village-station pack: readable lesson pages, a self-check quiz whose answer key follows the
exam's review policy, and an attendance sheet with the 集中培训 form's own labels."""
from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta
from html.parser import HTMLParser

from school.accounts.models import Role
from school.courses import pack, services
from school.exams.models import Question
from school.extensions import db
from school.timeutil import utcnow
from tests.conftest import PASSWORD, CsrfClient

LAW = """# 第一章　总则

第一条　为了加强党的基层组织建设，制定本条例。见[官网](https://www.example.gov.cn/x)和[站内](/library/doc/1)。

第二条　党支部是党的基础组织。![示意图](http://img.example.com/a.png)

# 第二章　组织设置

第三条　有正式党员 3 人以上的，应当成立党支部。
"""


def unzip(course, now=None) -> dict[str, str]:
    """The pack as it is streamed, unzipped: name → text (videos as their size)."""
    body = b"".join(pack.stream(pack.plan(course, now)))
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        return {name: (archive.read(name).decode() if name.endswith(".html") else str(len(archive.read(name))))
                for name in archive.namelist()}


def assert_offline(pages: dict[str, str]) -> None:
    """Nothing in any page would need the network or the site."""
    for name, html in pages.items():
        if not name.endswith(".html"):
            continue
        assert "http:" not in html and "https:" not in html, name
        assert not re.search(r'(?:src|href)="(?:/|[a-z]+:(?!image/))', html), name
        assert "<link" not in html and "<style>" in html, name  # the CSS is inlined
        assert "@import" not in html and "url(" not in html, name


def test_document_and_text_lessons_become_pages_linked_in_order(app, make, courses):
    doc = make.document(title="<script>alert('文献')</script>支部工作条例", body=LAW, summary="条例全文")
    gone = make.document(title="将被删除的文献")
    course = courses.course(slug="village", title="支部<b>建设</b>")
    courses.video_lesson(course, title="第一讲")
    courses.text_lesson(course, title="学习提示", body="# 要点\n\n**三会一课**\n\n## 细则\n\n<script>alert(2)</script>正文")
    services.add_document_lesson(course, "", str(doc.id), utcnow())
    lesson = services.add_document_lesson(course, "已删除", str(gone.id), utcnow())
    lesson.document = None
    db.session.commit()

    pages = unzip(course)
    assert list(pages) == ["videos/01.mp4", "index.html", "pages/02.html", "pages/03.html", "attendance.html"]
    assert_offline(pages)
    index = pages["index.html"]
    toc = re.search(r'<nav class="toc".*?</nav>', index, re.S).group(0)
    assert re.findall(r'<li><span class="kind">[^<]+</span><a href="([^"]+)"', toc) == [
        "#lesson-01", "pages/02.html", "pages/03.html", "#lesson-04", "attendance.html"]
    assert 'src="videos/01.mp4"' in index and "本课引用的文献已从图书馆删除" in index
    assert "支部&lt;b&gt;建设&lt;/b&gt;" in index and "<b>建设" not in index

    law = pages["pages/03.html"]
    assert "&lt;script&gt;alert(&#39;文献&#39;)&lt;/script&gt;支部工作条例" in law
    assert "<script" not in law  # the title escaped, nothing of it runs
    # the table of contents links the chapter headings; every article keeps its anchor
    assert '<a href="#h-第一章总则">第一章　总则</a>' in law and 'id="h-第二章组织设置"' in law
    assert 'id="第一条" class="article"' in law and 'href="#第三条"' in law
    # links and pictures that need the network keep their text only
    assert ">官网</a>" in law and ">站内</a>" in law and "［图：示意图］" in law
    assert 'href="../pages/02.html"' in law and 'href="../index.html#lesson-04"' in law  # previous, next
    text = pages["pages/02.html"]
    assert "<strong>三会一课</strong>" in text and "alert(2)" not in text and 'href="#h-细则"' in text
    assert 'href="../index.html#lesson-01"' in text and 'href="../pages/03.html"' in text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text


def _exam_course(make, **exam_fields):
    bank = make.questions()
    written = make.question(qtype="short", stem="谈谈你对<em>三会一课</em>的认识。",
                            data={"reference": "参考要点：秘密参考", "rubric": "", "min_length": 0, "max_length": 500})
    course = make.course(title="党章学习")
    make.text_lesson(course)
    exam = make.exam([*bank, written], course_id=course.id, **exam_fields)
    return course, exam


def _question_block(quiz: str, stem: str) -> str:
    start = quiz.index(stem)
    end = min(i for i in (quiz.find('<div class="question"', start), quiz.find("</section>", start)) if i != -1)
    return quiz[quiz.rfind('<div class="question"', 0, start):end]


def test_quiz_has_answers_only_when_the_exam_has_closed_and_shows_them(app, make):
    now = utcnow()
    course, exam = _exam_course(make, review="after_close", review_answers=True, closes_in=timedelta(days=7))

    running = unzip(course, now)["quiz.html"]  # the exam still open: the stick must not carry its key
    assert "自测，不计学时" in running and "本课程测试尚未结束" in running
    assert 'data-answers="withheld"' in running
    assert "data-key=" not in running and "1921 年 7 月" not in running and "正确答案" not in running
    assert "中国共产党成立于哪一年？" in running and running.count('class="question"') == 7

    closed = unzip(course, now + timedelta(days=8))["quiz.html"]
    single = _question_block(closed, "中国共产党成立于哪一年？")
    assert 'data-answers="included"' in closed
    assert 'data-kind="choice" data-key="1"' in single and "正确答案：B" in single and "1921 年 7 月。" in single
    assert 'data-kind="multi" data-key="0,1"' in _question_block(closed, "四个意识")
    assert 'data-key="0"' in _question_block(closed, "党的最高理想")
    assert "人民" in _question_block(closed, "全心全意为") and "查看参考答案" in closed
    essay = _question_block(closed, "的认识")
    assert "<em>三会一课</em>" in essay and "没有标准答案" in essay and "data-key=" not in essay
    assert "秘密参考" not in closed  # a written question's reference answer is for graders only
    assert "自测，不计学时" in closed

    exam.review = "never"
    db.session.commit()
    never = unzip(course, now + timedelta(days=8))["quiz.html"]
    assert "data-key=" not in never and "不允许查看答案" in never and "1921 年 7 月" not in never
    exam.review, exam.review_answers = "after_submit", False
    db.session.commit()
    hidden = unzip(course, now + timedelta(days=8))["quiz.html"]
    assert "data-key=" not in hidden and "不显示正确答案" in hidden
    exam.review_answers, exam.closes_at = True, None
    db.session.commit()
    assert "长期开放" in unzip(course, now)["quiz.html"]


def test_quiz_escapes_question_text_and_is_absent_without_a_test(app, make):
    course, exam = _exam_course(make, review="after_submit", review_answers=True, closes_in=timedelta(days=-1))
    hostile = Question(qtype="single", stem="<script>alert(1)</script>哪个对？", data={"options": [
        {"text": "<img src=x onerror=alert(1)>甲", "weight": 100}, {"text": "[乙](javascript:alert(1))", "weight": 0}]})
    db.session.add(hostile)
    db.session.commit()
    exam.selection = {"fixed": [*exam.selection["fixed"], hostile.id]}
    db.session.commit()
    pages = unzip(course)
    assert_offline(pages)
    quiz = pages["quiz.html"]
    assert "alert(1)" not in quiz and "onerror" not in quiz and "javascript" not in quiz
    assert quiz.count("<script>") == 1  # the quiz's own
    assert "哪个对？" in quiz and "［图］甲" in quiz

    plain = make.course(slug="no-test", title="无测试")
    make.text_lesson(plain)
    pages = unzip(plain)
    assert "quiz.html" not in pages and 'href="quiz.html"' not in pages["index.html"]


def test_a_drawn_exam_gives_one_stable_sample(app, make):
    course, exam = _exam_course(make, review="after_submit", review_answers=True, closes_in=timedelta(days=-1))
    exam.selection = {"draw": [{"category_id": None, "count": 3}]}
    db.session.commit()
    first, second = unzip(course)["quiz.html"], unzip(course)["quiz.html"]
    assert first == second and first.count('class="question"') == 3 and "随机抽题" in first


class _Labels(HTMLParser):
    """``<label for=…>`` texts and legends of a form page."""

    def __init__(self):
        super().__init__()
        self.labels, self.legends, self._for, self._legend = {}, [], None, False

    def handle_starttag(self, tag, attrs):
        if tag == "label":
            self._for = dict(attrs).get("for")
        self._legend = self._legend or tag == "legend"

    def handle_endtag(self, tag):
        self._for = None if tag == "label" else self._for
        self._legend = False if tag == "legend" else self._legend

    def handle_data(self, data):
        if self._for:
            self.labels[self._for] = self.labels.get(self._for, "") + data.strip()
        if self._legend:
            self.legends.append(data.strip())


def test_attendance_sheet_uses_the_offline_forms_labels(app, make):
    t = make.tree()
    secretary = make.user(role=Role.SECRETARY, org=t["a1"])
    course = make.course(slug="sheet", title="<i>冬训</i>专题")
    make.text_lesson(course, title="第一讲")
    make.text_lesson(course, title="第二讲")
    client = CsrfClient(app.test_client())
    client.post("/login", data={"identifier": secretary.member_no, "password": PASSWORD})
    form = _Labels()
    form.feed(client.get("/offline/new").get_data(as_text=True))

    sheet = unzip(course)["attendance.html"]
    fields = dict(re.findall(r'<th data-field="([a-z_]+)">([^<]+)</th>', sheet))
    assert list(fields) == ["held_on", "hours", "topic", "session_type", "place"]
    assert fields == {name: form.labels[name] for name in fields}  # what the secretary sees, word for word
    assert form.legends[0].startswith("参加人员") and "<h2>参加人员</h2>" in sheet
    assert "附件（签到表照片或 PDF，可选）" in sheet and "<th>姓名</th><th>党员编号</th><th>签名</th>" in sheet
    assert "<td>&lt;i&gt;冬训&lt;/i&gt;专题</td>" in sheet and "<td>远程教育站点集体收看</td>" in sheet
    assert "第 1 课　第一讲" in sheet and "第 2 课　第二讲" in sheet
    assert sheet.count('<td class="no">') == 30 and "@media print" in sheet


def test_cli_reports_what_the_pack_holds(app, make, runner, tmp_path):
    course, _ = _exam_course(make, review="after_submit", review_answers=True)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "pack.zip"
    result = runner.invoke(args=["courses", "pack", course.slug, str(out)])
    assert result.exit_code == 0, result.output
    assert "0 个视频、1 篇阅读材料、课后自测题（quiz.html）、签到表（attendance.html）" in result.output
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["index.html", "pages/01.html", "quiz.html", "attendance.html"]
    assert [p.name for p in out.parent.iterdir()] == ["pack.zip"]  # no partial file left beside it
