"""Login that an attacker cannot turn against everyone.

Throttling (see ``accounts/auth.py``): failures count per account — member number and phone
share the account's counter — and per address; a busy address limits the accounts it tries,
never the ones it does not. Unknown accounts cost one argon2 verification like wrong
passwords. The client address comes from ``SCHOOL_TRUSTED_PROXIES`` proxies only. A password
set by someone else must be changed before anything else opens.
"""
from __future__ import annotations

import io
import re
import statistics
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from school import create_app
from school.accounts import auth as auth_service
from school.accounts.models import LoginAttempt, Role, User
from school.extensions import db
from school.timeutil import utcnow
from tests.conftest import PASSWORD, CsrfClient
from tests.factories import Factory

NAT = "10.8.0.1"  # one village's address, shared by all its members and the attacker
ELSEWHERE = "10.9.0.2"


def _login(app, identifier, password=PASSWORD, address=NAT, client=None):
    client = client or CsrfClient(app.test_client())
    response = client.post("/login", data={"identifier": identifier, "password": password},
                           environ_base={"REMOTE_ADDR": address})
    return response


def _post_while_forced(client, url, data):
    """A browser form post from the change-password page, the only page that opens."""
    page = client.get("/account/password").get_data(as_text=True)
    data = dict(data, csrf_token=re.search(r'name="csrf-token" content="([^"]+)"', page).group(1))
    return client.post(url, data=data, csrf=False)


def _logged_in(client) -> bool:
    return client.get("/").status_code == 200


# Made-up numbers cost a full-strength argon2 verification (that is the point, see the timing
# test below) while factory accounts carry a cheap hash, so the runs below guess mostly at
# real accounts and only a few made-up numbers, to keep the suite quick.


def test_nat_members_log_in_while_an_attacker_at_the_same_address_guesses(app, make):
    assert app.config["LOGIN_MAX_FAILURES_PER_IP"] == 30  # the default
    branch = make.org("东坡村党支部")
    members = [make.user(org=branch) for _ in range(30)]
    victims = [make.user(org=branch) for _ in range(8)]
    for n in range(40):  # the address is over its failure limit before the first member arrives
        assert _login(app, victims[n % 8].member_no, f"guess{n}pw").status_code in (401, 429)
    assert db.session.query(LoginAttempt).filter_by(ip=NAT, success=False).count() >= 30
    for i, member in enumerate(members):
        # the attacker keeps guessing between the members' logins
        assert _login(app, victims[i % 8].member_no, f"again{i}pw").status_code == 429
        if i % 10 == 0:
            assert _login(app, f"QS9{i:03d}", "guess1234").status_code == 401
        browser = CsrfClient(app.test_client())
        response = _login(app, member.member_no, client=browser)
        assert response.status_code == 302, f"{member.member_no} could not log in: {response.status_code}"
        assert _logged_in(browser)


def test_a_guessing_run_from_one_address_is_cut_to_two_guesses_per_account(app, make):
    app.config["LOGIN_MAX_FAILURES_PER_IP"] = 10
    sprayed = [make.user() for _ in range(10)]
    victim = make.user()
    fresh = make.user()
    for user in sprayed:  # one common password tried on many accounts makes the address busy
        assert _login(app, user.member_no, "guess1234").status_code == 401
    # from the busy address the victim's account gets two guesses (not five), then even the
    # right password is refused *from this address*
    assert _login(app, victim.member_no, "guess1234").status_code == 401
    assert _login(app, victim.member_no, "guess5678").status_code == 401
    refused = _login(app, victim.member_no, "guess9999")
    assert refused.status_code == 429 and "登录失败次数过多" in refused.get_data(as_text=True)
    assert _login(app, victim.member_no).status_code == 429
    # made-up numbers are treated alike (no hint which accounts exist)
    assert _login(app, "X0000", "guess1234").status_code == 401
    assert _login(app, "X0000", "guess1234").status_code == 401
    assert _login(app, "X0000", "guess1234").status_code == 429
    # the victim is not locked anywhere else, and the account nobody tried opens from the NAT too
    assert _login(app, victim.member_no, address=ELSEWHERE).status_code == 302
    assert _login(app, fresh.member_no).status_code == 302


