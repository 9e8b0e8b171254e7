"""The study clock's evidence: a secretary in scope and the member see every credited interval,
day by day in Asia/Shanghai; the XLSX study record has them on the sheet 学习明细."""
from __future__ import annotations

import io
from datetime import datetime, timedelta

from openpyxl import load_workbook

from school.accounts.models import Role
from school.credits import clock
from school.extensions import db

T0 = datetime(2026, 3, 2, 1, 0, 0)  # 09:00 in Shanghai
LESSON = clock.Activity("lesson:7", "党课 · 第一课")
DOC = clock.Activity("document:3", "中国共产党章程")


def _study(member):
    """10 minutes of a video, then 5 minutes of reading on another page."""
    for t in range(0, 601, 30):
        clock.beat(member, LESSON, "tab-video-1", "Android 手机 · Chrome", active=True, takeover=t == 0,
                   now=T0 + timedelta(seconds=t))
    for t in range(610, 911, 30):
        clock.beat(member, DOC, "tab-reader-2", "Windows 电脑 · Edge", active=True, takeover=t == 610,
                   now=T0 + timedelta(seconds=t))
    db.session.commit()


def test_secretary_in_scope_sees_the_intervals_and_outside_scope_gets_404(client, auth, make):
    t = make.tree()
    member = make.user(org=t["a1"], name="张三")
    _study(member)
    auth.login(make.user(org=t["a1"], role=Role.SECRETARY))
    page = client.get(f"/reports/members/{member.id}?year=2026").get_data(as_text=True)
    assert "学习明细" in page and "2026-03-02" in page
    assert "视频课：党课 · 第一课" in page and "09:00:00–09:10:00" in page and "Android 手机 · Chrome" in page
    assert "文献阅读：中国共产党章程" in page and "09:10:10–09:15:10" in page
    auth.logout()
    auth.login(make.user(org=t["b1"], role=Role.SECRETARY))
    assert client.get(f"/reports/members/{member.id}?year=2026").status_code == 404
    assert client.get(f"/reports/members/{member.id}/record.xlsx?year=2026").status_code == 404


def test_the_member_sees_their_own_intervals(client, auth, make, monkeypatch):
    member = make.user()
    _study(member)
    monkeypatch.setattr("school.credits.views.utcnow", lambda: T0 + timedelta(hours=1))
    auth.login(member)
    page = client.get("/").get_data(as_text=True)
    assert "2026 年学习明细" in page and "09:00:00–09:10:00" in page and "文献阅读：中国共产党章程" in page


def test_the_xlsx_record_has_the_sheet_with_the_rows(client, auth, make):
    t = make.tree()
    member = make.user(org=t["a1"])
    _study(member)
    auth.login(make.user(org=t["a"], role=Role.SECRETARY))
    response = client.get(f"/reports/members/{member.id}/record.xlsx?year=2026")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data))["学习明细"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:5] == ["日期", "学习内容", "开始（北京时间）", "结束（北京时间）", "秒数"]
    assert rows[1][:7] == ["2026-03-02", "视频课：党课 · 第一课", "2026-03-02 09:00:00", "2026-03-02 09:10:00", 600,
                           "Android 手机 · Chrome", "tab-vide"]
    assert rows[2][1] == "文献阅读：中国共产党章程" and rows[2][4] == 300
    assert len(rows) == 3
