"""Exam pages through HTTP: the member's journey, no answer leaks, editors' import, managers' results."""
from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import func, select

from school.accounts.models import Role
from school.credits.models import CreditEntry
from school.exams.models import Answer, Attempt, Exam, Question
from school.extensions import db
from school.timeutil import utcnow
from tests.exams import helpers

SECRETS = ["解析之秘", "反馈之秘", "人民群众", "2012", "weight", "feedback", "explanation", "correct", "fraction",
           '"answer"', "answers\":"]


def _leak_bank(make):
    bank = make.questions()
    bank[0].explanation = "解析之秘：1921 年"
    bank[0].data = {"options": [{"text": "1919", "weight": 0, "feedback": "反馈之秘一"},
                                {"text": "1921", "weight": 100, "feedback": "反馈之秘二"}]}
    db.session.commit()
    return bank


def _attempt_id(response) -> int:
    return int(re.search(r"/exams/attempts/(\d+)", response.headers["Location"]).group(1))


def _qids(page: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-qid="(\d+)" data-qtype', page)]


def test_nothing_sent_during_an_attempt_reveals_answers(client, auth, make):
    member = make.user(org=make.org())
    _leak_bank(make)
    # One attempt: after it no attempt is left, so the exam's review_answers applies.
    exam = make.exam(Question.query.all(), utcnow(), review_answers=True, attempts_allowed=1)
    auth.login(member)
    seen = []

    def record(response):
        seen.append(response.get_data(as_text=True))
        return response

    record(client.get("/exams/"))
    record(client.get(f"/exams/{exam.id}"))
    started = client.post(f"/exams/{exam.id}/start")
    record(started)
    attempt_id = _attempt_id(started)
    page = record(client.get(f"/exams/attempts/{attempt_id}")).get_data(as_text=True)
    qids = _qids(page)
    assert len(qids) == 6
    for qid in qids:  # wrong or partial answers, like a member would type
        record(client.post(f"/exams/attempts/{attempt_id}/answers",
                           json={"answers": [{"question": qid, "response": {"text": "人民"}, "rev": 5}]}))
    record(client.post(f"/exams/attempts/{attempt_id}/answers",
                       json={"answers": [{"question": qids[0], "response": {"choice": 99}, "rev": 6}]}))
    record(client.post(f"/exams/attempts/{attempt_id}/answers", json={"answers": "nonsense"}))
    record(client.get(f"/exams/attempts/{attempt_id}"))
    record(client.get(f"/exams/attempts/{attempt_id}/result"))  # still in progress: redirects back
    for body in seen:
        for secret in SECRETS:
            # A number counts as leaked only standing alone: "2012" inside a millisecond
            # timestamp such as 1764769201206 is not the answer to a question.
            pattern = rf"(?<!\d){re.escape(secret)}(?!\d)" if secret.isdigit() else re.escape(secret)
            assert not re.search(pattern, body), f"{secret!r} leaked during the attempt"
    # After finishing, the review (allowed by this exam) may show them.
    client.post(f"/exams/attempts/{attempt_id}/submit", data={})
    result = client.get(f"/exams/attempts/{attempt_id}/result").get_data(as_text=True)
    assert "解析之秘" in result and "正确答案" in result


def test_member_journey_over_http_gives_result_and_credit(client, auth, make):
    t = make.tree()
    member = make.user(org=t["a1"], name="李红")
    bank = make.questions()
    exam = make.exam(bank, utcnow(), audience_orgs=[t["a"]])
    auth.login(member)
    assert exam.title in client.get("/exams/").get_data(as_text=True)
    detail = client.get(f"/exams/{exam.id}").get_data(as_text=True)
    assert "现在开始，本次作答将于" in detail
    attempt_id = _attempt_id(client.post(f"/exams/{exam.id}/start"))
    # A second tap on "start" resumes the same attempt.
    assert _attempt_id(client.post(f"/exams/{exam.id}/start")) == attempt_id
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    answers = helpers.shown_right(attempt, bank)
    response = client.post(f"/exams/attempts/{attempt_id}/answers", json={"answers": answers})
    body = response.get_json()
    assert response.status_code == 200 and sorted(body["saved"]) == sorted(q.id for q in bank)
    assert re.fullmatch(r"\d\d:\d\d:\d\d", body["saved_at"]) and body["server_time"] > 0
    page = client.get(f"/exams/attempts/{attempt_id}").get_data(as_text=True)
    assert page.count(" checked") >= 3 and 'value=" 人 民 "' in page  # a reload shows every saved answer
    submitted = client.post(f"/exams/attempts/{attempt_id}/submit", data={"answers": "[]"})
    assert submitted.status_code == 302
    result = client.get(f"/exams/attempts/{attempt_id}/result").get_data(as_text=True)
    assert "考试通过" in result and 'id="score">6</strong> / 6' in result
    again = client.post(f"/exams/attempts/{attempt_id}/submit", data={})
    assert again.status_code == 302
    late = client.post(f"/exams/attempts/{attempt_id}/answers", json={"answers": answers})
    assert late.status_code == 409 and late.get_json()["finished"] is True
    home = client.get("/").get_data(as_text=True)
    assert "考试通过：党章知识测试" in home
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(CreditEntry)) == 1


