"""Hostile uploads: each is refused in Chinese within its limit, stores nothing, leaves the
earlier data as it was, and does not grow the server process (the parsing runs in a child).

On the code before the limits, the .docx bomb and the 2,000-page PDF ran for minutes (mammoth
inflated 300 MB in the server; pypdf parsed the shared content stream once per page), the
XLSX padded a million rows of 16,384 cells, the 200 KB CSV field answered 500.
"""
from __future__ import annotations

import io
import resource
from pathlib import Path

import pytest
from sqlalchemy import func, select

from school.accounts.models import Role, User
from school.extensions import db
from school.library import services
from school.library.models import DocStatus, Document, DocumentRevision
from school.timeutil import utcnow
from tests.security import hostile

MEMBER_HEADERS = ["姓名", "党员编号", "手机号", "所在党组织", "人员类别", "角色"]
GROWTH_ALLOWED_MB = 64


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.fixture
def editor_with_a_document(app, make, auth):
    editor = make.user(role=Role.EDITOR)
    doc = services.create_document(services.DocumentData(title="原有文献", category="policy", body="第一条 原文。\n",
                                                         status=DocStatus.PUBLISHED), editor, utcnow())
    db.session.commit()
    auth.login(editor)
    return doc.id


def _upload(client, name: str, data: bytes) -> str:
    response = client.post("/library/manage/upload", data={"file": (io.BytesIO(data), name), "category": "policy"},
                           content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _library_unchanged(app, doc_id: int) -> None:
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Document.id))) == 1
    assert db.session.scalar(select(func.count(DocumentRevision.id))) == 1
    doc = db.session.get(Document, doc_id)
    assert doc.title == "原有文献" and doc.body == "第一条 原文。\n"
    library = Path(app.config["MEDIA_DIR"]) / "library"
    assert not library.exists() or not any(library.iterdir())


# --- .docx ------------------------------------------------------------------------------


def test_a_docx_zip_bomb_is_refused_from_its_central_directory(app, client, editor_with_a_document):
    bomb = hostile.docx_bomb(300)  # ~1 MB that inflates to 300 MB
    before = peak_rss_mb()
    page = _upload(client, "炸弹.docx", bomb)
    assert "未能导入：Word 文件中有压缩比异常的内容" in page
    assert peak_rss_mb() - before < GROWTH_ALLOWED_MB
    _library_unchanged(app, editor_with_a_document)


def test_past_the_checks_the_child_runs_out_of_memory_not_the_server(app, client, editor_with_a_document):
    """With the central-directory checks opened wide, the bomb reaches the child, whose
    address space is capped: the child fails, the server stays as it was."""
    app.config.update(UPLOAD_MAX_UNPACKED_MB=100_000, UPLOAD_MAX_COMPRESSION_RATIO=1_000_000,
                      UPLOAD_PARSE_MEMORY_MB=64, UPLOAD_PARSE_TIMEOUT=60)
    before, cpu = peak_rss_mb(), children_cpu()
    page = _upload(client, "炸弹.docx", hostile.docx_bomb(300))
    # The child hits its memory cap; on a machine busy enough that its CPU or wall-clock
    # limit comes first, that limit stops it instead — either way the child, not the server.
    assert any(f"未能导入：{reason}" in page for reason in ("文件处理所需内存超出限制", "文件处理超时")), \
        page[page.find("未能导入") - 100:][:400]
    assert peak_rss_mb() - before < GROWTH_ALLOWED_MB
    assert children_cpu() > cpu  # the work was done, and paid for, in a child process
    _library_unchanged(app, editor_with_a_document)


def test_an_ordinary_docx_still_imports_through_the_child(app, client, editor_with_a_document):
    page = _upload(client, "学习材料.docx", hostile.small_docx("第一条 坚持党的领导。"))
    assert "已从“学习材料.docx”创建草稿" in page
    assert db.session.scalar(select(Document).where(Document.title == "学习材料")).body.startswith("第一条 坚持党的领导")


# --- .pdf -------------------------------------------------------------------------------


def test_a_2000_page_pdf_sharing_one_content_stream_is_refused_by_its_page_count(app, client,
                                                                                   editor_with_a_document):
    before, cpu = peak_rss_mb(), children_cpu()
    page = _upload(client, "两千页.pdf", hostile.pdf_shared_content(2000))
    assert "未能导入：PDF 页数过多（2000 页，上限 1000 页）" in page
    assert peak_rss_mb() - before < GROWTH_ALLOWED_MB
    assert children_cpu() > cpu  # pypdf read the page tree in the child, not here
    _library_unchanged(app, editor_with_a_document)


def test_a_slow_pdf_under_the_page_cap_is_killed_at_the_wall_clock_timeout(app, client, editor_with_a_document):
    app.config.update(UPLOAD_MAX_PDF_PAGES=5000, UPLOAD_PARSE_TIMEOUT=0.5)
    page = _upload(client, "两千页.pdf", hostile.pdf_shared_content(2000))
    assert "未能导入：文件处理超时（超过 0.5 秒）" in page
    _library_unchanged(app, editor_with_a_document)


