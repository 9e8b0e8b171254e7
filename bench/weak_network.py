"""A village connection on a cheap phone: bytes and seconds for the pages members use most.

    /work/main/.venv/bin/python bench/weak_network.py [--runs 5] [--baseline main] [--timeline]

Builds a throw-away site per checkout (SQLite in a temporary folder: one member, a long library
document, a course whose lesson is a real 20-second transcoded video), serves it with werkzeug
on 127.0.0.1 in a child process, and drives Debian's Chromium through Playwright at 360 × 740 px
with Chrome DevTools' ``Network.emulateNetworkConditions``: 400 ms round trip, 50 KB/s down,
20 KB/s up (login happens under the throttle too). For each page it records the bytes
transferred (encoded, i.e. after compression, headers included) and the time to the ``load``
event; for the video lesson also the bytes fetched before the first media segment and the time
from opening the page to the first frame after pressing play (pressed as soon as the page has
loaded); then the home page again in the same browser (repeat visit: the cache), and the video
lesson again, played from where it stopped: "media trips" counts its ``/courses/media/`` requests
that went to the server (200, 206 or a 304 revalidation) instead of being answered by the cache.

Each run starts from an empty cache (a new browser context). ``--runs N`` prints medians of N.
``--baseline REV`` (a git revision, exported with ``git archive``, or a checkout's folder) is
measured in the same run, alternating with this checkout run by run, so both see the same load.
``--timeline`` lists the video lesson's requests (start and end after opening the page, KB) of
each checkout's last run. ``--root`` measures another checkout instead of this one.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

RTT_MS, DOWN_KBPS, UP_KBPS = 400, 50, 20
HERE = Path(__file__).resolve().parent.parent
PAGES = ("login (first visit)", "→ home after login", "library document", "largest law", "video lesson",
         "home (repeat visit)", "video (repeat visit)")


def build_site(root: Path, work: Path):
    sys.path.insert(0, str(root))  # this checkout's school (and tests.factories, if it has them)
    from school import create_app
    from school.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{work / 'bench.db'}", "SECRET_KEY": "bench",
                      "INSTANCE_PATH": str(work / "instance"), "MEDIA_DIR": str(work / "media")})
    try:
        from tests.factories import Factory, make_clip
    except ImportError:
        sys.path.append(str(HERE))
        from tests.factories import Factory, make_clip

    with app.app_context():
        db.create_all()
        from school.courses import transcode
        from school.courses.probe import probe
        clip = make_clip(work / "clip.mp4", seconds=20, size="640x360")
        out = work / "renditions"
        out.mkdir()
        info = probe(clip)
        transcode.run(transcode.command(clip, out, info), info.duration)
        make = Factory(db.session, renditions=(out, info))
        member = make.user(name="李春生")
        body = "\n\n".join(f"## 第{i}章\n\n" + "".join(f"第{i * 10 + j}条 村民委员会应当公开集体财务。" * 6 + "\n\n"
                                                        for j in range(10)) for i in range(1, 21))
        doc = make.document(title="村务公开条例", body=body)
        lesson = make.video_lesson(make.course(title="春茶采摘技术"), title="一芽一叶怎么采")
        ids = dict(member_no=member.member_no, doc=doc.id, lesson=lesson.id, largest=None)
        largest = largest_law()
        if largest is not None:
            from school.library.importer import parse_markdown
            law = parse_markdown(largest.read_text(encoding="utf-8"), largest.name)
            ids["largest"] = make.document(title=law.title, body=law.body).id
            ids["largest_chars"] = len(law.body)
        db.session.commit()
    return app, ids


def largest_law() -> Path | None:
    """The corpus's largest file (``$SCHOOL_CORPUS_DIR/laws`` or ``../shared/corpus/laws``), if present."""
    import os
    folder = Path(os.environ["SCHOOL_CORPUS_DIR"]) / "laws" if os.environ.get("SCHOOL_CORPUS_DIR") \
        else HERE.parent / "shared" / "corpus" / "laws"
    if not folder.is_dir():
        folder = Path("/work/shared/corpus/laws")
    files = list(folder.rglob("*.md")) if folder.is_dir() else []
    return max(files, key=lambda f: f.stat().st_size) if files else None


def serve(app):
    import logging

    from werkzeug.serving import make_server
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def serve_child(root: Path) -> None:
    """--serve: build and serve one checkout's site; print its address; stop when stdin closes."""
    work = Path(tempfile.mkdtemp(prefix="weak-net-"))
    try:
        app, ids = build_site(root, work)
        server, base = serve(app)
        print(json.dumps({"base": base, **ids}), flush=True)
        sys.stdin.read()
        server.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)


