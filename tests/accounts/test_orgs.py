import pytest
from sqlalchemy import select

from school.accounts import orgs
from school.accounts.models import Organisation, Role
from school.extensions import db


def test_paths_follow_the_tree(make):
    t = make.tree()
    assert t["root"].path == f"/{t['root'].id}/"
    assert t["a1"].path == f"/{t['root'].id}/{t['a'].id}/{t['a1'].id}/"
    assert t["a1"].depth == 2
    assert {o.name for o in db.session.scalars(orgs.subtree_query(t["a"]))} == {"第一党总支", "东村党支部", "西村党支部"}


def test_move_rewrites_the_whole_subtree(make):
    t = make.tree()
    grandchild = make.org("东村第一党小组", t["a1"])
    orgs.move_org(t["a1"], t["b"])
    db.session.commit()
    a1, gc = db.session.get(Organisation, t["a1"].id), db.session.get(Organisation, grandchild.id)
    assert a1.parent_id == t["b"].id
    assert a1.path == f"{t['b'].path}{a1.id}/"
    assert gc.path == f"{a1.path}{gc.id}/"
    # untouched branches keep their paths
    assert db.session.get(Organisation, t["a2"].id).path == f"{t['a'].path}{t['a2'].id}/"


def test_move_into_own_subtree_is_refused(make):
    t = make.tree()
    with pytest.raises(orgs.OrgError):
        orgs.move_org(t["a"], t["a1"])
    with pytest.raises(orgs.OrgError):
        orgs.move_org(t["a"], t["a"])


def test_path_prefix_does_not_confuse_ids(make):
    """/1/ must not match /10/: the trailing slash is part of the prefix."""
    root = make.org("党委", kind="committee")
    created = [make.org(f"支部{i}", root) for i in range(12)]
    first = created[0]
    subtree = list(db.session.scalars(orgs.subtree_query(first)))
    assert subtree == [first]


def test_find_by_name_or_path(make):
    t = make.tree()
    make.org("东村党支部", t["b"])  # same name under another parent
    assert orgs.find_by_name_or_path("东村党支部") is None  # ambiguous
    assert orgs.find_by_name_or_path("第一党总支/东村党支部").id == t["a1"].id
    assert orgs.find_by_name_or_path("西村党支部").id == t["a2"].id


def _login_admin(make, auth):
    admin = make.user(role=Role.ADMIN)
    auth.login(admin)
    return admin


def test_admin_adds_renames_and_moves_in_the_browser(client, auth, make):
    t = make.tree()
    _login_admin(make, auth)
    response = client.post("/admin/orgs/new", data={"name": "北村党支部", "kind": "branch", "parent_id": t["b"].id})
    assert response.status_code == 302
    new = db.session.scalar(select(Organisation).where(Organisation.name == "北村党支部"))
    assert new.parent_id == t["b"].id
    client.post(f"/admin/orgs/{new.id}/rename", data={"name": "北村联合党支部"})
    client.post(f"/admin/orgs/{new.id}/move", data={"parent_id": t["a"].id})
    db.session.expire_all()
    moved = db.session.get(Organisation, new.id)
    assert moved.name == "北村联合党支部"
    assert moved.path == f"{t['a'].path}{new.id}/"
    page = client.get("/admin/orgs").get_data(as_text=True)
    assert "北村联合党支部" in page


def test_secretary_cannot_move_own_root_or_out_of_scope(client, auth, make):
    t = make.tree()
    secretary = make.user(org=t["a"], role=Role.SECRETARY)
    auth.login(secretary)
    assert client.post(f"/admin/orgs/{t['a'].id}/move", data={"parent_id": t["b"].id}).status_code == 403
    assert client.post(f"/admin/orgs/{t['a1'].id}/move", data={"parent_id": t["b"].id}).status_code == 404
    assert client.post(f"/admin/orgs/{t['a1'].id}/move", data={"parent_id": t["a2"].id}).status_code == 302
    assert client.post("/admin/orgs/new", data={"name": "X", "kind": "branch", "parent_id": t["b"].id}).status_code == 404


def test_secretary_cannot_take_over_stronger_accounts(client, auth, make):
    t = make.tree()
    secretary = make.user(org=t["root"], role=Role.SECRETARY)
    admin = make.user(org=t["root"], role=Role.ADMIN)
    editor = make.user(org=t["a"], role=Role.EDITOR)
    peer = make.user(org=t["root"], role=Role.SECRETARY)
    branch_secretary = make.user(org=t["a1"], role=Role.SECRETARY)
    auth.login(secretary)
    for target in (admin, editor, peer):
        assert client.post(f"/admin/members/{target.id}/reset-password").status_code == 403
        assert client.post(f"/admin/members/{target.id}/deactivate").status_code == 403
        assert client.get(f"/admin/members/{target.id}").status_code == 200  # may look, not touch
    assert client.post(f"/admin/members/{branch_secretary.id}/reset-password").status_code == 200
    db.session.expire_all()
    assert db.session.get(type(admin), admin.id).active


def test_member_list_queries_do_not_grow_with_members(app, client, auth, make):
    """No N+1: the member list costs the same number of queries for 3 or 30 people."""
    from sqlalchemy import event

    t = make.tree()
    auth.login(make.user(role=Role.ADMIN))

    def count_queries():
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get("/admin/members?status=all").status_code == 200
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(statements)

    for org in (t["a1"], t["a2"], t["b1"]):
        make.user(org=org)
    few = count_queries()
    for i in range(27):
        make.user(org=(t["a1"], t["a2"], t["b1"])[i % 3])
    assert count_queries() == few