def test_member_number_and_phone_share_one_counter(app, make):
    user = make.user(phone="13800000001")
    addresses = iter(f"10.1.0.{i}" for i in range(1, 20))  # a new address each try: only the account counts
    for identifier in [user.member_no, "13800000001", user.member_no, "13800000001", "１３８００００００01"]:
        assert _login(app, identifier, "wrong-pass1", next(addresses)).status_code == 401
    for identifier in (user.member_no, "13800000001"):
        response = _login(app, identifier, PASSWORD, next(addresses))
        assert response.status_code == 429, identifier
    keys = set(db.session.scalars(select(LoginAttempt.identifier)))
    assert keys == {f"user:{user.id}"}


def test_accounts_an_attacker_does_not_target_are_never_locked(app, make):
    app.config["LOGIN_MAX_FAILURES_PER_IP"] = 10
    branch = make.org("西岭村党支部")
    targeted = make.user(org=branch)
    tried = [make.user(org=branch) for _ in range(12)]
    bystanders = [make.user(org=branch) for _ in range(5)]
    for n in range(5):  # the targeted account, while the address is still quiet
        _login(app, targeted.member_no, f"guess{n}pw")
    for n in range(40):  # then a long run over other accounts and a few made-up numbers
        _login(app, tried[n % 12].member_no if n % 10 else f"9{n:05d}", f"guess{n}pw")
    for bystander in bystanders:
        assert _login(app, bystander.member_no).status_code == 302  # from the attacked address
        assert _login(app, bystander.member_no, address=ELSEWHERE).status_code == 302
    assert _login(app, targeted.member_no, address=ELSEWHERE).status_code == 429  # targeted: locked


def test_unknown_account_costs_as_much_as_a_wrong_password(app, make):
    """Ratios of medians, no absolute times: an unknown number, and an account without a
    password, each take between half and twice as long as a wrong password."""
    user = make.user()
    auth_service.set_password(user, "Real-passw0rd", utcnow(), by_owner=True)  # a real-cost hash
    no_password = make.user()
    no_password.password_hash = None  # imported without a password, never reset
    db.session.commit()
    policy = auth_service.ThrottlePolicy(window=timedelta(minutes=15), max_per_account=10_000, max_per_ip=10_000)
    samples = {"wrong": [], "unknown": [], "no_password": []}
    identifiers = {"wrong": user.member_no, "unknown": "NOBODY01", "no_password": no_password.member_no}
    for _ in range(5):
        for kind, identifier in identifiers.items():
            start = time.perf_counter()
            with pytest.raises(auth_service.LoginError):
                auth_service.authenticate(identifier, "Wrong-passw0rd", "10.0.0.1", policy, utcnow())
            samples[kind].append(time.perf_counter() - start)
    db.session.rollback()
    wrong = statistics.median(samples["wrong"])
    for kind in ("unknown", "no_password"):
        ratio = statistics.median(samples[kind]) / wrong
        assert 0.5 <= ratio <= 2, f"{kind}: {ratio:.2f} × a wrong password"


@pytest.mark.parametrize("proxies,forwarded,seen", [
    (0, "203.0.113.{n}", "192.0.2.10"),                 # no proxy trusted: the header is ignored
    (1, "203.0.113.7", "203.0.113.7"),                  # nginx in front: its header names the client
    (1, "198.51.100.{n}, 203.0.113.7", "203.0.113.7"),  # what the client wrote itself is ignored
])
def test_client_address_comes_from_trusted_proxies_only(tmp_path, proxies, forwarded, seen):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}", "SECRET_KEY": "x",
                      "TESTING": True, "INSTANCE_PATH": str(tmp_path / "instance"), "TRUSTED_PROXIES": proxies})
    with app.app_context():
        db.create_all()
        user = Factory(db.session).user()
        client = CsrfClient(app.test_client())
        for n in range(3):  # a spoofer rotating the header
            client.post("/login", data={"identifier": user.member_no, "password": "guess1234"},
                        headers={"X-Forwarded-For": forwarded.format(n=n)},
                        environ_base={"REMOTE_ADDR": "192.0.2.10"})
        assert set(db.session.scalars(select(LoginAttempt.ip))) == {seen}
        db.session.remove()
        db.engine.dispose()


# --- known devices: a stranger cannot lock the owner out ----------------------------------


def _device_login(app, user, browser=None, address=ELSEWHERE):
    """The owner logs in on their own phone (which keeps its device cookie) and logs out."""
    browser = browser or CsrfClient(app.test_client())
    assert _login(app, user.member_no, client=browser, address=address).status_code == 302
    browser.post("/logout")
    return browser


