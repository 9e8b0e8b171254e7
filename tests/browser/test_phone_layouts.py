"""Every role on a 360-px phone: the header is a menu that opens without JavaScript, editors see
管理, approvers 待审批 (n); the branch report's tables are cards with names whole, charts readable."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from school.accounts.models import Role
from school.credits import ledger, offline
from school.extensions import db
from school.timeutil import utcnow
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

# Elements wider than the viewport, or sticking out of it (scrolling sideways is not allowed).
TOO_WIDE = """() => [...document.querySelectorAll('body *')].filter(e => {
  const r = e.getBoundingClientRect();
  return r.width > 0 && (r.right > window.innerWidth + 0.5 || r.width > window.innerWidth);
}).map(e => e.tagName + '#' + e.id + '.' + e.className)"""


def login(page, live_server, user):
    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(user.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#main")


@pytest.fixture
def no_js_phone(browser):
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN", is_mobile=True,
                                  has_touch=True, java_script_enabled=False)
    page = context.new_page()
    yield page
    context.close()


def test_header_menu_opens_without_javascript_and_shows_each_roles_way_in(live_server, no_js_phone, make):
    t = make.tree()
    editor = make.user(org=t["a1"], role=Role.EDITOR, name="编辑小刘")
    page = no_js_phone
    login(page, live_server, editor)
    menu = page.locator("details.nav-menu")
    assert menu.get_attribute("open") is None
    assert not page.get_by_role("link", name="图书馆").is_visible()  # collapsed
    assert page.evaluate(TOO_WIDE) == []
    page.locator("summary.menu-button").click()
    assert menu.get_attribute("open") is not None
    for name in ["我的学习", "图书馆", "文献管理", "课程管理", "考试管理", "题库"]:
        assert page.get_by_role("link", name=name, exact=True).is_visible(), name
    assert page.get_by_role("button", name="退出").is_visible()
    assert page.evaluate(TOO_WIDE) == []
    page.screenshot(path="/tmp/phone-menu-editor.png")
    page.get_by_role("link", name="课程管理").click()
    assert "/courses/manage" in page.url


def test_approver_sees_pending_count_and_report_is_cards(live_server, phone_page, make):
    t = make.tree()
    long_branch = make.org("青山镇东村第一网格党支部（含外出流动党员）", t["a"])
    secretary = make.user(org=t["a"], role=Role.SECRETARY, name="总支书记")
    recorder = make.user(org=long_branch, role=Role.SECRETARY, name="网格书记")
    members = [make.user(org=long_branch, name=name) for name in ["欧阳东方红", "司马长风", "诸葛明亮"]]
    ledger.award(members[0], 6, "online", "video", "v1", utcnow(), "微党课")
    offline.submit(offline.SessionData(org=long_branch, held_on=(utcnow() - timedelta(days=2)).date(),
                                       hours=Decimal("2"), topic="学习党章", session_type="remote_site",
                                       place="东村站点", attendee_ids=[m.id for m in members]), recorder, utcnow())
    db.session.commit()

    page = phone_page
    login(page, live_server, secretary)
    assert page.get_by_role("link", name="待审批 (1)").is_visible()  # outside the collapsed menu
    page.goto(f"{live_server}/reports/?org={t['a'].id}")
    page.wait_for_selector("#behind-table")
    page.wait_for_load_state("networkidle")
    assert page.evaluate(TOO_WIDE) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    # Stacked cards: a row is a block, every column shown as "label value".
    assert page.evaluate("getComputedStyle(document.querySelector('#behind-table tbody tr')).display") == "block"
    cells = page.locator("#behind-table tbody tr").first.locator("td")
    assert cells.count() == 9 and all(cells.nth(i).is_visible() for i in range(9))
    # Names are whole: one line, not one character per line.
    for selector in ["#behind-table td.card-title a", "#org-table td.card-title a"]:
        for box in [page.locator(selector).nth(i).bounding_box() for i in range(page.locator(selector).count())]:
            assert box["height"] < 2.2 * 16 * 1.6, box  # at most two lines of text
            assert box["width"] > 40, box
    words = page.locator("#behind-table td.missing-words").first
    assert "还差" in words.inner_text()
    # Charts: the narrow drawings at 12 units are drawn at ≥ 11 px.
    for chart in ["#chart-orgs", "#chart-distribution"]:
        scale = page.evaluate(f"(() => {{ const i = document.querySelector('{chart}'); "
                              f"return i.getBoundingClientRect().width / i.naturalWidth; }})()")
        assert 12 * scale >= 11, (chart, scale)
        assert "narrow=1" in page.evaluate(f"document.querySelector('{chart}').currentSrc")
    page.screenshot(path="/tmp/phone-report.png", full_page=True)
