"""Reading documents from files: the corpus Markdown format, plain text, Word and PDF.

``extract`` turns one uploaded file into a title and a Markdown body (or explains in
Chinese why it cannot). Word and PDF files are converted in a child process with CPU,
memory, output and wall-clock limits, after cheap checks of the zip directory or the page
count (``school.isolation``), so a hostile file costs the server nothing but a refusal.
``import_tree`` walks a folder of corpus-format Markdown and
imports it idempotently by content hash — an unchanged file adds nothing, a changed file
becomes a new revision of the document it was imported as before.

Who commits: ``extract`` and ``import_file`` only add to the session (the caller commits),
but ``import_tree`` commits itself — every ``batch`` files and once at the end — an exception
to "services flush, callers commit", kept on purpose. A bulk import of thousands of files
commits as it goes, so one bad file (rolled back alone, in its savepoint) does not undo the
rest, an interrupted import keeps what was done, and committed documents can leave memory.
The last commit must also happen inside ``following.following_in_bulk``, so that the index
is written once for the whole import; a caller's later commit would write it a second time.
"""
from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select

from school import diskspace, isolation
from school.extensions import db
from school.library import following, services
from school.library.models import DocStatus, Document
from school.limits import limit

ALLOWED_EXTENSIONS = (".md", ".markdown", ".txt", ".docx", ".pdf")
MAX_UPLOAD_BYTES = 30 * 1024 * 1024
BATCH = 50  # files that a bulk import commits at a time
INFO_END = "<!-- INFO END -->"
DATE_RE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
FILE_DATE_RE = re.compile(r"\((\d{4})-(\d{2})-(\d{2})\)")
ISSUER_RE = re.compile(r"(全国人民代表大会常务委员会|全国人民代表大会|国务院办公厅|国务院|中共中央办公厅|中共中央|"
                       r"最高人民法院|最高人民检察院|中央军事委员会|[\u4e00-\u9fa5]{2,12}部(?=令|第|公告|发布|通过|审议)?)")


class ImportFailure(ValueError):
    """Why one file cannot be imported, in words the editor understands."""


@dataclass
class Extracted:
    title: str
    body: str
    published_on: date | None = None
    issuer: str = ""
    summary: str = ""
    pdf: bytes | None = None  # kept for download when the source was a PDF


def decode_text(data: bytes) -> str:
    if b"\x00" in data[:4096]:
        raise ImportFailure("不是文本文件（含有二进制内容）")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFailure("无法识别文字编码（请另存为 UTF-8 或 GBK）")


def _parse_date(match) -> date | None:
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def parse_markdown(text: str, filename: str = "", require_title: bool = True) -> Extracted:
    """The corpus format: ``# 标题``, date lines until ``<!-- INFO END -->``, then the text."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    lines = text.split("\n")
    index = 0
    while index < len(lines) and not lines[index].strip():
        index += 1
    title = ""
    if index < len(lines) and re.match(r"^#\s+\S", lines[index]):
        title = lines[index].lstrip("#").strip()
        index += 1
        title, index = _with_part(title, lines, index)
    elif require_title:
        raise ImportFailure("缺少标题（第一行应为“# 标题”）")
    else:
        title = Path(filename).stem.strip()
    rest = "\n".join(lines[index:])
    info = ""
    if INFO_END in rest:
        info, rest = rest.split(INFO_END, 1)
    body = rest.strip("\n")
    if not body.strip():
        raise ImportFailure("正文为空")
    info_lines = [line.strip() for line in info.split("\n") if line.strip()]
    file_date = FILE_DATE_RE.search(filename)
    dates = [d for d in (_parse_date(m) for m in DATE_RE.finditer(info)) if d]
    published = (_parse_date(file_date) if file_date else None) or (max(dates) if dates else None)
    issuer = ISSUER_RE.search(info)
    return Extracted(title=title[:300], body=body + "\n", published_on=published,
                     issuer=issuer.group(1) if issuer else "", summary="\n".join(info_lines)[:1000])


PART_RE = re.compile(r"^#\s+(\S{1,12})\s*$")


def _with_part(title: str, lines: list[str], index: int) -> tuple[str, int]:
    """A law issued in parts (民法典: one file per 编) has a second ``#`` line naming the part:
    it joins the title (中华人民共和国民法典 · 合同编), so the parts can be told apart."""
    from school.library.levels import PART_SEPARATOR

    following = index
    while following < len(lines) and not lines[following].strip():
        following += 1
    match = PART_RE.match(lines[following]) if following < len(lines) else None
    if match and re.search(r"(编|则|部分|卷)$", match.group(1)):
        return f"{title}{PART_SEPARATOR}{match.group(1)}", following + 1
    return title, index


def classify_imported(doc: Document, source: str) -> None:
    """Store the document's level and region, decided from the folder it was imported from."""
    from school.library.levels import classify, region_of

    # The summary holds the lines above <!-- INFO END -->: who passed and approved the text.
    level = classify(doc.title, source, doc.issuer, doc.summary or "")
    region = region_of(doc.title, source, doc.summary or "") if level == "local" else ""
    if (doc.level, doc.region) != (level, region):
        doc.level, doc.region = level, region


