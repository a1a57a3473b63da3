"""A real ``redis-server`` for tests (Debian's package), as a pytest plugin.

Use it with ``pytest_plugins = ["redis_fixture"]`` in a test module:

- ``redis_server``: one server for the whole session, on a free loopback
  port, in a temporary directory, with no persistence;
- ``redis_factory``: starts servers that a test may kill and restart
  (stopped when the test ends).

A missing ``redis-server`` fails the test (it is never skipped): ``make
test`` installs it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import typing as t

import pytest

REDIS_SERVER = os.environ.get("REDIS_SERVER", "redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1; restartable on its port."""

    def __init__(self, binary: str, directory: str) -> None:
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = os.path.join(directory, f"redis-{self.port}.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        assert self.proc is None, "already running"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    self.directory,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--logfile",
                    "",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if _ping(self.port):
                return
            time.sleep(0.02)
        self.stop()
        with open(self.log, "rb") as f:
            output = f.read().decode(errors="replace")[-2000:]
        pytest.fail(f"redis-server did not answer PING on port {self.port}:\n{output}")

    def kill(self) -> None:
        """SIGKILL: the server vanishes without closing anything gracefully."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _binary() -> str:
    found = shutil.which(REDIS_SERVER)
    if found is None:
        pytest.fail(
            f"{REDIS_SERVER!r} was not found: these tests need a real Redis server."
            " `make test` installs Debian's redis-server package when it is"
            " missing (or run: apt-get install redis-server).",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def redis_server() -> t.Iterator[RedisServer]:
    """A running ``redis-server`` shared by the session's tests."""
    binary = _binary()
    with tempfile.TemporaryDirectory(prefix="erlen-redis-") as directory:
        server = RedisServer(binary, directory)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis_factory() -> t.Iterator[t.Callable[[], RedisServer]]:
    """Start private servers that the test may kill and restart."""
    binary = _binary()
    servers: list[RedisServer] = []
    with tempfile.TemporaryDirectory(prefix="erlen-redis-") as directory:

        def make() -> RedisServer:
            server = RedisServer(binary, directory)
            servers.append(server)
            server.start()
            return server

        try:
            yield make
        finally:
            for server in servers:
                server.stop()
