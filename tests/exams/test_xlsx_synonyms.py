"""XLSX from other systems: header synonyms (题目 / 试题内容 → 题干, 试题类型 → 题型, A…H → 选项A…H,
正确答案 → 答案, 答案解析 → 解析, 分数 → 分值), a 序号 column ignored; ``--json`` for a refused file."""
from __future__ import annotations

import io
import json

import pytest
from openpyxl import Workbook

from school.exams.formats import parse


def _book(headers, rows) -> bytes:
    workbook = Workbook()
    workbook.active.append(headers)
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("stem_header", ["题目", "试题内容"])
def test_other_systems_headers_are_read(stem_header):
    data = _book(["序号", "试题类型", stem_header, "A", "B", "C", "正确答案", "答案解析", "分数"],
                 [[1, "单选题", "党的最高理想是？", "共产主义", "小康", "现代化", "A", "党章总纲", 2],
                  [2, "简答题", "简述党的宗旨。", "", "", "", "全心全意为人民服务", "", 5]])
    result = parse("xlsx", "其他系统.xlsx", data)
    assert result.problems == []
    single, short = result.questions
    assert single.stem == "党的最高理想是？" and [o["text"] for o in single.data["options"]] == ["共产主义", "小康", "现代化"]
    assert single.data["options"][0]["weight"] == 100.0 and single.explanation == "党章总纲" and str(single.points) == "2"
    assert short.qtype == "short" and short.data["reference"] == "全心全意为人民服务"


def test_a_refused_file_prints_json(runner, tmp_path):
    path = tmp_path / "坏.xlsx"
    path.write_bytes(_book(["姓名", "电话"], [["张三", "1"]]))
    result = runner.invoke(args=["exams", "import", str(path), "--format", "xlsx", "--json"])
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert "表头缺少" in body["error"] and body["created"] == 0
