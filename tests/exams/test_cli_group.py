"""``school.exams.cli.exams_group`` itself (``school exams`` registers it; see test_cli.py)."""
from __future__ import annotations

import json
from datetime import timedelta

from school.exams import attempts
from school.exams.cli import exams_group
from school.exams.models import Attempt
from school.extensions import db
from school.timeutil import utcnow
from tests.exams import helpers


def test_import_and_finish_overdue_from_the_exams_module(runner, make, tmp_path):
    path = tmp_path / "题库.txt"
    path.write_text("党的根本组织原则是？\nA. 民主集中制\nB. 集体领导\nANSWER: A\n", encoding="utf-8")
    result = runner.invoke(exams_group, args=["import", str(path), "--format", "aiken", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["created"] == 1

    bank = helpers.questions()
    now = utcnow()
    exam = helpers.exam(bank, now - timedelta(hours=2), limit=10)
    attempt = attempts.start(exam, make.user(), now - timedelta(hours=1))
    assert "已为 1 份超时答卷交卷" in runner.invoke(exams_group, args=["finish-overdue"]).output
    db.session.expire_all()
    assert db.session.get(Attempt, attempt.id).finish_reason == "overdue"
    assert "导入题库" in runner.invoke(exams_group, args=["--help"]).output
