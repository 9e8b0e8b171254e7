"""Written answers (简答 / 论述): saving with length limits, 待阅卷 after submission, grading by
question across attempts, final score and credit once, secretaries only in scope."""
from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import func, select

from school.accounts.models import Role
from school.credits.models import CreditEntry
from school.exams import attempts, marking
from school.exams.errors import AnswerError, ExamError
from school.exams.models import Answer, Attempt, AttemptState, Question, written_data
from school.extensions import db
from school.timeutil import utcnow

SECRET_REFERENCE = "参考答案之秘"
SECRET_RUBRIC = "评分标准之秘"


def _written_exam(make, graders="editors", **fields):
    choice = Question(qtype="single", stem="中国共产党成立于哪一年？", points=Decimal("2"),
                      data={"options": [{"text": "1919", "weight": 0}, {"text": "1921", "weight": 100}]})
    essay = Question(qtype="essay", stem="论述“两个确立”的决定性意义。", points=Decimal("8"),
                     data=written_data("essay", SECRET_REFERENCE, SECRET_RUBRIC, 5, 300))
    db.session.add_all([choice, essay])
    db.session.commit()
    exam = make.exam([choice, essay], graders=graders, **fields)
    return exam, choice, essay


def _answer(attempt, member, choice, essay, text, now):
    items = [{"question": choice.id, "response": {"choice": attempt.layout[0]["opts"].index(1)}, "rev": 1},
             {"question": essay.id, "response": {"text": text}, "rev": 1}]
    attempts.save_answers(attempt, member, items, now)


def test_max_length_is_enforced_on_save_and_nothing_is_saved(app, make):
    exam, choice, essay = _written_exam(make)
    member = make.user(org=make.org())
    now = utcnow()
    attempt = make.attempt(exam, member, now)
    try:
        attempts.save_answers(attempt, member, [{"question": essay.id, "response": {"text": "字" * 301}, "rev": 1}], now)
    except AnswerError as exc:
        assert "不能超过 300 字" in str(exc)
    else:
        raise AssertionError("301 characters were accepted")
    for bad in ({"text": 5}, {"text": ["a"]}, {"text": "a\x00b"}):
        try:
            attempts.save_answers(attempt, member, [{"question": essay.id, "response": bad, "rev": 1}], now)
        except AnswerError:
            pass
        else:
            raise AssertionError(bad)
    assert db.session.scalar(select(func.count()).select_from(Answer)) == 0
    attempts.save_answers(attempt, member, [{"question": essay.id, "response": {"text": "字" * 300}, "rev": 1}], now)
    assert db.session.scalar(select(Answer.response)) == {"text": "字" * 300}


def test_a_too_long_answer_over_http_is_400(client, auth, make):
    exam, choice, essay = _written_exam(make)
    member = make.user(org=make.org())
    attempt = make.attempt(exam, member)
    auth.login(member)
    page = client.get(f"/exams/attempts/{attempt.id}").get_data(as_text=True)
    assert 'class="written"' in page and SECRET_REFERENCE not in page and SECRET_RUBRIC not in page
    response = client.post(f"/exams/attempts/{attempt.id}/answers",
                           json={"answers": [{"question": essay.id, "response": {"text": "长" * 301}, "rev": 5}]})
    assert response.status_code == 400 and "300" in response.get_json()["error"]
    assert db.session.scalar(select(func.count()).select_from(Answer)) == 0


def test_a_too_long_answer_through_the_plain_form_submit_is_400(client, auth, make):
    exam, choice, essay = _written_exam(make)
    member = make.user(org=make.org())
    attempt = make.attempt(exam, member)
    auth.login(member)
    shown = str(attempt.layout[0]["opts"].index(1))
    response = client.post(f"/exams/attempts/{attempt.id}/submit",
                           data={f"q{choice.id}": shown, f"q{essay.id}": "长" * 301})
    assert response.status_code == 400 and "300" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Answer)) == 0
    db.session.expire_all()
    assert db.session.get(Attempt, attempt.id).state == AttemptState.IN_PROGRESS
    # The same form within the limit hands in (the field names are the page's own).
    response = client.post(f"/exams/attempts/{attempt.id}/submit",
                           data={f"q{choice.id}": shown, f"q{essay.id}": "长" * 300})
    assert response.status_code == 302
    assert db.session.scalar(select(Answer.response).where(Answer.question_id == essay.id)) == {"text": "长" * 300}


