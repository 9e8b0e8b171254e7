"""A secretary records a 远程教育站点集体收看 session for five members, the township committee
approves it, the branch report shows the new hours and the XLSX download contains them."""
from __future__ import annotations

from datetime import timedelta

import pytest
from openpyxl import load_workbook

from school.accounts.models import Role
from school.timeutil import to_local, utcnow
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def login(page, live_server, user):
    page.goto(f"{live_server}/login")
    page.get_by_label("党员编号或手机号").fill(user.member_no)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("#credit-progress")


def test_offline_session_approved_and_reported(live_server, browser, make, tmp_path):
    t = make.tree()
    villagers = [make.user(org=t["a1"], name=name) for name in ["赵一", "钱二", "孙三", "李四", "周五"]]
    make.user(org=t["a1"], name="吴六")  # not at the session
    secretary = make.user(org=t["a1"], role=Role.SECRETARY, name="东村书记")
    township = make.user(org=t["root"], role=Role.SECRETARY, name="镇党委组织委员")
    context = browser.new_context(locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    login(page, live_server, secretary)
    page.get_by_role("link", name="学时报表").click()
    page.get_by_role("link", name="登记集中培训").click()
    held_on = (to_local(utcnow()) - timedelta(days=2)).date().isoformat()
    page.get_by_label("培训日期").fill(held_on)
    page.get_by_label("学时").fill("2.5")
    page.get_by_label("培训主题").fill("学习贯彻党的二十届三中全会精神")
    page.get_by_label("培训类型").select_option(label="远程教育站点集体收看")
    page.get_by_label("地点").fill("东村远程教育站点")
    # Pick the five quickly: filter, select all shown, then drop the one who was absent.
    page.get_by_label("筛选参加人员").fill("东村书记")
    assert page.locator(".picker-item:visible").count() == 1
    page.get_by_label("筛选参加人员").fill("")
    page.get_by_role("button", name="全选（筛选结果）").click()
    assert page.locator("#picked-count").inner_text() == "7"  # five, 吴六 and the secretary
    page.get_by_role("button", name="全不选").click()
    for villager in villagers:
        page.get_by_label(villager.name, exact=False).check()
    assert page.locator("#picked-count").inner_text() == "5"
    page.get_by_role("button", name="提交审批").click()
    page.wait_for_selector("#session-state")
    assert page.locator("#session-state").inner_text() == "待审批"
    assert page.locator("#approve-button").count() == 0
    page.get_by_role("button", name="退出").click()

    login(page, live_server, township)
    page.goto(f"{live_server}/offline/")
    page.locator("#pending-list a").first.click()
    page.get_by_role("button", name="审批通过").click()
    page.wait_for_selector(".flash-success")
    assert "5 人各记 2.5" in page.locator(".flash-success").inner_text().replace(".50", ".5")
    assert "审批通过" in page.locator("#audit-table").inner_text()

    page.get_by_role("link", name="学时报表").first.click()
    page.get_by_role("link", name="第一党总支").click()
    row = page.locator("#org-table tr", has_text="东村党支部")
    assert "12.5" in row.inner_text()  # 5 × 2.5 hours
    with page.expect_download() as download_info:
        page.locator("#export-xlsx").click()
    target = tmp_path / "report.xlsx"
    download_info.value.save_as(target)
    book = load_workbook(target)
    assert "东村党支部" in book.sheetnames
    rows = {r[1]: r for r in book["东村党支部"].iter_rows(min_row=2, values_only=True)}
    assert all(rows[v.name][5] == 2.5 for v in villagers)
    assert rows["吴六"][5] == 0
    assert not [e for e in errors if "Content Security Policy" in e]
    context.close()
