"""A member's standing for a year and the one-page study record (学习档案) as XLSX or PDF."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from flask import current_app

from school.accounts.models import User
from school.credits import clock, ledger, requirements
from school.export_cells import xlsx_bytes
from school.timeutil import format_local

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# CJK fonts a Debian/Ubuntu machine may have; SCHOOL_PDF_FONT overrides.
FONT_CANDIDATES = [
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
]


class FontMissing(RuntimeError):
    pass


@dataclass
class MemberStatus:
    year: int
    by_kind: dict[str, Decimal]
    total: Decimal
    requirement: requirements.Requirement
    missing: dict[str, Decimal]
    group_label: str

    @property
    def percent(self) -> int:
        required = self.requirement.total
        return int(min(self.total / required * 100, 100)) if required else 100

    @property
    def met(self) -> bool:
        return self.missing["total"] == 0

    @property
    def missing_words(self) -> str:
        return requirements.missing_words(self.missing["total"], self.missing["online"],
                                          self.missing["concentrated"])


def member_status(member: User, year: int) -> MemberStatus:
    by_kind = ledger.balances_by_kind(member, year)
    req = requirements.requirement(member, year)
    return MemberStatus(year=year, by_kind=by_kind, total=sum(by_kind.values(), Decimal("0.00")),
                        requirement=req, missing=req.missing(by_kind["online"], by_kind["concentrated"]),
                        group_label=requirements.GROUP_LABELS[requirements.group_of(member)])


def _summary_rows(status: MemberStatus) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    req = status.requirement
    return [
        ("网络学习", status.by_kind["online"], req.online, status.missing["online"]),
        ("集中培训", status.by_kind["concentrated"], req.concentrated, status.missing["concentrated"]),
        ("合计", status.total, req.total, status.missing["total"]),
    ]


def _header(member: User, status: MemberStatus) -> list[tuple[str, str]]:
    return [("姓名", member.name), ("党员编号", member.member_no),
            ("所在党组织", member.org.name if member.org else "—"), ("人员类别", status.group_label)]


def study_record_xlsx(member: User, year: int, now: datetime) -> bytes:
    status = member_status(member, year)
    entries = ledger.entries(member, year)

    def fill(book):
        ws = book.sheet(f"{year}年学习档案", widths=(14, 22, 48, 12))
        bold = book.style(bold=True)
        head = book.style(bold=True, bg_color="#F5E0E0", border=1, border_color="#999999")
        box = book.style(border=1, border_color="#999999")
        boxed_hours = book.style(border=1, border_color="#999999", num_format="0.00")
        boxed_wrap = book.style(border=1, border_color="#999999", text_wrap=True)
        ws.merge_row(3, f"{year} 年度党员学习档案", book.style(bold=True, font_size=16))
        ws.append([f"生成时间：{format_local(now)}"])
        for label, value in _header(member, status):
            ws.append([label, value], styles={0: bold})
        ws.append([])
        ws.append(["类别", "已获得学时", "年度要求", "尚缺"], head)
        for row in _summary_rows(status):
            ws.append([row[0], float(row[1]), float(row[2]), float(row[3])], boxed_hours, styles={0: box})
        ws.append([])
        ws.append(["日期", "来源", "内容", "学时"], head)
        for e in reversed(entries):
            ws.append([format_local(e.created_at, "%Y-%m-%d"), f"{e.source_label}（{e.kind_label}）",
                       e.description, float(e.hours)], box, styles={2: boxed_wrap, 3: boxed_hours})
        ws.worksheet.fit_to_pages(1, 1)  # one printed page, however long the ledger
        _study_sheet(book, member, year, head)

    return xlsx_bytes(fill)


def _study_sheet(book, member: User, year: int, head) -> None:
    """Every credited interval of the year (the study clock's evidence), oldest first."""
    ws = book.sheet("学习明细", widths=(12, 40, 20, 20, 8, 22, 10, 12))
    ws.append(["日期", "学习内容", "开始（北京时间）", "结束（北京时间）", "秒数", "设备", "页面", "在学确认次数"], head)
    for d in reversed(clock.evidence_days(member.id, year)):
        for r in d.rows:
            ws.append([d.day.isoformat(), f"{clock.activity_label(r.activity)}：{r.title}",
                       format_local(r.start_at, "%Y-%m-%d %H:%M:%S"), format_local(r.end_at, "%Y-%m-%d %H:%M:%S"),
                       round(r.seconds), r.device, r.tab[:8], r.presence_answers])


def cjk_font() -> Path | None:
    configured = current_app.config.get("PDF_FONT")
    for candidate in ([configured] if configured else []) + FONT_CANDIDATES:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def study_record_pdf(member: User, year: int, now: datetime) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    font = cjk_font()
    if font is None:
        raise FontMissing("服务器缺少中文字体，暂时无法生成 PDF（请管理员安装 fonts-wqy-microhei 或设置 "
                          "SCHOOL_PDF_FONT）。您可以先下载 Excel 版学习档案。")
    status = member_status(member, year)
    entries = ledger.entries(member, year)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)  # one page: the ledger is shortened below if it is long
    pdf.add_page()
    pdf.add_font("cjk", fname=str(font))
    pdf.set_font("cjk", size=18)
    pdf.cell(0, 12, f"{year} 年度党员学习档案", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=9)
    pdf.cell(0, 6, f"生成时间：{format_local(now)}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=11)
    pdf.cell(0, 8, "    ".join(f"{k}：{v}" for k, v in _header(member, status)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    heading = FontFace(emphasis=None, fill_color=(245, 224, 224))
    with pdf.table(col_widths=(40, 40, 40, 40), text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
                   headings_style=heading, line_height=7) as table:
        table.row(["类别", "已获得学时", "年度要求", "尚缺"])
        for label, earned, required, missing in _summary_rows(status):
            table.row([label, f"{earned:.2f}", f"{required:.2f}", f"{missing:.2f}"])
    pdf.ln(3)
    conclusion = status.missing_words
    pdf.cell(0, 8, f"结论：{conclusion}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font("cjk", size=9)
    rows = list(reversed(entries))
    room = int((pdf.h - pdf.get_y() - 25) // 6) - 1
    shown, hidden = (rows, 0) if len(rows) <= room else (rows[-(room - 1):], len(rows) - room + 1)
    with pdf.table(col_widths=(25, 35, 105, 20), text_align=("LEFT", "LEFT", "LEFT", "RIGHT"),
                   headings_style=heading, line_height=5.5) as table:
        table.row(["日期", "来源", "内容", "学时"])
        if hidden:
            table.row(["", "", f"（更早的 {hidden} 条记录见 Excel 版学习档案）", ""])
        for e in shown:
            table.row([format_local(e.created_at, "%Y-%m-%d"), f"{e.source_label}（{e.kind_label}）",
                       e.description[:60], f"{e.hours:.2f}"])
    return bytes(pdf.output())