def test_awaiting_grading_then_final_score_and_credit_once(app, make):
    exam, choice, essay = _written_exam(make)
    member = make.user(org=make.org())
    editor = make.user(role=Role.EDITOR)
    now = utcnow()
    attempt = make.attempt(exam, member, now)
    _answer(attempt, member, choice, essay, "两个确立具有决定性意义。" * 3, now)
    attempt = attempts.submit(attempt, member, [], now)
    assert attempt.awaiting_grading and attempt.passed is None and attempt.score == Decimal("2.00")
    assert db.session.scalar(select(func.count()).select_from(CreditEntry)) == 0
    answers = marking.to_grade(editor, exam, essay.id)
    assert len(answers) == 1 and marking.progress(editor, exam, essay.id).graded == 0
    for bad in ("", "abc", "9", "-1", "1.234", "NaN"):
        try:
            marking.grade(editor, answers[0], bad, "", now)
        except ExamError:
            db.session.rollback()
        else:
            raise AssertionError(bad)
    graded = marking.grade(editor, answers[0], "6.5", "论点清楚", now)
    db.session.commit()
    assert graded.finalised and graded.passed
    attempt = db.session.get(Attempt, attempt.id)
    assert (attempt.score, attempt.awaiting_grading, attempt.passed) == (Decimal("8.50"), False, True)
    # The same grade sent again (a double submit) is counted once; a different one is refused now.
    again = marking.grade(editor, db.session.get(Answer, answers[0].id), "6.5", "论点清楚", now)
    db.session.commit()
    assert not again.finalised
    try:
        marking.grade(editor, db.session.get(Answer, answers[0].id), "2", "", now)
    except ExamError as exc:
        assert "已确定" in str(exc)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CreditEntry)) == 1
    assert marking.progress(editor, exam, essay.id).graded == 1


def test_below_min_length_is_graded_zero_and_empty_needs_no_grader(app, make):
    exam, choice, essay = _written_exam(make)
    member, other = make.user(org=make.org()), make.user(org=make.org())
    now = utcnow()
    first = make.attempt(exam, member, now)
    _answer(first, member, choice, essay, "太短", now)
    first = attempts.submit(first, member, [], now)
    assert not first.awaiting_grading and first.passed is False and first.score == Decimal("2.00")
    answer = db.session.scalar(select(Answer).where(Answer.attempt_id == first.id, Answer.question_id == essay.id))
    assert answer.awarded_points == 0 and "字数不足" in answer.grader_comment
    second = make.attempt(exam, other, now)
    second = attempts.submit(second, other, [], now)
    assert not second.awaiting_grading and second.score == 0


def _grading_flow(client, auth, make, grader, exam, essay):
    auth.login(grader)
    page = client.get(f"/exams/grading/{exam.id}/questions/{essay.id}")
    return page


def test_grading_queue_by_question_over_http_and_member_sees_grade(client, auth, make):
    exam, choice, essay = _written_exam(make, review_answers=False)
    org = make.org()
    members = [make.user(org=org, name=f"考生{i}") for i in range(3)]
    now = utcnow()
    for i, member in enumerate(members):
        attempt = make.attempt(exam, member, now)
        _answer(attempt, member, choice, essay, f"第{i}份答卷，论述充分。", now)
        attempts.submit(attempt, member, [], now)
    editor = make.user(role=Role.EDITOR)
    page = _grading_flow(client, auth, make, editor, exam, essay).get_data(as_text=True)
    assert "已阅 0 / 3" in page and SECRET_RUBRIC in page and "autofocus" in page and "考生0" not in page  # anonymous
    assert "第0份答卷" in page
    for expected in range(3):
        answer_id = int(re.search(r"/exams/grading/answers/(\d+)", page).group(1))
        response = client.post(f"/exams/grading/answers/{answer_id}", data={"points": "7", "comment": "好"})
        assert response.status_code == 302
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert f"已阅 {expected + 1} / 3" in page
    assert "已全部评完" in page
    # Out of range: refused, nothing changed.
    assert client.post(f"/exams/grading/answers/{answer_id}", data={"points": "99"}).status_code == 302
    assert db.session.scalar(select(Answer.awarded_points).where(Answer.id == answer_id)) == Decimal("7.00")
    auth.logout()
    auth.login(members[0])
    attempt = db.session.scalar(select(Attempt).where(Attempt.member_id == members[0].id))
    result = client.get(f"/exams/attempts/{attempt.id}/result").get_data(as_text=True)
    assert "考试通过" in result and "评语：好" in result and SECRET_REFERENCE not in result


