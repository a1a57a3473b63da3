#!/usr/bin/env bash
# Runs the whole pytest suite; pytest's "no tests collected" (exit 5) is a failure here
# too, since a suite that ran nothing proves nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest "$@"
# Flask's own test suite, unchanged, on erlen through erlen.flask_patch.
bash scripts/flask-suite.sh
bash scripts/jinja-suite.sh  # Jinja2's own test suite, unchanged, on erlen.jinja.FastEnvironment.