def test_plain_form_submit_without_javascript(client, auth, make):
    member = make.user()
    bank = make.questions()
    exam = make.exam(bank, utcnow())
    auth.login(member)
    attempt_id = _attempt_id(client.post(f"/exams/{exam.id}/start"))
    db.session.expire_all()
    layout = {item["q"]: item for item in db.session.get(Attempt, attempt_id).layout}
    single = bank[0]
    shown = layout[single.id]["opts"].index(1)
    client.post(f"/exams/attempts/{attempt_id}/submit", data={
        f"q{single.id}": str(shown), f"q{bank[2].id}": "true", f"q{bank[3].id}": "人民", f"flag{bank[4].id}": "on"})
    db.session.expire_all()
    attempt = db.session.get(Attempt, attempt_id)
    assert attempt.state == "finished" and attempt.score == 3
    assert db.session.scalar(select(Answer.flagged).where(Answer.question_id == bank[4].id)) is True


def test_someone_elses_attempt_is_404_and_json_needs_csrf(client, auth, make):
    owner, other = make.user(), make.user()
    bank = make.questions()
    exam = make.exam(bank, utcnow())
    auth.login(owner)
    attempt_id = _attempt_id(client.post(f"/exams/{exam.id}/start"))
    refused = client.post(f"/exams/attempts/{attempt_id}/answers", json={"answers": []}, csrf=False)
    assert refused.status_code == 400 and "刷新页面" in refused.get_json()["error"]
    auth.logout()
    auth.login(other)
    assert client.get(f"/exams/attempts/{attempt_id}").status_code == 404
    assert client.post(f"/exams/attempts/{attempt_id}/answers", json={"answers": []}).status_code == 404


def test_editor_imports_with_preview_then_builds_and_publishes_an_exam(app, client, auth, make):
    editor = make.user(role=Role.EDITOR)
    auth.login(editor)
    template = client.get("/exams/bank/template.xlsx")
    assert template.status_code == 200
    assert [c.value for c in load_workbook(io.BytesIO(template.data)).active[1]][:3] == ["题型", "题干", "选项A"]
    gift = ("$CATEGORY: 党章\n\n::一::党的最高理想？{=共产主义 ~小康}\n\n坏题？{~甲 ~乙}\n\n"
            "党的根本宗旨是全心全意为{=人民}服务。\n").encode()
    preview = client.post("/exams/bank/import", data={"format": "gift", "category": "2026 春训",
                                                      "file": (io.BytesIO(gift), "题库.gift.txt")},
                          content_type="multipart/form-data")
    page = preview.get_data(as_text=True)
    assert "可以导入 <strong>2</strong> 道题" in page and "第 5 行" in page and "选择题没有正确选项" in page
    assert db.session.scalar(select(func.count()).select_from(Question)) == 0  # nothing saved yet
    token = re.search(r'name="token" type="hidden" value="([0-9a-f]+)"', page).group(1)
    staged = Path(app.config["MEDIA_DIR"]) / "exam-imports" / token  # shared by the nodes, not the instance
    assert staged.exists()
    confirm = client.post("/exams/bank/import/confirm", data={
        "token": token, "format": "gift", "category": "2026 春训", "filename": "题库.gift.txt"})
    assert confirm.status_code == 302
    db.session.expire_all()
    questions = db.session.scalars(select(Question).order_by(Question.id)).all()
    assert [q.category.path for q in questions] == ["2026 春训/党章"] * 2
    again = client.post("/exams/bank/import/confirm", data={"token": token, "format": "gift"})
    assert again.status_code == 302 and db.session.scalar(select(func.count()).select_from(Question)) == 2
    assert not staged.exists()  # removed once its questions were committed
    broken = client.post("/exams/bank/import", data={"format": "xlsx", "file": (io.BytesIO(b"junk"), "a.xlsx")},
                         content_type="multipart/form-data")
    assert broken.status_code == 200 and "不是有效的 Excel" in broken.get_data(as_text=True)

    saved = client.post("/exams/manage/new", data={
        "title": "春训考试", "instructions": "认真作答", "attempts_allowed": "1", "grading": "highest",
        "pass_percent": "60", "selection_mode": "fixed", "fixed_questions": [str(q.id) for q in questions],
        "time_limit_minutes": "20", "review": "after_submit", "published": "y",
        "opens_at": "2026-01-01T08:00", "closes_at": "2099-01-01T08:00"})
    assert saved.status_code == 302
    exam = db.session.scalar(select(Exam))
    assert exam.selection == {"fixed": [q.id for q in questions]} and exam.published
    assert exam.opens_at.hour == 0  # 08:00 in Beijing is 00:00 UTC
    bad = client.post(f"/exams/manage/{exam.id}/edit", data={
        "title": "春训考试", "attempts_allowed": "1", "grading": "highest", "pass_percent": "60",
        "selection_mode": "draw", "draw_rules": "不存在的分类 | | 3", "review": "never"})
    assert "没有分类“不存在的分类”" in bad.get_data(as_text=True)
    drawn = client.post(f"/exams/manage/{exam.id}/edit", data={
        "title": "春训考试", "attempts_allowed": "1", "grading": "highest", "pass_percent": "60",
        "selection_mode": "draw", "draw_rules": "2026 春训 | | 1", "review": "never"})
    assert drawn.status_code == 302
    db.session.expire_all()
    assert db.session.get(Exam, exam.id).selection["draw"][0]["count"] == 1

    edit = client.post("/exams/bank/questions/new", data={
        "gift": "判断：党员必须遵守党的纪律。{T}", "category": "党章/纪律", "points": "2", "difficulty": "4", "tags": "纪律"})
    assert edit.status_code == 302
    wrong = client.post("/exams/bank/questions/new", data={"gift": "没有答案的题", "points": "1", "difficulty": "3"})
    assert "不支持的题型" in wrong.get_data(as_text=True)
    exported = client.get("/exams/bank/export.gift").get_data(as_text=True)
    assert "$CATEGORY: 2026 春训/党章" in exported and "{TRUE}" in exported


