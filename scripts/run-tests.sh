#!/usr/bin/env bash
# Runs the whole pytest suite twice — over WSGI, then with every test client
# sending its requests through app.asgi_app (ERLEN_TEST_PROTOCOL=asgi) — and
# Flask's own suite and the suites of Flask extensions under both protocols,
# then Jinja2's own suite. pytest's "no tests collected" (exit 5) is a failure
# here too: a suite that ran nothing proves nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== erlen's suite over WSGI"
ERLEN_TEST_PROTOCOL=wsgi .venv/bin/python -m pytest "$@"
echo "== erlen's suite over ASGI"
ERLEN_TEST_PROTOCOL=asgi .venv/bin/python -m pytest "$@"
# Flask's own test suite, unchanged, on erlen through erlen.flask_patch.
ERLEN_TEST_PROTOCOL=wsgi bash scripts/flask-suite.sh
ERLEN_TEST_PROTOCOL=asgi bash scripts/flask-suite.sh
bash scripts/extension-suites.sh  # Flask extensions' own suites, unchanged, over WSGI and ASGI.
bash scripts/jinja-suite.sh  # Jinja2's own test suite, unchanged, on erlen.jinja.FastEnvironment.
