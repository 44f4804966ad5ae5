# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app run
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-suite install translations browser-deps lint bench clean-demo

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed translations

# Compiled catalogues (.mo) are build output, made from the .po files in translations/.
translations: $(VENV)/.installed
	@$(VENV)/bin/pybabel compile -d translations >/dev/null

# Debian's Chromium (and CJK fonts so Chinese pages render) for the browser tests.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

run: export PUBLIC_BASE_URL = http://$(HOST):$(PORT)
run: export SANDBOX_BASE_URL = http://$(HOST):$(PORT)/sandbox
run: install
	$(FLASK) db upgrade
	$(FLASK) demo seed
	$(FLASK) preflight
	@echo "platform: http://$(HOST):$(PORT)/h5/ (patients)  http://$(HOST):$(PORT)/login/ (back-office)"
	$(VENV)/bin/huey_consumer run.huey --workers 2 --worker-type thread --logfile instance/huey.log & \
	  consumer=$$!; trap "kill $$consumer 2>/dev/null" EXIT INT TERM; \
	  $(FLASK) run --host $(HOST) --port $(PORT) --with-threads

test: install browser-deps
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done
