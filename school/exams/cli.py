"""``school exams …``: importing a question bank file and handing in overdue attempts, from a terminal.

Like the views, these commands commit; ``finish-overdue`` relies on ``attempts.finish``
committing each hand-in itself (see ``school.exams.attempts``).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from school.extensions import db


@click.group("exams", help="在线考试：导入题库、结束超时未交的答卷。")
def exams_group():
    pass


@exams_group.command("import", help="从文件导入题库（GIFT、Aiken 或 XLSX），打印创建了（或将创建）哪些题和每一处问题及其行号。")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["gift", "aiken", "xlsx"]), required=True, help="文件格式")
@click.option("--category", default="", help="导入到这个分类下（用 / 分隔层级，如 党章/总纲）")
@click.option("--dry-run", is_flag=True, help="只检查并列出结果，不保存")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出，便于其他程序读取")
@with_appcontext
def exams_import(file, fmt, category, dry_run, as_json):
    from school.exams import bank
    from school.exams.formats import FormatError, parse
    from school.exams.models import TYPE_LABELS
    from school.timeutil import utcnow

    path = Path(file)
    try:
        result = parse(fmt, path.name, path.read_bytes())
    except FormatError as exc:
        if as_json:  # a refused file is still JSON for the program reading it
            click.echo(json.dumps({"dry_run": dry_run, "created": 0, "would_create": 0, "questions": [],
                                   "problems": [], "error": str(exc)}, ensure_ascii=False, indent=2))
            sys.exit(1)
        raise click.ClickException(str(exc))
    ids = []
    if not dry_run:
        created = bank.save_parsed(result.questions, None, utcnow(), category)
        db.session.commit()
        ids = [q.id for q in created]
    if as_json:
        click.echo(json.dumps({
            "dry_run": dry_run, "created": len(ids), "would_create": len(result.questions),
            "questions": [{**q.as_dict(), "id": ids[i] if ids else None} for i, q in enumerate(result.questions)],
            "problems": [{"line": p.line, "message": p.message} for p in result.problems],
        }, ensure_ascii=False, indent=2))
    else:
        verb = "将创建" if dry_run else "已创建"
        click.echo(f"{verb} {len(result.questions)} 道题，{len(result.problems)} 处问题。")
        for q in result.questions:
            where = "/".join(p for p in (category, q.category) if p)
            click.echo(f"  第 {q.line} 行：{TYPE_LABELS[q.qtype]}　{q.stem[:40]}" + (f"　［{where}］" if where else ""))
        for p in result.problems:
            click.echo(f"  问题 第 {p.line} 行：{p.message}")
    if result.problems:
        sys.exit(1)


@exams_group.command("finish-overdue", help="把已过截止时间（含宽限期）仍未交卷的答卷按已保存的答案交卷并评分。可放进定时任务每分钟运行。")
@with_appcontext
def exams_finish_overdue():
    from school.exams.attempts import finish_overdue
    from school.timeutil import utcnow

    count = finish_overdue(utcnow())
    click.echo(f"已为 {count} 份超时答卷交卷。")


COMMANDS = [exams_group]
