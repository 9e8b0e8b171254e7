"""``school exams import`` and ``school exams finish-overdue`` from a terminal."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from school.exams import attempts
from school.exams.models import Attempt, Question
from school.extensions import db
from school.timeutil import utcnow

AIKEN = "党的根本组织原则是？\nA. 民主集中制\nB. 集体领导\nANSWER: A\n\n没有答案的题\nA. 甲\nB. 乙\n"


def test_import_dry_run_json_then_for_real(runner, tmp_path):
    path = tmp_path / "题库.txt"
    path.write_text(AIKEN, encoding="utf-8")
    result = runner.invoke(args=["exams", "import", str(path), "--format", "aiken", "--dry-run", "--json"])
    assert result.exit_code == 1  # problems are reported with a failing status
    out = json.loads(result.output)
    assert out["would_create"] == 1 and out["created"] == 0
    assert out["problems"] == [{"line": 6, "message": "缺少 ANSWER: 行"}]
    assert db.session.scalar(select(func.count()).select_from(Question)) == 0
    result = runner.invoke(args=["exams", "import", str(path), "--format", "aiken", "--category", "党章"])
    assert "已创建 1 道题，1 处问题" in result.output and "第 6 行：缺少 ANSWER: 行" in result.output
    db.session.expire_all()
    assert db.session.scalar(select(Question)).category.path == "党章"


def test_import_refuses_a_broken_file_in_chinese(runner, tmp_path):
    path = tmp_path / "bad.xlsx"
    path.write_bytes(b"PK not really")
    result = runner.invoke(args=["exams", "import", str(path), "--format", "xlsx"])
    assert result.exit_code != 0 and "不是有效的 Excel" in result.output


def test_finish_overdue_command(runner, make):
    bank = make.questions()
    now = utcnow()
    exam = make.exam(bank, now - timedelta(hours=2), limit=10, closes_in=timedelta(days=7))
    attempt = attempts.start(exam, make.user(), now - timedelta(hours=1))
    result = runner.invoke(args=["exams", "finish-overdue"])
    assert "已为 1 份超时答卷交卷" in result.output
    db.session.expire_all()
    assert db.session.get(Attempt, attempt.id).finish_reason == "overdue"


def test_help_is_in_chinese(runner):
    assert "导入题库" in runner.invoke(args=["exams", "--help"]).output
    assert "只检查" in runner.invoke(args=["exams", "import", "--help"]).output
