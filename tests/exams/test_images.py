"""Pictures in questions: checked by content, stripped of metadata, stored once by hash,
served to anyone signed in with the right headers, inserted into the GIFT text."""
from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from school.accounts.models import Role
from school.exams import bank, editing, exports, images
from school.exams.formats import gift
from school.exams.models import Question
from school.extensions import db
from school.timeutil import utcnow

SECRET_MAKE = "SecretPhone-9000"


def phone_exif(orientation: int = 1) -> Image.Exif:
    """What a phone writes: maker, orientation and a GPS position."""
    exif = Image.Exif()
    exif[0x010F] = SECRET_MAKE
    exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (30.0, 15.0, 12.5), "E", (120.0, 10.0, 5.0)
    return exif


def encode(fmt: str, size=(60, 40), color="red", mode="RGB", **options) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **options)
    return buffer.getvalue()


def png(size=(60, 40), color="red") -> bytes:
    return encode("PNG", size, color)


def jpeg_with_gps(size=(60, 40), orientation=1) -> bytes:
    return encode("JPEG", size, "blue", exif=phone_exif(orientation))


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge picture (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def stored_files(app) -> list[Path]:
    folder = Path(app.config["MEDIA_DIR"]) / "exam-images"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --- the checks, without HTTP -------------------------------------------------------------


@pytest.mark.parametrize("fmt,extension,mimetype", [
    ("PNG", "png", "image/png"), ("JPEG", "jpg", "image/jpeg"), ("GIF", "gif", "image/gif"),
    ("WEBP", "webp", "image/webp")])
def test_each_allowed_format_is_accepted_as_itself(fmt, extension, mimetype):
    prepared = images.check(encode(fmt))
    assert (prepared.extension, prepared.mimetype, prepared.width, prepared.height) == (extension, mimetype, 60, 40)
    assert Image.open(io.BytesIO(prepared.data)).format == fmt
    assert re.fullmatch(r"[0-9a-f]{64}\." + extension, prepared.name)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_exif_gps_and_xmp_are_stripped(fmt):
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description GPSLatitude="30,15N"/></x:xmpmeta>'
    original = encode(fmt, exif=phone_exif(), **({"xmp": xmp} if fmt != "PNG" else {}))
    assert SECRET_MAKE.encode() in original
    cleaned = images.check(original).data
    assert SECRET_MAKE.encode() not in cleaned and b"GPSLatitude" not in cleaned
    reopened = Image.open(io.BytesIO(cleaned))
    assert dict(reopened.getexif()) == {} and "xmp" not in reopened.info and "exif" not in reopened.info


def test_png_text_chunks_and_gif_comments_are_stripped():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Location", "东村三组田头")
    assert "东村".encode() not in images.check(encode("PNG", pnginfo=info)).data
    assert b"secret" not in images.check(encode("GIF", mode="P", color=1, comment=b"secret place")).data


def test_a_photo_taken_sideways_is_turned_upright():
    prepared = images.check(jpeg_with_gps(size=(60, 40), orientation=6))
    assert (prepared.width, prepared.height) == (40, 60)


def test_a_phone_jpeg_with_a_second_picture_inside_is_a_jpeg():
    photo, depth = Image.new("RGB", (60, 40), "green"), Image.new("RGB", (30, 20), "black")
    buffer = io.BytesIO()
    photo.save(buffer, "MPO", save_all=True, append_images=[depth], exif=phone_exif())
    assert Image.open(io.BytesIO(buffer.getvalue())).format == "MPO"
    prepared = images.check(buffer.getvalue())
    assert (prepared.extension, prepared.width, prepared.height) == ("jpg", 60, 40)
    assert SECRET_MAKE.encode() not in prepared.data
    assert Image.open(io.BytesIO(prepared.data)).format == "JPEG"


def test_a_large_photo_is_scaled_down_for_weak_connections():
    prepared = images.check(encode("JPEG", size=(4032, 3024)))
    assert (prepared.width, prepared.height) == (2000, 1500)


def test_an_animated_gif_keeps_its_frames_and_timing():
    frames = [Image.new("RGB", (30, 30), c) for c in ("red", "green", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0,
                   comment=b"secret")
    out = Image.open(io.BytesIO(images.check(buffer.getvalue()).data))
    assert out.n_frames == 3 and out.info["loop"] == 0 and "comment" not in out.info


@pytest.mark.parametrize("data,message", [
    (b"", "文件是空的"),
    ("第一条 党员必须……".encode() * 10, "这个文件不是图片"),  # a text file renamed .png
    (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "这个文件不是图片"),
    (b"%PDF-1.4\n", "这个文件不是图片"),
    (png(size=(300, 300))[:200], "图片不完整或已损坏"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "图片不完整或已损坏"),
    (b"\x89PNG\r\n\x1a\n" + b"\0" * (images.MAX_BYTES + 1), "图片不能超过 10 MB"),
    (png_claiming(20000, 20000), "图片尺寸过大"),
    (png_claiming(13000, 10), "图片尺寸过大"),
])
def test_bad_uploads_are_refused_in_chinese(data, message):
    with pytest.raises(images.ImageError, match=message):
        images.check(data)


def test_a_truncated_jpeg_is_refused():
    photo = _noisy_jpeg()
    with pytest.raises(images.ImageError, match="图片不完整或已损坏"):
        images.check(photo[: len(photo) // 2])


def _noisy_jpeg() -> bytes:
    import random

    rng = random.Random(7)
    image = Image.frombytes("RGB", (200, 150), bytes(rng.getrandbits(8) for _ in range(200 * 150 * 3)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def test_the_same_picture_is_stored_once(app):
    first = images.save_upload(png(), None)
    second = images.save_upload(png(), None)
    assert first.name == second.name and first.new and not second.new
    assert stored_files(app) == [images.path_of(first.name)]
    images.save_upload(png(color="green"), None)
    assert len(stored_files(app)) == 2


def test_names_the_server_never_makes_are_not_paths(app):
    for name in ("../secret_key", "a" * 64 + ".svg", "A" * 64 + ".png", "a" * 63 + ".png", ""):
        assert images.path_of(name) is None


# --- putting the picture into the GIFT text ------------------------------------------------

SNIP = "![图](/exams/images/x.png)"


@pytest.mark.parametrize("text,at,expected", [
    ("中国共产党成立于哪一年？{~1919年 =1921年}", None, f"中国共产党成立于哪一年？  \n{SNIP}\n{{~1919年 =1921年}}"),
    # a fill-in question: the sentence goes on after the blank, the picture after the sentence
    ("党的根本宗旨是全心全意为{=人民}服务。", None, f"党的根本宗旨是全心全意为{{=人民}}服务。  \n{SNIP}\n"),
    ("", None, f"{SNIP}\n"),
    ("还没写答案", None, f"还没写答案  \n{SNIP}\n"),
    ("题干里的 \\{ 不是答案 {T}", None, f"题干里的 \\{{ 不是答案  \n{SNIP}\n{{T}}"),
    ("::名称::[html]<p>看图</p>{T}", None, "::名称::[html]<p>看图</p><br>\n" + SNIP + "\n{T}"),
    # the editor's cursor (sent by the page's script), counted after Windows line ends became "\n"
    ("看图\r\n回答{T}", 3, f"看图\n{SNIP}回答{{T}}"),
    ("看图{~甲 =乙}", 7, f"看图{{~甲 ={SNIP}乙}}"),  # inside an option: allowed
    ("看图{T}", 99, f"看图  \n{SNIP}\n{{T}}"),  # a cursor past the end is ignored
])
def test_insert_snippet(text, at, expected):
    new, caret = editing.insert_snippet(text, SNIP, at)
    assert new == expected
    assert new[caret - len(SNIP):caret] == SNIP


def test_snippet_follows_the_question_format():
    assert editing.image_snippet("看图{T}", "/exams/images/a.png", "田[间]照片") == "![田 间 照片](/exams/images/a.png)"
    assert editing.image_snippet("[html]看图{T}", "/exams/images/a.png", "说明") == \
        '<img src\\="/exams/images/a.png" alt\\="说明">'
    with pytest.raises(editing.EditError, match="纯文本格式"):
        editing.image_snippet("[moodle]看图{T}", "/exams/images/a.png", "")


def test_an_inserted_picture_parses_and_renders_as_an_img():
    text, _ = editing.insert_snippet("看图回答：这是什么作物？{~小麦 =水稻}", "![水稻田](/exams/images/" + "a" * 64 + ".jpg)")
    parsed = gift.parse(text).questions[0]
    html = str(editing.preview(text))
    assert parsed.qtype == "single"
    assert f'<img alt="水稻田" src="/exams/images/{"a" * 64}.jpg">' in html


# --- through HTTP --------------------------------------------------------------------------


def _upload(client, data: bytes, filename="photo.png", gift_text="看图回答：这是什么作物？{~小麦 =水稻}", alt="水稻田",
            question_id=None, **fields):
    url = f"/exams/bank/questions/{question_id}/edit" if question_id else "/exams/bank/questions/new"
    form = {"gift": gift_text, "points": "1", "difficulty": "3", "image_alt": alt, "insert_image": "插入图片",
            "image": (io.BytesIO(data), filename), **fields}
    return client.post(url, data=form, content_type="multipart/form-data")


def _editor(auth, make):
    auth.login(make.user(org=make.org(), role=Role.EDITOR))


def _textarea(page: str) -> str:
    import html

    return html.unescape(re.search(r'<textarea[^>]*name="gift"[^>]*>\r?\n?(.*?)</textarea>', page, re.S).group(1))


def test_editor_inserts_a_png_without_javascript(app, client, auth, make):
    _editor(auth, make)
    response = _upload(client, png())
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    [path] = stored_files(app)
    url = f"/exams/images/{path.name}"
    assert _textarea(page) == f"看图回答：这是什么作物？  \n![水稻田]({url})\n{{~小麦 =水稻}}"
    assert "已插入图片" in page and "尚未保存" in page and "60×40" in page
    caret = int(re.search(r'data-caret="(\d+)"', page).group(1))  # the script puts the cursor after it
    assert _textarea(page)[:caret].endswith(f"({url})")
    assert f'<img alt="水稻田" src="{url}">' in page  # the unsaved preview
    assert db.session.query(Question).count() == 0  # inserting a picture saves nothing else


def test_editor_inserts_a_jpeg_at_the_cursor_and_the_same_photo_is_stored_once(app, client, auth, make):
    _editor(auth, make)
    photo = jpeg_with_gps()
    first = _upload(client, photo, "IMG_0001.JPG", gift_text="甲乙{T}", image_at="1")
    [path] = stored_files(app)
    assert path.suffix == ".jpg" and SECRET_MAKE.encode() not in path.read_bytes()
    assert _textarea(first.get_data(as_text=True)) == f"甲![水稻田](/exams/images/{path.name})乙{{T}}"
    again = _upload(client, photo, "副本.jpg")
    assert "未重复保存" in again.get_data(as_text=True)
    assert stored_files(app) == [path]


def test_a_picture_into_a_question_not_yet_written_then_saved(app, client, auth, make):
    _editor(auth, make)
    page = _upload(client, png(), gift_text="").get_data(as_text=True)
    text = _textarea(page)
    assert text.startswith("![水稻田](/exams/images/")
    saved = client.post("/exams/bank/questions/new", data={
        "gift": "看图：这是水稻。" + text.strip() + "{T}", "points": "1", "difficulty": "3"})
    assert saved.status_code == 302
    question = db.session.query(Question).one()
    assert question.stem.startswith("看图：这是水稻。![水稻田](/exams/images/")


def test_choosing_a_picture_and_pressing_save_inserts_it_and_saves_nothing(app, client, auth, make):
    _editor(auth, make)
    form = {"gift": "看图{T}", "points": "1", "difficulty": "3", "image": (io.BytesIO(png()), "a.png")}
    response = client.post("/exams/bank/questions/new", data=form, content_type="multipart/form-data")
    assert response.status_code == 200 and "已插入图片" in response.get_data(as_text=True)
    assert db.session.query(Question).count() == 0 and len(stored_files(app)) == 1


def test_pressing_insert_without_a_file_says_so(app, client, auth, make):
    _editor(auth, make)
    response = client.post("/exams/bank/questions/new", data={
        "gift": "", "points": "1", "difficulty": "3", "insert_image": "插入图片"}, content_type="multipart/form-data")
    assert "请先选择要插入的图片" in response.get_data(as_text=True)
    assert "请填写题目" not in response.get_data(as_text=True)


@pytest.mark.parametrize("data,filename,message", [
    ("这是一个改了扩展名的文本文件。".encode(), "chart.png", "这个文件不是图片"),
    (b"", "empty.jpg", "文件是空的"),
    (png(size=(300, 300))[:150], "cut.png", "图片不完整或已损坏"),
    (b"\xff\xd8\xff" + b"\0" * (images.MAX_BYTES + 10), "huge.jpg", "图片不能超过 10 MB"),
    (png_claiming(20000, 20000), "bomb.png", "图片尺寸过大"),
])
def test_each_bad_upload_gives_its_message_and_stores_nothing(app, client, auth, make, data, filename, message):
    _editor(auth, make)
    response = _upload(client, data, filename)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and message in page
    assert _textarea(page) == "看图回答：这是什么作物？{~小麦 =水稻}"  # the editor's text comes back untouched
    assert stored_files(app) == []


def test_a_plain_text_question_cannot_take_a_picture_and_stores_nothing(app, client, auth, make):
    _editor(auth, make)
    page = _upload(client, png(), gift_text="[plain]看图{T}").get_data(as_text=True)
    assert "纯文本格式" in page and stored_files(app) == []


def test_editing_a_saved_question_keeps_its_other_fields(app, client, auth, make):
    _editor(auth, make)
    question = Question(qtype="truefalse", stem="看图判断。", data={"answer": True}, points=2, difficulty=4)
    db.session.add(question)
    db.session.commit()
    page = client.get(f"/exams/bank/questions/{question.id}/edit").get_data(as_text=True)
    gift_text = _textarea(page)
    page = _upload(client, png(), gift_text=gift_text, question_id=question.id, points="2", difficulty="4")
    text = _textarea(page.get_data(as_text=True))
    saved = client.post(f"/exams/bank/questions/{question.id}/edit",
                        data={"gift": text, "points": "2", "difficulty": "4"})
    assert saved.status_code == 302
    db.session.expire_all()
    assert "![水稻田](/exams/images/" in db.session.get(Question, question.id).stem


@pytest.mark.parametrize("role", [Role.MEMBER, Role.SECRETARY])
def test_only_editors_may_upload(app, client, auth, make, role):
    auth.login(make.user(org=make.org(), role=role))
    assert _upload(client, png()).status_code == 403
    assert stored_files(app) == []


def test_an_upload_without_the_csrf_token_is_refused(app, client, auth, make):
    _editor(auth, make)
    response = client.post("/exams/bank/questions/new", csrf=False, content_type="multipart/form-data", data={
        "gift": "x", "points": "1", "difficulty": "3", "insert_image": "插入图片", "image": (io.BytesIO(png()), "a.png")})
    assert response.status_code == 400 and stored_files(app) == []


def test_a_member_sees_the_picture_with_the_right_headers(app, client, auth, make):
    stored = images.save_upload(jpeg_with_gps(), None)
    auth.login(make.user(org=make.org()))
    response = client.get(f"/exams/images/{stored.name}")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.data == images.path_of(stored.name).read_bytes()
    assert SECRET_MAKE.encode() not in response.data
    etag = response.headers["ETag"]
    assert client.get(f"/exams/images/{stored.name}", headers={"If-None-Match": etag}).status_code == 304


def test_png_is_served_as_png_and_unknown_names_are_404(app, client, auth, make):
    stored = images.save_upload(png(), None)
    auth.login(make.user(org=make.org()))
    assert client.get(f"/exams/images/{stored.name}").mimetype == "image/png"
    assert client.get(f"/exams/images/{'0' * 64}.png").status_code == 404
    assert client.get(f"/exams/images/{stored.name[:-4]}.gif").status_code == 404
    assert client.get("/exams/images/..%2Fsecret_key").status_code == 404


def test_accel_redirect_hands_the_file_to_nginx(app, client, auth, make):
    stored = images.save_upload(png(), None)
    app.config["ACCEL_REDIRECT"] = "/protected-media/"
    auth.login(make.user(org=make.org()))
    response = client.get(f"/exams/images/{stored.name}")
    assert response.headers["X-Accel-Redirect"] == f"/protected-media/exam-images/{stored.name[:2]}/{stored.name}"
    assert response.mimetype == "image/png" and response.data == b""


def test_an_anonymous_visitor_is_sent_to_log_in(app, client):
    stored = images.save_upload(png(), None)
    response = client.get(f"/exams/images/{stored.name}")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_member_taking_the_exam_sees_the_picture(app, client, auth, make):
    stored = images.save_upload(png(), None)
    url = f"/exams/images/{stored.name}"
    bank_ = make.questions()
    bank_[0].stem = f"看图回答：  \n![党旗]({url})"
    options = [dict(o) for o in bank_[0].data["options"]]
    options[1]["text"] = f"![选项图]({url})"
    bank_[0].data = {"options": options}  # a new value: JSON columns do not see changes made in place
    db.session.commit()
    exam = make.exam(bank_, utcnow())
    member = make.user(org=make.org())
    auth.login(member)
    started = client.post(f"/exams/{exam.id}/start")
    page = client.get(started.headers["Location"])
    html = page.get_data(as_text=True)
    assert f'<img alt="党旗" src="{url}">' in html and f'<img alt="选项图" src="{url}">' in html
    assert "img-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.get(url).status_code == 200


def test_gift_and_xlsx_export_keep_the_picture_address(app):
    url = f"/exams/images/{'b' * 64}.png"
    parsed = gift.parse(f"看图回答：  \n![图]({url}){{~小麦 =水稻}}").questions
    original = bank.save_parsed(parsed, None, utcnow())
    db.session.commit()
    exported = exports.question_bank(original, "gift").decode("utf-8")
    assert f"![图]({url})" in exported
    again = gift.parse(exported).questions[0]
    assert again.stem == original[0].stem
    from school.exams.formats import xlsx

    rows = xlsx.parse("bank.xlsx", exports.question_bank(original, "xlsx")).questions
    assert rows[0].stem == original[0].stem


def test_lists_show_a_picture_as_its_description_not_its_address(app, client, auth, make):
    from school.exams.text import summary

    url = f"/exams/images/{'c' * 64}.png"
    assert summary(f"看图回答：  \n![水稻田]({url})这是什么？") == "看图回答： [图：水稻田]这是什么？"
    assert summary("![](data:image/png;base64," + "A" * 5000 + ")看图") == "[图]看图"
    assert summary('<p>看图</p><img src="x.png" alt="a">') == "<p>看图</p>[图]"
    assert summary("长" * 100, 10) == "长" * 9 + "…"
    db.session.add(Question(qtype="truefalse", stem=f"看图判断：![水稻田]({url})", data={"answer": True}))
    db.session.commit()
    _editor(auth, make)
    page = client.get("/exams/bank").get_data(as_text=True)
    assert "看图判断：[图：水稻田]" in page and url not in page