def test_a_slow_pdf_is_stopped_by_the_childs_cpu_limit(app, client, editor_with_a_document):
    app.config.update(UPLOAD_MAX_PDF_PAGES=5000, UPLOAD_PARSE_CPU_SECONDS=1, UPLOAD_PARSE_TIMEOUT=120)
    page = _upload(client, "两千页.pdf", hostile.pdf_shared_content(2000))
    assert "未能导入：文件处理超时（计算量超出限制）" in page
    _library_unchanged(app, editor_with_a_document)


# --- spreadsheets and CSV ---------------------------------------------------------------


@pytest.fixture
def secretary_with_members(make, auth):
    tree = make.tree()
    existing = make.user(org=tree["a1"], name="老党员", member_no="OLD001")
    auth.login(make.user(role=Role.ADMIN, org=tree["root"]))
    return existing.id


def _import_members(client, name: str, data: bytes) -> str:
    response = client.post("/admin/members/import", data={"file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _members_unchanged(existing_id: int, count: int = 2) -> None:
    db.session.expire_all()
    assert db.session.scalar(select(func.count(User.id))) == count
    assert db.session.get(User, existing_id).name == "老党员"


def test_an_xlsx_declaring_the_whole_sheet_is_refused_before_its_rows_are_read(client, secretary_with_members):
    data = hostile.xlsx_declaring_whole_sheet(MEMBER_HEADERS)
    assert len(data) < 6000  # 4.9 KB, as reported
    before = peak_rss_mb()
    page = _import_members(client, "名单.xlsx", data)
    assert "工作表声明的范围过大（1048576 行）" in page
    assert peak_rss_mb() - before < GROWTH_ALLOWED_MB
    _members_unchanged(secretary_with_members)


def test_an_xlsx_whose_dimension_lies_is_still_stopped_at_the_row_cap(client, secretary_with_members):
    before = peak_rss_mb()
    page = _import_members(client, "名单.xlsx", hostile.xlsx_with_lying_dimension(MEMBER_HEADERS))
    assert "行数超过上限（最多 20000 行数据）" in page
    assert peak_rss_mb() - before < GROWTH_ALLOWED_MB
    _members_unchanged(secretary_with_members)


def test_columns_past_the_cap_are_refused(app, client, secretary_with_members):
    app.config.update(TABLE_MAX_COLUMNS=8)
    csv = (",".join(MEMBER_HEADERS + ["备注"] * 4) + "\n张三,N1,,东村党支部,,,,,,,多余\n").encode()
    page = _import_members(client, "名单.csv", csv)
    assert "列数超过上限（最多 8 列）" in page
    _members_unchanged(secretary_with_members)


def test_a_csv_field_over_128_kb_is_explained_not_a_500(client, secretary_with_members):
    csv = (",".join(MEMBER_HEADERS) + "\n" + f'张三,N1,,东村党支部,"{"长" * 200_000}",\n').encode()
    page = _import_members(client, "名单.csv", csv)
    assert "CSV 第 2 行无法读取（某一格内容过长或引号不配对）" in page
    _members_unchanged(secretary_with_members)


def test_csv_rows_and_size_are_capped(app, client, secretary_with_members):
    app.config.update(TABLE_MAX_ROWS=50)
    rows = "".join(f"党员{i},N{i},,东村党支部,正式党员,党员\n" for i in range(51))
    page = _import_members(client, "名单.csv", (",".join(MEMBER_HEADERS) + "\n" + rows).encode())
    assert "行数超过上限（最多 50 行数据）" in page
    _members_unchanged(secretary_with_members)

    app.config.update(TABLE_MAX_BYTES=1024)
    page = _import_members(client, "名单.csv", (",".join(MEMBER_HEADERS) + "\n" + rows).encode())
    assert "文件过大" in page
    _members_unchanged(secretary_with_members)


def test_the_question_bank_import_applies_the_same_caps(client, make, auth):
    from school.exams.models import Question

    auth.login(make.user(role=Role.EDITOR))
    from school.exams.formats.xlsx import HEADERS

    before = peak_rss_mb()
    response = client.post("/exams/bank/import", data={"file": (io.BytesIO(hostile.xlsx_declaring_whole_sheet(HEADERS)),
                                                                "题库.xlsx"), "format": "xlsx", "category": ""},
                           content_type="multipart/form-data")
    assert response.status_code == 200
    assert "工作表声明的范围过大（1048576 行）" in response.get_data(as_text=True)
    assert peak_rss_mb() - before < GROWTH_ALLOWED_MB
    assert db.session.scalar(select(func.count(Question.id))) == 0


def test_uploads_beyond_the_parsing_slots_wait_then_are_refused(app, client, editor_with_a_document):
    """Parsing children are capped per machine: with every slot held (here by the test, as by
    another worker's upload) an upload waits its queue time, then is refused and nothing is
    imported; once a slot is free the same upload goes through."""
    from school import isolation

    app.config.update(UPLOAD_PARSE_CONCURRENCY=1, UPLOAD_PARSE_QUEUE_SECONDS=0.3)
    docx = hostile.small_docx("第一条 坚持党的领导。")
    with isolation.parse_slot():
        page = _upload(client, "学习材料.docx", docx)
    assert "未能导入：服务器正在处理其他上传的文件，请稍后再试" in page
    _library_unchanged(app, editor_with_a_document)
    assert "已从“学习材料.docx”创建草稿" in _upload(client, "学习材料.docx", docx)
