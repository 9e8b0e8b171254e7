"""``school reports …``: study-credit reports from a terminal; ``school credits …``: the ledger's summary."""
from __future__ import annotations

import os
from pathlib import Path

import click
from flask.cli import with_appcontext

from school import diskspace
from school.extensions import db

# --- reports ----------------------------------------------------------------------------


@click.group("reports", help="学时报表。")
def reports_group():
    pass


@reports_group.command("branch", help="把某个党组织（含全部下级）的学时报表导出为 Excel 或 CSV 文件。"
                       "ORG 是党组织名称或路径，例如 青山镇党委/第一党总支。")
@click.argument("org")
@click.option("--year", type=int, default=None, help="年度（默认今年）")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), default="xlsx", show_default=True,
              help="文件格式：xlsx 按下级组织分表，csv 为一张党员明细表")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="保存到的文件")
@with_appcontext
def reports_branch(org, year, fmt, output):
    from school.accounts.orgs import find_by_name_or_path
    from school.credits import exports, reports
    from school.timeutil import local_year, utcnow

    organisation = find_by_name_or_path(org)
    if organisation is None:
        raise click.ClickException(f"找不到党组织：{org}（名称重复时请写路径，如 某镇党委/第一党总支）")
    try:
        period = reports.Period.parse(year or local_year(utcnow()), None, None, utcnow().date())
    except reports.ReportError as exc:
        raise click.ClickException(str(exc))
    # Written beside and renamed when complete: a failed export (a full disk) leaves no half file.
    target_path = Path(output).resolve()
    partial = target_path.with_name(f".{target_path.name}.{os.getpid()}.partial")
    try:
        with open(partial, "wb") as target:
            if fmt == "xlsx":
                exports.write_xlsx(organisation, period, target)
            else:
                cells = exports.MemberCells(period, list(reports.METRICS))
                for line in exports.csv_lines(reports.export_rows(organisation, period), cells, db.session):
                    target.write(line.encode("utf-8"))
        os.replace(partial, target_path)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        if not diskspace.is_full(exc):
            raise
        raise click.ClickException(diskspace.message(
            f"报表没有导出完，未留下任何文件（{target_path.parent}）。", "请换一个空间足够的位置或清理磁盘后重试。")) from None
    click.echo(f"已导出 {organisation.name} {period.label}学时报表：{output}")


# --- the ledger's summary ---------------------------------------------------------------


@click.group("credits", help="学时台账。")
def credits_group():
    pass


@credits_group.command("rebuild-summary", help="按学时台账重算每名党员每年的学时汇总（credit_year_summary），"
                       "再按党员重算各党组织每年的报表汇总（credit_org_year_total），列出并改正不一致的行。")
@click.option("--check", is_flag=True, help="只检查并列出不一致的行，不改正（有不一致时退出码为 1）")
@click.option("--show", type=int, default=20, show_default=True, help="最多列出多少行不一致")
@with_appcontext
def credits_rebuild_summary(check, show):
    from school.credits import org_totals, summary

    # The members' summary first: the organisations' figures are computed from it.
    found = summary.differences() if check else summary.rebuild()
    org_found = org_totals.differences() if check else org_totals.rebuild()
    if check:
        db.session.rollback()
    else:
        db.session.commit()
    for what, rows, label in ((found, "学时汇总", "与台账"), (org_found, "党组织报表汇总", "与按党员重算的结果")):
        for difference in what[:show]:
            click.echo(difference.describe())
        if len(what) > show:
            click.echo(f"……另有 {len(what) - show} 行")
        if not what:
            click.echo(f"{rows}{label}一致。")
        elif check:
            click.echo(f"{rows}有 {len(what)} 行{label}不一致（未改正，去掉 --check 即可改正）。")
        else:
            click.echo(f"已改正{rows} {len(what)} 行，现{label}一致。")
    if check and (found or org_found):
        raise SystemExit(1)


COMMANDS = [reports_group, credits_group]
