"""The README's code runs as written, and messages the docs quote are the real ones.

- Every ```` ```python ```` block of README.md compiles; the "Ten lines" app is
  ``examples/hello/app.py`` character for character, is served through the
  test client, and ``python examples/hello/app.py`` really serves it; the
  Flask-extensions block runs in a fresh interpreter.
- The ```` ```sh ```` curl session runs with bash against the blog served by
  ``python -m examples.blog.serve`` (what ``make demo`` runs), on a free port.
- Error messages quoted by docs/cli.md and docs/sessions.md are what erlen
  prints, spacing included.
- ``make test`` first installs (or names) the Debian packages the tests need,
  ``.ci/run`` is just ``make test``, and ``make demo`` needs none of them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from erlen import Erlen, session

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FENCE_RE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(language: str, text: str = README) -> list[str]:
    return [body for lang, body in FENCE_RE.findall(text) if lang == language]


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what CLI tests may leave (``*_RUN_FROM_CLI``
    makes ``app.run()`` a no-op) or a developer's blog settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ERLEN_", "FLASK_", "BLOG_"))
    }
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def run(
    command: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to completion (bounded), capturing its text output."""
    return subprocess.run(
        command,
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(
    command: list[str], port: int, log: Path, env: dict[str, str]
) -> Iterator[None]:
    """Run ``command`` (in its own process group) until it answers on ``port``."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"server exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"server not up:\n{log.read_text()}"
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# -- python blocks ----------------------------------------------------------------


def test_readme_has_the_blocks_these_tests_check() -> None:
    assert len(blocks("python")) == 2
    assert len(blocks("sh")) == 2


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_every_python_block_compiles(index: int) -> None:
    compile(blocks("python")[index], f"README.md python block {index + 1}", "exec")


def ten_line_app() -> str:
    (block,) = [b for b in blocks("python") if "app = Erlen(__name__)" in b]
    return block


def test_ten_line_app_is_examples_hello() -> None:
    hello = (ROOT / "examples" / "hello" / "app.py").read_text(encoding="utf-8")
    assert ten_line_app() == hello
    assert 'if __name__ == "__main__":\n    app.run(debug=True)\n' in hello
    # "Ten lines": at most ten of code, blank lines aside.
    code = [line for line in hello.splitlines() if line.strip()]
    assert len(code) <= 10


def test_ten_line_app_serves_its_routes(tmp_path: Path) -> None:
    module = tmp_path / "readme_hello.py"
    module.write_text(ten_line_app())
    namespace: dict[str, object] = {"__name__": "readme_hello"}
    exec(compile(ten_line_app(), str(module), "exec"), namespace)
    app = namespace["app"]
    assert isinstance(app, Erlen)
    client = app.test_client()
    response = client.get("/", headers={"User-Agent": "readme-test"})
    assert response.status_code == 200
    assert response.get_json() == {"hello": "world", "agent": "readme-test"}
    response = client.get("/hello/erlen", headers={"User-Agent": "x"})
    assert response.get_json() == {"hello": "erlen", "agent": "x"}
    assert client.get("/hello/").status_code == 404


def test_python_examples_hello_app_py_serves(tmp_path: Path) -> None:
    """``python examples/hello/app.py`` starts the debug server, as the README
    says. Its ``app.run(debug=True)`` would use port 5000, which may be taken:
    a ``sitecustomize`` module on ``PYTHONPATH`` moves it to a free port."""
    port = free_port()
    shim = tmp_path / "sitecustomize.py"
    shim.write_text(
        "import erlen\n"
        "_run = erlen.Erlen.run\n"
        "def run(self, host=None, port=None, **kw):\n"
        f"    _run(self, '127.0.0.1', {port}, **kw)\n"
        "erlen.Erlen.run = run\n"
    )
    env = clean_env(PYTHONPATH=str(tmp_path))
    log = tmp_path / "hello.log"
    with serving([sys.executable, "examples/hello/app.py"], port, log, env):
        url = f"http://127.0.0.1:{port}/hello/readme"
        request = urllib.request.Request(url, headers={"User-Agent": "curl/8"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            body = json.loads(response.read())
    assert body == {"agent": "curl/8", "hello": "readme"}
    output = log.read_text()
    assert " * Debug mode: on" in output
    assert " * Debugger is active!" in output


def test_flask_extensions_block_runs_in_a_fresh_interpreter() -> None:
    (block,) = [b for b in blocks("python") if "erlen.flask_patch" in b]
    check = block + (
        "\nimport erlen\n"
        "assert Flask is erlen.Erlen, Flask\n"
        "app = Flask('readme')\n"
        "LoginManager(app)\n"
        "print('ok', type(app).__name__)\n"
    )
    result = run([sys.executable, "-c", check], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok Erlen\n"


# -- the curl session -------------------------------------------------------------


def curl_session() -> str:
    (block,) = [b for b in blocks("sh") if "/api/tokens" in b]
    return block


def test_curl_session_runs_against_the_demo(tmp_path: Path) -> None:
    script = curl_session()
    assert script.startswith("B=http://127.0.0.1:5000\n")
    port = free_port()
    env = clean_env(
        BLOG_DATABASE=str(tmp_path / "demo.sqlite"),
        BLOG_SECRET_KEY_FILE=str(tmp_path / "secret_key"),
    )
    command = [sys.executable, "-m", "examples.blog.serve", "--port", str(port)]
    with serving(command, port, tmp_path / "demo.log", env):
        script = script.replace(":5000", f":{port}", 1)
        result = run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout.splitlines() == [
        "7",  # demo posts in the listing
        "Edited with curl",  # PATCH answered the post
        "204",  # DELETE of the post
        "curl",  # the token's name in GET /api/tokens
        "204",  # the token revoked
        "401",  # and no longer accepted
    ]
    assert (tmp_path / "jar.txt").exists()


# -- messages quoted in the docs ----------------------------------------------------


def quoted(page: str, start: str) -> str:
    """The one ```text block of ``docs/<page>`` that starts with ``start``."""
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    fenced = re.findall(r"^ *```text\n(.*?)^ *```$", text, re.MULTILINE | re.DOTALL)
    (found,) = [b.strip() for b in fenced if b.strip().startswith(start)]
    return found


def test_cli_doc_quotes_the_no_app_error(tmp_path: Path) -> None:
    # No wsgi.py or app.py in tmp_path.
    result = run([sys.executable, "-m", "erlen", "routes"], cwd=tmp_path)
    assert result.returncode == 2
    doc = quoted("cli.md", "Error: Could not locate")
    assert result.stderr.splitlines()[-1] == doc


def test_sessions_doc_quotes_the_no_secret_key_error() -> None:
    app = Erlen(__name__)
    doc = quoted("sessions.md", "RuntimeError:")
    with app.test_request_context(), pytest.raises(RuntimeError) as info:
        session["x"] = 1
    assert f"RuntimeError: {info.value}" == doc
    assert ".  Set the secret_key" in doc


# -- make test's set-up ---------------------------------------------------------------

SYSTEM_DEPS = ROOT / "scripts" / "system-deps.sh"


def test_make_test_installs_system_packages_before_anything_else() -> None:
    result = run(["make", "--no-print-directory", "-n", "test"], cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "bash scripts/system-deps.sh"
    ci = (ROOT / ".ci" / "run").read_text()
    assert [line for line in ci.splitlines() if not line.startswith("#")] == [
        "set -euo pipefail",
        'cd "$(dirname "$0")/.."',
        "make test",
    ]
    # make demo does not need them.
    demo = run(["make", "--no-print-directory", "-n", "demo"], cwd=ROOT)
    assert "system-deps" not in demo.stdout


def test_system_deps_cost_nothing_when_present() -> None:
    result = run(["bash", str(SYSTEM_DEPS)], cwd=ROOT)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_system_deps_name_the_one_command_when_not_root(tmp_path: Path) -> None:
    # An empty PATH: every package looks missing (but postgresql, found by path).
    command = ["env", "-i", f"PATH={tmp_path}", "/bin/bash", str(SYSTEM_DEPS)]
    if os.geteuid() == 0:  # as nobody
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        command += ["env", "-i", f"PATH={tmp_path}", "/bin/bash", str(SYSTEM_DEPS)]
    result = run(command, cwd=ROOT)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "make test needs these Debian packages, which are missing:"
        " chromium wrk redis-server memcached curl",
        "Install them with this one command, then run make test again:",
        "",
        "    sudo sh -c 'apt-get update && apt-get install -y"
        " chromium wrk redis-server memcached curl'",
        "",
    ]


def test_system_deps_as_root_without_apt_get(tmp_path: Path) -> None:
    command = ["env", "-i", f"PATH={tmp_path}", "/bin/bash", str(SYSTEM_DEPS)]
    if os.geteuid() != 0:  # root of a user namespace
        command = ["unshare", "--map-root-user", *command]
    result = run(command, cwd=ROOT)
    assert result.returncode == 1
    assert "has no apt-get: chromium wrk redis-server memcached curl" in (result.stderr)
