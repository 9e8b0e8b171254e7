"""The member's home page by kind and the one-page study record (学习档案) as XLSX and PDF."""
from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import load_workbook

from school.accounts.models import Category, Role
from school.credits import ledger, record, requirements
from school.extensions import db
from school.timeutil import local_year, utcnow


def test_home_shows_hours_by_kind_and_what_is_missing(client, auth, make):
    admin = make.user(role=Role.ADMIN)
    year = local_year(utcnow())
    requirements.set_requirement(year, Category.FULL, 32, admin, utcnow(), online=10, concentrated=20)
    member = make.user(category=Category.FULL, name="杨树林")
    ledger.award(member, 25, "online", "video", "v1", utcnow(), "微党课")
    ledger.award(member, 4, "concentrated", "offline", "o1", utcnow(), "春训")
    db.session.commit()
    auth.login(member)
    page = client.get("/").get_data(as_text=True)
    assert 'id="online-hours">25<' in page and 'id="concentrated-hours">4<' in page
    # 集中培训 needs 16 more even though the total is close; headline and table say the same
    assert "<strong>还差 16 学时，其中集中培训至少还需 16</strong>" in page
    assert 'id="missing-total">16<' in page
    assert "微党课" in page and "视频课程" in page


def test_study_record_xlsx_and_pdf(client, auth, make):
    member = make.user(name="杨树林", org=make.org("东村党支部"))
    ledger.award(member, 8, "concentrated", "offline", "o1", utcnow(), "远程教育站点集体收看")
    db.session.commit()
    auth.login(member)
    response = client.get("/my/record.xlsx")
    assert "attachment" in response.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [v for row in sheet.iter_rows(values_only=True) for v in row if v is not None]
    assert "杨树林" in values and "东村党支部" in values and "远程教育站点集体收看" in values
    assert 8 in values and 24 in values  # earned, still missing of 32
    # Fit to one page: fitToHeight/fitToWidth left out mean 1 (the OOXML default XlsxWriter relies on).
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert sheet.page_setup.fitToHeight in (None, 1) and sheet.page_setup.fitToWidth in (None, 1)
    pdf = client.get("/my/record.pdf")
    assert pdf.data.startswith(b"%PDF") and pdf.headers["Content-Type"] == "application/pdf"


def test_pdf_without_a_chinese_font_explains_and_offers_excel(client, auth, make, app, monkeypatch):
    monkeypatch.setattr(record, "FONT_CANDIDATES", [])
    app.config["PDF_FONT"] = "/nonexistent/font.ttc"
    member = make.user()
    auth.login(member)
    response = client.get("/my/record.pdf", follow_redirects=True)
    assert "缺少中文字体" in response.get_data(as_text=True)


def test_requirement_missing_table():
    req = requirements.Requirement(Decimal("32"), Decimal("10"), Decimal("20"))
    cases = [  # online, concentrated -> online gap, concentrated gap, total missing
        ((0, 0), (10, 20, 32)),
        ((25, 4), (0, 16, 16)),
        ((10, 20), (0, 0, 2)),
        ((12, 20), (0, 0, 0)),
        ((40, 0), (0, 20, 20)),
    ]
    for (online, concentrated), (gap_o, gap_c, total) in cases:
        missing = req.missing(Decimal(online), Decimal(concentrated))
        assert (missing["online"], missing["concentrated"], missing["total"]) == (gap_o, gap_c, total)


def test_missing_words_one_sentence():
    words = requirements.missing_words
    assert words(0, 0, 0) == "已完成本年度学时要求"
    assert words(26, 10, 0) == "还差 26 学时，其中网络学习至少还需 10"
    assert words(20, 10, 10) == "还差 20 学时，其中网络学习至少还需 10、集中培训至少还需 10"
    assert words(56, 0, 0) == "还差 56 学时，网络学习、集中培训均可计入"
    assert words(2.5, 0, 0) == "还差 2.5 学时，网络学习、集中培训均可计入"
    req = requirements.Requirement(Decimal("32"), online=Decimal("16"))
    assert req.missing_words(Decimal("6"), Decimal("0")) == "还差 26 学时，其中网络学习至少还需 10"


def test_home_headline_table_and_report_agree(client, auth, make):
    admin = make.user(role=Role.ADMIN)
    year = local_year(utcnow())
    requirements.set_requirement(year, Category.FULL, 32, admin, utcnow(), online=16)
    branch = make.org("东村党支部")
    member = make.user(category=Category.FULL, name="杨树林", org=branch)
    secretary = make.user(role=Role.SECRETARY, org=branch)
    ledger.award(member, 6, "online", "video", "v1", utcnow(), "微党课")
    db.session.commit()
    auth.login(member)
    page = client.get("/").get_data(as_text=True)
    sentence = "还差 26 学时，其中网络学习至少还需 10"
    assert f"<strong>{sentence}</strong>" in page
    assert 'id="missing-total">26<' in page
    table = page.split('class="table kind-table"')[1].split("</table>")[0]
    assert '<td class="num">10</td></tr>' in table  # 网络学习 还需 10
    assert '<td class="num">0</td></tr>' not in table  # no "尚缺 0" beside 还差 26
    auth.logout()
    auth.login(secretary)
    report = client.get(f"/reports/?org={branch.id}&year={year}").get_data(as_text=True)
    assert sentence in report and "任意类别 56" not in report
