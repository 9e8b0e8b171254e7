"""Tiny model factories (Redash style): each returns a committed object."""
from __future__ import annotations

import itertools

from argon2 import PasswordHasher

from school.accounts.models import Category, Organisation, OrgKind, Role, User
from school.accounts.orgs import create_org

_counter = itertools.count(1)
# Argon2 is deliberately slow and verification uses the cost stored in the hash, so the
# factories' shared hash of the test password is made with the smallest cost: the
# access matrix logs in more than a thousand times. Real hashes (auth.hash_password)
# keep the library's defaults, and tests of hashing use those.
_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("Passw0rd!")


class Factory:
    def __init__(self, session):
        self.session = session

    def org(self, name=None, parent=None, kind=OrgKind.BRANCH) -> Organisation:
        org = create_org(name or f"组织{next(_counter)}", kind, parent)
        self.session.commit()
        return org

    def user(self, org=None, role=Role.MEMBER, category=Category.FULL, name=None, member_no=None,
             phone=None, active=True, **fields) -> User:
        n = next(_counter)
        user = User(name=name or f"党员{n}", member_no=member_no or f"T{n:05d}", phone=phone, role=role,
                    org=org, category=category, active=active, password_hash=_HASH, **fields)
        self.session.add(user)
        self.session.commit()
        return user

    def tree(self):
        """root 党委 → A 党总支 (→ A1, A2 党支部), B 党总支 (→ B1 党支部)."""
        root = self.org("青山镇党委", kind=OrgKind.COMMITTEE)
        a = self.org("第一党总支", root, OrgKind.GENERAL_BRANCH)
        b = self.org("第二党总支", root, OrgKind.GENERAL_BRANCH)
        a1 = self.org("东村党支部", a)
        a2 = self.org("西村党支部", a)
        b1 = self.org("南村党支部", b)
        return dict(root=root, a=a, b=b, a1=a1, a2=a2, b1=b1)
