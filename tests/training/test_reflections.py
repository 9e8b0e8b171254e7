"""Reflections: autosave revisions, the minimum length, a double-clicked submit, pictures
checked by content, review by the right people, hours awarded once under the rule."""
from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import pytest
from PIL import Image
from sqlalchemy import func, select

from school.accounts.models import Role
from school.credits import keys, rules
from school.credits.models import CreditEntry
from school.exams.images import ImageError
from school.extensions import db
from school.training import reflections
from school.training.errors import TrainingError
from school.training.models import ReflectionState

T0 = datetime(2026, 3, 1, 2, 0)
TEXT = "学习党章，" * 30  # 150 characters that count


@pytest.fixture
def ctx(make):
    t = make.tree()
    cls = make.training_class(t["root"], [t["a"]], now=T0, reflection_required=True, reflection_min_chars=100)
    member = make.user(org=t["a1"], name="李红")
    make.enrolment(cls, member, T0)
    return dict(t=t, cls=cls, member=member)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), "red").save(buffer, "PNG")
    return buffer.getvalue()


def test_autosave_keeps_the_newest_revision(ctx):
    cls, member = ctx["cls"], ctx["member"]
    reflections.save_draft(cls, member, "第二稿", 2, T0)
    reflections.save_draft(cls, member, "第一稿（迟到的请求）", 1, T0)
    db.session.commit()
    row = reflections.reflection_of(cls, member)
    assert (row.body, row.revision, row.state) == ("第二稿", 2, ReflectionState.DRAFT)
    reflections.save_draft(cls, member, "表单保存", None, T0)  # a plain form post always wins
    assert reflections.reflection_of(cls, member).body == "表单保存"


def test_below_the_minimum_is_refused_with_the_count(ctx):
    with pytest.raises(TrainingError, match="心得体会至少需要 100 字，目前只有 5 字"):
        reflections.submit(ctx["cls"], ctx["member"], "学 习 心 得 。\n", T0)


def test_a_double_clicked_submit_submits_once(ctx):
    cls, member = ctx["cls"], ctx["member"]
    reflections.submit(cls, member, TEXT, T0)
    db.session.commit()
    with pytest.raises(TrainingError, match="心得体会已经提交，正在等待审阅，无需重复提交"):
        reflections.submit(cls, member, TEXT, T0)
    with pytest.raises(TrainingError, match="心得体会已提交，不能再修改"):
        reflections.save_draft(cls, member, "改一下", 99, T0)


def test_only_enrolled_members_write_and_only_when_asked(make, ctx):
    with pytest.raises(TrainingError, match="参加本专题班后才能提交心得体会"):
        reflections.save_draft(ctx["cls"], make.user(org=ctx["t"]["a1"]), "内容", 1, T0)
    plain = make.training_class(ctx["t"]["root"], [ctx["t"]["a"]], now=T0)
    with pytest.raises(TrainingError, match="本专题班不要求提交心得体会"):
        reflections.save_draft(plain, ctx["member"], "内容", 1, T0)


def test_pictures_are_checked_by_content(ctx):
    cls, member = ctx["cls"], ctx["member"]
    name = reflections.add_image(cls, member, png(), T0)
    assert name.endswith(".png") and reflections.reflection_of(cls, member).images == [name]
    with pytest.raises(ImageError, match="这个文件不是图片"):
        reflections.add_image(cls, member, b"<svg xmlns='http://www.w3.org/2000/svg'/>", T0)


@pytest.mark.parametrize("verdict,hours", [("excellent", Decimal("1.00")), ("passed", Decimal("0.50")),
                                           ("returned", None)])
def test_review_awards_the_rule_hours_once(make, ctx, verdict, hours):
    cls, member = ctx["cls"], ctx["member"]
    row = reflections.submit(cls, member, TEXT, T0)
    db.session.commit()
    secretary = make.user(org=ctx["t"]["a"], role=Role.SECRETARY)  # the member's subtree
    entry = reflections.review(row, secretary, verdict, "写得好" if verdict != "returned" else "请结合工作实际",
                               T0, feature=True)
    db.session.commit()
    assert (entry.hours if entry else None) == hours
    assert row.featured == (verdict == "excellent")
    if hours:
        assert entry.idempotency_key == keys.reflection(row.id) and entry.source == "reflection"
    with pytest.raises(TrainingError, match="这篇心得体会已经审阅过了"):
        reflections.review(row, secretary, "passed", "", T0)
    db.session.rollback()
    assert db.session.scalar(select(func.count(CreditEntry.id)).where(CreditEntry.source == "reflection")) == \
        (1 if hours else 0)
    if verdict == "returned":  # the member revises and submits again
        assert reflections.reflection_of(cls, member).state == ReflectionState.RETURNED
        reflections.submit(cls, member, TEXT + "修改后", T0)
        assert reflections.reflection_of(cls, member).state == ReflectionState.SUBMITTED


def test_the_rule_on_the_rules_page_sets_the_hours(make, ctx):
    admin = make.user(role=Role.ADMIN)
    rules.set_rule("reflection_pass_hours", "0.8", admin, T0)
    rules.set_rule("reflection_excellent_hours", "0", admin, T0)
    db.session.commit()
    row = reflections.submit(ctx["cls"], ctx["member"], TEXT, T0)
    assert reflections.review(row, admin, "passed", "", T0).hours == Decimal("0.80")


def test_returning_needs_a_comment_and_reviewers_are_scoped(make, ctx):
    row = reflections.submit(ctx["cls"], ctx["member"], TEXT, T0)
    db.session.commit()
    organiser = make.user(org=ctx["t"]["root"], role=Role.SECRETARY)
    with pytest.raises(TrainingError, match="退回修改时请写明需要修改的地方"):
        reflections.review(row, organiser, "returned", " ", T0)
    outsider = make.user(org=ctx["t"]["b"], role=Role.SECRETARY)
    assert not reflections.can_review(outsider, row)
    with pytest.raises(TrainingError, match="您不能审阅这篇心得体会"):
        reflections.review(row, outsider, "passed", "", T0)
    assert not reflections.can_review(ctx["member"], row)
