"""Bulk import of corpus-format files and single uploads of every supported kind."""
import io
import re
import shutil

import pytest
from sqlalchemy import func, select

from school.extensions import db
from school.library import importer, index, search
from school.library.models import Document, DocumentRevision
from school.timeutil import utcnow


def test_import_tree_reports_failures_and_is_idempotent(app, copy_corpus, corpus, runner):
    root = copy_corpus("社会法/劳动法(2018-12-29).md", "民法典/婚姻家庭编.md")
    odd = root / "奇怪 名字（附件）【2024】 copy.md"
    shutil.copy(corpus / "社会法/反家庭暴力法(2015-12-27).md", odd)
    text = (corpus / "诉讼与非诉讼程序法/人民调解法(2010-08-28).md").read_text("utf-8")
    (root / "GBK 编码.md").write_bytes(text.replace("人民调解法", "人民调解法（GBK）").encode("gbk"))
    (root / "无标题.md").write_text("第一条 没有标题的文件。\n", "utf-8")
    (root / "图片.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    (root / "说明.pdf").write_bytes(b"%PDF-1.4")

    result = runner.invoke(args=["library", "import", str(root), "--category", "法律法规"])
    assert result.exit_code == 0, result.output
    assert "新增 4 篇" in result.output and "失败 3 个文件" in result.output
    assert "无标题.md：缺少标题" in result.output
    assert "图片.md：不是文本文件" in result.output
    assert "说明.pdf：不是 Markdown 或文本文件" in result.output
    titles = set(db.session.scalars(select(Document.title)))
    assert {"中华人民共和国劳动法", "中华人民共和国反家庭暴力法"} <= titles
    assert any("（GBK）" in t for t in titles)

    again = runner.invoke(args=["library", "import", str(root)])
    assert "新增 0 篇，更新 0 篇，未变 4 篇" in again.output

    law = root / "社会法/劳动法(2018-12-29).md"
    law.write_text(law.read_text("utf-8") + "\n第一百零八条 新增的条文。\n", "utf-8")
    changed = runner.invoke(args=["library", "import", str(root)])
    assert "更新 1 篇" in changed.output
    doc = db.session.scalar(select(Document).where(Document.title == "中华人民共和国劳动法"))
    assert db.session.scalar(select(func.count()).where(DocumentRevision.document_id == doc.id)) == 2
    assert search.search('"新增的条文"').hits[0].document.id == doc.id


LIVE_FILES = ["社会法/劳动法(2018-12-29).md", "民法典/婚姻家庭编.md", "社会法/反家庭暴力法(2015-12-27).md",
              "诉讼与非诉讼程序法/人民调解法(2010-08-28).md"]


@pytest.mark.parametrize("rebuild_at, rebuilds, updates", [(3, 1, 0), (100, 0, 1)])
def test_import_into_a_live_index_writes_it_once(app, copy_corpus, monkeypatch, rebuild_at, rebuilds, updates):
    search.search("预热")  # the index exists and is followed
    root = copy_corpus(*LIVE_FILES)
    calls = {"rebuild": 0, "apply": 0}
    real_rebuild, real_apply = index.rebuild, index.apply_changes
    monkeypatch.setattr(index, "REBUILD_AT", rebuild_at)
    monkeypatch.setattr(index, "rebuild", lambda: calls.__setitem__("rebuild", calls["rebuild"] + 1) or real_rebuild())
    monkeypatch.setattr(index, "apply_changes",
                        lambda changes: calls.__setitem__("apply", calls["apply"] + 1) or real_apply(changes))

    report = importer.import_tree(root, "law", None, utcnow(), batch=1)  # a commit per file

    assert report.created == 4
    assert calls == {"rebuild": rebuilds, "apply": updates}
    assert index.is_current()
    assert search.search("家庭暴力").hits[0].document.title == "中华人民共和国反家庭暴力法"


def test_a_failing_import_still_indexes_what_it_committed(app, copy_corpus, monkeypatch):
    search.search("预热")
    root = copy_corpus(*LIVE_FILES)
    files = importer.corpus_files(root)
    real = importer.import_file

    def crash_on_third(path, *args):
        if path == files[2]:
            raise RuntimeError("磁盘出错")
        return real(path, *args)

    monkeypatch.setattr(importer, "import_file", crash_on_third)
    with pytest.raises(RuntimeError):
        importer.import_tree(root, "law", None, utcnow(), files=files, batch=1)
    assert index.is_current()
    assert search.search("劳动").total >= 1


def test_corpus_metadata(corpus):
    parsed = importer.parse_markdown((corpus / "社会法/劳动法(2018-12-29).md").read_text("utf-8"),
                                     "劳动法(2018-12-29).md")
    assert parsed.title == "中华人民共和国劳动法"
    assert parsed.published_on.isoformat() == "2018-12-29"
    assert parsed.issuer.startswith("全国人民代表大会")
    assert parsed.body.lstrip().startswith("## 第一章")


def test_extract_txt_in_gbk_and_utf8():
    gbk = "关于做好村级换届工作的通知\n各村党支部：\n第一条 认真组织。\n".encode("gbk")
    extracted = importer.extract("通知.txt", gbk)
    assert extracted.title == "关于做好村级换届工作的通知" and "认真组织" in extracted.body
    assert importer.extract("a.txt", "一段很长的正文" * 20 .encode() if False else ("正文" * 40).encode()).title == "a"


def _docx(paragraphs):
    import docx
    document = docx.Document()
    for style, text in paragraphs:
        document.add_paragraph(text, style=style)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_extract_docx_and_its_html_is_sanitised():
    data = _docx([("Heading 1", "学习材料"), ("Heading 2", "第一章 总则"), ("Normal", "第一条 <script>alert(1)</script> 学习。"),
                  ("Normal", '<img src=x onerror="alert(1)"> [x](javascript:alert(1))')])
    extracted = importer.extract("材料.docx", data)
    from school.library.rendering import render
    html = render(extracted.body).html.lower()
    assert extracted.title == "学习材料"
    tags = re.findall(r"<[^>]+>", html)
    assert not [t for t in tags if "script" in t or "onerror" in t or "javascript:" in t or "<img" in t], tags
    assert "&lt;script&gt;" in html  # what the author typed is shown as text
    assert 'id="第一条"' in html


def _pdf(text_lines):
    """A real one-page PDF with text, written by hand (standard Helvetica, ASCII text)."""
    content = "BT /F1 12 Tf 72 720 Td " + " ".join(f"({line}) Tj 0 -16 Td" for line in text_lines) + " ET"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
               f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for i, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n{obj}\nendobj\n".encode())
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


@pytest.mark.parametrize("name, data, message", [
    ("a.exe", b"MZ", "不支持的文件类型"),
    ("a.md", b"", "文件是空的"),
    ("a.docx", b"not a zip", "Word 文件已损坏"),
    ("a.docx", b"PK\x03\x04broken", "Word 文件已损坏"),
    ("a.pdf", b"hello", "不是 PDF 文件"),
    ("a.pdf", b"%PDF-1.4 broken", "PDF"),
    ("a.txt", b"\x00\x01\x02", "不是文本文件"),
])
def test_bad_files_are_explained(name, data, message):
    with pytest.raises(importer.ImportFailure, match=message):
        importer.extract(name, data)


def test_upload_pdf_in_browser_keeps_file_for_download(app, client, auth, make, tmp_path):
    editor = make.user(role="editor")
    auth.login(editor)
    pdf = _pdf(["Party newspaper page one", "Rural revitalisation report"])
    response = client.post("/library/manage/upload", data={"file": (io.BytesIO(pdf), "人民日报 2024-01-01.pdf"),
                                                           "category": "press"},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    doc = db.session.scalar(select(Document))
    assert doc.status == "draft" and doc.file_name == "人民日报 2024-01-01.pdf"
    assert "revitalisation" in doc.body.lower()
    assert search.search("revitalisation", include_drafts=True).total == 1
    download = client.get(f"/library/doc/{doc.id}/file")
    assert download.status_code == 200 and download.data == pdf

    bad = client.post("/library/manage/upload", data={"file": (io.BytesIO(b"junk"), "坏文件.docx"), "category": "press"},
                      content_type="multipart/form-data", follow_redirects=True)
    assert "未能导入：Word 文件已损坏" in bad.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Document.id))) == 1