class Site:
    """A checkout's site served by a child process (two checkouts cannot share one interpreter)."""

    def __init__(self, label: str, root: Path):
        self.label, self.root = label, root
        self.child = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve", "--root", str(root)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.child.stdout.readline()
        if not line:
            raise RuntimeError(f"the site of {root} did not start")
        self.info = json.loads(line)

    def close(self):
        self.child.stdin.close()
        self.child.wait(timeout=30)


class Meter:
    """Records every response (CDP) and throttles the page."""

    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable", {"maxTotalBufferSize": 0, "maxResourceBufferSize": 0})
        self.requests = {}
        self.cdp.on("Network.requestWillBeSent", self._sent)
        self.cdp.on("Network.loadingFinished", self._finished)
        self.cdp.on("Network.responseReceived", self._received)
        self.cdp.on("Network.requestServedFromCache", self._from_cache)
        self.reset()

    def _sent(self, e):
        self.requests[e["requestId"]] = {"url": e["request"]["url"], "start": time.monotonic(), "end": None, "bytes": 0}

    def _received(self, e):
        r = self.requests.get(e["requestId"])
        if r is not None:
            r["status"] = e["response"]["status"]
            r["cached"] = r.get("cached") or bool(e["response"].get("fromDiskCache"))

    def _from_cache(self, e):
        r = self.requests.get(e["requestId"])
        if r is not None:
            r["cached"] = True

    def media_trips(self) -> int:
        """Media requests answered by the server (a 304 included), not by the browser's cache."""
        return sum(1 for r in self.requests.values()
                   if "/courses/media/" in r["url"] and "status" in r and not r.get("cached"))

    def _finished(self, e):
        self.bytes += int(e["encodedDataLength"])
        r = self.requests.get(e["requestId"])
        if r is not None:
            r["end"], r["bytes"] = time.monotonic(), int(e["encodedDataLength"])

    def throttle(self):
        self.cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": RTT_MS, "downloadThroughput": DOWN_KBPS * 1024,
            "uploadThroughput": UP_KBPS * 1024})

    def reset(self):
        self.bytes = 0
        self.requests = {}


def measure(page, meter, url, play=False):
    meter.reset()
    start = time.monotonic()
    response = page.goto(url, wait_until="load", timeout=300_000)
    assert response.ok, (url, response.status)
    loaded = time.monotonic() - start
    paint = page.evaluate("(() => { const p = performance.getEntriesByName('first-contentful-paint')[0];"
                          " return p ? p.startTime / 1000 : null; })()")
    extra = {} if paint is None else {"first_paint": paint}
    if play:
        page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play(); }")
        deadline = time.monotonic() + 300
        while not page.evaluate("(() => { const v = document.getElementById('video');"
                                " return v.currentTime > 0 && v.readyState >= 2; })()"):
            if time.monotonic() > deadline:
                raise RuntimeError("no frame in 300 s")
            time.sleep(0.02)
        extra["first_frame"] = time.monotonic() - start
        page.evaluate("document.getElementById('video').pause()")
        time.sleep(0.5)
        requests = sorted(meter.requests.values(), key=lambda r: r["start"])
        first_segment = min((r["start"] for r in requests if ".m4s" in r["url"]), default=None)
        extra["before_segment"] = sum(r["bytes"] for r in requests
                                      if first_segment is None or r["start"] < first_segment)
        extra["media_trips"] = meter.media_trips()
        extra["timeline"] = [(r["url"].split("/", 3)[-1], r["start"] - start,
                              None if r["end"] is None else r["end"] - start, r["bytes"],
                              "cache" if r.get("cached") else r.get("status", "")) for r in requests]
    return {"bytes": meter.bytes, "load": loaded, **extra}


def one_run(browser, info) -> dict:
    base = info["base"]
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN",
                                  is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        meter = Meter(page)
        meter.throttle()
        rows = {PAGES[0]: measure(page, meter, f"{base}/login")}
        page.get_by_label("党员编号或手机号").fill(info["member_no"])
        page.get_by_label("密码").fill("Passw0rd!")
        meter.reset()
        start = time.monotonic()
        page.get_by_role("button", name="登录").click()
        page.wait_for_load_state("load")
        page.wait_for_selector("#credit-progress")
        rows[PAGES[1]] = {"bytes": meter.bytes, "load": time.monotonic() - start}
        rows[PAGES[2]] = measure(page, meter, f"{base}/library/doc/{info['doc']}")
        if info.get("largest"):
            rows[PAGES[3]] = measure(page, meter, f"{base}/library/doc/{info['largest']}")
        rows[PAGES[4]] = measure(page, meter, f"{base}/courses/lessons/{info['lesson']}", play=True)
        page.goto("about:blank")  # stops the video's buffering, which would count in the next page
        rows[PAGES[5]] = measure(page, meter, f"{base}/")
        rows[PAGES[6]] = measure(page, meter, f"{base}/courses/lessons/{info['lesson']}", play=True)
        page.goto("about:blank")
        return rows
    finally:
        context.close()


