# communepol — `make demo` and `make test` do all the set-up on a machine with Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PIP    := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: install chromium demo serve test lint typecheck i18n i18n-check migrations bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "communepol needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# The browser tests (tests/browser) drive Debian's Chromium; `make test` installs it when root
# can (the demo does not need it).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
		|| echo "make: installing chromium failed; the browser tests need Debian's chromium package"; \
	else echo "make: the browser tests need Debian's chromium package (apt-get install chromium, as root)"; fi

demo: install
	$(BIN)/communepol demo

serve: install
	$(BIN)/communepol serve --migrate

lint: install
	$(BIN)/ruff check communepol bots tests bench
	$(BIN)/ruff format --check communepol bots tests bench

typecheck: install
	$(BIN)/mypy

i18n: install
	$(BIN)/communepol i18n update

i18n-check: install
	$(BIN)/communepol i18n check

test: install chromium lint typecheck i18n-check
	$(BIN)/pytest -q

# Write a migration for model changes (then review it and commit it).
migrations: install
	$(BIN)/tortoise makemigrations

# BENCH_ARGS go to the channel benchmarks, e.g.
# make bench BENCH_ARGS="--quick --postgres postgres://postgres@127.0.0.1:5432/postgres"
BENCH_ARGS ?=
bench: install
	$(BIN)/python bench/units.py
	$(BIN)/python bench/intake.py $(BENCH_ARGS)
	$(BIN)/python bench/dispatch.py $(BENCH_ARGS)
	$(BIN)/python bench/fanout.py $(BENCH_ARGS)
	$(BIN)/python bench/tips.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
