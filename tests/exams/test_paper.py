"""The paper as the member's browser receives it: which option a saved answer picks, in the
order this attempt shows them, and the attempt page that draws it."""
from __future__ import annotations

import random
import re

from school.exams import attempts, paper
from school.exams.models import Question
from school.extensions import db
from school.timeutil import utcnow
from tests.exams import helpers


def _shuffled_attempt(make, seed: int):
    member = make.user()
    bank = make.questions()
    exam = make.exam(bank, utcnow(), shuffle_options=True, shuffle_questions=True)
    attempt = attempts.start(exam, member, utcnow(), rng=random.Random(seed))
    return member, bank, attempt


def test_saved_answers_pick_the_shown_options_whatever_the_order(make):
    for seed in range(6):  # several shuffles: the shown order differs from the bank's
        member, bank, attempt = _shuffled_attempt(make, seed)
        attempts.save_answers(attempt, member, helpers.shown_right(attempt, bank), utcnow())
        entries = {e.qtype: e for e in paper.paper(attempt)}
        shown = {item["q"]: item for item in attempt.layout}

        single = entries["single"]
        picked = [o for o in single.options if o.checked]
        assert [str(o.text) for o in picked] == ["1921"]  # the bank's right option, wherever it is shown
        assert picked[0].value == shown[single.id]["opts"].index(1) and picked[0].letter == "ABC"[picked[0].value]

        multiple = entries["multiple"]
        assert sorted(str(o.text) for o in multiple.options if o.checked) == ["大局意识", "政治意识"]

        truefalse = entries["truefalse"]
        assert [(o.value, o.checked) for o in truefalse.options] == [("true", True), ("false", False)]

        matching = entries["matching"]
        rights = dict(matching.rights)
        assert {str(left): rights[picked] for _i, left, picked in matching.lefts} == {"遵义会议": "1935",
                                                                                      "古田会议": "1929"}
        assert all(e.response for e in entries.values())


def test_nothing_is_picked_before_a_save(make):
    _member, _bank, attempt = _shuffled_attempt(make, 1)
    for entry in paper.paper(attempt):
        assert entry.response is None and not entry.flagged and entry.rev == 0
        assert not any(o.checked for o in entry.options)
        assert all(picked is None for _i, _left, picked in entry.lefts)


def test_options_past_z_are_numbered(make):
    member = make.user()
    question = Question(qtype="single", stem="很多选项", data={"options": [
        {"text": f"第{i}项", "weight": 100 if i == 0 else 0} for i in range(28)]})
    db.session.add(question)
    db.session.commit()
    attempt = attempts.start(make.exam([question], utcnow()), member, utcnow())
    (entry,) = paper.paper(attempt)
    assert [o.letter for o in entry.options][24:] == ["Y", "Z", "27", "28"]


def test_the_attempt_page_checks_the_saved_options(client, auth, make):
    member, bank, attempt = _shuffled_attempt(make, 3)
    answers = helpers.shown_right(attempt, bank)
    answers[0]["flagged"] = True
    attempts.save_answers(attempt, member, answers, utcnow())
    auth.login(member)
    page = client.get(f"/exams/attempts/{attempt.id}").get_data(as_text=True)
    entries = {e.id: e for e in paper.paper(attempt)}
    for entry in entries.values():
        for option in entry.options:
            tag = re.search(rf'<input type="(?:radio|checkbox)" name="q{entry.id}" value="{option.value}"( checked)?>', page)
            assert tag and bool(tag.group(1)) == option.checked, (entry.qtype, option)
        for left_index, _left, picked in entry.lefts:
            select = re.search(rf'<select name="q{entry.id}\.{left_index}">(.*?)</select>', page, re.S).group(1)
            assert re.findall(r'<option value="(\d+)" selected>', select) == [str(picked)]
    assert page.count('class="flag-input" checked') == 1
    assert 'value=" 人 民 "' in page and 'value="2012"' in page
