"""CSV and XLSX exports of a branch report, streamed so memory does not grow with the rows.

Rows come from the database in batches (``yield_per``); CSV lines are yielded as they
are written; the XLSX is built by ``export_cells.XlsxBook`` (XlsxWriter, constant memory: rows go
to temporary files, not memory) into a temporary file that is then sent in chunks and deleted.
The XLSX has a summary sheet and one sheet per sub-organisation.
"""
from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from decimal import Decimal
from typing import IO, Iterator
from urllib.parse import quote

from sqlalchemy import select

from school import diskspace
from school.accounts.models import Organisation
from school.credits import reports
from school.credits.ledger import to_hours
from school.credits.requirements import FLOATING
from school.export_cells import XlsxBook, XlsxSheet, csv_row
from school.extensions import db

FULL_MESSAGE = diskspace.message("报表没有生成，未完成的临时文件已删除。", "请联系管理员清理服务器磁盘（临时目录）后重新导出。")
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEMBER_HEADERS = ["所属党组织", "姓名", "党员编号", "人员类别", "网络学习学时", "集中培训学时", "合计学时",
                  "年度要求学时", "网络学习尚缺", "集中培训尚缺", "尚缺合计", "是否达标"]
SUMMARY_HEADERS = ["党组织", "党员人数", "合计学时", "人均学时", "达标人数", "达标率", "未达标人数",
                   "流动党员人数", "流动党员达标人数"]
BATCH = 2000
HALF_CENT = float(reports.HALF_CENT)
# zlib's fastest level: for 100,000 members 0.25 s of CPU instead of 1.0 s, for a file of
# 8.7 MB instead of 6.7 MB (docs/benchmarks.md).
COMPRESSLEVEL = 1


def _hours(value) -> float:
    return float(Decimal(str(value or 0)).quantize(Decimal("0.01")))


class MemberCells:
    """The cells of ``reports.export_rows``' rows (``MEMBER_HEADERS`` and the metrics)."""

    def __init__(self, period: reports.Period, metrics: list[reports.Metric]):
        self.table, self.metrics = reports.requirements(period), metrics

    def values(self, row) -> list:
        _, name, member_no, _, org_name, group, online, concentrated, *metric_values = row
        status = reports.member_status(self.table, group, online, concentrated)
        return [org_name, name, member_no, reports.GROUP_LABELS.get(group, group), _hours(online),
                _hours(concentrated), _hours(status.total), _hours(status.required), _hours(status.gap_online),
                _hours(status.gap_concentrated), _hours(status.missing), "是" if status.met else "否",
                *[_hours(v) for v in metric_values]]


class _MemberXlsxCells:
    """The member sheets' cells after 党员编号, as XML rendered once per column and value.

    Those twelve-odd cells repeat from row to row (a few hundred distinct hours), and rendering
    them — rounding a Decimal and formatting each cell — was most of the Python time of a
    100,000-member export. The gaps are computed here in floating point from the hours
    (exact cents, as the database rounds them): every result is within a rounding error of a
    whole number of cents, so ``_hours`` gives the cell the same value as ``member_status``'s
    exact decimals (tests/credits/test_exports.py checks it against the report's SQL). Each
    column keeps at most ``LIMIT`` values (emptied when full), so memory stays flat."""

    LIMIT = 1024

    def __init__(self, sheet: XlsxSheet, table: dict, styles: dict, metrics: int):
        self.render = sheet.render
        self.styles = styles
        self.required = {group: (float(req.total), float(req.online), float(req.concentrated))
                         for group, req in table.items()}
        self.columns: list[dict] = [{} for _ in range(12 + metrics)]  # by column index
        self.metric_columns = range(12, 12 + metrics)
        self.labels = {group: sheet.render([reports.GROUP_LABELS.get(group, group)], 3, styles=styles)
                       for group in table}
        self.met = {True: sheet.render(["是"], 11, styles=styles), False: sheet.render(["否"], 11, styles=styles)}

    def hours(self, col: int, value):
        """Column ``col``'s cell for ``value`` hours, rendered (a value not seen yet)."""
        known = self.columns[col]
        if len(known) >= self.LIMIT:
            known.clear()
        found = known[value] = self.render([_hours(value)], col, styles=self.styles)
        return found

    def tail(self, group, online, concentrated, metric_values) -> tuple[list, float, bool]:
        """The cells of 人员类别 … 是否达标 and the metrics, the member's total hours and whether
        the requirement is met."""
        online, concentrated = float(online), float(concentrated)  # Decimal on PostgreSQL
        total, required, gap_online, gap_concentrated, missing, met = float_status(
            self.required[group], online, concentrated)
        c, render = self.columns, self.hours  # a dict lookup per cell; rendering only what is new
        return [self.labels[group], c[4].get(online) or render(4, online),
                c[5].get(concentrated) or render(5, concentrated), c[6].get(total) or render(6, total),
                c[7].get(required) or render(7, required), c[8].get(gap_online) or render(8, gap_online),
                c[9].get(gap_concentrated) or render(9, gap_concentrated), c[10].get(missing) or render(10, missing),
                self.met[met], *[c[col].get(value) or render(col, value)
                                 for col, value in zip(self.metric_columns, metric_values)]], total, met


