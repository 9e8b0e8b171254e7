"""``school library search`` and ``school search rebuild`` from a terminal."""
import json

from school.library import search


def test_search_command_text_and_json(app, runner, make):
    doc = make.document("中华人民共和国村民委员会组织法", "## 第一章 总则\n\n第二条 村民委员会是村民自我管理的基层群众性自治组织。\n",
                  category="law")
    make.document("草稿：村委会换届指引", "村民委员会换届选举。", status="draft")
    out = runner.invoke(args=["library", "search", "村委会", "--limit", "5"])
    assert out.exit_code == 0, out.output
    assert "共 2 条结果" in out.output and "中华人民共和国村民委员会组织法  [法律法规]  得分" in out.output
    assert f"/library/doc/{doc.id} #第二条" in out.output
    data = json.loads(runner.invoke(args=["library", "search", "村委会", "--json", "--category", "法律法规"]).output)
    assert data["total"] == 1 and data["results"][0]["id"] == doc.id and data["results"][0]["anchor"] == "第二条"
    assert runner.invoke(args=["library", "search", "，，", "--json"]).exit_code == 0
    bad = runner.invoke(args=["library", "search", "x", "--category", "小说"])
    assert bad.exit_code != 0 and "未知的分类" in bad.output


def test_rebuild_command(app, runner, make):
    make.document("学习资料", "学习贯彻党的二十大精神。")
    out = runner.invoke(args=["search", "rebuild"])
    assert out.exit_code == 0 and "共 1 篇文献" in out.output
    assert search.search("二十大").total == 1


def test_help_is_in_chinese(runner):
    for args in (["library", "--help"], ["library", "import", "--help"], ["library", "search", "--help"],
                 ["search", "rebuild", "--help"]):
        out = runner.invoke(args=args)
        assert out.exit_code == 0 and ("导入" in out.output or "搜索" in out.output or "索引" in out.output)
