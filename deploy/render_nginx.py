#!/usr/bin/env python3
"""Render the nginx site from ``deploy/nginx/*.conf.in`` by filling the ``@@NAME@@`` placeholders.

Production writes ``school`` (the site) and ``school-locations.conf`` (the locations, media,
static files, limits and timeouts); ``tests/deploy`` renders the same locations file with
``render()`` and includes it in a plain-HTTP server on a free port, so both run one config.
Only the standard library: it runs with Debian's python3 before the venv exists.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent / "nginx"
PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")

def render(template: str | Path, values: dict[str, str]) -> str:
    """The template's text with every ``@@NAME@@`` replaced; a placeholder without a value is an error."""
    text = Path(template).read_text(encoding="utf-8") if isinstance(template, Path) else (HERE / template).read_text(
        encoding="utf-8")
    missing = sorted({m for m in PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise SystemExit(f"缺少参数：{', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]).rstrip("/") or "/", text)

def upstream_servers(nodes: list[str]) -> str:
    """The ``server`` lines of the upstream block: one per node; nginx sends a request that
    failed to connect (or timed out connecting) to the next node, and rests a failing node 10 s."""
    for node in nodes:
        if not re.fullmatch(r"[\w.\-\[\]:]+:\d+", node):
            raise SystemExit(f"--upstream 应为 主机:端口，而不是 {node!r}")
    return "\n    ".join(f"server {node} max_fails=3 fail_timeout=10s;" for node in nodes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="生成 nginx 站点配置（网上党校）")
    parser.add_argument("--server-name", required=True)
    parser.add_argument("--tls-cert", required=True)
    parser.add_argument("--tls-key", required=True)
    parser.add_argument("--upstream", action="append", metavar="HOST:PORT",
                        help="a gunicorn node; repeat for several nodes (default 127.0.0.1:8000)")
    parser.add_argument("--static-dir", default="/srv/school/instance/static-build",
                        help="SCHOOL_STATIC_BUILD_DIR, the folder `school static build` writes (hashed names); "
                             "not school/static (default %(default)s)")
    parser.add_argument("--media-dir", required=True, help="SCHOOL_MEDIA_DIR")
    parser.add_argument("--out", required=True, help="folder for 'school' and 'school-locations.conf'")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    values = {"SERVER_NAME": args.server_name, "TLS_CERT": args.tls_cert, "TLS_KEY": args.tls_key,
              "UPSTREAM": upstream_servers(args.upstream or ["127.0.0.1:8000"]), "STATIC_DIR": str(Path(args.static_dir).resolve()),
              "MEDIA_DIR": str(Path(args.media_dir).resolve()), "CONF_DIR": str(out.resolve())}
    (out / "school-locations.conf").write_text(render("school-locations.conf.in", values), encoding="utf-8")
    (out / "school").write_text(render("school-site.conf.in", values), encoding="utf-8")
    print(f"已写入 {out / 'school'} 和 {out / 'school-locations.conf'}")

if __name__ == "__main__":
    main()