def test_a_locked_account_still_opens_on_its_owners_phone(app, make):
    owner, stranger_account = make.user(), make.user()
    phone = _device_login(app, owner)
    cookie = phone.get_cookie("school_device", path="/login")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Lax"
    for n in range(5):  # a stranger, from addresses of their own, locks the account
        assert _login(app, owner.member_no, f"guess{n}pw", address=f"10.7.0.{n}").status_code == 401
    assert _login(app, owner.member_no, address="10.7.0.9").status_code == 429  # any other browser: locked
    assert _login(app, owner.member_no, client=phone, address=NAT).status_code == 302  # the owner's phone
    # the stranger's failures stay: the owner's login did not hand out a fresh set of guesses
    assert _login(app, owner.member_no, address="10.7.0.9").status_code == 429
    # a forged cookie, or a genuine one for another account, is no device of this account
    forger = CsrfClient(app.test_client())
    forger.set_cookie("school_device", cookie.value[:-2] + "xx", path="/login")
    assert _login(app, owner.member_no, client=forger, address="10.7.0.9").status_code == 429
    own_phone = _device_login(app, stranger_account)
    assert _login(app, owner.member_no, client=own_phone, address="10.7.0.9").status_code == 429


def test_a_shared_phone_is_a_known_device_of_each_account_that_logged_in_on_it(app, make):
    from itsdangerous import URLSafeSerializer

    from school.accounts import devices

    family = [make.user() for _ in range(devices.MAX_ACCOUNTS + 1)]
    phone = CsrfClient(app.test_client())
    for member in family:  # one after the other on the family's phone; the first is the oldest
        _device_login(app, member, browser=phone)
    for member in family:  # a stranger locks every account
        for n in range(5):
            _login(app, member.member_no, f"guess{n}pw", address=f"10.8.{member.id % 250}.{n}")
    for member in family[1:]:
        assert _login(app, member.member_no, client=phone, address=NAT).status_code == 302
        phone.post("/logout")
    # the sixth account's login pushed the first one out of the cookie
    assert _login(app, family[0].member_no, client=phone, address=NAT).status_code == 429

    # a cookie from before (one account: {"u", "d"}) still counts, and is carried over
    old = CsrfClient(app.test_client())
    with app.app_context():
        legacy = URLSafeSerializer(app.secret_key, salt="school-login-device").dumps({"u": family[0].id, "d": "ab" * 16})
    old.set_cookie("school_device", legacy, path="/login")
    assert _login(app, family[0].member_no, client=old, address=NAT).status_code == 302
    with app.test_request_context(headers={"Cookie": f"school_device={old.get_cookie('school_device', path='/login').value}"}):
        from flask import request
        assert devices.device_for(request, family[0].id) == "ab" * 16


def test_a_known_device_has_its_own_failure_limit(app, make):
    owner = make.user()
    phone = _device_login(app, owner)
    for n in range(5):  # guesses from the device itself (a stolen cookie) are limited alike
        assert _login(app, owner.member_no, f"guess{n}pw", client=phone).status_code == 401
    refused = _login(app, owner.member_no, client=phone)
    assert refused.status_code == 429 and "登录失败次数过多" in refused.get_data(as_text=True)
    # those failures count against the account too: other browsers are locked as well
    assert _login(app, owner.member_no, address="10.7.1.1").status_code == 429


def test_a_known_device_is_not_held_by_a_busy_address(app, make):
    app.config["LOGIN_MAX_FAILURES_PER_IP"] = 5
    owner, others = make.user(), [make.user() for _ in range(5)]
    phone = _device_login(app, owner, address=NAT)
    for user in others:  # someone at the village address sprays a password: the address is busy
        _login(app, user.member_no, "guess1234")
    for n in range(2):  # and tries the owner's account twice from there
        _login(app, owner.member_no, f"guess{n}pw")
    assert _login(app, owner.member_no).status_code == 429  # a new browser at that address: refused
    assert _login(app, owner.member_no, client=phone).status_code == 302  # the owner's phone: in


