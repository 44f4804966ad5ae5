# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app run
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test test-suite test-another-day install translations browser-deps faketime-deps lint bench clean-demo

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed translations

# Compiled catalogues (.mo) are build output, made from the .po files in translations/.
# translations/zh_Hans_CN must be a link to zh_CN (Babel parses "zh_CN" as zh_Hans_CN and gettext looks there): a
# checkout that turned it into a plain file would show every Flask-AppBuilder string in English.
translations: $(VENV)/.installed
	@if [ ! -L translations/zh_Hans_CN ]; then rm -rf translations/zh_Hans_CN; ln -s zh_CN translations/zh_Hans_CN; fi
	@$(VENV)/bin/pybabel compile -d translations >/dev/null

# Debian's Chromium (and CJK fonts so Chinese pages render) for the browser tests.
browser-deps:
	@if [ ! -x /usr/bin/chromium ]; then \
	  echo "installing Debian chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

# Debian's faketime: the unit and functional tests again on another date and hour (test-another-day).
faketime-deps:
	@if ! command -v faketime >/dev/null; then \
	  echo "installing Debian faketime for the run on another day"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq faketime >/dev/null; \
	fi

# The consumer polls the SQLite queue at least every second (Huey backs off to 10 s when idle: a paid booking
# waited that long for its HIS confirmation); on Redis, as in production, it blocks on the queue instead.
run: export PUBLIC_BASE_URL = http://$(HOST):$(PORT)
run: export SANDBOX_BASE_URL = http://$(HOST):$(PORT)/sandbox
run: install
	$(FLASK) db upgrade
	$(FLASK) demo seed
	$(FLASK) preflight
	@echo "platform: http://$(HOST):$(PORT)/h5/ (patients)  http://$(HOST):$(PORT)/login/ (back-office)"
	$(VENV)/bin/huey_consumer run.huey --workers 2 --worker-type thread --max-delay 1 --logfile instance/huey.log & \
	  consumer=$$!; trap "kill $$consumer 2>/dev/null" EXIT INT TERM; \
	  $(FLASK) run --host $(HOST) --port $(PORT) --with-threads

# The whole suite in file order (pytest-randomly is installed: `-p randomly` shuffles, as CI does next).
test: install browser-deps faketime-deps
	$(PY) -m pytest -q -p no:randomly

# Unit and functional tests once more, in random order, on ANOTHER_DAY (UTC): by default 00:30 Beijing on
# 1 January, when the Beijing and UTC dates and years differ. A fresh order each time unless SEED=N is given
# (the seed is printed; SEED=N replays that order).
ANOTHER_DAY ?= 2026-12-31 16:30:00
SEED ?=
test-another-day: install faketime-deps
	TZ=UTC faketime '$(ANOTHER_DAY)' $(PY) -m pytest -p randomly $(if $(SEED),--randomly-seed=$(SEED)) tests/unit tests/functional

lint: install
	$(VENV)/bin/ruff check .
	PYTHONPATH=. $(VENV)/bin/lint-imports

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done
