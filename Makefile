# erlen's developer entry points. Every target bootstraps .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo hello test check format bench soak clean

## Serve the example blog on http://127.0.0.1:5000 (the README's main command).
demo: $(STAMP)
	$(BIN)/python -m examples.blog.serve

## Serve the minimal hello app.
hello: $(STAMP)
	$(BIN)/erlen --app examples/hello/app.py run

## Lint, format check, type check, then the whole test suite.
test: check
	bash scripts/run-tests.sh

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

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache test-artifacts
