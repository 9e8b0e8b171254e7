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

    @property
    def scoped(self) -> bool:
        """Routes naming an object that belongs to an organisation are checked per relation."""
        return any("{" + name + "}" in self.path for name in PLACEHOLDERS)

    def __str__(self):
        return f"{self.method} {self.path}"


def _entry(ctx):
    from school.credits import ledger
    from school.timeutil import utcnow
    return ledger.award(ctx.member, 1, "online", "reading", f"matrix:{ctx.member.id}", utcnow()).id


def _exam(ctx):
    """A published exam for the organisation under test (and its subtree)."""
    from school.exams.models import Exam, Question
    from school.extensions import db
    question = Question(qtype="truefalse", stem="判断题", data={"answer": True})
    db.session.add(question)
    db.session.flush()
    exam = Exam(title="矩阵考试", published=True, audience_org_ids=[ctx.org.id], selection={"fixed": [question.id]})
    db.session.add(exam)
    db.session.flush()
    return exam.id


def _attempt(ctx):
    """Someone else's attempt (the member of the organisation under test)."""
    from school.exams import attempts
    from school.exams.models import Exam
    from school.extensions import db
    from school.timeutil import utcnow
    exam = db.session.get(Exam, _exam(ctx))
    db.session.commit()
    return attempts.start(exam, ctx.member, utcnow()).id


def _question(ctx):
    from school.exams.models import Question
    from school.extensions import db
    question = Question(qtype="fill", stem="填空题", data={"answers": [{"text": "人民", "weight": 100}]})
    db.session.add(question)
    db.session.flush()
    return question.id


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


RESULT_READERS = (Role.EDITOR, Role.SECRETARY, Role.ADMIN)
EDITORS = (Role.EDITOR, Role.ADMIN)

# Placeholder → how to make the object for one case. ``ctx`` has ``make``, ``tree``,
# ``org`` (the organisation of the relation under test) and ``member`` (a member in it).
# A package whose routes name its own objects adds its builder here.
PLACEHOLDERS = {
    "org": lambda ctx: ctx.org.id,
    "member": lambda ctx: ctx.member.id,
    "entry": _entry,
    "exam": _exam,
    "attempt": _attempt,
    "question": _question,
}

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
    # exams
    Route("GET", "/exams/", roles=EVERYONE),
    Route("GET", "/exams/{exam}", expect=_exam_page),
    Route("POST", "/exams/{exam}/start", expect=lambda role, rel: 302),  # to the attempt, or back with the reason
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
    if role != "anonymous":
        auth.login(make.user(org=t["a"], role=role))
    path = route.path.format(**values)
    if route.method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data=dict(route.data))
    want = expected(route, role, relation)
    assert response.status_code == want, f"{route} as {role} on {relation}: {response.status_code} != {want}"
    if want == 302 and role == "anonymous":
        assert "/login" in response.headers["Location"]
