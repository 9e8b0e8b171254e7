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

from school import diskspace
from school.accounts.models import Organisation
from school.credits import reports
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
        self.labels = {group: sheet.render([reports.GROUP_LABELS.get(group, group)], 3, styles=styles)
                       for group in table}
        self.met = {True: sheet.render(["是"], 11, styles=styles), False: sheet.render(["否"], 11, styles=styles)}

    def hours(self, col: int, value):
        """Column ``col``'s cell for ``value`` hours (rendered when first seen)."""
        known = self.columns[col]
        found = known.get(value)
        if found is None:
            if len(known) >= self.LIMIT:
                known.clear()
            found = known[value] = self.render([_hours(value)], col, styles=self.styles)
        return found

    def tail(self, group, online, concentrated, metric_values) -> list:
        hours = self.hours
        required, required_online, required_concentrated = self.required[group]
        online, concentrated = float(online), float(concentrated)  # Decimal on PostgreSQL
        total = online + concentrated
        gap_online = required_online - online if required_online > online else 0.0
        gap_concentrated = required_concentrated - concentrated if required_concentrated > concentrated else 0.0
        gaps = gap_online + gap_concentrated
        short = required - total if required > total else 0.0
        missing = short if short > gaps else gaps
        return [self.labels[group], hours(4, online), hours(5, concentrated), hours(6, total), hours(7, required),
                hours(8, gap_online), hours(9, gap_concentrated), hours(10, missing),
                self.met[missing < HALF_CENT],
                *[hours(12 + i, value) for i, value in enumerate(metric_values)]]


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
    with XlsxBook(target) as book:
        report = reports.org_report(org, period)
        metrics = report.metrics
        sheets = _Sheets(book)
        summary = sheets.new("汇总", SUMMARY_HEADERS + [m.label for m in metrics], [28] + [12] * 12)
        summary_formats = sheets.formats({2: "0.00", 3: "0.00", 5: "0%"})
        for line in report.children + [report.total]:
            values = summary_values(line, metrics)
            if line is report.total:
                values[0] = f"合计：{line.name}（{period.label}）"
            summary.append(values, styles=summary_formats)
        member_formats = sheets.formats({i: "0.00" for i in range(4, 11)} | {12 + i: "0.00" for i in range(len(metrics))})
        widths = [24, 10, 12, 12] + [12] * 8
        headers = MEMBER_HEADERS + [m.label for m in metrics]
        names = {line.path: line.name for line in report.children}
        prefix = report.total.path
        cells = None
        current_key, sheet = None, None
        for _, name, member_no, org_path, org_name, group, online, concentrated, *metric_values in _rows(
                reports.export_rows(org, period), db.session):
            rest = org_path[len(prefix):]
            key = prefix + rest.split("/", 1)[0] + "/" if rest else prefix
            if key != current_key:
                current_key = key
                sheet = sheets.new(names.get(key, "本级党员") if key != prefix else "本级党员", headers, widths)
                cells = cells or _MemberXlsxCells(sheet, reports.requirements(period), member_formats, len(metrics))
            sheet.append([org_name, name, member_no], styles=member_formats,
                         tail=cells.tail(group, online, concentrated, metric_values))


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
