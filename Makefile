# Two commands on a fresh machine: `make run` and `make test`. Everything else is set up from here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test lint typecheck bench clean libmagic postgres chromium baileys

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# the tests cover the whatsapp engine too, so they install its extra (neonize)
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,whatsapp]'
	touch $(VENV)/.installed $@

# `import neonize` loads python-magic, which needs the system libmagic (slim images lack it)
libmagic:
	@$(PYTHON) -c "import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library('magic') else 1)" || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmagic1; \
	  else \
	    echo "libmagic is missing: install it (Debian/Ubuntu: apt-get install libmagic1, macOS: brew install libmagic)" >&2; \
	    exit 1; \
	  fi; }

# the integration and acceptance tiers run on PostgreSQL too: tests/postgres.py runs a throwaway cluster from
# the server's binaries (Debian: /usr/lib/postgresql/*/bin), as the postgres user when root; no system
# service is used
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	  else \
	    echo "PostgreSQL is missing: install it (Debian/Ubuntu: apt-get install postgresql, macOS: brew install postgresql)" >&2; \
	    exit 1; \
	  fi; }

# the baileys engine's Node packages, from the pinned lockfile, into this machine's engines_dir (a no-op when
# this release's are there); the tests use them offline
baileys: $(VENV)/.installed-test
	$(BIN)/statusgate engines install baileys

# the browser tests drive the system's Chromium with Playwright (no browser download; Debian: chromium)
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "Chromium is missing: install it (Debian/Ubuntu: apt-get install chromium)" >&2; \
	    exit 1; \
	  fi; }

run: $(VENV)/.installed
	$(BIN)/statusgate demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

# the wheel is built as `pip install statusgate` would (isolated: the declared setuptools bound), its build
# directory kept out of the tree (a stale build/lib would leak into it), and checked by tests/check_wheel.py
test: libmagic postgres chromium baileys lint typecheck
	@wheels=$$(mktemp -d) && trap 'rm -rf "$$wheels"' EXIT && \
	  printf '[build]\nbuild_base = %s/build\n' "$$wheels" > "$$wheels/setup.cfg" && \
	  DIST_EXTRA_CONFIG="$$wheels/setup.cfg" $(BIN)/python -m pip wheel --quiet --no-deps -w "$$wheels" . && \
	  $(BIN)/python tests/check_wheel.py "$$wheels"/statusgate-*.whl
	$(BIN)/python -m pytest -q

bench: $(VENV)/.installed-test
	$(BIN)/python bench/accept.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
