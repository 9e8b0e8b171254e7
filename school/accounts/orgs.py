"""The organisation tree: adjacency list plus a materialised path kept in step."""
from __future__ import annotations

from sqlalchemy import String, func, literal, select, update

from school.accounts.models import Organisation, OrgKind
from school.extensions import db


class OrgError(ValueError):
    """A refused tree operation, with a message for the person."""


def create_org(name: str, kind: str, parent: Organisation | None) -> Organisation:
    name = name.strip()
    if not name:
        raise OrgError("组织名称不能为空")
    if kind not in set(OrgKind):
        raise OrgError("组织类型不正确")
    org = Organisation(name=name, kind=kind, parent=parent, path="")
    db.session.add(org)
    db.session.flush()  # the id is part of the path
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    return org


def rename_org(org: Organisation, name: str) -> None:
    name = name.strip()
    if not name:
        raise OrgError("组织名称不能为空")
    org.name = name


def move_org(org: Organisation, new_parent: Organisation | None) -> None:
    """Re-hang ``org`` under ``new_parent``; the whole subtree's paths follow in one UPDATE.

    The caller commits, so the parent change and the path rewrite land in one transaction.
    """
    if new_parent is not None and new_parent.path.startswith(org.path):
        raise OrgError("不能把组织移到它自己或它的下级组织之下")
    old_prefix = org.path
    new_prefix = f"{new_parent.path if new_parent else '/'}{org.id}/"
    if old_prefix == new_prefix:
        return
    org.parent = new_parent
    db.session.flush()
    # `||` and substr() mean the same on SQLite and PostgreSQL.
    db.session.execute(
        update(Organisation)
        .where(Organisation.path.startswith(old_prefix, autoescape=True))
        .values(path=literal(new_prefix, String).concat(func.substr(Organisation.path, len(old_prefix) + 1)))
        .execution_options(synchronize_session=False)
    )
    db.session.expire_all()


def subtree_query(root: Organisation):
    return select(Organisation).where(Organisation.path.startswith(root.path, autoescape=True))


def subtree_ids(root: Organisation) -> list[int]:
    return list(db.session.scalars(select(Organisation.id).where(
        Organisation.path.startswith(root.path, autoescape=True))))


def ordered_tree(root: Organisation | None = None) -> list[Organisation]:
    """Organisations in depth-first order (parents before children, siblings by name)."""
    query = select(Organisation) if root is None else subtree_query(root)
    orgs = list(db.session.scalars(query))
    by_parent: dict[int | None, list[Organisation]] = {}
    ids = {o.id for o in orgs}
    for org in orgs:
        key = org.parent_id if org.parent_id in ids else None
        by_parent.setdefault(key, []).append(org)
    out: list[Organisation] = []

    def walk(parent_id):
        for child in sorted(by_parent.get(parent_id, []), key=lambda o: (o.name, o.id)):
            out.append(child)
            walk(child.id)

    walk(None)
    return out


def find_by_name_or_path(text: str, within: Organisation | None = None) -> Organisation | None:
    """Resolve ``东村党支部`` or ``某镇党委/第一党总支/东村党支部`` to one organisation.

    A bare name must be unique (inside ``within`` when given); a path is matched from its end.
    """
    parts = [p.strip() for p in text.replace("／", "/").split("/") if p.strip()]
    if not parts:
        return None
    query = select(Organisation).where(Organisation.name == parts[-1])
    if within is not None:
        query = query.where(Organisation.path.startswith(within.path, autoescape=True))
    candidates = list(db.session.scalars(query))
    if len(parts) > 1:
        def ancestry(org):
            names, node = [], org
            while node is not None:
                names.append(node.name)
                node = node.parent
            return list(reversed(names))
        candidates = [c for c in candidates if ancestry(c)[-len(parts):] == parts]
    return candidates[0] if len(candidates) == 1 else None


def ancestors(org: Organisation) -> list[Organisation]:
    ids = [int(p) for p in org.path.strip("/").split("/") if p][:-1]
    if not ids:
        return []
    found = {o.id: o for o in db.session.scalars(select(Organisation).where(Organisation.id.in_(ids)))}
    return [found[i] for i in ids if i in found]