CHILD_ERRORS = {
    "damaged": "Word 文件已损坏或不是 .docx 格式",
    "not_pdf": "不是 PDF 文件",
    "encrypted": "PDF 已加密，无法提取文字",
    "too_much_text": "文件中的文字过多，未导入",
}


def _in_child(task: str, data: bytes, **params) -> str:
    """Convert in the isolated child process (school.isolation); its refusals become ours."""
    try:
        result = isolation.run(task, data, **params)
    except isolation.Refused as exc:
        raise ImportFailure(str(exc)) from None
    error = result.get("error")
    if error == "pages":
        pages = result.get("pages") if isinstance(result.get("pages"), int) else "过多"
        raise ImportFailure(f"PDF 页数过多（{pages} 页，上限 {params['max_pages']} 页），未导入")
    if error == "damaged" and task == "pdf":
        raise ImportFailure("PDF 文件已损坏，无法读取")
    if error:
        raise ImportFailure(CHILD_ERRORS.get(str(error), "文件无法处理，未导入"))
    return result["text"]


def _docx_to_markdown(data: bytes) -> str:
    try:  # the zip's central directory only: nothing is unpacked
        isolation.check_zip(data, "Word 文件", broken="Word 文件已损坏或不是 .docx 格式")
    except isolation.Refused as exc:
        raise ImportFailure(str(exc)) from None
    return _in_child("docx", data)


def _pdf_to_text(data: bytes) -> str:
    if not data.startswith(b"%PDF"):
        raise ImportFailure("不是 PDF 文件")
    return _in_child("pdf", data, max_pages=int(limit("UPLOAD_MAX_PDF_PAGES")),
                     max_chars=int(limit("MARKDOWN_MAX_CHARS_DOCUMENT")))


def extract(filename: str, data: bytes) -> Extracted:
    suffix = Path(filename).suffix.lower()
    if suffix not in ALLOWED_EXTENSIONS:
        raise ImportFailure("不支持的文件类型（只接受 .md、.txt、.docx、.pdf）")
    if not data:
        raise ImportFailure("文件是空的")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImportFailure("文件超过 30 MB")
    stem = Path(filename).stem.strip() or "未命名文献"
    if suffix in (".md", ".markdown"):
        return parse_markdown(decode_text(data), filename, require_title=False)
    if suffix == ".txt":
        text = decode_text(data).replace("\r\n", "\n").strip()
        if not text:
            raise ImportFailure("正文为空")
        first, _, rest = text.partition("\n")
        # A short first line is the title, as in most plain-text notices.
        if len(first.strip()) <= 60 and rest.strip():
            return Extracted(title=first.strip(), body=rest.strip() + "\n")
        return Extracted(title=stem, body=text + "\n")
    if suffix == ".docx":
        if not data.startswith(b"PK"):
            raise ImportFailure("Word 文件已损坏或不是 .docx 格式")
        markdown_text = _docx_to_markdown(data).strip()
        if not markdown_text:
            raise ImportFailure("Word 文件中没有文字")
        return parse_markdown(markdown_text, filename, require_title=False) if markdown_text.startswith("# ") \
            else Extracted(title=stem, body=markdown_text + "\n")
    text = _pdf_to_text(data)
    if not text.strip():
        raise ImportFailure("PDF 中没有可提取的文字（可能是扫描件）")
    return Extracted(title=stem, body=text + "\n", pdf=data)


