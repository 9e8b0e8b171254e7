"""The menu's unread counts on every page: what they count, that a page which opens a notice or
a message shows the figures after it, and that on PostgreSQL they come with the login session
(one statement less per page) while SQLite reads them when the menu is drawn."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from school.extensions import db
from school.notices import services
from school.notices.models import Message
from school.sqlcount import counting
from school.timeutil import utcnow

NAV = re.compile(r'id="nav-(notices|messages)">[^<]*(?:<span class="count" aria-label="(\d+) 条未读">)?')


def _menu(response) -> dict[str, int]:
    assert response.status_code == 200
    return {kind: int(count or 0) for kind, count in NAV.findall(response.get_data(as_text=True))}


def _message(member, title="请完成学习", read=False, when=None):
    when = when or utcnow() - timedelta(minutes=5)
    message = Message(member_id=member.id, title=title, body="", created_at=when, read_at=when if read else None)
    db.session.add(message)
    db.session.commit()
    return message


@pytest.fixture
def town(make):
    """A member of 东村党支部 (a1, under a, under root) and what the menu should count for them."""
    t = make.tree()
    member, neighbour = make.user(org=t["a1"]), make.user(org=t["a1"])
    now = utcnow()
    shown = [make.notice(t["root"], title="全镇通知"), make.notice(t["a"], title="总支通知"),
             make.notice(t["a1"], title="支部通知")]
    make.notice(t["b"], title="别的总支")  # not their subtree
    make.notice(t["a2"], title="兄弟支部")
    make.notice(t["a"], title="已过期", expires_at=now - timedelta(minutes=1), now=now - timedelta(hours=2))
    read = make.notice(t["root"], title="已读过")
    services.mark_read(member, read, now)
    services.mark_read(neighbour, shown[0], now)  # someone else's reading changes nothing for them
    _message(member), _message(member), _message(member, read=True), _message(neighbour)
    db.session.commit()
    return t, member, shown


def test_the_menu_counts_the_members_unread_notices_and_messages(client, auth, town):
    _t, member, _shown = town
    auth.login(member)
    assert _menu(client.get("/notices/")) == {"notices": 3, "messages": 2}
    assert services.unread_counts(member, utcnow()) == (3, 2)


def test_a_page_that_opens_a_notice_or_a_message_shows_the_counts_after_it(client, auth, town):
    _t, member, shown = town
    auth.login(member)
    assert _menu(client.get(f"/notices/{shown[1].id}")) == {"notices": 2, "messages": 2}
    assert _menu(client.get(f"/notices/{shown[1].id}")) == {"notices": 2, "messages": 2}  # read once
    message = db.session.scalars(db.select(Message).where(Message.member_id == member.id,
                                                          Message.read_at.is_(None))).first()
    assert _menu(client.get(f"/messages/{message.id}")) == {"notices": 2, "messages": 1}


def test_a_member_without_an_organisation_gets_messages_only(client, auth, make):
    make.tree()
    member = make.user(org=None)
    _message(member)
    auth.login(member)
    assert _menu(client.get("/notices/")) == {"notices": 0, "messages": 1}


def test_on_postgresql_the_counts_come_with_the_login_session(app, client, auth, town):
    _t, member, _shown = town
    auth.login(member)
    client.get("/notices/")
    with counting(db.engine) as counter:
        assert _menu(client.get("/notices/")) == {"notices": 3, "messages": 2}
    counts_alone = [s for s in counter.statements if s.lstrip().startswith("SELECT (SELECT count(notice.id)")]
    expected = 0 if db.engine.dialect.name == "postgresql" else 1
    assert len(counts_alone) == expected, counter.statements


def test_a_form_drawn_again_after_a_post_counts_too(client, auth, town):
    """A post reads the user without the counts (it usually redirects); a form drawn again with
    its errors reads them when the menu is drawn."""
    _t, member, _shown = town
    auth.login(member)
    response = client.post("/account/password", data={"current": "wrong", "new": "x", "confirm": "y"})
    assert _menu(response) == {"notices": 3, "messages": 2}