def test_secretary_grades_only_in_scope_and_only_when_allowed(client, auth, make):
    exam, choice, essay = _written_exam(make, graders="secretaries")
    mine, theirs = make.org(), make.org()
    inside, outside = make.user(org=mine), make.user(org=theirs)
    now = utcnow()
    for member in (inside, outside):
        attempt = make.attempt(exam, member, now)
        _answer(attempt, member, choice, essay, "这是一份足够长的答卷。", now)
        attempts.submit(attempt, member, [], now)
    secretary = make.user(org=mine, role=Role.SECRETARY)
    outside_answer = db.session.scalar(select(Answer.id).join(Attempt).where(
        Attempt.member_id == outside.id, Answer.question_id == essay.id))
    inside_answer = db.session.scalar(select(Answer.id).join(Attempt).where(
        Attempt.member_id == inside.id, Answer.question_id == essay.id))
    auth.login(secretary)
    page = client.get(f"/exams/grading/{exam.id}/questions/{essay.id}").get_data(as_text=True)
    assert "已阅 0 / 1" in page
    assert client.get(f"/exams/grading/{exam.id}/questions/{essay.id}?answer={outside_answer}").status_code == 404
    assert client.post(f"/exams/grading/answers/{outside_answer}", data={"points": "8"}).status_code == 404
    assert db.session.scalar(select(Answer.graded_at).where(Answer.id == outside_answer)) is None
    assert client.post(f"/exams/grading/answers/{inside_answer}", data={"points": "8"}).status_code == 302
    exam.graders = "editors"
    db.session.commit()
    assert client.get(f"/exams/grading/{exam.id}").status_code == 404
    member = make.user(org=mine)
    auth.logout()
    auth.login(member)
    assert client.get(f"/exams/grading/{exam.id}").status_code == 403


def test_exam_form_sets_who_grades(client, auth, make):
    questions = make.questions()
    auth.login(make.user(role=Role.EDITOR))
    form = {"title": "主观题考试", "attempts_allowed": "1", "grading": "highest", "pass_percent": "60",
            "selection_mode": "fixed", "fixed_questions": [str(questions[0].id)], "review": "after_submit"}
    assert client.post("/exams/manage/new", data={**form, "graders": "secretaries"}).status_code == 302
    from school.exams.models import Exam
    exam = db.session.scalar(select(Exam))
    assert exam.graders == "secretaries" and exam.anonymous_grading is False
    page = client.get(f"/exams/manage/{exam.id}/edit").get_data(as_text=True)
    assert re.search(r'<option selected value="secretaries"', page)
    assert client.post(f"/exams/manage/{exam.id}/edit", data={**form, "graders": "everyone"}).status_code == 200
    db.session.refresh(exam)
    assert exam.graders == "secretaries"


def test_the_pass_signal_is_sent_once_when_the_last_grade_makes_it_final(client, auth, make):
    from school.exams import signals

    exam, choice, essay = _written_exam(make)
    member = make.user(org=make.org())
    now = utcnow()
    attempt = make.attempt(exam, member, now)
    _answer(attempt, member, choice, essay, "一份足够长的答卷。", now)
    attempt = attempts.submit(attempt, member, [], now)
    heard = []

    def listener(sender, **kwargs):
        heard.append(sender.id)

    signals.attempt_passed.connect(listener)
    try:
        answer_id = db.session.scalar(select(Answer.id).where(Answer.question_id == essay.id))
        auth.login(make.user(role=Role.EDITOR))
        for _ in range(2):  # a double submit
            assert client.post(f"/exams/grading/answers/{answer_id}", data={"points": "8"}).status_code == 302
    finally:
        signals.attempt_passed.disconnect(listener)
    assert heard == [attempt.id]
    assert db.session.scalar(select(func.count()).select_from(CreditEntry)) == 1


