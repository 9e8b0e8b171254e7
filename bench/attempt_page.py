"""The attempt page's CPU in process, split: the whole request, the template, and ``paper.paper``
(with its reads). The page is the largest request of an exam's start burst.

    .venv/bin/python bench/attempt_page.py                       # SQLite
    .venv/bin/python bench/attempt_page.py --pg postgresql://postgres@127.0.0.1:5432/bench

Medians over ``--members`` members, the first five left out (caches warming). To compare two
versions, run both back to back and alternate them: on a shared machine the speed changes
between runs a minute apart, so only adjacent pairs compare.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.exam_spike import PASSWORD, database_url, seed  # noqa: E402


def measure(url: str, instance: str, members: int, questions: int) -> dict[str, float]:
    from flask import before_render_template, template_rendered

    from school import create_app
    from school.exams import member_views, paper

    exam_id, numbers = seed(url, instance, members, questions)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
                      "WTF_CSRF_ENABLED": False, "JOBS_INLINE_WORKER": False})
    marks: dict[str, float] = {}
    before_render_template.connect(lambda _s, **_k: marks.__setitem__("template_from", time.process_time()),
                                   app, weak=False)
    template_rendered.connect(lambda _s, **_k: marks.__setitem__("template_to", time.process_time()), app, weak=False)
    drawn = paper.paper

    def timed_paper(*args, **kwargs):
        started = time.process_time()
        out = drawn(*args, **kwargs)
        marks["paper"] = time.process_time() - started
        return out

    member_views.paper.paper = timed_paper
    try:
        clients = []
        for number in numbers:
            client = app.test_client()
            assert client.post("/login", data={"identifier": number, "password": PASSWORD}).status_code == 302
            started = client.post(f"/exams/{exam_id}/start", data={})
            clients.append((client, int(re.search(r"/attempts/(\d+)", started.headers["Location"]).group(1))))
        whole, template, papers = [], [], []
        for client, attempt_id in clients:
            started = time.process_time()
            assert client.get(f"/exams/attempts/{attempt_id}").status_code == 200
            whole.append(time.process_time() - started)
            template.append(marks["template_to"] - marks["template_from"])
            papers.append(marks["paper"])
    finally:
        member_views.paper.paper = drawn
    return {name: 1000 * statistics.median(values[5:])
            for name, values in (("request", whole), ("template", template), ("paper", papers))}


def main():
    parser = argparse.ArgumentParser(description="作答页的 CPU：整个请求、模板、试卷数据")
    parser.add_argument("--members", type=int, default=45)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--pg", default="", help="PostgreSQL instead of SQLite (schema exam_spike, dropped first)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        result = measure(database_url(args.pg, instance), instance, max(args.members, 6), args.questions)
    print(f"{'PostgreSQL' if args.pg else 'SQLite'}, {args.questions} questions, CPU ms (medians): "
          f"request {result['request']:.1f}, template {result['template']:.1f}, paper {result['paper']:.1f}")


if __name__ == "__main__":
    main()
