"""The whole production site file (``deploy/nginx/school-site.conf.in``, rendered by
``render_nginx.py`` as docs/deployment.md step 11 runs it) in Debian's nginx: the TLS server
with HTTP/2, the port-80 server (ACME webroot, redirect to HTTPS), the upstream, the log
format. A certificate made here by the ``openssl`` command stands in for certbot's (step 10);
``curl --http2`` is the client.

Only what a test host cannot have is changed in the rendered file, each replacement checked:
the listen addresses (free ports on 127.0.0.1 instead of 80/443 on every address), the log
folder and the ACME webroot.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import warnings
from pathlib import Path

import pytest

from tests.deploy.stack import Gunicorn, app_env, free_port, nginx_binary, render_module, school, wait_for_port

HOST = "dangxiao.test"


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"未找到 {name}：TLS 站点测试跳过（apt-get install {name}）"
        if os.environ.get("SCHOOL_REQUIRE_NGINX") == "1":
            pytest.fail(message + "（SCHOOL_REQUIRE_NGINX=1：必须运行）")
        pytest.skip(message)
    return found


def replace_once(text: str, old: str, new: str, count: int = 1) -> str:
    assert text.count(old) == count, f"the site template changed: {old!r} found {text.count(old)} times"
    return text.replace(old, new)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    binary, openssl = nginx_binary(), tool("openssl")
    curl = tool("curl")
    if "HTTP2" not in subprocess.run([curl, "--version"], capture_output=True, text=True).stdout:
        pytest.fail("curl 不支持 HTTP/2（Debian 的 curl 支持）")
    root = tmp_path_factory.mktemp("tls-site")
    cert, key = root / "fullchain.pem", root / "privkey.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={HOST}",
                    "-addext", f"subjectAltName=DNS:{HOST}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    env = app_env(root)
    assert "数据库已是最新版本" in school(env, "init")
    assert "个静态文件" in school(env, "static", "build")
    web = Gunicorn(env, root)
    proxy = None
    try:
        conf = root / "sites-available"
        render_module().main(["--server-name", HOST, "--tls-cert", str(cert), "--tls-key", str(key),
                              "--upstream", f"127.0.0.1:{web.port}", "--static-dir", str(root / "instance" / "static-build"),
                              "--media-dir", str(root / "media"), "--out", str(conf)])
        http_port, https_port = free_port(), free_port()
        text = (conf / "school").read_text(encoding="utf-8")
        text = replace_once(text, "listen 80;", f"listen 127.0.0.1:{http_port};")
        text = replace_once(text, "listen [::]:80;\n", "")
        text = replace_once(text, "listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
        text = replace_once(text, "listen [::]:443 ssl http2;\n", "")
        text = replace_once(text, "/var/log/nginx/", f"{root}/logs/", count=2)
        text = replace_once(text, "root /var/www/html;", f"root {root}/webroot;")
        (conf / "school").write_text(text, encoding="utf-8")
        (root / "logs").mkdir()
        (root / "webroot" / ".well-known" / "acme-challenge").mkdir(parents=True)
        (root / "webroot" / ".well-known" / "acme-challenge" / "token-1").write_text("token-1.thumbprint")
        # /etc/nginx/nginx.conf's http block, reduced to what a prefix in tmp needs; the site is included whole.
        (root / "nginx.conf").write_text(f"""
{"user root;" if os.geteuid() == 0 else ""}
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/logs/error.log info;
events {{ worker_connections 128; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {conf}/school;
}}
""", encoding="utf-8")
        test = subprocess.run([binary, "-t", "-p", str(root), "-c", str(root / "nginx.conf")], capture_output=True,
                              text=True, timeout=60)
        assert test.returncode == 0, test.stderr  # `nginx -t` of step 11
        out = root / "logs" / "stdout.log"
        proxy = subprocess.Popen([binary, "-p", str(root), "-c", str(root / "nginx.conf")], stdout=out.open("wb"),
                                 stderr=subprocess.STDOUT, start_new_session=True)
        wait_for_port(https_port, proxy, out)
        wait_for_port(http_port, proxy, out)
        yield dict(root=root, cert=cert, curl=curl, http=http_port, https=https_port, web=web)
    finally:
        if proxy is not None and proxy.poll() is None:
            proxy.send_signal(signal.SIGQUIT)
            proxy.wait(timeout=10)
        web.stop()


def curl(site, url: str, *args: str) -> tuple[int, str, dict, str]:
    """(status, HTTP version, headers, body) of one request through the site's ports, by name."""
    done = subprocess.run([site["curl"], "-sS", "--cacert", str(site["cert"]), "--resolve", f"{HOST}:{site['https']}:127.0.0.1",
                           "--resolve", f"{HOST}:{site['http']}:127.0.0.1", "-D", "-", "-w", "\n%{http_version}",
                           *args, url], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    head, _, rest = done.stdout.decode().partition("\r\n\r\n")
    body, _, version = rest.rpartition("\n")
    lines = head.splitlines()
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), version, headers, body


def test_healthz_over_https_with_http2_and_hsts(site):
    status, version, headers, body = curl(site, f"https://{HOST}:{site['https']}/healthz", "--http2")
    assert (status, version) == (200, "2")
    assert headers["strict-transport-security"] == "max-age=31536000"
    assert json.loads(body)["status"] == "ok", body
    assert headers.get("x-request-id")  # the shared locations file: nginx's $request_id passed on and returned


def test_a_page_and_a_hashed_static_file_over_http2(site):
    status, version, _, page = curl(site, f"https://{HOST}:{site['https']}/login", "--http2")
    assert (status, version) == (200, "2") and "登录" in page
    css = next(name for name in page.split('"') if name.startswith("/static/css/site.") and name.endswith(".css"))
    status, version, headers, _ = curl(site, f"https://{HOST}:{site['https']}{css}", "--http2")
    assert (status, version) == (200, "2") and "immutable" in headers["cache-control"]


def test_tls_versions_and_alpn(site):
    context = ssl.create_default_context(cafile=str(site["cert"]))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", site["https"]), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname=HOST) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3") and tls.selected_alpn_protocol() == "h2"
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(str(site["cert"]))
    with warnings.catch_warnings():  # TLSv1_1 is deprecated in Python: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with socket.create_connection(("127.0.0.1", site["https"]), timeout=10) as raw:
        with pytest.raises(ssl.SSLError):  # ssl_protocols TLSv1.2 TLSv1.3 (and Debian's OpenSSL 3 defaults)
            old.wrap_socket(raw, server_hostname=HOST).close()


def test_port_80_redirects_to_https_but_serves_the_acme_challenge(site):
    status, _, headers, _ = curl(site, f"http://{HOST}:{site['http']}/healthz?x=1")
    assert status == 301 and headers["location"] == f"https://{HOST}/healthz?x=1"
    status, _, _, body = curl(site, f"http://{HOST}:{site['http']}/.well-known/acme-challenge/token-1")
    assert (status, body) == (200, "token-1.thumbprint")  # certbot --webroot -w /var/www/html renews through it


def test_access_log_uses_the_site_log_format(site):
    curl(site, f"https://{HOST}:{site['https']}/healthz", "--http2")
    log = Path(site["root"] / "logs" / "school.access.log").read_text()
    assert '"GET /healthz HTTP/2.0" 200' in log and " rid=" in log and " urt=" in log
