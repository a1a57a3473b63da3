"""Flaskr, a Flask application with its own Flask-style suite (tests/flaskapp),
passes unchanged on real Flask and on erlen through ``erlen.flask_patch``.

Each run is a fresh interpreter, since real Flask may never be imported in this
(patched) process. The suite prints which ``flask.Flask`` it ran on in its
report header (see tests/flaskapp/conftest.py), which proves which framework
each run used. tests/flaskapp/pytest.ini explains why the main run does not
collect that suite itself.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

FLASKAPP = pathlib.Path(__file__).parent / "flaskapp"


def run_suite(*plugins: str) -> subprocess.CompletedProcess[str]:
    plugin_args = [arg for name in plugins for arg in ("-p", name)]
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *plugin_args,
            "-p",
            "no:cacheprovider",
            str(FLASKAPP),
        ],
        cwd=FLASKAPP,
        # Options meant for the outer run (e.g. -q) would change the output read here.
        env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def passed_count(result: subprocess.CompletedProcess[str]) -> int:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    summary = result.stdout.strip().splitlines()[-1]
    # Only passes: no failures, errors, skips, xfails or warnings.
    match = re.fullmatch(r"=+ (\d+) passed in [\d.]+s(?: \([\d:]+\))? =+", summary)
    assert match is not None, output
    return int(match.group(1))


def test_flaskapp_suite_on_real_flask_and_on_erlen() -> None:
    on_flask = run_suite()
    assert "flaskapp suite running on flask.app.Flask" in on_flask.stdout
    flask_passed = passed_count(on_flask)

    # `-p erlen.flask_patch` imports the patch before the suite's conftest
    # imports flask: the one-line switch, done from the command line.
    on_erlen = run_suite("erlen.flask_patch")
    assert "flaskapp suite running on erlen.app.Erlen" in on_erlen.stdout
    erlen_passed = passed_count(on_erlen)

    assert erlen_passed == flask_passed
    assert flask_passed >= 30
