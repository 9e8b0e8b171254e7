"""BulkWriter builds the same index as Whoosh's own writer: postings, lengths, stored fields, scores."""
from datetime import datetime

from whoosh import index as windex
from whoosh import query as wq

from school.library import index
from school.library.index_builder import BulkWriter

SENTENCES = [
    "第一条 为了保障农民工按时足额获得工资，根据劳动法制定本条例。",
    "村民委员会是村民自我管理、自我教育、自我服务的基层群众性自治组织。",
    "中华人民共和国公民有劳动的权利和义务。Labour Law 2018",
    "农村集体经济组织依法代表成员集体行使所有权，劳动劳动再劳动。",
    "用人单位拖欠工资的，由劳动行政部门责令限期支付；逾期不支付的，加付赔偿金！",
]


def snapshots(count: int) -> list[dict]:
    """Enough documents that common words fill several postings blocks (128 postings each)."""
    docs = []
    for i in range(count):
        body = "\n".join(SENTENCES[j % len(SENTENCES)] for j in range(i % 7 + 1)) + f" 第{i}号"
        docs.append(dict(id=i + 1, title=f"条例{i % 13}号 劳动合同", body=body, issuer="全国人大常委会" if i % 2 else "",
                         tags="劳动,工资" if i % 3 else "", category="law" if i % 2 else "policy",
                         status="published", published_on=None, created_at=datetime(2000 + i % 25, 1, 1)))
    return docs


def build(tmp_path, name, bulk: bool, docs):
    path = tmp_path / name
    path.mkdir()
    ix = windex.create_in(str(path), index.make_schema())
    writer = BulkWriter(ix) if bulk else ix.writer()
    for snap in docs:
        writer.add_document(**index.fields_of(snap))
    writer.commit()
    return windex.open_dir(str(path))


def contents(ix) -> dict:
    """Everything a search can read back from an index."""
    with ix.reader() as reader:
        postings = {}
        for fieldname, tbytes in reader.all_terms():
            matcher = reader.postings(fieldname, tbytes)
            rows = []
            while matcher.is_active():
                rows.append((matcher.id(), matcher.weight(), matcher.value()))
                matcher.next()
            postings[(fieldname, tbytes)] = (reader.doc_frequency(fieldname, tbytes),
                                             reader.frequency(fieldname, tbytes), rows)
        lengths = {(d, f): reader.doc_field_length(d, f) for d in range(reader.doc_count_all())
                   for f in ("title", "body", "issuer", "tags")}
        stats = {f: (reader.field_length(f), reader.min_field_length(f), reader.max_field_length(f))
                 for f in ("title", "body", "issuer", "tags")}
        stored = [reader.stored_fields(d) for d in range(reader.doc_count_all())]
        return {"postings": postings, "lengths": lengths, "stats": stats, "stored": stored}


def test_bulk_index_holds_what_whooshs_writer_writes(tmp_path):
    docs = snapshots(300)
    ours, theirs = build(tmp_path, "bulk", True, docs), build(tmp_path, "whoosh", False, docs)
    mine, expected = contents(ours), contents(theirs)
    assert mine["postings"].keys() == expected["postings"].keys()
    assert max(len(rows) for _, _, rows in mine["postings"].values()) > 128  # several blocks
    assert mine == expected
    for q in [wq.Term("body", "劳动"), wq.Phrase("body", ["农民工", "按时"]), wq.Term("title", "劳动合同"),
              wq.And([wq.Term("body", "工资"), wq.NumericRange("year", 2010, 2015)])]:
        with ours.searcher() as a, theirs.searcher() as b:
            assert [(h["id"], round(h.score, 6)) for h in a.search(q, limit=None)] == \
                   [(h["id"], round(h.score, 6)) for h in b.search(q, limit=None)]
    ours.close(), theirs.close()


def test_bulk_index_accepts_later_updates_through_whooshs_writer(tmp_path):
    ix = build(tmp_path, "bulk", True, snapshots(20))
    writer = ix.writer()
    writer.update_document(**index.fields_of(snapshots(21)[-1] | {"id": 3, "title": "新标题 宅基地"}))
    writer.commit()
    with ix.searcher() as searcher:
        assert [h["id"] for h in searcher.search(wq.Term("title", "宅基地"))] == ["3"]
        assert searcher.doc_count() == 20
    ix.close()


def test_a_large_library_is_written_as_several_segments_with_the_same_results(tmp_path):
    docs = snapshots(120)
    (tmp_path / "one").mkdir(), (tmp_path / "several").mkdir()
    index.write_new_index(tmp_path / "one", docs)
    index.write_new_index(tmp_path / "several", docs, max_postings=1500)
    one, several = windex.open_dir(str(tmp_path / "one")), windex.open_dir(str(tmp_path / "several"))
    assert len(one._segments()) == 1 and len(several._segments()) > 2
    for q in [wq.Term("body", "劳动"), wq.Phrase("body", ["农民工", "按时"]), wq.Term("title", "劳动合同")]:
        with one.searcher() as a, several.searcher() as b:
            assert [(h["id"], round(h.score, 6)) for h in a.search(q, limit=None)] == \
                   [(h["id"], round(h.score, 6)) for h in b.search(q, limit=None)]
            assert b.doc_count() == 120
    one.close(), several.close()
