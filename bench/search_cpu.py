"""CPU time of a library search page asked for the first time, in-process, this code against another.

    .venv/bin/python -u bench/search_cpu.py --work DIR [--before DIR] [--runs 3] [--passes 2]
    .venv/bin/python -u bench/search_cpu.py --work DIR --profile /tmp/search.prof   # cProfile, this code
    .venv/bin/python -u bench/search_cpu.py --work DIR --before DIR --compare        # same pages?

``DIR`` holds a database and index made by ``bench/relevance.py --work DIR`` (``bench.db``,
``index-ours``). Each measurement is a process of its own (``--code``: which checkout's
``school`` it imports): a member logged in through the Flask test client asks the search
pages of ``bench/search_http.py`` (the 211 queries of ``bench/relevance/queries.tsv``, some on
page 2, by date or from a year) with the page cache off (``SEARCH_PAGES_KEPT=0``), one pass
to warm up (searcher, catalogue, pinyin of titles), then ``--passes`` passes timed by the
process's CPU clock. With ``--before`` the two checkouts alternate ``--runs`` times, so that
other load on the machine falls on both alike; the figure is the median CPU ms per page.

``--compare`` checks that the two checkouts give the same pages: for every query (and the
variants above), each hit's document, score, snippet, article anchor, related documents and
versions, the total and the message of ``search.search`` — printed when they differ.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker(work: Path, passes: int, profile: str | None, dump: str | None) -> None:
    """In the process of one checkout: time (or profile, or dump) the pages."""
    import importlib
    from urllib.parse import urlencode

    import school
    from school import create_app
    from school.accounts import auth as accounts_auth
    from school.accounts.models import User
    from school.extensions import db
    from school.timeutil import utcnow

    # after ``school``: importing ``relevance`` puts this checkout at the front of sys.path
    load_queries = importlib.import_module("relevance").load_queries
    requests_of = importlib.import_module("search_http").page_args  # the HTTP bench's pages
    print(f"code: {Path(school.__file__).parent.parent}", file=sys.stderr)
    app = create_app({"INSTANCE_PATH": str(work), "SECRET_KEY": "bench",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{work / 'bench.db'}",
                      "SEARCH_INDEX_DIR": str(work / "index-ours"), "SEARCH_PAGES_KEPT": 0})
    pages = requests_of([q for _, q, _ in load_queries()])
    if dump:
        from school.library import search
        out = []
        with app.app_context():
            for args in pages:
                for per_page, snippets in ((10, True), (20, True), (10, False)):
                    r = search.search(args["q"], page=args.get("page", 1), sort=args.get("sort", "relevance"),
                                      year_from=args.get("year_from"), per_page=per_page, with_snippets=snippets)
                    out.append({"args": args, "per_page": per_page, "total": r.total, "page": r.page,
                                "message": r.message,
                                "hits": [[h.document.id, h.score, h.snippet, h.anchor, h.current,
                                          [d.id for d in h.related], [d.id for d in h.versions]] for h in r.hits]})
        Path(dump).write_text(json.dumps(out, ensure_ascii=False))
        return
    with app.app_context():
        user = db.session.query(User).filter_by(member_no="CPU00001").first()
        if user is None:
            from school.accounts.auth import hash_password
            user = User(name="检索压测", member_no="CPU00001", password_hash=hash_password("bench-password-1"))
            db.session.add(user)
            db.session.commit()
        token = accounts_auth.start_session(user, utcnow(), "127.0.0.1", "bench")
        db.session.commit()
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = token
        session["_fresh"] = True
    urls = ["/library/search?" + urlencode(args) for args in pages]

    def one_pass():
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)

    one_pass()  # warm-up: searcher, catalogue, pinyin of every title
    if profile:
        import cProfile
        # the process's CPU clock: on this shared machine wall time counts other people's work
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(passes):
            one_pass()
        profiler.disable()
        profiler.dump_stats(profile)
        return
    times = []
    for _ in range(passes):
        started = time.process_time()
        one_pass()
        times.append((time.process_time() - started) * 1000 / len(urls))
    print(json.dumps({"ms_per_page": times}))


def run(code: Path, work: Path, *extra: str) -> str:
    env_path = f"{code}:{ROOT / 'bench'}"
    result = subprocess.run([sys.executable, __file__, "--worker", "--work", str(work), *extra],
                            env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, cwd=code,
                            capture_output=True, text=True)
    if result.returncode:
        sys.exit(result.stderr[-3000:])
    used = next((line[6:] for line in result.stderr.splitlines() if line.startswith("code: ")), "")
    if Path(used) != code:
        sys.exit(f"the worker for {code} ran the code in {used}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--before", type=Path, help="the other checkout (the baseline)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--profile")
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dump", help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = args.work.resolve()
    if args.worker:
        worker(work, args.passes, args.profile, args.dump)
        return
    if args.profile:
        run(ROOT, work, "--passes", str(args.passes), "--profile", args.profile)
        print(f"profile written to {args.profile}")
        return
    if args.compare:
        if not args.before:
            sys.exit("--compare needs --before")
        dumps = {}
        for label, code in (("before", args.before.resolve()), ("this", ROOT)):
            target = work / f"pages-{label}.json"
            run(code, work, "--dump", str(target))
            dumps[label] = json.loads(target.read_text())
        differ = 0
        for a, b in zip(dumps["before"], dumps["this"]):
            if a != b:
                differ += 1
                print(f"differs: {a['args']} per_page={a['per_page']}")
                print(f"  before: total {a['total']} {[(h[0], h[1]) for h in a['hits']]}")
                print(f"  this:   total {b['total']} {[(h[0], h[1]) for h in b['hits']]}")
        print(f"{len(dumps['this'])} pages compared, {differ} differ")
        return
    codes = [("before", args.before.resolve())] if args.before else []
    codes.append(("this", ROOT))
    figures: dict[str, list[float]] = {label: [] for label, _ in codes}
    for i in range(args.runs):
        for label, code in codes:
            out = json.loads(run(code, work, "--passes", str(args.passes)).strip().splitlines()[-1])
            figures[label].extend(out["ms_per_page"])
            print(f"run {i + 1} {label}: {' / '.join(f'{v:.1f}' for v in out['ms_per_page'])} ms CPU per page",
                  flush=True)
    for label, values in figures.items():
        print(f"{label}: median {statistics.median(values):.1f} ms CPU per page ({len(values)} passes)")
    if args.before:
        ratio = statistics.median(figures["before"]) / statistics.median(figures["this"])
        print(f"before / this: {ratio:.2f}×")


if __name__ == "__main__":
    main()
