"""``school library import|search`` and ``school search rebuild``."""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from school import diskspace
from school.library.categories import CATEGORIES, resolve_category

CATEGORY_HELP = "分类：" + "、".join(f"{label}（{code}）" for code, label in CATEGORIES.items())


def _category(value: str | None, default: str | None = None) -> str | None:
    if value is None:
        return default
    code = resolve_category(value)
    if code is None:
        raise click.BadParameter(f"未知的分类“{value}”。{CATEGORY_HELP}", param_hint="--category")
    return code


@click.group("library", help="党建工作图书馆：批量导入文献、在终端里搜索。")
def library_group():
    pass


@library_group.command("import", help="导入一个文件夹（含子文件夹）里的 Markdown 文献，格式同 ../shared/corpus：第一行“# 标题”，"
                       "日期行直到 <!-- INFO END -->，然后是正文。可重复运行：内容没变的文件不会重复导入，"
                       "内容变了的文件成为该文献的新版本。导入的文献直接发布。")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--category", default=None, help=f"导入到哪个分类，默认“法律法规”。{CATEGORY_HELP}")
@with_appcontext
def import_command(path: Path, category: str | None):
    from school.library import importer
    from school.timeutil import utcnow

    code = _category(category, "law")
    files = importer.corpus_files(path)
    try:
        with click.progressbar(length=len(files), label="正在导入", show_pos=True) as bar:
            report = importer.import_tree(path, code, None, utcnow(), files=files, progress=lambda _: bar.update(1))
    except Exception as exc:
        if not diskspace.is_full(exc):
            raise
        raise click.ClickException(diskspace.message(
            f"导入没有完成。导入每 {importer.BATCH} 个文件提交一次，已提交的文献保留，最后一批文件没有导入。",
            "请清理磁盘后重新运行同一命令：已导入且内容没变的文件不会重复导入。")) from None
    for source, reason in report.failed:
        click.echo(f"失败：{source}：{reason}", err=True)
    click.echo(f"新增 {report.created} 篇，更新 {report.revised} 篇，未变 {report.unchanged} 篇，失败 {len(report.failed)} 个文件。")
    if report.index_error is not None and diskspace.is_full(report.index_error):
        raise click.ClickException(diskspace.message(
            "文献已导入数据库，但搜索索引没有写完（写了一半的部分已删除），下次搜索时会从数据库重建。",
            "请清理磁盘后运行 school search rebuild。"))
    if report.index_error is not None:
        click.echo(f"注意：搜索索引没有更新（{report.index_error}），下次搜索时会从数据库重建。", err=True)


@library_group.command("search", help="按相关度列出搜索结果（标题、分类、得分、编号），包括草稿。适合管理员和脚本使用。")
@click.argument("query")
@click.option("--category", default=None, help=f"只在这个分类里查找。{CATEGORY_HELP}")
@click.option("--region", default=None, help="只在这个地区的地方性法规里查找，如“广东”或“广东 · 深圳”")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 500), help="最多显示多少条")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出（每条含 id、title、category、score、path、anchor）")
@with_appcontext
def search_command(query: str, category: str | None, region: str | None, limit: int, as_json: bool):
    from school.library import search

    results = search.search(query, include_drafts=True, category=_category(category), per_page=limit,
                            with_snippets=True, region=region)
    rows = [dict(id=h.document.id, title=h.document.title, category=h.document.category_label,
                 score=h.score, path=h.document.source_path or f"/library/doc/{h.document.id}", anchor=h.anchor)
            for h in results.hits]
    if as_json:
        click.echo(json.dumps(dict(query=query, total=results.total, message=results.message, results=rows),
                              ensure_ascii=False, indent=2))
        return
    if results.message:
        click.echo(results.message)
    click.echo(f"共 {results.total} 条结果")
    for i, row in enumerate(rows, 1):
        anchor = f" #{row['anchor']}" if row["anchor"] else ""
        click.echo(f"{i:>3}. {row['title']}  [{row['category']}]  得分 {row['score']:.2f}  {row['path']}{anchor}")


@click.group("search", help="全文搜索索引。")
def search_group():
    pass


@search_group.command("rebuild", help="从数据库重建全文搜索索引（索引丢失或损坏时使用；搜索时也会自动重建）。")
@with_appcontext
def rebuild_command():
    from school.library import index

    count = index.rebuild()
    click.echo(f"索引已重建，共 {count} 篇文献。")


COMMANDS = [library_group, search_group]
