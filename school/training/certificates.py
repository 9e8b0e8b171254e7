"""结业证书: issued once when a member completes a class; a PDF with the organiser's name,
its seal (if an admin uploaded one), a verification code and a QR code of the public
verify page ``/verify/<code>``.

The code is ``secrets.token_urlsafe(18)``: 24 characters carrying 144 random bits, so
guessing a valid one is futile (at a million guesses a second, ~10^37 years); the verify
page is public and shows only a masked name, the class, the hours and the date.
What a certificate says (name, class title, organiser, hours) is kept as issued.
"""
from __future__ import annotations

import io
import secrets
from datetime import datetime

from sqlalchemy import select

from school.accounts.models import Role, User
from school.accounts.scoping import org_in_scope
from school.credits.record import FontMissing, cjk_font
from school.extensions import db
from school.timeutil import format_local
from school.training import media
from school.training.errors import TrainingError
from school.training.models import Certificate, Seal, TrainingClass
from school.training.rows import insert_once

CODE_BYTES = 18


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def issue(cls: TrainingClass, member: User, now: datetime) -> Certificate:
    """The member's certificate for the class, made once (a second call returns the first)."""
    existing = certificate_of(cls, member)
    if existing is not None:
        return existing
    insert_once(Certificate, ["class_id", "member_id"], class_id=cls.id, member_id=member.id, code=new_code(),
                holder_name=member.name[:60], class_title=cls.title, organiser_name=cls.organiser_name[:120],
                hours=cls.hours, issued_at=now, revoke_reason="")
    return certificate_of(cls, member)


def certificate_of(cls: TrainingClass, member: User) -> Certificate | None:
    return db.session.scalar(select(Certificate).where(Certificate.class_id == cls.id,
                                                       Certificate.member_id == member.id))


def by_code(code: str) -> Certificate | None:
    if not code or len(code) > 40:
        return None
    return db.session.scalar(select(Certificate).where(Certificate.code == code))


def mine(member: User) -> list[Certificate]:
    return list(db.session.scalars(select(Certificate).where(Certificate.member_id == member.id)
                                   .order_by(Certificate.issued_at.desc())))


def mask_name(name: str) -> str:
    """王小明 → 王*明, 王明 → 王*, 欧阳小明 → 欧**明; one character stays as it is."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def can_revoke(actor: User) -> bool:
    return actor.role == Role.ADMIN


def revoke(cert: Certificate, actor: User, reason: str, now: datetime) -> None:
    if not can_revoke(actor):
        raise TrainingError("只有全校管理员可以撤销证书")
    reason = (reason or "").strip()
    if not reason:
        raise TrainingError("撤销证书必须填写原因")
    if cert.revoked_at is not None:
        raise TrainingError("这张证书已经撤销过了")
    cert.revoked_at, cert.revoked_by_id, cert.revoke_reason = now, actor.id, reason[:300]
    db.session.flush()


def can_see(actor: User, cert: Certificate) -> bool:
    """The holder, admins, and secretaries whose subtree holds the member."""
    if cert.member_id == actor.id or actor.role == Role.ADMIN:
        return True
    return actor.role == Role.SECRETARY and actor.org is not None and org_in_scope(actor, cert.member.org)


# --- seals --------------------------------------------------------------------------------


def seal_for(org_id: int | None) -> Seal | None:
    query = select(Seal).where(Seal.org_id.is_(None) if org_id is None else Seal.org_id == org_id)
    return db.session.scalar(query)


def set_seal(org_id: int | None, data: bytes, actor: User, now: datetime) -> Seal:
    if actor.role != Role.ADMIN:
        raise TrainingError("只有全校管理员可以上传公章")
    name = media.save_picture(data)
    seal = seal_for(org_id)
    if seal is None:
        seal = Seal(org_id=org_id)
        db.session.add(seal)
    seal.image_name, seal.uploaded_at, seal.uploaded_by_id = name, now, actor.id
    db.session.flush()
    return seal


def all_seals() -> list[Seal]:
    return list(db.session.scalars(select(Seal).order_by(Seal.id)))


# --- the PDF ------------------------------------------------------------------------------


def qr_png(url: str) -> bytes:
    import segno

    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=2)
    return buffer.getvalue()


def pdf(cert: Certificate, verify_url: str) -> bytes:
    from fpdf import FPDF

    font = cjk_font()
    if font is None:
        raise FontMissing("服务器缺少中文字体，暂时无法生成证书 PDF（请管理员安装 fonts-wqy-microhei 或设置 "
                          "SCHOOL_PDF_FONT）。")
    doc = FPDF(orientation="L", format="A4")
    doc.set_auto_page_break(False)
    doc.add_page()
    doc.add_font("cjk", fname=str(font))
    doc.set_draw_color(176, 30, 30)
    doc.set_line_width(1.6)
    doc.rect(10, 10, doc.w - 20, doc.h - 20)
    doc.set_line_width(0.4)
    doc.rect(14, 14, doc.w - 28, doc.h - 28)
    doc.set_text_color(176, 30, 30)
    doc.set_font("cjk", size=34)
    doc.set_xy(0, 32)
    doc.cell(doc.w, 16, "结 业 证 书", align="C")
    doc.set_text_color(30, 30, 30)
    doc.set_font("cjk", size=18)
    doc.set_xy(40, 68)
    doc.cell(0, 12, f"{cert.holder_name} 同志：")
    doc.set_xy(52, 84)
    body = (f"于 {format_local(cert.issued_at, '%Y 年 %m 月 %d 日')}完成{cert.organiser_name}举办的"
            f"“{cert.class_title}”专题班全部学习任务，共计 {cert.hours:.2f} 学时，经考核合格，准予结业。"
            f"特发此证。")
    doc.multi_cell(doc.w - 104, 12, body)
    # The organiser and the date, with the seal over them.
    seal = seal_for(cert.training_class.org_id) if cert.training_class else None
    seal_path = media.path_of(seal.image_name) if seal else None
    if seal_path is not None and seal_path.is_file():
        doc.image(str(seal_path), x=doc.w - 100, y=doc.h - 85, w=42, h=42)
    doc.set_font("cjk", size=16)
    doc.set_xy(doc.w - 150, doc.h - 70)
    doc.cell(110, 10, cert.organiser_name, align="R")
    doc.set_xy(doc.w - 150, doc.h - 58)
    doc.cell(110, 10, format_local(cert.issued_at, "%Y 年 %m 月 %d 日"), align="R")
    # The QR code and the code, for checking the certificate.
    doc.image(io.BytesIO(qr_png(verify_url)), x=26, y=doc.h - 70, w=36, h=36)
    doc.set_font("cjk", size=9)
    doc.set_xy(66, doc.h - 52)
    doc.cell(0, 5, f"证书编号：{cert.code}")
    doc.set_xy(66, doc.h - 46)
    doc.cell(0, 5, f"扫码或访问 {verify_url} 查验")
    return bytes(doc.output())
