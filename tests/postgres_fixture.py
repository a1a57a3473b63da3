"""A real PostgreSQL server for tests (Debian's ``postgresql`` package).

Import the fixture into a ``conftest.py`` (``from postgres_fixture import
postgres_server``) or name the module in ``pytest_plugins`` of a test module:

- ``postgres_server``: one server for the whole session, made by ``initdb -A
  trust`` in a temporary directory, listening on a free loopback port (and a
  unix socket in that directory), with fsync off; stopped at the end.
  :meth:`PostgresServer.fresh_url` gives each test an empty schema of its
  own, :meth:`PostgresServer.create_database` a whole database.

PostgreSQL refuses to run as root: as root (containers, CI) ``initdb`` and
``postgres`` run as the ``nobody`` user, which owns the temporary directory.
The binaries are found on ``PATH`` or in ``/usr/lib/postgresql/<version>/bin``
(where Debian puts them). A missing binary fails the test (it is never
skipped): ``make test`` installs Debian's postgresql package.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import typing as t
from itertools import count

import psycopg
import pytest

#: The user the server runs as when the tests run as root.
UNPRIVILEGED_USER = "nobody"
#: The database superuser made by ``initdb`` (trusted, no password).
SUPERUSER = "postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _version(bin_dir: str) -> tuple[int, ...]:
    name = os.path.basename(os.path.dirname(bin_dir))
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def find_binaries() -> tuple[str, str]:
    """``initdb`` and ``postgres`` from one installation: ``PATH`` first, then
    the newest ``/usr/lib/postgresql/*/bin``."""
    candidates = []
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(os.path.dirname(os.path.realpath(initdb)))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version)[::-1]
    for bin_dir in candidates:
        pair = (os.path.join(bin_dir, "initdb"), os.path.join(bin_dir, "postgres"))
        if all(os.access(path, os.X_OK) for path in pair):
            return pair
    pytest.fail(
        "PostgreSQL's initdb and postgres were not found (on PATH or in"
        " /usr/lib/postgresql/*/bin): these tests need a real PostgreSQL"
        " server. `make test` installs Debian's postgresql package when it is"
        " missing (or run: apt-get install postgresql).",
        pytrace=False,
    )


def _run_as() -> dict[str, t.Any]:
    """``subprocess`` arguments that drop root for ``nobody`` (else none)."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam(UNPRIVILEGED_USER)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


class PostgresServer:
    """One ``postgres`` process on 127.0.0.1 with its data in ``directory``."""

    def __init__(self, initdb: str, postgres: str, directory: str) -> None:
        self.initdb = initdb
        self.postgres = postgres
        self.directory = directory
        self.data = os.path.join(directory, "data")
        self.log = os.path.join(directory, "postgres.log")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._admin: psycopg.Connection[t.Any] | None = None
        self._names = count(1)

    def url(self, dbname: str = "postgres") -> str:
        """The URL of database ``dbname`` (as the trusted superuser)."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def start(self, timeout: float = 60.0) -> None:
        assert self.proc is None, "already running"
        run_as = _run_as()
        if run_as:
            os.chown(self.directory, run_as["user"], run_as["group"])
        env = {key: value for key, value in os.environ.items() if key != "PGDATA"}
        with open(self.log, "ab") as log:
            initdb = subprocess.run(
                [
                    self.initdb,
                    f"--pgdata={self.data}",
                    "--auth=trust",
                    f"--username={SUPERUSER}",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=timeout,
                check=False,
                **run_as,
            )
        if initdb.returncode != 0:
            pytest.fail(f"initdb failed:\n{self._log_tail()}", pytrace=False)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.postgres,
                    "-D",
                    self.data,
                    "-p",
                    str(self.port),
                    "-k",
                    self.directory,
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "shared_buffers=32MB",
                    "-c",
                    "max_connections=100",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                **run_as,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                self._admin = psycopg.connect(
                    self.url(), autocommit=True, connect_timeout=2
                )
                return
            except psycopg.OperationalError:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"postgres did not accept connections:\n{self._log_tail()}")

    def _log_tail(self) -> str:
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")[-3000:]

    @property
    def admin(self) -> psycopg.Connection[t.Any]:
        """An autocommit connection as the superuser, to the ``postgres`` database."""
        assert self._admin is not None, "not running"
        return self._admin

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        name = name or f"test_{next(self._names)}"
        self.admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def fresh_url(self) -> str:
        """The URL of a new, empty schema of the ``postgres`` database (its
        ``search_path``): a fresh database for one test, for a fraction of
        what ``CREATE DATABASE`` costs."""
        schema = f"test_{next(self._names)}"
        self.admin.execute(f'CREATE SCHEMA "{schema}"')
        return f"{self.url()}?options=-csearch_path%3D{schema}"

    def stop(self) -> None:
        """Fast shutdown (SIGINT): clients are disconnected, nothing waits."""
        admin, self._admin = self._admin, None
        if admin is not None:
            admin.close()
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="session")
def postgres_server() -> t.Iterator[PostgresServer]:
    """A running PostgreSQL server shared by the session's tests."""
    initdb, postgres = find_binaries()
    # As root, somewhere the server's user can reach whatever TMPDIR says.
    parent = "/tmp" if _run_as() and os.path.isdir("/tmp") else None
    with tempfile.TemporaryDirectory(prefix="erlen-postgres-", dir=parent) as directory:
        server = PostgresServer(initdb, postgres, directory)
        server.start()
        try:
            yield server
        finally:
            server.stop()
