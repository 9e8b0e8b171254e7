"""Every route × role × (own, child, sibling, parent organisation) → expected status.

Later routes join by adding a ``Route`` row. The secretary manages organisation A; for
them "own" is A, "child" is A1 under A, "sibling" is B beside A, "parent" is the root.
Members, editors and admins are placed in A as well.
"""
from __future__ import annotations

from dataclasses import dataclass

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

    @property
    def scoped(self) -> bool:
        return any(k in self.path for k in ("{org}", "{member}", "{entry}"))

    def __str__(self):
        return f"{self.method} {self.path}"


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
]


def expected(route: Route, role: str, relation: str) -> int:
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
    from school.credits import ledger
    from school.extensions import db
    from school.timeutil import utcnow

    t = make.tree()
    target_org = {"own": t["a"], "child": t["a1"], "sibling": t["b"], "parent": t["root"], "-": t["a"]}[relation]
    target = make.user(org=target_org)
    entry = ledger.award(target, 1, "online", "reading", f"matrix:{target.id}", utcnow())
    db.session.commit()
    if role != "anonymous":
        auth.login(make.user(org=t["a"], role=role))
    path = route.path.format(org=target_org.id, member=target.id, entry=entry.id)
    if route.method == "GET":
        response = client.get(path)
    else:
        response = client.post(path, data=dict(route.data))
    want = expected(route, role, relation)
    assert response.status_code == want, f"{route} as {role} on {relation}: {response.status_code} != {want}"
    if want == 302 and role == "anonymous":
        assert "/login" in response.headers["Location"]
