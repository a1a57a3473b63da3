#!/usr/bin/env bash
# Runs Flask's own test suite (from the Flask 3.1.3 sdist on PyPI), unchanged,
# on erlen through erlen.flask_patch. Nothing of Flask's is committed here: the
# sdist is downloaded into build/ at run time.
#
# Its conftest uses a pytest internal removed in pytest 8.4, so it runs in a
# venv of its own. Nothing is deselected. ERLEN_TEST_PROTOCOL=asgi runs every
# test client request through app.asgi_app instead of wsgi_app.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/.venv-flask-suite
work=$root/build/flask-suite
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if [ ! -f "$venv/.installed" ] || [ pyproject.toml -nt "$venv/.installed" ]; then
    "$venv/bin/python" -m pip install -q -e . "pytest<8.4" asgiref python-dotenv flask==3.1.3
    touch "$venv/.installed"
fi
if [ ! -d "$work/flask-3.1.3/tests" ]; then
    mkdir -p "$work"
    "$venv/bin/python" -m pip download -q --no-deps --no-binary :all: flask==3.1.3 -d "$work"
    tar xzf "$work/flask-3.1.3.tar.gz" -C "$work"
fi
cd "$work/flask-3.1.3"
exec "$venv/bin/python" -c '
import sys
import erlen.flask_patch  # before anything imports flask
import flask, erlen, pytest
assert flask.Flask is erlen.Erlen, "the patch did not take"
import os
protocol = os.environ.get("ERLEN_TEST_PROTOCOL") or "wsgi"
print("Flask 3.1.3 test suite on erlen", erlen.__version__, "over", protocol.upper())
sys.exit(pytest.main([
    "tests", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
    "--ignore=tests/type_check",
]))
'
