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

# $(call system_package,CHECK,PACKAGE,MISSING): nothing when the shell command CHECK succeeds; else Debian's
# PACKAGE through apt-get when root, or MISSING (what to install) and a failure. CHECK and MISSING come as
# variables: they hold commas, which would split the arguments
define system_package
	@$(1) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2); \
	  else \
	    echo "$(3)" >&2; \
	    exit 1; \
	  fi; }
endef

# `import neonize` loads python-magic, which needs the system libmagic (slim images lack it)
HAS_LIBMAGIC = $(PYTHON) -c "import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library('magic') else 1)"
NO_LIBMAGIC = libmagic is missing: install it (Debian/Ubuntu: apt-get install libmagic1, macOS: brew install libmagic)
libmagic:
	$(call system_package,$(HAS_LIBMAGIC),libmagic1,$(NO_LIBMAGIC))

# the integration and acceptance tiers run on PostgreSQL too: tests/postgres.py runs a throwaway cluster from
# the server's binaries (Debian: /usr/lib/postgresql/*/bin), as the postgres user when root; no system
# service is used
HAS_POSTGRES = { ls /usr/lib/postgresql/*/bin/initdb || command -v initdb; }
NO_POSTGRES = PostgreSQL is missing: install it (Debian/Ubuntu: apt-get install postgresql, macOS: brew install postgresql)
postgres:
	$(call system_package,$(HAS_POSTGRES),postgresql,$(NO_POSTGRES))

# the browser tests drive the system's Chromium with Playwright (no browser download; Debian: chromium)
HAS_CHROMIUM = { command -v chromium || command -v chromium-browser; }
NO_CHROMIUM = Chromium is missing: install it (Debian/Ubuntu: apt-get install chromium)
chromium:
	$(call system_package,$(HAS_CHROMIUM),chromium,$(NO_CHROMIUM))

# the baileys engine's Node packages, from the pinned lockfile, into this machine's engines_dir (a no-op when
# this release's are there); the tests use them offline
baileys: $(VENV)/.installed-test
	$(BIN)/statusgate engines install baileys

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
