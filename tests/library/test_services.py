"""Deleting a document: what goes with it, what stays, and when it is refused."""
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from whoosh import index as windex

from school.credits import ledger
from school.credits.models import CreditEntry
from school.extensions import db
from school.library import index, reading, search, services
from school.library.models import ColumnItem, Document, DocumentRevision, LibraryColumn, ReadingDay, ReadingPosition

NOW = datetime(2026, 3, 2, 2, 0, 0)  # 10:00 in Shanghai


def _count(model, **where) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return db.session.scalar(query)


def _read(member, doc, minutes: int) -> None:
    """``minutes`` of visible reading, then the page is closed."""
    for i in range(minutes * 2 + 1):  # scrolling as they read
        reading.record_heartbeat(member, doc, NOW + timedelta(seconds=30 * i), input_at=NOW + timedelta(seconds=30 * i))
    reading.record_heartbeat(member, doc, NOW + timedelta(seconds=30 * minutes * 2 + 10), visible=False)
    reading.remember_position(member, doc, "第一条", 0.5, NOW)
    db.session.commit()


@pytest.fixture
def used_document(make):
    """A document with two revisions, a place in a column and a member who read it (and earned hours)."""
    editor = make.user(role="editor")
    doc = make.document("党支部工作条例", "第一条 党支部是党的基础组织。")
    services.update_document(doc, services.DocumentData(title=doc.title, category=doc.category,
                                                        body=doc.body + "\n\n第二条 新增。", status=doc.status),
                             editor, NOW)
    column = LibraryColumn(title="主题教育", published=True)
    column.items.append(ColumnItem(document=doc))
    db.session.add(column)
    db.session.commit()
    member = make.user()
    _read(member, doc, 10)
    return editor, member, doc


def test_deleting_removes_revisions_column_places_and_positions_but_keeps_credit(used_document):
    editor, member, doc = used_document
    other = services.create_document(services.DocumentData(title="另一篇", category="policy", body="正文。"),
                                     editor, NOW)
    db.session.commit()
    earned, entries = ledger.balance(member, 2026), _count(CreditEntry, member_id=member.id)
    assert earned == Decimal("0.23") and entries == 3 and _count(ReadingPosition, document_id=doc.id) == 1

    plan = services.deletion_plan(doc)
    assert (plan.revisions, plan.columns, plan.reading_positions, plan.has_file, plan.allowed) == \
        (2, ["主题教育"], 1, False, True)

    doc_id = doc.id
    assert services.delete_document(doc, editor, NOW) is None  # no PDF to remove
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Document, doc_id) is None
    assert _count(DocumentRevision, document_id=doc_id) == 0
    assert _count(ColumnItem, document_id=doc_id) == 0 and _count(LibraryColumn) == 1
    assert _count(ReadingPosition, document_id=doc_id) == 0
    # Credit already earned is history: the ledger and the day's reading stay.
    assert ledger.balance(member, 2026) == earned and _count(CreditEntry, member_id=member.id) == entries
    assert _count(ReadingDay, member_id=member.id) == 1
    # Nothing else was touched.
    assert db.session.get(Document, other.id) is not None and _count(DocumentRevision, document_id=other.id) == 1


def test_refused_while_a_course_lesson_uses_it(used_document):
    from school.courses import services as courses

    editor, member, doc = used_document
    course = courses.save_course(courses.CourseData(title="基层组织建设", slug="jiceng"), editor, NOW)
    courses.add_document_lesson(course, "学习条例", str(doc.id), NOW)
    db.session.commit()

    plan = services.deletion_plan(doc)
    assert not plan.allowed and plan.uses == ["课程《基层组织建设》的课时《学习条例》"]
    with pytest.raises(services.DocumentInUse) as refused:
        services.delete_document(doc, editor, NOW)
    assert str(refused.value) == ("《党支部工作条例》正被课程《基层组织建设》的课时《学习条例》使用，不能删除。"
                                  "请先在课程中删除这些课时。")
    db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Document, doc.id) is not None
    assert _count(DocumentRevision, document_id=doc.id) == 2
    assert _count(ColumnItem, document_id=doc.id) == 1 and _count(ReadingPosition, document_id=doc.id) == 1


def test_only_editors_delete(make):
    doc = make.document("学习材料", "正文。")
    for role in ("member", "secretary"):
        with pytest.raises(services.LibraryError, match="只有编辑和管理员可以删除文献"):
            services.delete_document(doc, make.user(role=role), NOW)
    db.session.rollback()
    assert db.session.get(Document, doc.id) is not None
    services.delete_document(doc, make.user(role="admin"), NOW)
    db.session.commit()
    assert _count(Document) == 0


def _found(text: str) -> list[int]:
    return [hit.document.id for hit in search.search(text).hits]


def test_the_search_index_forgets_a_deleted_document(app, make, monkeypatch):
    kept = make.document("三会一课制度", "支部党员大会、支部委员会、党小组会和党课。")
    doc = make.document("两学一做学习教育", "学党章党规、学系列讲话，做合格党员。")
    doc_id = doc.id
    assert doc_id in _found("两学一做") and kept.id in _found("党小组会")
    services.delete_document(doc, make.user(role="editor"), NOW)
    db.session.commit()
    # The commit itself updated the index: it is current without a rebuild, one document smaller.
    assert index.is_current()
    monkeypatch.setattr(index, "rebuild", lambda *a, **k: pytest.fail("the index should have followed the commit"))
    ix = windex.open_dir(str(index.index_dir()))
    try:
        assert ix.doc_count() == 1
    finally:
        ix.close()
    assert doc_id not in _found("两学一做") and search.search("两学一做").total == 0
    assert _found("党小组会") == [kept.id]


def test_a_stored_pdf_is_returned_for_removal_after_the_commit(app, make, tmp_path):
    from school.library import importer

    doc = make.document("上传的文件", "正文。")
    doc.file_stored = importer.store_pdf(app.config["MEDIA_DIR"], b"%PDF-1.4 test")
    db.session.commit()
    stored = services.delete_document(doc, make.user(role="editor"), NOW)
    assert stored == doc.file_stored and importer.pdf_path(app.config["MEDIA_DIR"], stored).is_file()
    db.session.commit()
    importer.remove_pdf(app.config["MEDIA_DIR"], stored)
    assert not importer.pdf_path(app.config["MEDIA_DIR"], stored).exists()
    importer.remove_pdf(app.config["MEDIA_DIR"], stored)  # already gone: no error
    importer.remove_pdf(app.config["MEDIA_DIR"], "../../etc/passwd")  # not ours: ignored
