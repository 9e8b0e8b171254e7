"""Results for editors and secretaries: scoped attempts, score distribution, item analysis."""
from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup
from sqlalchemy import Select, func, select

from school.accounts.models import Organisation, Role, User
from school.accounts.scoping import scoped_members
from school.exams.models import Answer, Attempt, AttemptState, Exam, Question
from school.extensions import db


def scoped_attempts(actor: User, exam: Exam) -> Select:
    """Editors see every attempt of an exam; secretaries only their subtree's members."""
    query = select(Attempt).where(Attempt.exam_id == exam.id)
    if actor.role != Role.EDITOR:
        query = query.where(Attempt.member_id.in_(scoped_members(actor).with_only_columns(User.id)))
    return query


def filtered(query: Select, org: Organisation | None = None, state: str = "", passed: str = "",
             name: str = "") -> Select:
    if org is not None or name:
        query = query.join(User, Attempt.member_id == User.id)
    if org is not None:
        query = query.join(Organisation, User.org_id == Organisation.id).where(
            Organisation.path.startswith(org.path, autoescape=True))
    if name:
        query = query.where(User.name.contains(name, autoescape=True) | User.member_no.contains(name, autoescape=True))
    if state in (AttemptState.IN_PROGRESS, AttemptState.FINISHED):
        query = query.where(Attempt.state == state)
    if passed == "yes":
        query = query.where(Attempt.passed.is_(True))
    elif passed == "no":
        query = query.where(Attempt.passed.is_(False))
    return query


def results(actor: User, exam: Exam, org: Organisation | None = None, state: str = "", passed: str = "",
            name: str = "") -> Select:
    """The results page's rows (and its XLSX): scoped, filtered, the latest finished first."""
    query = filtered(scoped_attempts(actor, exam), org=org, state=state, passed=passed, name=name)
    return query.order_by(Attempt.finished_at.desc().nulls_last(), Attempt.id.desc())


def finished_attempts_of(member: User) -> list[Attempt]:
    """A member's finished attempts, newest first (the caller has checked the member is in scope)."""
    return list(db.session.scalars(
        select(Attempt).where(Attempt.member_id == member.id, Attempt.state == AttemptState.FINISHED)
        .order_by(Attempt.finished_at.desc())))


def attempt_counts() -> dict[int, int]:
    """Attempts per exam id, for the editors' list of exams."""
    return dict(db.session.execute(select(Attempt.exam_id, func.count()).group_by(Attempt.exam_id)).all())


def distribution(attempts: list[Attempt], buckets: int = 10) -> list[int]:
    counts = [0] * buckets
    for attempt in attempts:
        if attempt.state == AttemptState.FINISHED:
            counts[min(int(attempt.percent // (100 / buckets)), buckets - 1)] += 1
    return counts


def distribution_svg(counts: list[int], pass_percent: int) -> Markup:
    """A bar chart drawn on the server: no script, no external library, readable at 360 px."""
    width, height, top, bottom, left = 320, 180, 16, 28, 8
    bar_w = (width - 2 * left) / len(counts)
    peak = max(counts) or 1
    parts = [f'<svg class="score-chart" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="成绩分布：{"，".join(f"{i * 10}–{i * 10 + 10} 分 {c} 人" for i, c in enumerate(counts))}">']
    for i, count in enumerate(counts):
        h = (height - top - bottom) * count / peak
        x, y = left + i * bar_w, height - bottom - h
        cls = "bar pass" if i * 10 >= pass_percent else "bar"
        parts.append(f'<rect class="{cls}" x="{x + 2:.1f}" y="{y:.1f}" width="{bar_w - 4:.1f}" height="{h:.1f}"/>')
        if count:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle">{count}</text>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 14}" text-anchor="middle">{i * 10}</text>')
    parts.append(f'<line class="axis" x1="{left}" y1="{height - bottom}" x2="{width - left}" y2="{height - bottom}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass
class ItemStat:
    question: Question
    answered: int
    facility: float | None  # mean fraction of the points earned, 0–1
    discrimination: float | None  # upper 27 % minus lower 27 % mean fraction


def item_analysis(attempts: list[Attempt]) -> list[ItemStat]:
    # Attempts awaiting grading (待阅卷) are left out until their written answers are graded.
    finished = [a for a in attempts if a.state == AttemptState.FINISHED and not a.awaiting_grading]
    if not finished:
        return []
    fractions: dict[int, dict[int, float]] = {}
    ids = [a.id for a in finished]
    for chunk in range(0, len(ids), 500):
        for answer in db.session.scalars(select(Answer).where(Answer.attempt_id.in_(ids[chunk:chunk + 500]))):
            fractions.setdefault(answer.question_id, {})[answer.attempt_id] = float(answer.fraction or 0)
    ranked = sorted(finished, key=lambda a: a.percent)
    group = max(1, round(len(ranked) * 0.27))
    lower, upper = ranked[:group], ranked[-group:]
    question_ids = []
    for attempt in finished:
        for item in attempt.layout:
            if item["q"] not in question_ids:
                question_ids.append(item["q"])
    questions = {q.id: q for q in db.session.scalars(select(Question).where(Question.id.in_(question_ids)))}
    stats = []
    for qid in question_ids:
        took = [a for a in finished if any(item["q"] == qid for item in a.layout)]
        got = fractions.get(qid, {})
        facility = sum(got.get(a.id, 0.0) for a in took) / len(took) if took else None

        def mean(group_attempts):
            seen = [got.get(a.id, 0.0) for a in group_attempts if any(i["q"] == qid for i in a.layout)]
            return sum(seen) / len(seen) if seen else None

        high, low = mean(upper), mean(lower)
        discrimination = high - low if high is not None and low is not None and len(finished) >= 2 else None
        stats.append(ItemStat(questions[qid], len(took), facility, discrimination))
    return stats


def label(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"
