from datetime import datetime, timedelta

import pytest
from flask import session
from flask_login import current_user
from sqlalchemy import inspect

from school.accounts import auth
from school.accounts.models import AuthSession
from school.extensions import db
from school.timeutil import utcnow
from tests.conftest import PASSWORD, CsrfClient

T0 = datetime(2026, 3, 1, 8, 0, 0)


def _cookie(client):
    return client.get_cookie("school_session").value


def _is_logged_in(client) -> bool:
    response = client.get("/")
    return response.status_code == 200


def test_login_with_member_number_and_phone(client, auth, make):
    user = make.user(phone="13800000001")
    assert auth.login(user.member_no).status_code == 302
    assert _is_logged_in(client)
    auth.logout()
    assert not _is_logged_in(client)
    assert auth.login("13800000001").status_code == 302
    assert _is_logged_in(client)


def test_wrong_password_is_refused_in_chinese(client, auth, make):
    user = make.user()
    response = auth.login(user.member_no, "wrong-pass1")
    assert response.status_code == 401
    assert "党员编号/手机号或密码不正确" in response.get_data(as_text=True)
    assert not _is_logged_in(client)


def test_inactive_account_cannot_log_in(client, auth, make):
    user = make.user(active=False)
    response = auth.login(user)
    assert response.status_code == 401
    assert "已停用" in response.get_data(as_text=True)


def test_session_is_renewed_at_login(client, auth, make):
    user = make.user()
    client.get("/login")
    before = _cookie(client)
    auth.login(user)
    assert _cookie(client) != before
    assert db.session.query(AuthSession).filter_by(user_id=user.id).count() == 1


def test_replayed_cookie_after_logout_is_refused(app, client, auth, make):
    user = make.user()
    auth.login(user)
    stolen = _cookie(client)
    auth.logout()
    replay = CsrfClient(app.test_client())
    replay.set_cookie("school_session", stolen)
    response = replay.get("/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_password_change_ends_other_sessions_but_keeps_this_one(app, client, auth, make):
    user = make.user()
    other = CsrfClient(app.test_client())
    auth.login(user)
    other.post("/login", data={"identifier": user.member_no, "password": PASSWORD})
    assert _is_logged_in(other)
    response = client.post("/account/password", data={"current": PASSWORD, "new": "NewPassw0rd", "confirm": "NewPassw0rd"})
    assert response.status_code == 302
    assert _is_logged_in(client)
    assert not _is_logged_in(other)
    auth.logout()
    assert auth.login(user, PASSWORD).status_code == 401
    assert auth.login(user, "NewPassw0rd").status_code == 302


@pytest.mark.parametrize("current,new,confirm,message", [
    ("wrong", "NewPassw0rd", "NewPassw0rd", "当前密码不正确"),
    (PASSWORD, "short1", "short1", "至少 8 位"),
    (PASSWORD, "12345678901", "12345678901", "字母和数字"),
    (PASSWORD, "NewPassw0rd", "Different1", "不一致"),
])
def test_password_change_refusals(client, auth, make, current, new, confirm, message):
    user = make.user()
    auth.login(user)
    response = client.post("/account/password", data={"current": current, "new": new, "confirm": confirm})
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)


def test_deactivation_ends_the_session(app, client, auth, make):
    user = make.user()
    auth.login(user)
    assert _is_logged_in(client)
    from school.accounts.members import deactivate
    deactivate(db.session.get(type(user), user.id))
    db.session.commit()
    assert not _is_logged_in(client)


def test_post_without_csrf_token_is_refused(client, auth, make):
    user = make.user()
    response = client.post("/login", data={"identifier": user.member_no, "password": PASSWORD}, csrf=False)
    assert response.status_code == 400
    assert "页面已过期" in response.get_data(as_text=True)


