"""Library search benchmark: our analyzer vs Whoosh + jieba.analyse.ChineseAnalyzer, one run.

    .venv/bin/python bench/search.py [--corpus ../shared/corpus/laws] [--skip-baseline]

Imports the corpus into a fresh SQLite database (timed), builds the index with our
pipeline (what ``school search rebuild`` runs) and with the baseline (same schema and
fields, Whoosh's writer with its defaults), then
runs the query set through the full search service (query building, Whoosh, loading the
documents, snippets) and prints p50/p95 latency and the index sizes on disk.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

QUERIES = [
    # two-character words
    "工资", "拖欠", "土地", "婚姻", "继承", "合同", "仲裁", "赔偿", "环境", "税收", "教育", "医疗", "养老", "选举",
    "征收", "户籍", "消防", "森林", "渔业", "专利",
    # one character alone (widened to the words that contain it)
    "党", "税",
    # several words / whole questions
    "农民工工资被拖欠怎么办", "村委会选举怎么搞", "宅基地怎么申请", "离婚后孩子归谁", "劳动合同到期不续签有补偿吗",
    "网购东西有质量问题能退货吗", "老人赡养", "交通事故责任认定", "低保怎么申请", "被狗咬了谁负责", "工伤认定 申请",
    "土地承包经营权 流转", "食品安全 处罚", "未成年人 保护 学校", "个人信息 泄露", "医疗事故 赔偿",
    "拆迁补偿标准", "家暴怎么办", "社保断缴", "公积金提取",
    # phrases
    '"农村集体经济组织"', '"劳动争议"', '"最低生活保障"', '"村民委员会"', '"个人信息"', '"不可抗力"',
    '"正当防卫"', '"诉讼时效"', '"行政复议"', '"土地承包经营权"',
    # filters (category / year range / date sort), handled below
]
FILTERED = [("工资", dict(year_from=2010)), ("合同", dict(year_from=2000, year_to=2015)),
            ("土地", dict(sort="date")), ("婚姻", dict(category="law")), ("仲裁", dict(year_to=2010)),
            ("环境 保护", dict(year_from=2015, sort="date"))]


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = os.environ.get("SCHOOL_CORPUS_DIR")
    default = Path(default) / "laws" if default else Path(__file__).resolve().parents[2] / "shared" / "corpus" / "laws"
    if not default.is_dir():
        default = Path("/work/shared/corpus/laws")
    parser.add_argument("--corpus", type=Path, default=default)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        sys.exit(f"找不到语料目录：{args.corpus}")

    from sqlalchemy import select
    from whoosh import index as windex

    from school import create_app
    from school.extensions import db
    from school.library import importer, index, search
    from school.library.models import Document
    from school.timeutil import utcnow

    work = Path(tempfile.mkdtemp(prefix="bench-search-"))
    app = create_app({"INSTANCE_PATH": str(work), "SECRET_KEY": "bench",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{work / 'bench.db'}",
                      "SEARCH_INDEX_DIR": str(work / "index-ours")})
    with app.app_context():
        db.create_all()
        files = importer.corpus_files(args.corpus)
        chars = sum(len(p.read_text("utf-8", errors="replace")) for p in files)
        started = time.perf_counter()
        report = importer.import_tree(args.corpus, "law", None, utcnow(), files=files)
        import_seconds = time.perf_counter() - started
        docs = db.session.scalars(select(Document).order_by(Document.id)).all()
        snapshots = [index.snapshot_of(d) for d in docs]
        db.session.expunge_all()
        print(f"语料：{len(files)} 个文件，{chars / 1e6:.1f} 百万字；school library import 导入 {report.created} 篇，"
              f"失败 {len(report.failed)}，用时 {import_seconds:.1f} s（含导入结束时一次建索引）")

        def timed(build) -> tuple[float, float]:
            """Wall-clock and CPU seconds; on a shared machine CPU time is the fair comparison."""
            started, cpu = time.perf_counter(), time.process_time()
            build()
            return time.perf_counter() - started, time.process_time() - cpu

        def whoosh_writer(analyzer, directory: Path):
            """An index built the way Whoosh's documentation shows: ``ix.writer()``, defaults."""
            def build():
                directory.mkdir(parents=True, exist_ok=True)
                ix = windex.create_in(str(directory), index.make_schema(analyzer))
                writer = ix.writer()
                for snap in snapshots:
                    writer.add_document(**index.fields_of(snap))
                writer.commit()
            return build

        n = len(snapshots)

        def report(label: str, wall: float, cpu: float, directory: Path) -> None:
            print(f"{label}：墙钟 {wall:.1f} s（{n / wall:.1f} 篇/秒），CPU {cpu:.1f} s（{n / cpu:.1f} 篇/秒），"
                  f"{dir_size(directory) / 1e6:.1f} MB")

        ours_dir = work / "index-ours"  # the import built it once already: time building it again
        shutil.rmtree(ours_dir)
        ours_dir.mkdir()
        ours_wall, ours_cpu = timed(lambda: index.write_new_index(ours_dir, snapshots))
        index.write_state(ours_dir)
        report("我们的索引（rjieba 分词 + 一次写成的 BulkWriter，即 school search rebuild）", ours_wall, ours_cpu, ours_dir)
        if not args.skip_baseline:
            from jieba.analyse import ChineseAnalyzer
            base_wall, base_cpu = timed(whoosh_writer(ChineseAnalyzer(), work / "index-jieba"))
            report("基线（jieba.analyse.ChineseAnalyzer + Whoosh 默认写入器）", base_wall, base_cpu, work / "index-jieba")
            print(f"索引吞吐量之比（我们 / 基线）：按 CPU 时间 {base_cpu / ours_cpu:.2f}×，按墙钟 {base_wall / ours_wall:.2f}×")
            from school.library.analysis import chinese_analyzer
            mixed_wall, mixed_cpu = timed(whoosh_writer(chinese_analyzer(), work / "index-mixed"))
            report("对照：我们的分词器 + Whoosh 默认写入器", mixed_wall, mixed_cpu, work / "index-mixed")
            print(f"  其中写入器的贡献：{mixed_cpu / ours_cpu:.2f}×（CPU），分词器的贡献：{base_cpu / mixed_cpu:.2f}×（CPU）")

        # The analysis stage alone (segmenting into index terms), where the pipelines differ.
        from school.library.analysis import term_positions
        started = time.process_time()
        for snap in snapshots:
            term_positions(snap["title"]), term_positions(snap["body"] or "")
        ours_analysis = len(snapshots) / (time.process_time() - started)
        line = f"仅分词阶段（CPU）：我们 {ours_analysis:.0f} 篇/秒"
        if not args.skip_baseline:
            baseline = ChineseAnalyzer()
            started = time.process_time()
            for snap in snapshots:
                for field in (snap["title"], snap["body"] or ""):
                    for _ in baseline(field, positions=True, mode="index"):
                        pass
            base_analysis = len(snapshots) / (time.process_time() - started)
            line += f"，基线 {base_analysis:.0f} 篇/秒，之比 {ours_analysis / base_analysis:.1f}×"
        print(line)

        search.search("预热")  # open the index and load the dictionary once, as a running server has
        latencies, cpu_times = [], []
        for text, options in [(q, {}) for q in QUERIES] + FILTERED:
            started, cpu = time.perf_counter(), time.process_time()
            search.search(text, **options)
            latencies.append((time.perf_counter() - started) * 1000)
            cpu_times.append((time.process_time() - cpu) * 1000)
        print(f"查询 {len(latencies)} 个（完整搜索服务：查询、读取文献、摘要）：墙钟 "
              f"p50 {statistics.median(latencies):.1f} ms，p95 {percentile(latencies, 0.95):.1f} ms，"
              f"最慢 {max(latencies):.1f} ms；CPU p50 {statistics.median(cpu_times):.1f} ms，"
              f"p95 {percentile(cpu_times, 0.95):.1f} ms")


if __name__ == "__main__":
    main()