def test_editor_writes_a_written_question_with_reference_rubric_and_lengths(client, auth, make):
    auth.login(make.user(role=Role.EDITOR))
    form = {"gift": "::体会::谈谈你对“四个自信”的理解。{}", "category": "党的建设", "points": "10", "difficulty": "3",
            "written_kind": "short", "reference": "道路、理论、制度、文化", "rubric": "每点 2 分", "min_length": "20",
            "max_length": "400"}
    assert client.post("/exams/bank/questions/new", data=form).status_code == 302
    question = db.session.scalar(select(Question))
    assert question.qtype == "short" and question.data == {
        "reference": "道路、理论、制度、文化", "rubric": "每点 2 分", "min_length": 20, "max_length": 400}
    page = client.get(f"/exams/bank/questions/{question.id}/edit").get_data(as_text=True)
    assert "[written:" not in page and "每点 2 分" in page and 'value="400"' in page
    bad = client.post(f"/exams/bank/questions/{question.id}/edit", data={**form, "min_length": "500"})
    assert bad.status_code == 200 and "最少字数不能大于最多字数" in bad.get_data(as_text=True)


def test_no_one_grades_their_own_attempt(client, auth, make):
    exam, choice, essay = _written_exam(make, graders="secretaries")
    org = make.org()
    secretary = make.user(org=org, role=Role.SECRETARY)
    member = make.user(org=org)
    now = utcnow()
    for taker in (secretary, member):
        attempt = make.attempt(exam, taker, now)
        _answer(attempt, taker, choice, essay, "这是一份足够长的答卷。", now)
        attempts.submit(attempt, taker, [], now)
    own = db.session.scalar(select(Answer).join(Attempt).where(
        Attempt.member_id == secretary.id, Answer.question_id == essay.id))
    assert marking.answer_for(secretary, own.id) is None
    assert own.id not in [a.id for a in marking.to_grade(secretary, exam, essay.id)]
    assert marking.progress(secretary, exam, essay.id).total == 1
    auth.login(secretary)
    page = client.get(f"/exams/grading/{exam.id}/questions/{essay.id}").get_data(as_text=True)
    assert "已阅 0 / 1" in page
    assert client.get(f"/exams/grading/{exam.id}/questions/{essay.id}?answer={own.id}").status_code == 404
    assert client.post(f"/exams/grading/answers/{own.id}", data={"points": "8"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Answer, own.id).graded_at is None
    mine = db.session.scalar(select(Attempt).where(Attempt.member_id == secretary.id))
    assert mine.awaiting_grading and not mine.passed
    editor = make.user(role=Role.EDITOR)
    assert marking.answer_for(editor, own.id) is not None  # someone else grades it


def test_the_grading_page_shows_only_this_exams_written_questions(client, auth, make):
    exam_a, choice_a, essay_a = _written_exam(make)
    other_choice = Question(qtype="single", stem="党的最高领导机关是？", points=Decimal("2"),
                            data={"options": [{"text": "全国代表大会", "weight": 100}, {"text": "其他", "weight": 0}]})
    other_essay = Question(qtype="essay", stem="另一场考试的论述题。", points=Decimal("8"),
                           data=written_data("essay", "乙卷参考答案之秘", "乙卷评分标准之秘", 5, 300))
    db.session.add_all([other_choice, other_essay])
    db.session.commit()
    exam_b = make.exam([other_choice, other_essay], title="另一场考试")
    now = utcnow()
    for exam, choice, essay in ((exam_a, choice_a, essay_a), (exam_b, other_choice, other_essay)):
        member = make.user(org=make.org())
        attempt = make.attempt(exam, member, now)
        _answer(attempt, member, choice, essay, "这是一份足够长的答卷。", now)
        attempts.submit(attempt, member, [], now)
    auth.login(make.user(role=Role.EDITOR))
    assert client.get(f"/exams/grading/{exam_a.id}/questions/{essay_a.id}").status_code == 200
    for question in (other_essay, choice_a):  # another exam's essay; this exam's choice question
        response = client.get(f"/exams/grading/{exam_a.id}/questions/{question.id}")
        page = response.get_data(as_text=True)
        assert response.status_code == 404 and "乙卷参考答案之秘" not in page and "乙卷评分标准之秘" not in page
