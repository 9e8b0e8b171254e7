"""Creating, editing, restoring and deleting documents; every save writes a full revision.

Who commits: the functions here (and in ``reading`` and ``columns``) change the session and
at most flush; the caller — a view, a CLI command, the job runner — commits, or rolls back
on a ``LibraryError``. The search index follows only what was committed (``following``).
The one exception is ``importer.import_tree``, which commits batch by batch (see there).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Callable

from sqlalchemy import delete, func, select, update

from school.accounts.models import User
from school.accounts.roles import is_editor
from school.extensions import db
from school.library.categories import CATEGORIES
from school.library.models import (
    ColumnItem,
    DocStatus,
    Document,
    DocumentRevision,
    LibraryColumn,
    ReadingPosition,
    RenderedBody,
)
from school.limits import limit

log = logging.getLogger(__name__)

# Other packages whose rows point at documents say where a document is in use, so that it is
# not deleted from under them: each function takes a document id and returns one Chinese
# description per use (e.g. 课程《…》的课时《…》). ``courses`` registers its lessons here
# (school/courses/library_uses.py), so the library need not import ``courses``.
DOCUMENT_USES: list[Callable[[int], list[str]]] = []
SUMMARY_MAX_CHARS = 5000


class LibraryError(ValueError):
    """A problem the editor can fix; the message is shown to them."""


class DocumentInUse(LibraryError):
    """The document is used elsewhere (a course lesson) and cannot be deleted."""


class DocumentGone(LookupError):
    """The document was deleted meanwhile (by another request)."""


@dataclass
class DocumentData:
    title: str
    category: str
    body: str = ""
    issuer: str = ""
    published_on: date | None = None
    tags: str = ""
    summary: str = ""
    status: str = DocStatus.DRAFT


def content_hash(data: DocumentData) -> str:
    parts = [data.title, data.category, data.issuer, str(data.published_on or ""), data.tags, data.summary,
             data.body]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def normalise_tags(tags: str) -> str:
    seen: dict[str, None] = {}
    for tag in tags.replace("，", ",").replace("、", ",").split(","):
        if tag.strip():
            seen.setdefault(tag.strip()[:30], None)
    return ",".join(seen)


def _validate(data: DocumentData) -> DocumentData:
    data.title = (data.title or "").strip()
    if not data.title:
        raise LibraryError("请填写标题")
    if len(data.title) > 300:
        raise LibraryError("标题不能超过 300 个字")
    if data.category not in CATEGORIES:
        raise LibraryError("请选择分类")
    if data.status not in (DocStatus.DRAFT, DocStatus.PUBLISHED):
        raise LibraryError("状态不正确")
    data.issuer = (data.issuer or "").strip()[:200]
    data.tags = normalise_tags(data.tags or "")[:500]
    data.summary = (data.summary or "").strip()
    data.body = (data.body or "").replace("\r\n", "\n")
    max_chars = int(limit("MARKDOWN_MAX_CHARS_DOCUMENT"))
    if len(data.body) > max_chars:
        raise LibraryError(f"正文过长（{len(data.body)} 字，上限 {max_chars} 字），请拆分为几篇文献")
    if len(data.summary) > SUMMARY_MAX_CHARS:
        raise LibraryError(f"摘要不能超过 {SUMMARY_MAX_CHARS} 字")
    if data.status == DocStatus.PUBLISHED and not data.body.strip():
        raise LibraryError("正文为空的文献不能发布")
    return data


def _revise(doc: Document, actor: User | None, now: datetime, note: str) -> DocumentRevision:
    number = (db.session.scalar(select(func.max(DocumentRevision.number))
                                .where(DocumentRevision.document_id == doc.id)) or 0) + 1
    revision = DocumentRevision(
        document=doc, number=number, title=doc.title, category=doc.category, issuer=doc.issuer,
        published_on=doc.published_on, tags=doc.tags, summary=doc.summary, body=doc.body, status=doc.status,
        content_hash=doc.content_hash, note=note[:200], created_at=now, created_by_id=actor.id if actor else None)
    db.session.add(revision)
    return revision


def create_document(data: DocumentData, actor: User | None, now: datetime, note: str = "创建",
                    source_path: str | None = None) -> Document:
    data = _validate(data)
    doc = Document(**{f.name: getattr(data, f.name) for f in fields(DocumentData)},
                   content_hash=content_hash(data), source_path=source_path, created_at=now, updated_at=now,
                   created_by_id=actor.id if actor else None, updated_by_id=actor.id if actor else None)
    db.session.add(doc)
    db.session.flush()
    _revise(doc, actor, now, note)
    return doc


def update_document(doc: Document, data: DocumentData, actor: User | None, now: datetime,
                    note: str = "修改") -> bool:
    """Save ``data`` as the document's new state; ``False`` when nothing changed (no revision)."""
    data = _validate(data)
    digest = content_hash(data)
    if digest == doc.content_hash and data.status == doc.status:
        return False
    for f in fields(DocumentData):
        setattr(doc, f.name, getattr(data, f.name))
    doc.content_hash = digest
    doc.updated_at = now
    doc.updated_by_id = actor.id if actor else None
    _revise(doc, actor, now, note)
    return True


