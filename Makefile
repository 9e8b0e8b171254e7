# 网上党校 — the two commands of the quick start are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test lint init demo browser-deps system-deps clean help

help:
	@echo "make run   — 安装、建库、载入演示内容并启动网站 http://$(HOST):$(PORT)"
	@echo "make test  — 安装测试依赖（含 Chromium）并运行全部测试"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[prod]'
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[prod,test]'
	touch $@

init: $(VENV)/.installed
	$(BIN)/school init

demo: init
	$(BIN)/school demo

run: demo
	$(BIN)/school serve --host $(HOST) --port $(PORT)

# Playwright cannot download its own browser here, so the tests drive Debian's Chromium.
browser-deps:
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi wqy; then \
	  echo "Chromium 和中文字体已就绪"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "安装 Chromium 和中文字体（apt-get）…"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	else \
	  echo "未找到 Chromium：浏览器测试将跳过。请以 root 运行 make test，或执行 sudo apt-get install chromium fonts-wqy-microhei，"; \
	  echo "或设置 SCHOOL_CHROMIUM=/path/to/chromium。"; \
	fi

# The deployment tests (tests/deploy) start Debian's nginx in front of gunicorn.
# The TLS site test (tests/deploy/test_tls_site.py) also needs the openssl and curl commands.
system-deps:
	@if { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } && command -v openssl >/dev/null 2>&1 \
	    && command -v curl >/dev/null 2>&1; then \
	  echo "nginx、openssl、curl 已就绪"; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "安装 nginx、openssl、curl（apt-get）…"; \
	  (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light openssl curl >/dev/null 2>&1 || \
	   (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light openssl curl >/dev/null)); \
	else \
	  echo "未找到 nginx、openssl 或 curl：部署测试（tests/deploy）将跳过。请以 root 运行 make test，或执行 sudo apt-get install nginx-light openssl curl。"; \
	fi

# The suite runs on every core (pytest-xdist); TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto

test: $(VENV)/.installed-test browser-deps system-deps
	$(BIN)/pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check school tests bench

clean:
	rm -rf $(VENV) .pytest_cache
