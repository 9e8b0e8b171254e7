"""``school serve`` (waitress, the single-machine run): like a gunicorn worker
(``tests/deploy/test_gunicorn_conf.py``) it freezes the site's start-up objects before it
serves, so a township's one process does not stop every request thread for a full collection."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The command's own function, run in a thread of a fresh process; the main thread asks the
# real waitress server for /healthz and reports what the collector has frozen by then.
SERVE = """
import gc, json, os, sys, threading, time, urllib.request
from school import create_app
from school.site_cli import serve_command
folder, port = sys.argv[1], int(sys.argv[2])
app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/school.db", "SECRET_KEY": "t",
                  "INSTANCE_PATH": folder})
before = gc.get_freeze_count()

def run():
    with app.app_context():
        serve_command.callback.__wrapped__("127.0.0.1", port, 2)

threading.Thread(target=run, daemon=True).start()
status = None
for _ in range(400):
    try:
        status = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status
        break
    except OSError:
        time.sleep(0.05)
print(json.dumps({"before": before, "frozen": gc.get_freeze_count(), "status": status}), flush=True)
os._exit(0)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_freezes_the_start_up_objects_and_serves(tmp_path):
    out = subprocess.run([sys.executable, "-c", SERVE, str(tmp_path), str(_free_port())],
                         capture_output=True, text=True, check=True, cwd=REPO, timeout=120)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["status"] == 200, (seen, out.stderr[-2000:])
    assert seen["before"] == 0 and seen["frozen"] > 50_000, seen  # the site's modules, mappers, templates …
