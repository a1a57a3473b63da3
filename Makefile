# erlen's developer entry points. Every target bootstraps .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo hello test system-deps check docs format bench soak clean

## Serve the example blog on http://127.0.0.1:5000 (the README's main command).
demo: $(STAMP)
	$(BIN)/python -m examples.blog.serve

## Serve the minimal hello app.
hello: $(STAMP)
	$(BIN)/erlen --app examples/hello/app.py run

## Install missing system packages, lint, format check, type check, then the
## whole test suite.
test: system-deps check docs
	bash scripts/run-tests.sh

## The Debian packages the tests need (chromium, wrk, redis-server, postgresql,
## curl): apt-get installs missing ones as root, else it says what to run.
system-deps:
	bash scripts/system-deps.sh

## Build the documentation site into site/ (warnings and broken links fail).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

check: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src/erlen

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

soak: $(STAMP)
	SOAK_SECONDS=60 $(BIN)/python -m pytest -q -s examples/blog/tests/test_soak.py

# Debian's python3 lacks ensurepip unless python3-venv is installed: then the
# venv is made without pip and the system pip installs pip into it.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	    rm -rf $(VENV) && $(PYTHON) -m venv --without-pip $(VENV) && \
	    $(PYTHON) -m pip --python $(BIN)/python install -q pip; }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache test-artifacts