def float_status(required: tuple[float, float, float], online: float, concentrated: float) -> tuple:
    """``reports.member_status`` in floating point, for hours that are whole cents: (total,
    required total, online gap, concentrated gap, missing, met). Each figure is within a rounding
    error of the exact one, so ``_hours`` (to cents) gives the same cell value."""
    required_total, required_online, required_concentrated = required
    total = online + concentrated
    gap_online = required_online - online if required_online > online else 0.0
    gap_concentrated = required_concentrated - concentrated if required_concentrated > concentrated else 0.0
    gaps = gap_online + gap_concentrated
    short = required_total - total if required_total > total else 0.0
    missing = short if short > gaps else gaps
    return total, required_total, gap_online, gap_concentrated, missing, missing < HALF_CENT


class _Totals:
    """One summary line's figures, summed while the member rows are written (the export reads
    every member anyway; ``reports.org_report`` would read them all a second time)."""

    __slots__ = ("members", "cents", "met", "floating", "floating_met", "metrics")

    def __init__(self, metrics: int):
        self.members = self.cents = self.met = self.floating = self.floating_met = 0
        self.metrics = [0] * metrics

    def add(self, total: float, met: bool, floating: bool, metric_values) -> None:
        self.members += 1
        self.cents += round(total * 100)  # a whole number of cents (see _MemberXlsxCells)
        if met:
            self.met += 1
        if floating:
            self.floating += 1
            self.floating_met += met
        if any(metric_values):
            for i, value in enumerate(metric_values):
                self.metrics[i] += value

    def line(self, line: reports.OrgLine, metrics: list[reports.Metric]) -> reports.OrgLine:
        """``line`` (organisation, name, path) with these figures, as ``org_report`` gives it."""
        line.members, line.hours, line.met = self.members, Decimal(self.cents) / 100, self.met
        line.floating, line.floating_met = self.floating, self.floating_met
        line.metrics = {m.key: to_hours(value) for m, value in zip(metrics, self.metrics)}
        return line


def summary_values(line: reports.OrgLine, metrics) -> list:
    return [line.name, line.members, _hours(line.hours), _hours(line.average), line.met, line.share / 100,
            line.behind, line.floating, line.floating_met, *[_hours(line.metrics.get(m.key)) for m in metrics]]


def _rows(query, session):
    """The rows as plain tuples, in batches (Core: the ORM's row processing is not needed here)."""
    return session.connection().execute(query, execution_options={"yield_per": BATCH})


def csv_lines(query, cells: MemberCells, session) -> Iterator[str]:
    """Rows of ``reports.export_rows``, one CSV line at a time (UTF-8 with BOM so Excel reads Chinese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(csv_row(MEMBER_HEADERS + [m.label for m in cells.metrics]))
    yield "\ufeff" + flush()
    for n, row in enumerate(_rows(query, session), 1):
        writer.writerow(csv_row(cells.values(row)))
        if n % 500 == 0:
            yield flush()
    yield flush()


class _Sheets:
    """Sheets with a bold, shaded header row, frozen panes and column widths."""

    def __init__(self, book: XlsxBook):
        self.book = book
        self.header = book.style(bold=True, bg_color="#F5E0E0", align="center")

    def new(self, name: str, headers: list[str], widths: list[int]):
        sheet = self.book.sheet(name, fallback="组织", widths=widths, freeze_header=True)
        sheet.append(headers, self.header)
        return sheet

    def formats(self, formats: dict[int, str]) -> dict:
        """Column index → number format, as the book's styles (for ``sheet.append(styles=…)``)."""
        return {index: self.book.style(num_format=fmt) for index, fmt in formats.items()}


