"""Two nodes, one index: how soon node B finds what node A published, and what reopening costs.

    .venv/bin/python bench/shared_index.py [--corpus ../shared/corpus/laws] [--files 400] [--trials 10]
        [--database-url postgresql://postgres@127.0.0.1:5432/bench]   (a schema "bench_shared" of its own)

Node A is this process, node B a child process: instance folders of their own, one database,
one index folder (SCHOOL_SEARCH_INDEX_DIR, as on shared storage). For each trial B searches
for a new title every 10 ms while A publishes a document with that title (commit, then the
index written under ``index.writing()``): *visibility* is from the start of A's publish to
B's first search that finds it. B also times its searcher: a search on its open searcher,
the look at ``state.json`` every ``SEARCH_RECHECK_MS``, and the first search after the
generation changed (reopen + the catalogue, filters and word lists built again).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

NODE_B = r"""
import json, sys, time
from school import create_app
from school.extensions import db
from school.library import search
app = create_app(json.loads(sys.argv[1]))
ms = lambda since: (time.perf_counter() - since) * 1000
with app.app_context():
    search.search("合同")
    print("ready", flush=True)
    for line in sys.stdin:
        title = line.strip()
        if title == "stats":
            steady, rechecks, reopen = [], [], []
            for _ in range(30):
                started = time.perf_counter(); search.search("劳动合同"); steady.append(ms(started))
            app.config["SEARCH_RECHECK_MS"] = 0
            for _ in range(30):
                started = time.perf_counter(); search.search("劳动合同"); rechecks.append(ms(started))
            print(json.dumps(dict(steady=steady, recheck=rechecks)), flush=True)
            continue
        before = search.current_searcher().generation
        while True:
            db.session.remove()
            started = time.perf_counter()
            hits = search.search(title, with_snippets=False).hits
            took = ms(started)
            if any(hit.document.title == title for hit in hits):
                print(json.dumps(dict(found=time.perf_counter(), search_ms=took,
                                      reopened=search.current_searcher().generation != before)), flush=True)
                break
            time.sleep(0.01)
        started = time.perf_counter(); search.search("劳动合同"); warm = ms(started)
        print(json.dumps(dict(warm_ms=warm)), flush=True)
"""


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(os.environ.get("SCHOOL_CORPUS_DIR", REPO.parent / "shared" / "corpus")) / "laws"
    if not default.is_dir():
        default = Path("/work/shared/corpus/laws")
    parser.add_argument("--corpus", type=Path, default=default)
    parser.add_argument("--files", type=int, default=0, help="only the first N files of the corpus (0: all)")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    from sqlalchemy import create_engine, text

    from school import create_app
    from school.config import normalise_database_url
    from school.extensions import db
    from school.library import importer, services
    from school.timeutil import utcnow

    work = Path(tempfile.mkdtemp(prefix="bench-shared-"))
    if args.database_url:
        base = normalise_database_url(args.database_url)
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS bench_shared CASCADE"))
            conn.execute(text("CREATE SCHEMA bench_shared"))
        admin.dispose()
        url = base + ("&" if "?" in base else "?") + "options=-csearch_path%3Dbench_shared"
    else:
        url = f"sqlite:///{work / 'bench.db'}"
    common = {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True,
              "MEDIA_DIR": str(work / "media"), "SEARCH_INDEX_DIR": str(work / "media" / "search-index")}
    app = create_app(dict(common, INSTANCE_PATH=str(work / "node-a")))
    with app.app_context():
        db.create_all()
        files = importer.corpus_files(args.corpus)
        if args.files:
            files = files[:args.files]
        started = time.perf_counter()
        report = importer.import_tree(args.corpus, "law", None, utcnow(), files=files)
        print(f"数据库：{db.engine.dialect.name}；语料 {report.created} 篇（导入并建索引 {time.perf_counter() - started:.1f} s）")

        node_b = subprocess.Popen([sys.executable, "-c", NODE_B, json.dumps(dict(common, INSTANCE_PATH=str(work / "node-b")))],
                                  cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert node_b.stdout.readline().strip() == "ready"
        visible, publish, first, warm, reopened = [], [], [], [], 0
        for trial in range(args.trials):
            title = f"共享索引测试通知第{'零一二三四五六七八九'[trial % 10]}{trial}号"
            node_b.stdin.write(title + "\n")
            node_b.stdin.flush()
            time.sleep(0.1)  # B is polling
            started = time.perf_counter()
            services.create_document(services.DocumentData(title=title, category="policy", body=f"{title}。正文。",
                                                           status="published"), None, utcnow())
            db.session.commit()  # the index is written after the commit (following)
            publish.append((time.perf_counter() - started) * 1000)
            seen = json.loads(node_b.stdout.readline())
            visible.append((seen["found"] - started) * 1000)
            first.append(seen["search_ms"])
            reopened += seen["reopened"]
            warm.append(json.loads(node_b.stdout.readline())["warm_ms"])
        node_b.stdin.write("stats\n")
        node_b.stdin.flush()
        stats = json.loads(node_b.stdout.readline())
        node_b.stdin.close()
        node_b.wait(timeout=60)

    def line(label: str, values: list[float]) -> None:
        print(f"  {label}：p50 {statistics.median(values):.1f} ms，p95 {pct(values, 0.95):.1f} ms，最大 {max(values):.1f} ms")

    print(f"{args.trials} 次：A 发布（提交 + 写索引）后 B 找到（B 每 10 ms 查一次）；B 重新打开 {reopened} 次")
    line("A 发布用时", publish)
    line("B 可见用时（从 A 开始发布算起）", visible)
    line("B 找到它的那次查询（含重新打开和重建目录等缓存）", first)
    line("B 之后的同类查询（已打开）", warm)
    line("B 已打开的查询（“劳动合同”）", stats["steady"])
    line("B 每次都看 state.json 的同一查询（SEARCH_RECHECK_MS=0）", stats["recheck"])


if __name__ == "__main__":
    main()