def data_of(obj) -> DocumentData:
    return DocumentData(**{f.name: getattr(obj, f.name) for f in fields(DocumentData)})


def restore_revision(doc: Document, revision: DocumentRevision, actor: User, now: datetime) -> bool:
    if revision.document_id != doc.id:
        raise LibraryError("该版本不属于此文献")
    data = data_of(revision)
    data.status = doc.status if not data.body.strip() else data.status
    return update_document(doc, data, actor, now, note=f"恢复到第 {revision.number} 版")


def visible_documents(user):
    """Published documents for everyone; drafts too for editors."""
    query = select(Document)
    if not is_editor(user):
        query = query.where(Document.status == DocStatus.PUBLISHED)
    return query


def regions() -> list[tuple[str, str]]:
    """The 地区 filter's choices, (value, label): each province with published local
    regulations, followed by its cities (广东, then 广东 · 深圳 shown indented)."""
    from school.library.levels import PART_SEPARATOR, region_terms

    stored = db.session.scalars(select(Document.region).distinct()
                                .where(Document.region != "", Document.status == DocStatus.PUBLISHED)).all()
    values = sorted({term for region in stored for term in region_terms(region)})
    return [(value, "\u3000" + value.split(PART_SEPARATOR, 1)[1] if PART_SEPARATOR in value else value)
            for value in values]


def count_read(doc: Document) -> None:
    # A plain UPDATE: counting a view must not mark the document changed (nor reindex it).
    db.session.execute(update(Document).where(Document.id == doc.id)
                       .values(read_count=Document.read_count + 1).execution_options(synchronize_session=False))


# --- deleting ---------------------------------------------------------------------------


def document_uses(doc: Document) -> list[str]:
    """Where ``doc`` is used outside the library (course lessons); such a document stays."""
    return [use for uses_of in DOCUMENT_USES for use in uses_of(doc.id)]


@dataclass
class DeletionPlan:
    """What deleting a document removes, keeps, or what prevents it — for the confirmation page."""

    revisions: int
    columns: list[str]
    reading_positions: int
    has_file: bool
    uses: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.uses


def deletion_plan(doc: Document) -> DeletionPlan:
    def count(model) -> int:
        return db.session.scalar(select(func.count()).select_from(model).where(model.document_id == doc.id)) or 0

    columns = db.session.scalars(select(LibraryColumn.title).join(ColumnItem, ColumnItem.column_id == LibraryColumn.id)
                                 .where(ColumnItem.document_id == doc.id).order_by(LibraryColumn.position,
                                                                                   LibraryColumn.id)).all()
    return DeletionPlan(revisions=count(DocumentRevision), columns=list(columns),
                        reading_positions=count(ReadingPosition), has_file=bool(doc.file_stored),
                        uses=document_uses(doc))


def in_use_message(doc: Document, uses: list[str], shown: int = 10) -> str:
    where = "；".join(uses[:shown]) + (f" 等 {len(uses)} 处" if len(uses) > shown else "")
    return f"《{doc.title}》正被{where}使用，不能删除。请先在课程中删除这些课时。"


def delete_document(doc: Document, actor: User, now: datetime) -> str | None:
    """Delete ``doc`` with its revisions, its places in columns and members' reading positions;
    the caller commits. Credit already earned by reading it stays in the ledger (history).

    Refused (``DocumentInUse``, nothing changed) while a course lesson uses the document.
    Returns the stored PDF's name, if any, for the caller to remove once the commit succeeded.
    """
    if not is_editor(actor):
        raise LibraryError("只有编辑和管理员可以删除文献")
    # Lock the row first (PostgreSQL; SQLite writes queue anyway): a lesson being added at
    # this moment needs the row too, so it either is seen below or fails for want of it.
    if db.session.scalar(select(Document.id).where(Document.id == doc.id).with_for_update()) is None:
        raise DocumentGone(doc.id)
    uses = document_uses(doc)
    if uses:
        raise DocumentInUse(in_use_message(doc, uses))
    stored, doc_id, title = doc.file_stored, doc.id, doc.title
    # The foreign keys cascade too; deleting here keeps the session's own view in step.
    for model in (ColumnItem, ReadingPosition, DocumentRevision, RenderedBody):
        db.session.execute(delete(model).where(model.document_id == doc.id))
    db.session.delete(doc)  # through the session, so the search index forgets it after the commit
    db.session.flush()
    log.info("library document %s 《%s》 deleted by user %s at %s", doc_id, title, actor.id, now.isoformat())
    return stored
