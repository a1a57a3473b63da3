"""The benchmark harness runs and compares like with like (a functional check).

Nothing here asserts a time or a speed ratio: those are benchmarks
(``make bench``), not tests. What is checked: a short run of the harness
completes, erlen answers every scenario exactly as Flask does (status, body,
key headers), the real applications (Flask's tutorial app flaskr, from Flask's
sdist, and the example blog) serve the pages the scenarios claim on both
frameworks, and the ASGI section measures every peer and either fills erlen's
column with responses identical to the WSGI side or marks it as missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.run import render
from benchmarks.scenarios import REAL, SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
}


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS...`` in the repository, bounded in time, output captured."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


# Requests of the real-app scenarios, answered in a subprocess per framework
# (the erlen one imports erlen.flask_patch, which replaces flask).
PROBE = """
import json, sys
from benchmarks import worker
from benchmarks.real_apps import session_cookie
from benchmarks.scenarios import LOGGED_IN, SCENARIOS, environ, fresh
apps = worker.load(sys.argv[1])
out = {}
for name in sys.argv[2:]:
    app_name = SCENARIOS[name][0]
    app = apps[app_name]()
    cookie = session_cookie(app, app_name) if name in LOGGED_IN else None
    env, body = environ(name, cookie)
    status, headers, data = worker.call(app, fresh(env, body))
    out[name] = {"status": status, "headers": headers, "body": data.decode()}
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = run_python(
        *("-m", "benchmarks.run", "--quick", "--rounds", "1", "--requests", "40"),
        *("--frameworks", "erlen,flask", "--json", str(out)),
    )
    assert out.exists(), proc.stderr
    results: dict[str, Any] = json.loads(out.read_text())
    results["returncode"] = proc.returncode
    results["stderr"] = proc.stderr
    return results


def test_every_scenario_identical_on_erlen_and_flask(quick_run: dict[str, Any]) -> None:
    assert quick_run["mismatches"] == [], quick_run["mismatches"]
    assert quick_run["returncode"] == 0, quick_run["stderr"]
    assert quick_run["scenarios"] == list(SCENARIOS)
    us = quick_run["in_process"]["us"]
    assert set(us["erlen"]) == set(us["flask"]) == set(SCENARIOS)
    responses = quick_run["in_process"]["responses"]
    expected = {
        "flaskr_index": ("200 OK", False),
        "flaskr_login_error": ("200 OK", True),  # the flashed error
        "blog_index": ("200 OK", False),
        "blog_create": ("302 FOUND", True),
        "async": ("200 OK", False),
    }
    for name, (status, cookie) in expected.items():
        for fw in ("erlen", "flask"):
            assert responses[fw][name]["status"] == status, (fw, name)
            assert responses[fw][name]["set_cookie"] is cookie, (fw, name)


@pytest.mark.parametrize("framework", ["erlen", "flask"])
def test_real_app_scenarios_serve_what_they_claim(framework: str) -> None:
    proc = run_python("-c", PROBE, framework, *sorted(REAL))
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    index = got["flaskr_index"]["body"]
    assert index.count('class="post"') == 20
    assert index.count("/update") == 20  # logged in as the author: Edit links
    assert "Log Out" in index
    login = got["flaskr_login_error"]["body"]
    assert "Incorrect password." in login
    assert 'name="password"' in login
    blog = got["blog_index"]["body"]
    assert "Post number 19" in blog  # newest first
    assert "Signed in as <strong>bench</strong>" in blog
    assert 'value="benchmark-csrf-token"' in blog  # the session's token, reused
    assert "page=2" in blog  # 20 posts, 5 a page
    created = got["blog_create"]
    assert created["status"] == "302 FOUND"
    location = dict((k.lower(), v) for k, v in created["headers"])["location"]
    assert location == "/posts/21"


def test_asgi_section_measures_every_peer(quick_run: dict[str, Any]) -> None:
    asgi = quick_run["asgi"]
    assert asgi["scenarios"] == ["text", "json", "async", "sync"]
    assert asgi["real_scenarios"] == [s for s in SCENARIOS if s in REAL]
    ip = asgi["in_process"]
    for peer in ("starlette", "fastapi", "quart", "falcon", "bare"):
        assert ip["available"][peer] is True
        # Falcon's ASGI app has no plain def responders.
        expected = set(asgi["scenarios"]) - ({"sync"} if peer == "falcon" else set())
        assert set(ip["us"][peer]) == expected, peer
        for name in expected:
            response = ip["responses"][peer][name]
            assert response["status"] == 200, (peer, name)
        assert ip["responses"][peer]["text"]["body_len"] == len("Hello world")
        assert ip["responses"][peer]["async"]["body_len"] == len("Async world")
        if peer != "falcon":
            assert ip["responses"][peer]["sync"]["body_len"] == len("Sync world")
    page = render(quick_run)
    assert page.index("## Real applications") < page.index("## Bare routes")
    assert "## ASGI, in-process" in page
    if ip["available"]["erlen"]:
        # erlen over ASGI answers exactly as the same app does on Flask's WSGI.
        assert asgi["mismatches"] == [], asgi["mismatches"]
        measured = set(asgi["scenarios"]) | set(asgi["real_scenarios"])
        assert set(ip["us"]["erlen"]) == measured
    else:
        assert ip["us"]["erlen"] == {}
        assert "has no `app.asgi_app` yet" in page


def test_quick_run_includes_url_for_and_template_rows(
    quick_run: dict[str, Any],
) -> None:
    mic = quick_run["micro"]
    assert mic["sections"] == ["url_for", "templates"]
    assert mic["mismatches"] == [], mic["mismatches"]
    assert set(mic["us"]) == {"erlen", "flask", "jinja"}
    assert mic["outputs"]["erlen"]["url_for/relative"] == "/blog/7/update"
    assert "url_for, template rows" in quick_run["section_seconds"]
    page = render(quick_run)
    assert page.index("## `url_for`, µs per call") < page.index(
        "## Template rendering vs number of rows"
    )
