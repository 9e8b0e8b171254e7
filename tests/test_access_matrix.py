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


def _offline(ctx):
    from datetime import date

    from school.credits import attachments, offline
    from school.timeutil import utcnow
    creator = ctx.make.user(org=ctx.org, role=Role.SECRETARY)
    return offline.submit(offline.SessionData(
        org=ctx.org, held_on=date(2026, 1, 5), hours=1, topic="矩阵", session_type="study",
        attendee_ids=[ctx.member.id]), creator, utcnow(), attachments.check("a.pdf", b"%PDF-1.4 matrix")).id


def _pdf(default):
    """A PDF needs a Chinese font; without one the page redirects with an explanation."""
    from pathlib import Path

    from school.credits.record import FONT_CANDIDATES
    has_font = any(Path(p).is_file() for p in FONT_CANDIDATES)

    def expect(role, relation):
        status = default(role, relation)
        return 302 if status == 200 and not has_font else status
    return expect


# Placeholder → how to make the object for one case. ``ctx`` has ``make``, ``tree``,
# ``org`` (the organisation of the relation under test) and ``member`` (a member in it).
# A package whose routes name its own objects adds its builder here.
PLACEHOLDERS = {
    "org": lambda ctx: ctx.org.id,
    "member": lambda ctx: ctx.member.id,
    "entry": _entry,
    "offline": _offline,
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
    # credits: rules, study record, offline training, branch reports
    Route("GET", "/admin/credit-rules", roles=(Role.ADMIN,)),
    Route("GET", "/my/record.xlsx", roles=EVERYONE),
    Route("GET", "/my/record.pdf", roles=EVERYONE,
          expect=_pdf(lambda role, rel: 302 if role == "anonymous" else 200)),
    Route("GET", "/offline/"),
    Route("GET", "/offline/new"),
    Route("GET", "/offline/backfill"),
    Route("GET", "/offline/new?org={org}"),
    Route("GET", "/offline/backfill?org={org}"),
    Route("GET", "/offline/{offline}"),
    Route("GET", "/offline/{offline}/edit"),
    Route("GET", "/offline/{offline}/attachment"),
    Route("POST", "/offline/{offline}/approve", ok=302),
    Route("POST", "/offline/{offline}/reject", ok=302, data=(("reason", "签到表不清楚"),)),
    Route("GET", "/reports/"),
    Route("GET", "/reports/export.csv"),
    Route("GET", "/reports/export.xlsx"),
    Route("GET", "/reports/?org={org}"),
    Route("GET", "/reports/chart/orgs.svg?org={org}"),
    Route("GET", "/reports/chart/distribution.svg?org={org}"),
    Route("GET", "/reports/export.csv?org={org}"),
    Route("GET", "/reports/export.xlsx?org={org}"),
    Route("GET", "/reports/members/{member}"),
    Route("GET", "/reports/members/{member}/record.xlsx"),
    Route("GET", "/reports/members/{member}/record.pdf", expect=_pdf(
        lambda role, rel: 302 if role == "anonymous" else 403 if role not in MANAGERS
        else 404 if role == Role.SECRETARY and rel in ("sibling", "parent") else 200)),
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
