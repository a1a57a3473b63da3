"""Helpers for tests that start real servers: ports, processes, an HTTP client."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until something accepts connections on ``port`` (bounded)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited with {process.returncode}:\n{log.read_text()}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(
        f"server not listening after {START_TIMEOUT}s:\n{log.read_text()}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's whole process group (its workers too), politely first."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)


def _server_environ() -> dict[str, str]:
    """This process's environment, less what a CLI test may have left in it
    (``*_RUN_FROM_CLI`` would make ``app.run()`` in the server a no-op)."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in ("ERLEN_RUN_FROM_CLI", "FLASK_RUN_FROM_CLI")
    }


@contextmanager
def running(
    command: Sequence[str], port: int, log: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``command`` from the repo root in its own process group until exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env={**_server_environ(), "PYTHONUNBUFFERED": "1", **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(port, process, log)
            yield process
        finally:
            stop(process)


def lower_keys(headers: Any) -> dict[str, str]:
    """Header names lower-cased: servers differ in how they spell them."""
    return {key.lower(): value for key, value in headers.items()}


class Http:
    """A tiny browser-like client: cookies, redirects, JSON, and errors as responses."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        json_body: Any = None,
        raw: bytes | None = None,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send a request; (status, lower-cased headers, body) for any status."""
        data = raw
        headers = dict(headers or {})
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if content_type is not None:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers
        )
        try:
            with self.opener.open(req, timeout=10) as response:
                return response.status, lower_keys(response.headers), response.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, lower_keys(error.headers), error.read()

    def text(self, path: str) -> tuple[int, str]:
        status, _, body = self.request("GET", path)
        return status, body.decode()

    def csrf_token(self, path: str = "/auth/login") -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.text(path)[1])
        assert match is not None
        return match.group(1)

    def api_csrf_token(self) -> str:
        """The session's CSRF token from a page's ``<meta name="csrf-token">``
        (logged in only), for the API's ``X-CSRF-Token`` header."""
        html = self.text("/")[1]
        match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
        assert match is not None
        return match.group(1)

    def login(self, username: str, password: str) -> str:
        """Log in through the form (following the redirect); returns the page."""
        form = {
            "username": username,
            "password": password,
            "csrf_token": self.csrf_token(),
        }
        status, _, body = self.request("POST", "/auth/login", form=form)
        assert status == 200, body
        return body.decode()


BIN = Path(sys.executable).parent


#: The servers the blog is tested under: WSGI, then ASGI (``app.asgi_app``).
WSGI_SERVERS = ("gunicorn", "granian")
ASGI_SERVERS = ("uvicorn", "hypercorn", "granian-asgi")
SERVERS = WSGI_SERVERS + ASGI_SERVERS


def server_command(server: str, port: int) -> list[str]:
    """The blog's production entry point under one of :data:`SERVERS`:
    gunicorn (2 workers) and granian over WSGI; uvicorn (2 workers),
    hypercorn and granian over ASGI."""
    if server == "gunicorn":
        return [
            str(BIN / "gunicorn"),
            "--workers=2",
            f"--bind=127.0.0.1:{port}",
            "--graceful-timeout=5",
            "examples.blog.wsgi:app",
        ]
    if server == "uvicorn":
        return [
            str(BIN / "uvicorn"),
            "--workers=2",
            "--host=127.0.0.1",
            f"--port={port}",
            "--timeout-graceful-shutdown=5",
            "examples.blog.wsgi:app.asgi_app",
        ]
    if server == "hypercorn":
        return [
            str(BIN / "hypercorn"),
            f"--bind=127.0.0.1:{port}",
            "--graceful-timeout=5",
            "examples.blog.wsgi:app.asgi_app",
        ]
    interface, target = (
        ("asgi", "examples.blog.wsgi:app.asgi_app")
        if server == "granian-asgi"
        else ("wsgi", "examples.blog.wsgi:app")
    )
    return [
        str(BIN / "granian"),
        f"--interface={interface}",
        "--host=127.0.0.1",
        f"--port={port}",
        "--workers=1",
        target,
    ]
