# duban — every target sets itself up on a fresh Debian/Ubuntu machine.
#   make demo    a district's week on embedded defaults (SQLite, inline jobs, console chat)
#   make test    the whole test suite against real redis-server, PostgreSQL and Synapse
#   make bench   benchmarks (pass DATA=../shared/data/teddy2020c for the real-data ones)

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
DATA   ?= ../shared/data/teddy2020c
SUDO   := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
# Every apt-get call waits up to five minutes for the dpkg lock (unattended-upgrades, another
# make) instead of failing at once.
APT    := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get -o DPkg::Lock::Timeout=300

.PHONY: demo test bench replay lint mypy mypy-baseline docs system-deps fonts venv clean web-assets

$(VENV)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "duban needs Python >= 3.11"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV) || { \
	  echo "python3 -m venv failed: installing python3-venv"; \
	  $(APT) update -qq && $(APT) install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(PIP) install -q --disable-pip-version-check -r requirements.lock
	$(PIP) install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

venv: $(VENV)/.installed web-assets

# htmx for the web desk, from npm (never a CDN): district intranets have no internet, so
# duban serves it itself from web/static/vendor/ (gitignored).
HTMX_VERSION ?= 2.0.11
web-assets: web/static/vendor/htmx.min.js

web/static/vendor/htmx.min.js:
	@command -v npm >/dev/null || { $(APT) update -qq && $(APT) install -y -qq --no-install-recommends npm; }
	@mkdir -p web/static/vendor && tmp=$$(mktemp -d) && \
	  (cd $$tmp && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null && tar xzf htmx.org-*.tgz) && \
	  cp $$tmp/package/dist/htmx.min.js $@ && rm -rf $$tmp

# System packages the tests and charts need; installed with apt only when missing.
# chromium: the web and print tests render pages and PDFs with it.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	{ command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; } || missing="$$missing postgresql"; \
	fc-list 2>/dev/null | grep -qiE 'wqy|noto sans cjk|noto serif cjk' || missing="$$missing fonts-wqy-microhei fontconfig"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(APT) update -qq && $(APT) install -y -qq --no-install-recommends $$missing; \
	fi

fonts:
	@fc-list 2>/dev/null | grep -qiE 'wqy|noto sans cjk|noto serif cjk' || { \
	  $(APT) update -qq && $(APT) install -y -qq --no-install-recommends fonts-wqy-microhei fontconfig; }

demo: venv fonts
	$(VENV)/bin/duban demo

test: venv system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MYPY_CHECK)
	$(VENV)/bin/pytest -q

bench: venv system-deps fonts
	$(PY) bench/classifier.py --data $(DATA)
	$(PY) bench/pipeline.py
	$(PY) bench/multi_worker.py
	$(PY) bench/dedupe.py
	$(PY) bench/chat_latency.py
	$(PY) bench/chat_commands.py
	$(PY) bench/replay.py $(REPLIES)
	$(PY) bench/web.py
	$(PY) bench/tasks.py
	$(PY) bench/scale.py run --sizes $(SCALE_SIZES)

# The large ledger's two sizes (1,000,000 takes about 6 CPU-minutes to build, cached in var/scale).
SCALE_SIZES ?= 10000,100000

# DATA may name the folder holding replies.csv or the file itself. The replay has a ledger
# of its own (var/replay), never the office's.
REPLIES = $(if $(filter %.csv,$(DATA)),$(DATA),$(DATA)/replies.csv)

replay: venv fonts
	DUBAN_HOME=var/replay $(VENV)/bin/duban replay $(REPLIES)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MYPY_CHECK)
	$(VENV)/bin/cog --check --verbosity=1 $(DOCS_COG)

# mypy (files and strictness in pyproject.toml) against mypy-baseline.txt, today's errors:
# a new error fails, and so does a fixed one until the baseline is synced (it only shrinks).
MYPY_CHECK = $(VENV)/bin/mypy | $(VENV)/bin/mypy-baseline filter --no-colors

mypy: venv
	$(MYPY_CHECK)

# Rewrites mypy-baseline.txt from today's errors; commit it with the change that fixed them.
mypy-baseline: venv
	$(VENV)/bin/mypy | $(VENV)/bin/mypy-baseline sync --sort-baseline

# The generated references (CLI, settings, chat commands) inside the docs, rewritten by cog.
DOCS_COG = -I . docs/cli-reference.md docs/settings-reference.md docs/manual/*.md

docs: venv
	$(VENV)/bin/cog -r --verbosity=1 $(DOCS_COG)

clean:
	rm -rf var .pytest_cache
