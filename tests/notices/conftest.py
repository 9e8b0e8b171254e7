"""Real servers for delivery tests: an SMTP server (aiosmtpd) and an SMS webhook (http.server),
each on a free local port, started in the test and stopped after it."""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpHandler:
    """``mode``: "accept" every mail, "reject" recipients for good (550), or "busy" (451, try later)."""

    def __init__(self):
        self.mode = "accept"
        self.messages: list[tuple[str, list[str], str]] = []
        self.rcpt_tries = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.rcpt_tries += 1
        if self.mode == "reject":
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        if self.mode == "busy":
            return "451 4.3.0 Mailbox temporarily unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                              envelope.content.decode("utf-8", "replace")))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller
    handler = SmtpHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.url = f"smtp://127.0.0.1:{port}"
    try:
        yield handler
    finally:
        controller.stop()


class Webhook:
    def __init__(self):
        self.mode = "ok"  # "ok", "slow" (answers after the client gave up), "error" (HTTP 500), "refuse" (HTTP 400)
        self.posts: list[dict] = []
        self.delay = 2.0


@pytest.fixture
def sms_webhook():
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            hook.posts.append(json.loads(self.rfile.read(length).decode("utf-8")))
            if hook.mode == "slow":
                time.sleep(hook.delay)
            status = {"ok": 200, "slow": 200, "error": 500, "refuse": 400}[hook.mode]
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"ok": true}')
            except OSError:  # the client gave up (timeout) and closed the connection
                pass

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/sms"
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
