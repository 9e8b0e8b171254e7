"""Library search relevance: this project's search vs a plain Whoosh + jieba index, one run.

    .venv/bin/python -u bench/relevance.py [--corpus ../shared/corpus/laws] [--work DIR] [--show-misses]

Imports the corpus into a fresh SQLite database with ``school library import``'s code (which
builds our index), builds the baseline index from the same imported documents — Whoosh +
``jieba.analyse.ChineseAnalyzer``, title (boosted 2×) and body, queries parsed by Whoosh's
``MultifieldParser`` with OR grouping, nothing else — and runs the labelled queries of
``bench/relevance/queries.tsv`` through both. For each query class it prints top-1, top-3
and MRR (the reciprocal rank of the first right document within the first 10, else 0).

``--work DIR`` keeps the database and the baseline index between runs (for tuning: later
runs only rebuild our index); without it everything is built in a temporary folder.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

QUERIES = Path(__file__).resolve().parent / "relevance" / "queries.tsv"
CLASSES = ["keywords", "colloquial", "short", "article", "traditional", "pinyin"]
DEPTH = 10
PREFIX = "中华人民共和国"


def normal(title: str) -> str:
    title = re.sub(r"\s+", " ", title.strip())
    return title[len(PREFIX):] if title.startswith(PREFIX) else title


def load_queries(path: Path = QUERIES) -> list[tuple[str, str, set[str]]]:
    rows = []
    for line in path.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kind, query, expected = line.split("\t")
        rows.append((kind, query, {normal(t) for t in expected.split("|")}))
    return rows


def rank_of(titles: list[str], expected: set[str]) -> int | None:
    for i, title in enumerate(titles[:DEPTH], 1):
        if normal(title) in expected:
            return i
    return None


def table(ranks: dict[str, list[int | None]]) -> list[tuple[str, int, float, float, float]]:
    rows = []
    for kind in CLASSES + ["all"]:
        values = ranks.get(kind) if kind != "all" else [r for k in CLASSES for r in ranks.get(k, [])]
        if not values:
            continue
        n = len(values)
        rows.append((kind, n, sum(1 for r in values if r == 1) / n, sum(1 for r in values if r and r <= 3) / n,
                     sum(1 / r for r in values if r) / n))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("SCHOOL_CORPUS_DIR")
    default = Path(default) / "laws" if default else Path(__file__).resolve().parents[2] / "shared" / "corpus" / "laws"
    if not default.is_dir():
        default = Path("/work/shared/corpus/laws")
    parser.add_argument("--corpus", type=Path, default=default)
    parser.add_argument("--work", type=Path, help="keep the database and baseline index here between runs")
    parser.add_argument("--show-misses", action="store_true", help="print our queries whose answer is not first")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"找不到语料目录：{args.corpus}")

    from jieba.analyse import ChineseAnalyzer
    from sqlalchemy import select
    from whoosh import index as windex
    from whoosh.fields import ID, TEXT, Schema
    from whoosh.qparser import MultifieldParser, OrGroup

    from school import create_app
    from school.extensions import db
    from school.library import importer, index, search
    from school.library.models import Document
    from school.timeutil import utcnow

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-relevance-"))
    work.mkdir(parents=True, exist_ok=True)
    fresh = not (work / "bench.db").exists()
    app = create_app({"INSTANCE_PATH": str(work), "SECRET_KEY": "bench",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{work / 'bench.db'}",
                      "SEARCH_INDEX_DIR": str(work / "index-ours")})
    queries = load_queries()
    with app.app_context():
        if fresh:
            db.create_all()
            started = time.perf_counter()
            report = importer.import_tree(args.corpus, "law", None, utcnow())
            print(f"导入：{report.created} 篇，失败 {len(report.failed)}，用时 {time.perf_counter() - started:.1f} s"
                  "（含建我们的索引）")
        else:
            started = time.perf_counter()
            index.rebuild()
            print(f"重建我们的索引：{time.perf_counter() - started:.1f} s")
        docs = db.session.execute(select(Document.id, Document.title, Document.body)).all()
        titles = {normal(t) for _, t, _ in docs}
        bodies: dict[str, list[str]] = defaultdict(list)
        for _, title, body in docs:
            bodies[normal(title)].append(body)
        problems = 0
        for kind, query, expected in queries:
            missing = expected - titles
            if missing:
                problems += 1
                print(f"  标注问题：{query} → 语料中没有 {'、'.join(sorted(missing))}")
            if kind == "article":
                article = re.search(r"第[零一二三四五六七八九十百千0-9]+条", query).group(0)
                if not article[1:-1].isdigit() and not any(article in b for t in expected for b in bodies.get(t, [])):
                    problems += 1
                    print(f"  标注问题：{query} → 答案中没有{article}")
        print(f"标注集：{len(queries)} 个查询，{problems} 个标注问题")

        base_dir = work / "index-baseline"
        if not windex.exists_in(str(base_dir)):
            shutil.rmtree(base_dir, ignore_errors=True)
            base_dir.mkdir()
            started = time.perf_counter()
            analyzer = ChineseAnalyzer()
            ix = windex.create_in(str(base_dir), Schema(id=ID(stored=True, unique=True),
                                                       title=TEXT(analyzer=analyzer, stored=True),
                                                       body=TEXT(analyzer=analyzer)))
            writer = ix.writer(limitmb=256)
            for doc_id, title, body in docs:
                writer.add_document(id=str(doc_id), title=title, body=body or "")
            writer.commit()
            print(f"基线索引：{len(docs)} 篇，{time.perf_counter() - started:.1f} s")
        base_ix = windex.open_dir(str(base_dir))
        base_parser = MultifieldParser(["title", "body"], base_ix.schema, fieldboosts={"title": 2.0}, group=OrGroup)

        ranks = {"ours": defaultdict(list), "baseline": defaultdict(list)}
        misses = []
        search.search("预热")
        latencies = []
        with base_ix.searcher() as base_searcher:
            for kind, query, expected in queries:
                started = time.perf_counter()
                results = search.search(query, per_page=DEPTH, with_snippets=False)
                latencies.append((time.perf_counter() - started) * 1000)
                ours = [hit.document.title for hit in results.hits]
                rank = rank_of(ours, expected)
                ranks["ours"][kind].append(rank)
                if rank != 1:
                    misses.append((kind, query, rank, ours[:3]))
                try:
                    hits = base_searcher.search(base_parser.parse(query), limit=DEPTH)
                    base = [hit["title"] for hit in hits]
                except Exception:
                    base = []
                ranks["baseline"][kind].append(rank_of(base, expected))

    ours_table, base_table = table(ranks["ours"]), table(ranks["baseline"])
    print()
    print("| class | queries | top-1 ours / baseline | top-3 ours / baseline | MRR ours / baseline |")
    print("|---|---|---|---|---|")
    for (kind, n, t1, t3, mrr), (_, _, b1, b3, bmrr) in zip(ours_table, base_table):
        print(f"| {kind} | {n} | {t1:.0%} / {b1:.0%} | **{t3:.0%}** / {b3:.0%} | **{mrr:.3f}** / {bmrr:.3f} |")
    latencies.sort()
    print(f"\n我们的查询延迟（{len(latencies)} 个，完整搜索服务，无摘要）：p50 {statistics.median(latencies):.1f} ms，"
          f"p95 {latencies[int(0.95 * (len(latencies) - 1))]:.1f} ms，最慢 {latencies[-1]:.1f} ms")
    if args.show_misses:
        print("\n没有排第一的查询：")
        for kind, query, rank, top in misses:
            print(f"  [{kind}] {query} → {rank or '-'}；前三：{' / '.join(top)}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