@pytest.mark.parametrize("age_days,kind,kept", [
    (0, "attempt", True), (89, "attempt", True), (91, "attempt", False),
    (0, "session", True), (0.4, "session", True), (0.6, "session", False),  # 12 h lifetime
])
def test_old_login_rows_are_pruned(app, make, age_days, kind, kept):
    from school.accounts.models import AuthSession

    user = make.user()
    now = utcnow()
    at = now - timedelta(days=age_days)
    if kind == "attempt":
        auth_service.record_attempt(f"user:{user.id}", NAT, False, at, user)
    else:
        auth_service.start_session(user, at, NAT, "test")
    db.session.commit()
    auth_service.prune_logins(now, timedelta(seconds=app.config["PERMANENT_SESSION_LIFETIME"]))
    db.session.commit()
    model = LoginAttempt if kind == "attempt" else AuthSession
    assert (db.session.query(model).count() == 1) is kept


# --- a password set by someone else ------------------------------------------------------


def test_after_an_admin_reset_only_the_change_page_opens(app, client, make):
    branch = make.org("东坡村党支部")
    admin = make.user(role=Role.ADMIN)
    member = make.user(org=branch)
    assert not member.must_change_password  # factory rows: the flag defaults to False
    admin_browser = CsrfClient(app.test_client())
    _login(app, admin.member_no, client=admin_browser)
    page = admin_browser.post(f"/admin/members/{member.id}/reset-password").get_data(as_text=True)
    temporary = re.search(r'id="temporary-password">([^<]+)<', page).group(1)

    assert _login(app, member.member_no, temporary, client=client).status_code == 302
    for path in ["/", "/library/", "/courses/", "/exams/", "/my/record.xlsx", "/admin/members"]:
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].endswith("/account/password"), path
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/account/password").get_data(as_text=True))
    script = client.post("/library/doc/1/heartbeat", json={"seconds": 30}, csrf=False,
                         headers={"X-CSRFToken": token.group(1)})
    assert script.status_code == 403 and "请先修改密码" in script.get_json()["error"]
    assert client.get("/static/css/site.css").status_code == 200
    change_page = client.get("/account/password")
    assert change_page.status_code == 200 and "请先设置一个只有您自己知道的新密码" in change_page.get_data(as_text=True)
    same = _post_while_forced(client, "/account/password",
                              {"current": temporary, "new": temporary, "confirm": temporary})
    assert "不能与当前密码相同" in same.get_data(as_text=True)
    changed = _post_while_forced(client, "/account/password",
                                 {"current": temporary, "new": "MyOwn-passw0rd", "confirm": "MyOwn-passw0rd"})
    assert changed.status_code == 302
    assert client.get("/").status_code == 200
    db.session.expire_all()
    assert not db.session.get(User, member.id).must_change_password


def test_logout_still_works_while_the_password_must_change(app, client, make):
    member = make.user(must_change_password=True)
    _login(app, member.member_no, client=client)
    assert _post_while_forced(client, "/logout", {}).status_code == 302
    assert client.get("/").headers["Location"].startswith("/login")


def _flag(member_no: str) -> bool:
    db.session.expire_all()
    return db.session.scalar(select(User.must_change_password).where(User.member_no == member_no))


def test_every_password_set_by_someone_else_must_be_changed(app, client, runner, auth, make):
    branch = make.org("东坡村党支部")
    # an operator at the terminal: create, then set-password
    assert runner.invoke(args=["user", "create", "--member-no", "OP001", "--name", "甲", "--org", branch.name],
                         input="Adm1nPassw0rd\nAdm1nPassw0rd\n").exit_code == 0
    assert _flag("OP001")
    db.session.execute(User.__table__.update().where(User.member_no == "OP001").values(must_change_password=False))
    db.session.commit()
    assert runner.invoke(args=["user", "set-password", "OP001", "--password", "N3wPassw0rd"]).exit_code == 0
    assert _flag("OP001")
    # an import with an initial password
    secretary = make.user(org=branch, role=Role.SECRETARY)
    auth.login(secretary)
    csv = "姓名,党员编号,所在党组织,初始密码\r\n乙,IMP001,东坡村党支部,Init-passw0rd\r\n".encode("utf-8-sig")
    client.post("/admin/members/import", data={"file": (io.BytesIO(csv), "m.csv")},
                content_type="multipart/form-data")
    assert _flag("IMP001")
    # a member a secretary created with a password
    client.post("/admin/members/new", data={"name": "丙", "member_no": "NEW001", "org_id": branch.id,
                                            "category": "full", "role": "member", "active": "y",
                                            "password": "Init-passw0rd"})
    assert _flag("NEW001")
