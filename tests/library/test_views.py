"""Editors build the library in the browser; members read published documents only."""
from sqlalchemy import select

from school.extensions import db
from school.library.models import Document, DocumentRevision

BODY = "## 第一章 总则\n\n第一条 为了加强基层党组织建设，制定本规定。\n\n第二条 党支部是党的基础组织。\n"


def _form(**overrides):
    data = dict(title="党支部工作条例", category="policy", issuer="中共中央", published_on="2018-10-28",
                tags="支部建设，基层治理", summary="", body=BODY, status="published", note="")
    data.update(overrides)
    return data


def test_editor_creates_edits_and_restores(client, auth, make):
    editor = make.user(role="editor")
    auth.login(editor)
    response = client.post("/library/manage/new", data=_form(status="draft"))
    assert response.status_code == 302
    doc = db.session.scalar(select(Document))
    assert doc.tags == "支部建设,基层治理" and doc.status == "draft"

    client.post(f"/library/manage/{doc.id}/edit", data=_form(body=BODY + "\n第三条 新增。\n", note="增加第三条"))
    client.post(f"/library/manage/{doc.id}/edit", data=_form(body=BODY + "\n第三条 新增。\n", note="未改"))
    db.session.expire_all()
    revisions = db.session.scalars(select(DocumentRevision).order_by(DocumentRevision.number)).all()
    assert [r.note for r in revisions] == ["创建", "增加第三条"]
    assert revisions[1].created_by_id == editor.id
    page = client.get(f"/library/manage/{doc.id}/revisions").get_data(as_text=True)
    assert "增加第三条" in page and "恢复此版本" in page

    assert client.post(f"/library/manage/{doc.id}/revisions/1/restore").status_code == 302
    db.session.expire_all()
    assert "第三条" not in db.session.get(Document, doc.id).body
    assert db.session.scalar(select(DocumentRevision).order_by(DocumentRevision.number.desc())).note == "恢复到第 1 版"


def test_invalid_form_keeps_input_and_explains(client, auth, make):
    auth.login(make.user(role="admin"))
    page = client.post("/library/manage/new", data=_form(title="", body="写了很多内容")).get_data(as_text=True)
    assert "请填写标题" in page and "写了很多内容" in page
    page = client.post("/library/manage/new", data=_form(body="  ")).get_data(as_text=True)
    assert "正文为空的文献不能发布" in page
    assert db.session.scalar(select(Document)) is None


def test_preview_is_sanitised(client, auth, make):
    auth.login(make.user(role="editor"))
    response = client.post("/library/manage/preview", json={"body": "第一条 <script>x()</script>内容"})
    assert response.status_code == 200
    assert "<script" not in response.json["html"] and 'id="第一条"' in response.json["html"]


def test_members_read_published_documents_only(client, auth, make, add_doc):
    published = add_doc("党支部工作条例", BODY)
    draft = add_doc("未发布的草稿", "草稿内容。", status="draft")
    auth.login(make.user())
    page = client.get(f"/library/doc/{published.id}").get_data(as_text=True)
    assert 'id="第二条"' in page and 'href="#h-第一章总则"' in page and "library-read.js" in page
    assert client.get(f"/library/doc/{draft.id}").status_code == 404
    listing = client.get("/library/category/policy").get_data(as_text=True)
    assert "党支部工作条例" in listing and "未发布的草稿" not in listing
    results = client.get("/library/search", query_string={"q": "草稿内容"}).get_data(as_text=True)
    assert "未发布的草稿" not in results
    results = client.get("/library/search", query_string={"q": "党支部是党的基础组织"}).get_data(as_text=True)
    assert "#第二条" in results and "<mark>" in results
    db.session.expire_all()
    assert db.session.get(type(published), published.id).read_count == 1
    home = client.get("/library/").get_data(as_text=True)
    assert "阅读最多" in home and "党支部工作条例" in home


def test_columns(client, auth, make, add_doc):
    first, second = add_doc("文献甲", "正文甲。"), add_doc("文献乙", "正文乙。")
    auth.login(make.user(role="editor"))
    bad = client.post("/library/manage/columns/new", data={"title": "主题教育", "documents": "999"})
    assert "找不到这些编号的文献：999" in bad.get_data(as_text=True)
    response = client.post("/library/manage/columns/new", data={
        "title": "主题教育", "introduction": "**学思想**", "documents": f"{second.id}\n/library/doc/{first.id}",
        "published": "y"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"].replace("/manage/columns/", "/columns/")).get_data(as_text=True)
    assert page.index("文献乙") < page.index("文献甲") and "<strong>学思想</strong>" in page