def test_results_are_scoped_to_the_secretary_subtree(client, auth, make):
    t = make.tree()
    bank = make.questions()
    now = utcnow()
    exam = make.exam(bank, now - timedelta(hours=1))
    from school.exams import attempts

    for org, right in ((t["a1"], 6), (t["b1"], 2)):
        member = make.user(org=org, name=f"成员{org.name}")
        attempt = attempts.start(exam, member, now)
        attempts.submit(attempt, member, helpers.shown_right(attempt, bank)[:right], now)
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    auth.login(secretary)
    page = client.get(f"/exams/results/{exam.id}").get_data(as_text=True)
    assert "成员东村党支部" in page and "成员南村党支部" not in page
    assert "<svg" in page and "item-analysis" in page
    assert client.get(f"/exams/results/{exam.id}?org={t['b1'].id}").status_code == 404
    workbook = load_workbook(io.BytesIO(client.get(f"/exams/results/{exam.id}.xlsx").data))
    names = [row[0] for row in workbook.active.iter_rows(min_row=2, values_only=True)]
    assert names == ["成员东村党支部"]
    auth.logout()
    auth.login(make.user(role=Role.EDITOR))
    page = client.get(f"/exams/results/{exam.id}?passed=no").get_data(as_text=True)
    assert "成员南村党支部" in page and "成员东村党支部" not in page


def test_a_crafted_start_from_outside_the_audience_opens_nothing(client, auth, make):
    """Start reads the exam's audience with the member's attempts in one joined statement: with
    a two-organisation audience, a member of neither who posts to start directly gets the
    reason and no attempt; a member of the second organisation starts."""
    t = make.tree()
    exam = make.exam(make.questions(), utcnow(), audience_orgs=[t["a1"], t["b1"]])
    outsider, inside = make.user(org=t["a2"]), make.user(org=t["b1"])
    auth.login(outsider)
    refused = client.post(f"/exams/{exam.id}/start")
    assert refused.status_code == 302 and refused.headers["Location"].endswith(f"/exams/{exam.id}")
    assert "您不在本次考试的参考范围内" in client.get(refused.headers["Location"]).get_data(as_text=True)
    assert client.get(f"/exams/{exam.id}").status_code == 404  # the page does not show it either
    assert db.session.scalar(select(func.count()).select_from(Attempt).where(Attempt.exam_id == exam.id)) == 0
    auth.logout()
    auth.login(inside)
    assert _attempt_id(client.post(f"/exams/{exam.id}/start")) > 0
