"""Files the exams package hands out: the question bank as GIFT or XLSX, and an exam's results as XLSX."""
from __future__ import annotations

from collections.abc import Iterable

from school.exams.formats import gift, xlsx
from school.exams.models import Attempt, AttemptState, Question
from school.export_cells import xlsx_bytes
from school.timeutil import format_local

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Bank export format → (MIME type, file name).
BANK_FILES = {"gift": ("text/plain; charset=utf-8", "question-bank.gift.txt"),
              "xlsx": (XLSX_TYPE, "question-bank.xlsx")}
RESULT_HEADERS = ["姓名", "党员编号", "所在组织", "第几次", "状态", "开始时间", "交卷时间", "得分", "满分", "百分制",
                  "是否通过"]


def _path(question: Question) -> str:
    return question.category.path if question.category else ""


def question_bank(questions: list[Question], fmt: str) -> bytes:
    """The questions as a GIFT text (UTF-8) or an XLSX workbook, by category path then id."""
    questions = sorted(questions, key=lambda q: (_path(q), q.id))
    if fmt == "gift":
        return gift.dump(questions, _path).encode("utf-8")
    return xlsx.dump(questions, _path)


def results_xlsx(attempts: Iterable[Attempt]) -> bytes:
    """One row per attempt, as the results page lists them."""
    def fill(book):
        sheet = book.sheet("成绩")
        sheet.append(RESULT_HEADERS)
        for attempt in attempts:
            member = attempt.member
            sheet.append([member.name, member.member_no, member.org.name if member.org else "", attempt.number,
                          "已交卷" if attempt.state == AttemptState.FINISHED else "作答中",
                          format_local(attempt.started_at), format_local(attempt.finished_at),
                          float(attempt.score) if attempt.score is not None else None,
                          float(attempt.max_score) if attempt.max_score is not None else None,
                          round(attempt.percent, 1) if attempt.state == AttemptState.FINISHED else None,
                          ("待阅卷" if attempt.awaiting_grading else "") if attempt.passed is None
                          else ("通过" if attempt.passed else "未通过")])

    return xlsx_bytes(fill)
