"""Hostile files built in the tests themselves: real ones, which the parsers as they were
would have ground through for minutes (a zip bomb inflates; every PDF page's shared
content stream is parsed again), not files that merely claim to be big."""
from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
CONTENT_TYPES = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                 b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                 b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                 b'<Default Extension="xml" ContentType="application/xml"/>'
                 b'<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                 b'officedocument.wordprocessingml.document.main+xml"/></Types>')
RELS = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        b'<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        b'officeDocument" Target="word/document.xml"/></Relationships>')


def _repeated_deflate(prefix: bytes, chunk: bytes, times: int, suffix: bytes) -> tuple[bytes, int, int]:
    """Raw deflate of ``prefix + chunk * times + suffix`` without compressing all of it: after a
    full flush the compressor starts afresh, so every copy of ``chunk`` compresses to the same
    bytes. Returns (compressed, crc32, uncompressed size)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.compress(suffix) + c.flush()
    crc = zlib.crc32(prefix)
    for _ in range(times):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(suffix, crc)
    return head + block * times + tail, crc, len(prefix) + len(chunk) * times + len(suffix)


def _zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip from (name, raw data, method, crc, uncompressed size) — data already deflated."""
    out, central = io.BytesIO(), []
    for name, data, method, crc, size in members:
        offset = out.tell()
        encoded = name.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(data), size,
                              len(encoded), 0) + encoded + data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(data),
                                   size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    start = out.tell()
    directory = b"".join(central)
    out.write(directory)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), start, 0))
    return out.getvalue()


def _stored(name: str, data: bytes) -> tuple[str, bytes, int, int, int]:
    return name, data, 0, zlib.crc32(data), len(data)


def docx_bomb(unpacked_mb: int = 300) -> bytes:
    """A valid .docx (mammoth reads it) of ~300 KB whose document.xml inflates to ``unpacked_mb`` MB
    of paragraphs."""
    paragraph = "<w:p><w:r><w:t>党的建设</w:t></w:r></w:p>".encode()
    chunk = paragraph * (1024 * 1024 // len(paragraph))
    prefix = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {W}><w:body>'.encode()
    data, crc, size = _repeated_deflate(prefix, chunk, unpacked_mb, b"</w:body></w:document>")
    return _zip([_stored("[Content_Types].xml", CONTENT_TYPES), _stored("_rels/.rels", RELS),
                 ("word/document.xml", data, 8, crc, size)])


def small_docx(text: str = "第一条 学习党章。") -> bytes:
    body = f'<?xml version="1.0" encoding="UTF-8"?><w:document {W}><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p>' \
           "</w:body></w:document>"
    return _zip([_stored("[Content_Types].xml", CONTENT_TYPES), _stored("_rels/.rels", RELS),
                 _stored("word/document.xml", body.encode())])


def pdf_shared_content(pages: int = 2000, lines: int = 400) -> bytes:
    """A PDF of ``pages`` pages that all point at one (compressed) content stream of ``lines``
    lines of text: small on disk, but every page's text is extracted from the whole stream."""
    content = "BT /F1 10 Tf 40 800 Td " + " ".join(f"(Line {i} of the shared stream) Tj 0 -2 Td"
                                                  for i in range(lines)) + " ET"
    stream = zlib.compress(content.encode())
    first_page = 5
    kids = " ".join(f"{first_page + i} 0 R" for i in range(pages))
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>",
               f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode() + stream + b"\nendstream",
               "<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"]
    objects += ["<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] /Contents 3 0 R /Resources 4 0 R >>"] * pages
    out, offsets = io.BytesIO(), []
    out.write(b"%PDF-1.4\n")
    for number, obj in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + (obj if isinstance(obj, bytes) else obj.encode()) + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    out.write("".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def xlsx_declaring_whole_sheet(headers: list[str]) -> bytes:
    """A few KB: the headers in row 1 and one cell in the sheet's last cell, XFD1048576, so the
    sheet declares <dimension ref="A1:XFD1048576"/>."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    sheet.cell(row=1048576, column=16384, value="x")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xlsx_with_lying_dimension(headers: list[str], row: int = 1048576) -> bytes:
    """Headers in row 1 and one cell at A``row``, but the sheet declares only A1:K1."""
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    sheet.cell(row=row, column=1, value="藏在最后一行")
    buffer = io.BytesIO()
    workbook.save(buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:K1"/>', data)
            target.writestr(info.filename, data)
    return out.getvalue()
