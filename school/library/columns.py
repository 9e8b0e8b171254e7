"""Thematic columns (专栏): an editor-curated, ordered list of documents with an introduction."""
from __future__ import annotations

import re

from sqlalchemy import select

from school.extensions import db
from school.library.models import ColumnItem, Document, LibraryColumn


class ColumnError(ValueError):
    pass


def published_columns() -> list[LibraryColumn]:
    return list(db.session.scalars(select(LibraryColumn).where(LibraryColumn.published.is_(True))
                                   .order_by(LibraryColumn.position, LibraryColumn.id)))


def parse_document_ids(text: str) -> list[int]:
    """Editors list one document number per line (a pasted link …/doc/12 works too)."""
    ids: list[int] = []
    for line_no, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        match = re.search(r"(\d+)\s*$", line)
        if not match:
            raise ColumnError(f"第 {line_no} 行不是文献编号：{line[:30]}")
        if int(match.group(1)) not in ids:
            ids.append(int(match.group(1)))
    return ids


def save_column(column: LibraryColumn | None, title: str, introduction: str, documents: str,
                published: bool) -> LibraryColumn:
    ids = parse_document_ids(documents)
    found = set(db.session.scalars(select(Document.id).where(Document.id.in_(ids)))) if ids else set()
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise ColumnError(f"找不到这些编号的文献：{'、'.join(missing)}")
    if column is None:
        column = LibraryColumn(position=0)
        db.session.add(column)
    column.title = title.strip()
    column.introduction = introduction
    column.published = bool(published)
    column.items.clear()
    db.session.flush()  # old rows go before new ones with the same keys arrive
    column.items = [ColumnItem(document_id=doc_id, position=i) for i, doc_id in enumerate(ids)]
    return column