def store_pdf(media_dir: str, data: bytes) -> str:
    """Keep the PDF under a server-generated name outside the static folder."""
    folder = Path(media_dir) / "library"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.pdf"
    diskspace.write_bytes(folder / name, data)  # a full disk leaves no half-written PDF
    return name


def pdf_path(media_dir: str, stored: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}\.pdf", stored or ""):
        raise FileNotFoundError(stored)
    return Path(media_dir) / "library" / stored


def remove_pdf(media_dir: str, stored: str | None) -> None:
    """Remove a kept PDF (its document was deleted); a missing file is not an error."""
    if not stored:
        return
    try:
        path = pdf_path(media_dir, stored)
    except FileNotFoundError:  # not a name the server generated: nothing of ours to remove
        return
    try:
        path.unlink(missing_ok=True)
    except OSError:  # the document is gone already; a leftover file only takes space
        logging.getLogger(__name__).warning("could not remove %s", path, exc_info=True)


# --- bulk import ------------------------------------------------------------------------


@dataclass
class ImportReport:
    created: int = 0
    revised: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    index_error: Exception | None = None  # the documents are saved, the search index was not written


def corpus_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


def import_file(path: Path, source: str, category: str, actor, now: datetime) -> str:
    """Import one corpus file; returns ``created``, ``revised`` or ``unchanged``."""
    if path.suffix.lower() not in (".md", ".markdown", ".txt"):
        raise ImportFailure("不是 Markdown 或文本文件")
    parsed = parse_markdown(decode_text(path.read_bytes()), path.name, require_title=True)
    data = services.DocumentData(title=parsed.title, category=category, body=parsed.body, issuer=parsed.issuer,
                                 published_on=parsed.published_on, summary=parsed.summary,
                                 status=DocStatus.PUBLISHED)
    digest = services.content_hash(services._validate(data))
    existing = db.session.scalar(select(Document).where(Document.source_path == source))
    if existing is None:
        if db.session.scalar(select(Document.id).where(Document.content_hash == digest).limit(1)):
            return "unchanged"  # the same text is already in the library under another path
        classify_imported(services.create_document(data, actor, now, note="批量导入", source_path=source), source)
        return "created"
    changed = services.update_document(existing, data, actor, now, note="批量导入：文件已更新")
    classify_imported(existing, source)
    return "revised" if changed else "unchanged"


def import_tree(root: Path, category: str, actor, now: datetime, files: list[Path] | None = None,
                progress=None, batch: int | None = None) -> ImportReport:
    root = Path(root)
    files = files if files is not None else corpus_files(root)
    base = root.parent if root.is_dir() else root.parent
    report, batch = ImportReport(), batch or BATCH
    with following.following_in_bulk() as bulk:
        try:
            _import_files(files, base, category, actor, now, report, progress, batch)
        except BaseException:
            # (a full disk, a dead database) the batch not yet committed is undone; the index
            # then follows what was committed
            db.session.rollback()
            raise
    report.index_error = bulk.index_error
    return report


def _import_files(files, base, category, actor, now, report, progress, batch) -> None:
    for i, path in enumerate(files, 1):
        source = str(path.relative_to(base))[:500]
        try:
            with db.session.begin_nested():
                outcome = import_file(path, source, category, actor, now)
        except (ImportFailure, services.LibraryError) as exc:
            report.failed.append((source, str(exc)))
        except OSError as exc:
            report.failed.append((source, f"无法读取文件：{exc.strerror or exc}"))
        else:
            setattr(report, outcome, getattr(report, outcome) + 1)
        if i % batch == 0:
            db.session.commit()
            db.session.expunge_all()  # the bodies of committed documents need not stay in memory
        if progress:
            progress(path)
    db.session.commit()
