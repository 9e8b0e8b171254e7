"""Certificates (masking, codes, PDF, revocation) and the roster (scope, behind, XLSX)."""
from __future__ import annotations

import io
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from school.accounts.models import Role
from school.credits.record import FONT_CANDIDATES
from school.extensions import db
from school.training import certificates, completion, roster
from school.training.errors import TrainingError

T0 = datetime(2026, 3, 1, 2, 0)
HAS_FONT = any(__import__("pathlib").Path(p).is_file() for p in FONT_CANDIDATES)


@pytest.mark.parametrize("name,masked", [("王小明", "王*明"), ("王明", "王*"), ("欧阳小明", "欧**明"), ("王", "王"), ("", "")])
def test_names_are_masked(name, masked):
    assert certificates.mask_name(name) == masked


def _completed(make, t, name="王小明"):
    cls = make.training_class(t["root"], [t["a"]], now=T0, hours=Decimal("3"), title="基层党建专题班")
    item = make.class_item(cls, "text", title="导学", body="内容")
    member = make.user(org=t["a1"], name=name)
    make.enrolment(cls, member, T0)
    completion.mark_text_done(item, member, T0)
    cert = completion.check_completion(cls, member, T0)
    db.session.commit()
    return cls, member, cert


def test_codes_are_long_random_and_unique(make):
    t = make.tree()
    _, _, first = _completed(make, t)
    _, _, second = _completed(make, t, "李红")
    assert len(first.code) == 24 and first.code != second.code
    assert certificates.by_code(first.code).id == first.id
    assert certificates.by_code(first.code[:-1] + ("A" if first.code[-1] != "A" else "B")) is None


def test_revocation_needs_an_admin_and_a_reason(make):
    t = make.tree()
    _, _, cert = _completed(make, t)
    with pytest.raises(TrainingError, match="只有全校管理员可以撤销证书"):
        certificates.revoke(cert, make.user(org=t["root"], role=Role.SECRETARY), "错发", T0)
    admin = make.user(role=Role.ADMIN)
    with pytest.raises(TrainingError, match="撤销证书必须填写原因"):
        certificates.revoke(cert, admin, "", T0)
    certificates.revoke(cert, admin, "学员学习记录造假", T0)
    assert cert.revoked_at == T0 and cert.revoke_reason == "学员学习记录造假"


@pytest.mark.skipif(not HAS_FONT, reason="no Chinese font for PDFs (apt-get install fonts-wqy-microhei)")
def test_the_pdf_carries_the_seal_and_the_qr_code(make, app):
    from pypdf import PdfReader

    t = make.tree()
    cls, _, cert = _completed(make, t)
    from tests.training.test_reflections import png
    certificates.set_seal(t["root"].id, png(), make.user(role=Role.ADMIN), T0)
    db.session.commit()
    with app.test_request_context():
        body = certificates.pdf(cert, f"http://example.org/verify/{cert.code}")
    reader = PdfReader(io.BytesIO(body))
    text = reader.pages[0].extract_text()
    assert "结" in text and cert.code in text and "青山镇党委" in text
    assert len(reader.pages[0].images) == 2  # the seal and the QR code
    assert certificates.qr_png("http://example.org/verify/x").startswith(b"\x89PNG")


# --- roster -------------------------------------------------------------------------------


@pytest.mark.parametrize("now_days,percent,completed,behind", [
    (0, 0, False, False),        # the period has not begun
    (15, 40, False, True),       # half gone, 40 % done
    (15, 60, False, False),
    (31, 99, False, True),       # over, not completed
    (31, 100, True, False),
])
def test_who_is_behind(make, now_days, percent, completed, behind):
    t = make.tree()
    cls = make.training_class(t["root"], [t["a"]], now=T0, starts_at=T0, ends_at=T0 + timedelta(days=30))
    assert roster.is_behind(percent, completed, cls, T0 + timedelta(days=now_days)) == behind


def test_the_roster_is_scoped_and_exports(make):
    t = make.tree()
    cls = make.training_class(t["root"], [t["a"], t["b"]], now=T0, title="=危险标题", starts_at=T0,
                              ends_at=T0 + timedelta(days=30))
    item = make.class_item(cls, "text", title="导学", body="内容")
    make.class_item(cls, "text", title="第二讲", body="内容")
    east, south = make.user(org=t["a1"], name="=东村党员"), make.user(org=t["b1"], name="南村党员")
    for member in (east, south):
        make.enrolment(cls, member, T0)
    completion.mark_text_done(item, east, T0 + timedelta(days=2))
    db.session.commit()
    branch = make.user(org=t["a"], role=Role.SECRETARY)
    rows = roster.rows(cls, branch, T0 + timedelta(days=20))
    assert [r.member.name for r in rows] == ["=东村党员"]
    assert rows[0].percent == 50 and rows[0].behind and rows[0].progress.last_study == T0 + timedelta(days=2)
    township = make.user(org=t["root"], role=Role.SECRETARY)
    assert {r.member.name for r in roster.behind(cls, township, T0 + timedelta(days=20))} == {"=东村党员", "南村党员"}
    sheet = load_workbook(io.BytesIO(roster.xlsx(cls, township, T0 + timedelta(days=20)))).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][0] == "专题班：=危险标题"
    assert values[2][:5] == ["姓名", "党员编号", "所在党组织", "必学：导学", "必学：第二讲"]
    east_row = next(v for v in values if v[0] == "=东村党员")
    assert east_row[3:6] == ["已学", "未学", 50] and sheet.cell(4, 1).data_type == "s"