def test_open_redirect_after_login_is_ignored(client, make):
    user = make.user()
    token = client.token()
    response = client.client.post("/login?next=//evil.example/x",
                                  data={"identifier": user.member_no, "password": PASSWORD, "csrf_token": token})
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target,expected", [
    ("//evil.example/x", "/"),
    ("/\\evil.example/x", "/"),      # browsers read a backslash as a slash: //evil.example/x
    ("/\t/evil.example/x", "/"),      # and drop tabs and line breaks
    ("https://evil.example/x", "/"),
    ("/notices/?page=2", "/notices/?page=2"),
])
def test_only_paths_of_this_site_are_followed_after_login(client, make, target, expected):
    user = make.user()
    token = client.token()
    response = client.client.post("/login", query_string={"next": target},
                                  data={"identifier": user.member_no, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == expected


# --- throttling: the rule, table-driven with explicit times --------------------------------

POLICY = auth.ThrottlePolicy(window=timedelta(minutes=15), max_per_account=5, max_per_ip=8)


@pytest.mark.parametrize("failures,check_at,expect_wait", [
    # (times of earlier failures for one account from one IP, time of the new try, refused?)
    ([0, 1, 2, 3], 4, False),                 # four failures: a fifth try is allowed
    ([0, 1, 2, 3, 4], 5, True),               # five failures within 15 minutes: refused
    ([0, 1, 2, 3, 4], 15 * 60 + 1, False),    # the oldest failure left the window
    ([0, 60, 120, 180, 240], 14 * 60, True),  # spread out but still inside the window
])
def test_account_throttle_table(app, failures, check_at, expect_wait):
    for seconds in failures:
        auth.record_attempt("T1", "10.0.0.1", False, T0 + timedelta(seconds=seconds))
    db.session.commit()
    wait = auth.throttle_wait("T1", "10.0.0.2", POLICY, T0 + timedelta(seconds=check_at))
    assert (wait is not None) == expect_wait


def test_busy_address_limits_each_account_it_tries_not_the_others(app):
    """Eight failures make 10.0.0.9 busy: from there an account gets two failures, not five;
    an account it has not tried is still checked (a member behind the same NAT gets in)."""
    for i in range(7):
        auth.record_attempt(f"name:guess{i}", "10.0.0.9", False, T0)
    auth.record_attempt("user:1", "10.0.0.9", False, T0)
    db.session.commit()
    later = T0 + timedelta(minutes=1)
    assert auth.throttle_wait("user:2", "10.0.0.9", POLICY, later) is None
    assert auth.throttle_wait("user:1", "10.0.0.9", POLICY, later) is None  # one failure: one more try
    auth.record_attempt("user:1", "10.0.0.9", False, T0)
    db.session.commit()
    assert auth.throttle_wait("user:1", "10.0.0.9", POLICY, later) is not None
    assert auth.throttle_wait("user:1", "10.0.0.10", POLICY, later) is None  # not locked elsewhere


def test_throttled_login_refuses_even_the_right_password(client, auth, make):
    user = make.user()
    for _ in range(5):
        assert auth.login(user, "wrong-pass1").status_code == 401
    response = auth.login(user)
    assert response.status_code == 429
    assert "登录失败次数过多" in response.get_data(as_text=True)
    assert not _is_logged_in(client)


def test_success_clears_account_failures(app, make):
    user = make.user()
    key = auth.account_key(user.member_no, user)
    for _ in range(4):
        auth.record_attempt(key, "10.0.0.1", False, T0)
    auth.record_attempt(key, "10.0.0.1", True, T0, user)
    db.session.commit()
    assert auth._recent_failures(auth.LoginAttempt.identifier, key, T0 - timedelta(hours=1)) == 0


def test_passwords_are_hashed_with_argon2(app, make):
    user = make.user()
    auth.set_password(user, "Secret123x", T0)
    assert user.password_hash.startswith("$argon2id$")
    assert "Secret123x" not in user.password_hash


@pytest.mark.parametrize("age,alive", [(timedelta(hours=11, minutes=59), True), (timedelta(hours=12), True),
                                       (timedelta(hours=12, seconds=1), False)])
@pytest.mark.parametrize("with_org", [True, False])
def test_sessions_expire_on_the_server(make, age, alive, with_org):
    user = make.user()
    token = auth.start_session(user, T0, "127.0.0.1", "pytest")
    db.session.commit()
    found = auth.load_session_user(token, T0 + age, timedelta(hours=12), with_org=with_org)
    assert (found is not None) == alive


@pytest.mark.parametrize("with_org", [True, False])
def test_a_session_of_a_deactivated_or_revoked_user_signs_nobody_in(make, with_org):
    kept, deactivated, revoked = make.user(), make.user(), make.user()
    tokens = {u.id: auth.start_session(u, T0, "127.0.0.1", "pytest") for u in (kept, deactivated, revoked)}
    deactivated.active = False
    auth.revoke_all_sessions(revoked)
    db.session.commit()
    found = {u.id: auth.load_session_user(tokens[u.id], T0, timedelta(hours=12), with_org=with_org)
             for u in (kept, deactivated, revoked)}
    assert found == {kept.id: kept, deactivated.id: None, revoked.id: None}
    assert auth.load_session_user("not-a-token", T0, timedelta(hours=12), with_org=with_org) is None


def test_a_json_call_loads_its_user_without_the_organisation(make):
    """Pages need the member's organisation (menu, audience checks) and get it in the same
    statement; a JSON call (autosave, heartbeat) does not, and still finds it if it asks."""
    org = make.org("第一党支部")
    user = make.user(org=org)
    token = auth.start_session(user, T0, "127.0.0.1", "pytest")
    db.session.commit()
    db.session.expunge_all()
    page_user = auth.load_session_user(token, T0, timedelta(hours=12))
    assert "org" not in inspect(page_user).unloaded
    db.session.expunge_all()
    json_user = auth.load_session_user(token, T0, timedelta(hours=12), with_org=False)
    assert "org" in inspect(json_user).unloaded
    assert json_user.org.name == "第一党支部"


def test_the_site_loads_the_organisation_for_pages_not_for_json_calls(app, make):
    """The wiring in ``school._init_login``: the signed-in user of a JSON call (autosave,
    heartbeat) comes without the organisation, a page's with it; both are the same member."""
    user = make.user(org=make.org("第二党支部"))
    token = auth.start_session(user, utcnow(), "127.0.0.1", "pytest")
    db.session.commit()
    user_id = user.id
    for request_kwargs, org_left_out in (({"json": {"answers": []}}, True), ({}, False)):
        db.session.expunge_all()
        with app.test_request_context("/exams/attempts/1/answers", method="POST", **request_kwargs):
            session["_user_id"] = token
            signed_in = current_user._get_current_object()
            assert signed_in.id == user_id
            assert ("org" in inspect(signed_in).unloaded) == org_left_out
            assert signed_in.org.name == "第二党支部"
