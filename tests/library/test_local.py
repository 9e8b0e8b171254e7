"""Local regulations (../shared/corpus/local): level 地方性法规 and the province and city they
apply in, however the folder is laid out, and a 地区 filter on the search."""
import shutil

import pytest
from sqlalchemy import select

from school.extensions import db
from school.library import levels, search
from school.library.models import Document

# (file under local/, region expected). Files copied flat into a folder named like none of the
# corpus folders: the region must come from the title and the lines about adoption.
FILES = {
    "广东地方法规/地方性法规/广东/深圳经济特区数据条例(2021-07-06).md": "广东 · 深圳",
    "广东地方法规/地方性法规/广东/广东省大气污染防治条例(2022-11-30).md": "广东",
    "浙江地方法规/地方性法规/浙江/杭州市预防和制止家庭暴力条例(2010-05-04).md": "浙江 · 杭州",
    "重庆地方法规/地方性法规/重庆/彭水苗族土家族自治县旅游条例(2019-04-19).md": "重庆",
    "上海地方法规/地方性法规/上海/上海市不动产登记若干规定(2020-11-27).md": "上海",
}


@pytest.fixture
def local_corpus(corpus):
    local = corpus.parent / "local"
    if not local.is_dir() or not all((local / rel).is_file() for rel in FILES):
        pytest.skip("需要 ../shared/corpus/local 中的地方性法规语料；本机没有，跳过")
    return local


def _import_flat(local, tmp_path, runner):
    root = tmp_path / "上传"
    root.mkdir()
    for rel in FILES:
        shutil.copy(local / rel, root / rel.rsplit("/", 1)[1])
    result = runner.invoke(args=["library", "import", str(root), "--category", "law"])
    assert result.exit_code == 0, result.output
    assert f"新增 {len(FILES)} 篇" in result.output


def test_flat_import_takes_level_and_region_from_the_document(app, local_corpus, tmp_path, runner):
    _import_flat(local_corpus, tmp_path, runner)
    docs = {d.source_path.rsplit("/", 1)[1]: d for d in db.session.scalars(select(Document))}
    for rel, region in FILES.items():
        doc = docs[rel.rsplit("/", 1)[1]]
        assert (doc.level, doc.region, doc.category) == ("local", region, "law"), doc.title
        assert doc.level_label == "地方性法规"


def test_corpus_layout_import(app, local_corpus, tmp_path, runner):
    root = tmp_path / "local"
    for rel in FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(local_corpus / rel, root / rel)
    assert runner.invoke(args=["library", "import", str(root), "--category", "法律法规"]).exit_code == 0
    assert sorted(db.session.scalars(select(Document.region))) == sorted(FILES.values())


def test_search_filters_by_province_and_city(app, local_corpus, tmp_path, runner, client, auth, make):
    _import_flat(local_corpus, tmp_path, runner)
    make.document("中华人民共和国数据安全法", "第一条 为了规范数据处理活动，保障数据安全，制定本法。\n")
    everywhere = {h.document.title for h in search.search("条例", per_page=50).hits}
    assert {"深圳经济特区数据条例", "广东省大气污染防治条例", "杭州市预防和制止家庭暴力条例"} <= everywhere
    guangdong = {h.document.region for h in search.search("条例", region="广东", per_page=50).hits}
    assert guangdong == {"广东", "广东 · 深圳"}
    shenzhen = [h.document.title for h in search.search("数据", region="广东 · 深圳").hits]
    assert shenzhen == ["深圳经济特区数据条例"]

    auth.login(make.user())
    page = client.get("/library/search?q=数据&region=广东").get_data(as_text=True)
    assert 'name="region"' in page and '<option value="广东 · 深圳">' in page
    assert '<option value="广东" selected>' in page
    assert "深圳经济特区数据条例" in page and "数据安全法" not in page
    cli = runner.invoke(args=["library", "search", "数据", "--region", "广东 · 深圳", "--json"])
    assert '"title": "深圳经济特区数据条例"' in cli.output and "数据安全法" not in cli.output
    unknown = client.get("/library/search?q=数据&region=火星").get_data(as_text=True)
    assert "数据安全法" in unknown  # an unknown region is no filter, not an empty page


@pytest.mark.parametrize("title, path, info, region", [
    ("济南市电力管理条例", "x.md", "济南市第十届人民代表大会常务委员会第九次会议通过 山东省第八届人民代表大会常务委员会批准", "山东 · 济南"),
    ("中国（浙江）自由贸易试验区条例", "x.md", "浙江省第十二届人民代表大会常务委员会第四十六次会议通过", "浙江"),
    ("宁波市企业工资集体协商条例", "x.md", "市十四届人民代表大会常务委员会第十二次会议通过", "浙江 · 宁波"),
    ("关于议案的若干暂行规定", "北京地方法规/地方性法规/北京/关于议案的若干暂行规定.md", "", "北京"),
])
def test_region_of(title, path, info, region):
    assert levels.classify(title, path, "", info) == "local"
    assert levels.region_of(title, path, info) == region


def test_national_laws_stay_national():
    info = "1994年7月5日第八届全国人民代表大会常务委员会第八次会议通过"
    assert levels.classify("中华人民共和国劳动法", "劳动法.md", "", info) == "law"
    assert levels.region_of("中华人民共和国劳动法", "劳动法.md", info) == ""