def median_rows(runs: list[dict]) -> dict:
    out = {}
    for page in PAGES:
        figures = [run[page] for run in runs if page in run]
        if figures:
            out[page] = {key: statistics.median(f[key] for f in figures)
                         for key in ("bytes", "load", "first_paint", "first_frame", "before_segment", "media_trips")
                         if all(key in f for f in figures)}
    return out


def export(rev: str, into: Path) -> Path:
    """A git revision of this repository as a plain folder (git archive: no worktree to clean up)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(HERE), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def report(label: str, rows: dict, runs: int, baseline: dict | None = None) -> None:
    print(f"\n{label} — median of {runs}")
    print(f"{'page':22} {'KB':>8} {'load s':>7} {'paint s':>8} {'1st frame s':>12} {'KB before 1st seg':>18}"
          f" {'media trips':>12}")
    for page in PAGES:
        if page not in rows:
            continue
        r = rows[page]
        paint = f"{r['first_paint']:.2f}" if "first_paint" in r else ""
        frame = f"{r['first_frame']:.2f}" if "first_frame" in r else ""
        before = f"{r['before_segment'] / 1024:.1f}" if "before_segment" in r else ""
        trips = f"{r['media_trips']:g}" if "media_trips" in r else ""
        line = f"{page:22} {r['bytes'] / 1024:8.1f} {r['load']:7.2f} {paint:>8} {frame:>12} {before:>18} {trips:>12}"
        b = (baseline or {}).get(page)
        if b:
            line += f"   | baseline {b['bytes'] / 1024:.1f} KB, load {b['load']:.2f} s"
            if "first_frame" in b:
                line += f", 1st frame {b['first_frame']:.2f} s"
            if "media_trips" in b:
                line += f", {b['media_trips']:g} media trips"
        print(line)


def print_timeline(label: str, run: dict) -> None:
    for page in (PAGES[4], PAGES[6]):
        print(f"\n{page}, {label}, last run: request, start → end s after opening the page, KB")
        for url, start, end, size, status in run[page]["timeline"]:
            print(f"  {start:6.2f} → {'' if end is None else f'{end:6.2f}':>6}  {size / 1024:7.1f}  {status!s:>5}  {url[:70]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(HERE), help="the checkout to measure (default: this one)")
    parser.add_argument("--runs", type=int, default=3, help="runs per checkout; medians are printed")
    parser.add_argument("--baseline", help="a git revision or a checkout's folder, measured in the same run")
    parser.add_argument("--timeline", action="store_true", help="list the video lesson's requests")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_child(Path(args.root).resolve())
        return
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="weak-net-base-"))
    sites = []
    try:
        sites.append(Site("this checkout", Path(args.root).resolve()))
        if args.baseline:
            folder = Path(args.baseline)
            root = folder.resolve() if folder.is_dir() else export(args.baseline, tmp / "base")
            sites.append(Site(f"baseline {args.baseline}", root))
        results = {site.label: [] for site in sites}
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            for n in range(args.runs):
                for site in sites if n % 2 == 0 else reversed(sites):  # alternate who goes first
                    results[site.label].append(one_run(browser, site.info))
            browser.close()
        print(f"{RTT_MS} ms RTT, {DOWN_KBPS} KB/s down, {UP_KBPS} KB/s up, 360 px, {args.runs} run(s) each")
        if sites[0].info.get("largest"):
            print(f"largest law: {sites[0].info['largest_chars']:,} characters of Markdown")
        medians = {label: median_rows(runs) for label, runs in results.items()}
        base_label = sites[1].label if len(sites) > 1 else None
        report(f"{sites[0].label} ({sites[0].root})", medians[sites[0].label], args.runs,
               medians[base_label] if base_label else None)
        if base_label:
            report(base_label, medians[base_label], args.runs)
        frames = {label: [round(run[PAGES[4]]["first_frame"], 2) for run in runs] for label, runs in results.items()}
        print("\nfirst frame, every run:", frames)
        trips = {label: [run[PAGES[6]]["media_trips"] for run in runs] for label, runs in results.items()}
        print("media trips on the repeat video visit, every run:", trips)
        if args.timeline:
            for label, runs in results.items():
                print_timeline(label, runs[-1])
    finally:
        for site in sites:
            site.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
