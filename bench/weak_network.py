"""A village connection on a cheap phone: bytes and seconds for the pages members use most.

    /work/main/.venv/bin/python bench/weak_network.py [--root CHECKOUT] [--runs 1]

Builds a throw-away site (SQLite in a temporary folder: one member, a long library document,
a course whose lesson is a real 20-second transcoded video), serves it with werkzeug on
127.0.0.1 and drives Debian's Chromium through Playwright at 360 × 740 px with Chrome DevTools'
``Network.emulateNetworkConditions``: 400 ms round trip, 50 KB/s down, 20 KB/s up (login
happens before the throttle). For each page it prints the bytes transferred (encoded, i.e.
after compression, headers included) and the time to the ``load`` event; for the video lesson
also the time from opening the page to the first frame after pressing play (pressed as soon as
the page has loaded); and the home page again in the same browser (repeat visit: the cache).

``--root`` measures another checkout (e.g. ``git worktree add /tmp/base <commit>``) with this
same script, so before/after figures come from one method.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

RTT_MS, DOWN_KBPS, UP_KBPS = 400, 50, 20


def build_site(root: Path, work: Path):
    sys.path.insert(0, str(root))
    from school import create_app
    from school.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{work / 'bench.db'}", "SECRET_KEY": "bench",
                      "INSTANCE_PATH": str(work / "instance"), "MEDIA_DIR": str(work / "media")})
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.factories of this checkout
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
        db.session.commit()
        ids = dict(member_no=member.member_no, doc=doc.id, lesson=lesson.id)
    return app, ids


def serve(app):
    import logging

    from werkzeug.serving import make_server
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


class Meter:
    """Sums encoded bytes of every response (CDP Network.loadingFinished) and throttles the page."""

    def __init__(self, page):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Network.enable")
        self.bytes = 0
        self.cdp.on("Network.loadingFinished", lambda e: self._add(e["encodedDataLength"]))

    def _add(self, n):
        self.bytes += int(n)

    def throttle(self):
        self.cdp.send("Network.emulateNetworkConditions", {
            "offline": False, "latency": RTT_MS, "downloadThroughput": DOWN_KBPS * 1024,
            "uploadThroughput": UP_KBPS * 1024})

    def reset(self):
        self.bytes = 0


def measure(page, meter, url, play=False):
    meter.reset()
    start = time.monotonic()
    response = page.goto(url, wait_until="load", timeout=300_000)
    assert response.ok, (url, response.status)
    loaded = time.monotonic() - start
    first_frame = None
    if play:
        page.evaluate("() => { const v = document.getElementById('video'); v.muted = true; v.play(); }")
        deadline = time.monotonic() + 300
        while not page.evaluate("(() => { const v = document.getElementById('video');"
                                " return v.currentTime > 0 && v.readyState >= 2; })()"):
            if time.monotonic() > deadline:
                raise RuntimeError("no frame in 300 s")
            time.sleep(0.05)
        first_frame = time.monotonic() - start
        page.evaluate("document.getElementById('video').pause()")
        time.sleep(0.5)
    return meter.bytes, loaded, first_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="weak-net-"))
    try:
        app, ids = build_site(Path(args.root).resolve(), work)
        server, base = serve(app)
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN",
                                          is_mobile=True, has_touch=True)
            page = context.new_page()
            meter = Meter(page)
            meter.throttle()
            rows = [("login (first visit)", *measure(page, meter, f"{base}/login"))]
            page.get_by_label("党员编号或手机号").fill(ids["member_no"])
            page.get_by_label("密码").fill("Passw0rd!")
            meter.reset()
            start = time.monotonic()
            page.get_by_role("button", name="登录").click()
            page.wait_for_load_state("load")
            page.wait_for_selector("#credit-progress")
            rows.append(("→ home after login", meter.bytes, time.monotonic() - start, None))
            rows.append(("library document", *measure(page, meter, f"{base}/library/doc/{ids['doc']}")))
            rows.append(("video lesson", *measure(page, meter, f"{base}/courses/lessons/{ids['lesson']}", play=True)))
            rows.append(("home (repeat visit)", *measure(page, meter, f"{base}/")))
            browser.close()
        server.shutdown()
        print(f"{RTT_MS} ms RTT, {DOWN_KBPS} KB/s down, {UP_KBPS} KB/s up, 360 px — {args.root}")
        print(f"{'page':22} {'KB':>8} {'load s':>8} {'first frame s':>14}")
        for name, size, loaded, frame in rows:
            print(f"{name:22} {size / 1024:8.1f} {loaded:8.2f} {'' if frame is None else f'{frame:.2f}':>14}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
