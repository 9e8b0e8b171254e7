"""A member searches the library on a phone, opens a law at the matching article, reads it,
and finds the reading credit on the home page."""
import re
import time
from decimal import Decimal

import pytest

from school.credits import ledger
from school.credits.rules import set_rule
from school.extensions import db
from school.library import services
from school.timeutil import local_year, utcnow
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

ARTICLES = "\n\n".join(f"第{n}条 本条规定村务管理的第{n}项一般要求，村民委员会应当认真执行。" for n in
                       ["一", "二", "三", "四", "五", "六", "七", "八", "九", "十"])
BODY = (f"## 第一章 总则\n\n{ARTICLES}\n\n## 第二章 村务公开\n\n"
        "第十一条 村民委员会应当及时公布集体财务往来、土地征收补偿费的使用情况，接受村民监督。\n\n"
        "第十二条 村务公开的内容应当真实，每季度至少公布一次。\n")


def test_member_searches_reads_and_earns_credit(app, live_server, phone_page, make):
    t = make.tree()
    member = make.user(org=t["a1"], name="李春花")
    services.create_document(services.DocumentData(title="村务公开工作规定", category="policy", body=BODY,
                                                   issuer="青山镇党委", status="published"), None, utcnow())
    # The real server rule, shrunk so a few seconds of reading earn a visible amount:
    # 1 学时 per minute of reading; heartbeats every second instead of every 30.
    set_rule("reading_minutes_per_hour", 1, None, utcnow())
    db.session.commit()
    app.config["LIBRARY_HEARTBEAT_SECONDS"] = 1
    page = phone_page
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(member.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#credit-progress")

    page.locator("summary.menu-button").click()  # on a phone the header is a menu
    page.get_by_role("link", name="图书馆").click()
    page.get_by_label("搜索图书馆").fill("村里的补偿费怎么公开")
    page.get_by_role("button", name="搜索").click()
    page.wait_for_selector("#result-count")
    first = page.locator(".result").first
    assert "村务公开工作规定" in first.inner_text()
    assert first.locator("mark").count() > 0
    first.locator("a.result-title").click()

    page.wait_for_url(re.compile(r".*/library/doc/\d+(\?at=[^#]+)?#"))  # ?at= opens a long document's right part
    assert page.url.endswith("#%E7%AC%AC%E5%8D%81%E4%B8%80%E6%9D%A1")  # #第十一条
    target = page.locator("[id='第十一条']")
    assert target.is_visible()
    box = target.bounding_box()
    assert 0 <= box["y"] < 740  # the page opened at the article, not at the top
    assert page.evaluate("document.documentElement.scrollWidth") <= 360

    # Reading: the page is visible, heartbeats flow until the credit shows.
    page.wait_for_selector("#reading-status:has-text('学时')", timeout=20000)

    page.locator("summary.menu-button").click()  # on a phone the header is a menu
    page.get_by_role("link", name="我的学习").click()
    page.wait_for_selector("#credit-progress")
    assert "文献阅读" in page.locator("table.ledger").inner_text()
    earned = Decimal(page.locator("#earned-hours").inner_text())
    assert earned >= Decimal("0.1")
    # The reading page's last beat, sent as it was left (pagehide), may be credited after this
    # page was drawn: once the ledger has settled, the page shows exactly what it holds.
    balance = _settled_balance(member)
    assert balance >= earned
    page.reload()
    assert Decimal(page.locator("#earned-hours").inner_text()) == balance
    assert not [e for e in errors if "Content Security Policy" in e]


def _settled_balance(member) -> Decimal:
    """The member's balance once two reads half a second apart agree."""
    before = None
    for _ in range(20):
        db.session.expire_all()
        now = ledger.balance(member, local_year(utcnow()))
        if now == before:
            return now
        before = now
        time.sleep(0.5)
    raise AssertionError("the ledger kept changing after the reader was left")
