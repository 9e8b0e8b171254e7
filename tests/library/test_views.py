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


def test_members_read_published_documents_only(client, auth, make):
    published = make.document("党支部工作条例", BODY)
    draft = make.document("未发布的草稿", "草稿内容。", status="draft")
    auth.login(make.user())
    page = client.get(f"/library/doc/{published.id}").get_data(as_text=True)
    assert 'id="第二条"' in page and 'href="#h-第一章总则"' in page and "/static/js/library-read." in page
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


def test_columns(client, auth, make):
    first, second = make.document("文献甲", "正文甲。"), make.document("文献乙", "正文乙。")
    auth.login(make.user(role="editor"))
    bad = client.post("/library/manage/columns/new", data={"title": "主题教育", "documents": "999"})
    assert "找不到这些编号的文献：999" in bad.get_data(as_text=True)
    response = client.post("/library/manage/columns/new", data={
        "title": "主题教育", "introduction": "**学思想**", "documents": f"{second.id}\n/library/doc/{first.id}",
        "published": "y"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"].replace("/manage/columns/", "/columns/")).get_data(as_text=True)
    assert page.index("文献乙") < page.index("文献甲") and "<strong>学思想</strong>" in page


# --- deleting a document ---------------------------------------------------------------


def test_editor_deletes_after_confirming(client, auth, make):
    from school.library import search
    from school.library.models import ReadingPosition

    doc = make.document("待删除的通知", "第一条 这是一份过时的通知。")
    kept = make.document("党支部工作条例", BODY)
    doc_id, kept_id = doc.id, kept.id
    member = make.user()
    auth.login(member)
    client.post(f"/library/doc/{doc_id}/heartbeat", json={"visible": True, "anchor": "第一条", "fraction": 0.3})
    auth.logout()
    assert search.search("过时的通知").total == 1

    auth.login(make.user(role="editor"))
    assert f"/library/manage/{doc_id}/delete" in client.get(f"/library/manage/{doc_id}/edit").get_data(as_text=True)
    assert f"/library/manage/{doc_id}/delete" in client.get("/library/manage/").get_data(as_text=True)
    page = client.get(f"/library/manage/{doc_id}/delete").get_data(as_text=True)
    assert "待删除的通知" in page and "确认删除" in page and 'name="csrf_token"' in page
    assert "全部 1 个历史版本" in page and "1 位党员的阅读进度" in page and "学时" in page
    assert "<script>" not in page and "onclick" not in page

    response = client.post(f"/library/manage/{doc_id}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith("/library/manage/")
    listing = client.get("/library/manage/").get_data(as_text=True)
    assert "已删除文献《待删除的通知》" in listing and "待删除的通知" not in listing.replace("已删除文献《待删除的通知》", "")
    assert "党支部工作条例" in listing
    db.session.expire_all()
    assert db.session.get(Document, doc_id) is None and db.session.get(ReadingPosition, (member.id, doc_id)) is None
    assert search.search("过时的通知").total == 0
    # A second submit (a double click, the back button) finds nothing to delete.
    assert client.post(f"/library/manage/{doc_id}/delete").status_code == 404
    assert client.get(f"/library/manage/{doc_id}/delete").status_code == 404
    assert db.session.get(Document, kept_id) is not None


def test_delete_refused_while_a_lesson_uses_the_document(client, auth, make):
    from school.courses import services as courses
    from school.timeutil import utcnow

    doc = make.document("党支部工作条例", BODY)
    course = courses.save_course(courses.CourseData(title="基层组织建设", slug="jiceng"), None, utcnow())
    courses.add_document_lesson(course, "", str(doc.id), utcnow())
    db.session.commit()
    auth.login(make.user(role="admin"))
    page = client.get(f"/library/manage/{doc.id}/delete").get_data(as_text=True)
    message = "《党支部工作条例》正被课程《基层组织建设》的课时《党支部工作条例》使用，不能删除。"
    assert message in page and "确认删除" not in page
    response = client.post(f"/library/manage/{doc.id}/delete")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/library/manage/{doc.id}/delete")
    assert message in client.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Document, doc.id) is not None
    assert len(db.session.scalars(select(DocumentRevision).where(DocumentRevision.document_id == doc.id)).all()) == 1


def test_delete_needs_an_editor_and_a_csrf_token(client, auth, make):
    doc = make.document("党支部工作条例", BODY)
    for role in ("member", "secretary"):
        auth.login(make.user(role=role))
        assert client.get(f"/library/manage/{doc.id}/delete").status_code == 403
        assert client.post(f"/library/manage/{doc.id}/delete").status_code == 403
        auth.logout()
    auth.login(make.user(role="editor"))
    assert client.post(f"/library/manage/{doc.id}/delete", csrf=False).status_code == 400
    assert client.post(f"/library/manage/{doc.id}/delete", data={"csrf_token": "forged"}).status_code == 400
    db.session.expire_all()
    assert db.session.get(Document, doc.id) is not None