def write_xlsx(org: Organisation | None, period: reports.Period, target: IO[bytes]) -> None:
    """A summary sheet (``org_report``'s lines: one per direct child, then 本级党员 and the total)
    and one sheet per child subtree with its members. The summary is summed from the member rows
    as they are written (constant memory: each sheet has a file of its own, so the summary
    sheet, first in the book, is filled last)."""
    with XlsxBook(target, compresslevel=COMPRESSLEVEL) as book:
        metrics = list(reports.METRICS)
        sheets = _Sheets(book)
        summary = sheets.new("汇总", SUMMARY_HEADERS + [m.label for m in metrics], [28] + [12] * 12)
        summary_formats = sheets.formats({2: "0.00", 3: "0.00", 5: "0%"})
        member_formats = sheets.formats({i: "0.00" for i in range(4, 11)} | {12 + i: "0.00" for i in range(len(metrics))})
        widths = [24, 10, 12, 12] + [12] * 8
        headers = MEMBER_HEADERS + [m.label for m in metrics]
        prefix = org.path if org is not None else "/"
        children = db.session.execute(
            select(Organisation.id, Organisation.name, Organisation.path)
            .where(Organisation.parent_id == org.id if org is not None else Organisation.parent_id.is_(None))
            .order_by(Organisation.name, Organisation.id)).all()
        names = {path: name for _, name, path in children}
        totals = {path: _Totals(len(metrics)) for _, _, path in children}
        own = totals[prefix] = _Totals(len(metrics))
        cells = None
        current_key, current_org, sheet, counted = None, None, None, own
        org_cells: dict[str, object] = {}  # organisation name → its rendered cell (a shared string)
        name_style, number_style = member_formats.get(1), member_formats.get(2)
        for _, name, member_no, org_path, org_name, group, online, concentrated, *metric_values in _rows(
                reports.export_rows(org, period), db.session):
            if org_path != current_org:  # rows come grouped by organisation
                current_org = org_path
                rest = org_path[len(prefix):]
                key = prefix + rest.split("/", 1)[0] + "/" if rest else prefix
                if key != current_key:
                    current_key = key
                    sheet = sheets.new(names.get(key, "本级党员") if key != prefix else "本级党员", headers, widths)
                    cells = cells or _MemberXlsxCells(sheet, reports.requirements(period), member_formats,
                                                      len(metrics))
                    counted = totals.get(key, own)
                if len(org_cells) >= cells.LIMIT:
                    org_cells.clear()
                org_cell = org_cells.get(org_name) or org_cells.setdefault(
                    org_name, sheet.render([org_name], 0, styles=member_formats))
            tail, total, met = cells.tail(group, online, concentrated, metric_values)
            sheet.append((), tail=[org_cell, sheet.text(name, 1, name_style), sheet.text(member_no, 2, number_style),
                                   *tail])
            counted.add(total, met, group == FLOATING, metric_values)
        lines = [totals[path].line(reports.OrgLine(org_id, name, path), metrics) for org_id, name, path in children]
        if own.members:
            lines.append(own.line(reports.OrgLine(org.id if org else None, "本级党员", prefix), metrics))
        total_line = reports.OrgLine(org.id if org else None, org.name if org else "全校", prefix)
        for line in lines:
            total_line.add_line(line)
        total_line.metrics = {m.key: total_line.metrics.get(m.key, reports.ZERO) for m in metrics}
        for line in lines:
            summary.append(summary_values(line, metrics), styles=summary_formats)
        values = summary_values(total_line, metrics)
        values[0] = f"合计：{total_line.name}（{period.label}）"
        summary.append(values, styles=summary_formats)


def xlsx_file(org: Organisation | None, period: reports.Period) -> str:
    """Build the workbook in a temporary file and return its path (the caller deletes it).
    A full disk raises DiskFull and leaves no file behind."""
    handle, path = tempfile.mkstemp(suffix=".xlsx", prefix="school-report-")
    try:
        with os.fdopen(handle, "wb") as target:
            write_xlsx(org, period, target)
    except BaseException as exc:
        os.unlink(path)
        if isinstance(exc, Exception) and diskspace.is_full(exc):
            raise diskspace.DiskFull(FULL_MESSAGE) from exc
        raise
    return path


def file_chunks(path: str, size: int = 64 * 1024) -> Iterator[bytes]:
    """Send a temporary file in chunks and delete it afterwards."""
    try:
        with open(path, "rb") as source:
            while chunk := source.read(size):
                yield chunk
    finally:
        os.unlink(path)


def filename(org: Organisation | None, period: reports.Period, extension: str) -> str:
    name = org.name if org is not None else "全校"
    return f"学时报表-{name}-{period.label.replace(' ', '')}.{extension}"


def attachment_header(name: str) -> str:
    """Content-Disposition for a Chinese file name (RFC 6266 / 5987), with an ASCII fallback."""
    ascii_name = name.encode("ascii", "ignore").decode() or "download"
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).strip("-") or "download"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
