"""Fixtures for the blog's tests: an app on a fresh database, users, helpers.

Every test that uses ``app`` runs twice: on a SQLite file and on a real
PostgreSQL server (``tests/postgres_fixture.py``; one server for the session,
an empty schema per test).
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from werkzeug.security import generate_password_hash

from examples.blog import create_app, models
from examples.blog.db import insert_user

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from postgres_fixture import PostgresServer, postgres_server  # noqa: E402

if TYPE_CHECKING:
    from erlen import Erlen
    from erlen.testing import ErlenClient

__all__ = ["postgres_server"]  # the fixture: a real PostgreSQL server

PASSWORDS = {"alice": "alice-secret", "bob": "bob-secret"}
#: The storage backends every ``app`` test runs on.
BACKENDS = ("sqlite", "postgresql")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
META_CSRF_RE = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The settings of a new, empty database: a SQLite file (``DATABASE``)
    or a PostgreSQL schema of its own (``DATABASE_URL``)."""
    if request.param == "sqlite":
        return {"DATABASE": str(tmp_path / "blog.sqlite")}
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return {"DATABASE_URL": server.fresh_url()}


@functools.cache
def password_hash(username: str) -> str:
    """The user's real password hashed once per session (scrypt takes a while)."""
    return generate_password_hash(PASSWORDS[username])


@pytest.fixture
def app(database: dict[str, Any]) -> Iterator[Erlen]:
    """The blog on an empty database with users alice and bob.

    alice wrote posts 1 ("Alice's first") and 2 ("Alice's second").
    """
    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", **database})
    with app.app_context():
        alice = insert_user("alice", password_hash("alice"))
        insert_user("bob", password_hash("bob"))
        models.create_post(alice, "Alice's first", "Hello *world*.")
        models.create_post(alice, "Alice's second", "More text.")
    yield app


@pytest.fixture
def client(app: Erlen) -> ErlenClient:
    """A test client for ``app``."""
    return app.test_client()


def csrf_token(client: ErlenClient, page: str = "/auth/login") -> str:
    """Fetch ``page`` and return the CSRF token from its form, as a browser would."""
    html = client.get(page).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match is not None, f"no csrf_token field on {page}"
    return match.group(1)


class Auth:
    """Logs the test client in and out through the real forms."""

    def __init__(self, client: ErlenClient) -> None:
        self.client = client

    def login(self, username: str = "alice", password: str | None = None) -> None:
        """Log in (the password defaults to the user's real one); asserts success."""
        response = self.client.post(
            "/auth/login",
            data={
                "username": username,
                "password": password or PASSWORDS[username],
                "csrf_token": csrf_token(self.client),
            },
        )
        assert response.status_code == 302, response.get_data(as_text=True)

    def login_for_api(self, username: str = "alice") -> str:
        """Log in, then send the session's CSRF token (from the page's
        ``<meta name="csrf-token">``, as a script on the site would) in
        ``X-CSRF-Token`` with every later request; returns the token."""
        self.login(username)
        html = self.client.get("/").get_data(as_text=True)
        match = META_CSRF_RE.search(html)
        assert match is not None, "no csrf-token meta tag for a logged-in user"
        self.client.environ_base["HTTP_X_CSRF_TOKEN"] = match.group(1)
        return match.group(1)

    def create_token(self, username: str = "alice", name: str = "script") -> str:
        """An API token for ``username``, created through the JSON API by a
        logged-in session; the client is logged out again afterwards."""
        csrf = self.login_for_api(username)
        response = self.client.post(
            "/api/tokens", json={"name": name}, headers={"X-CSRF-Token": csrf}
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        self.logout()
        del self.client.environ_base["HTTP_X_CSRF_TOKEN"]
        token: str = response.get_json()["token"]
        return token

    def logout(self) -> None:
        """Log out through the POST form."""
        token = csrf_token(self.client, "/")
        response = self.client.post("/auth/logout", data={"csrf_token": token})
        assert response.status_code == 302


@pytest.fixture
def auth(client: ErlenClient) -> Auth:
    """Log-in helper bound to ``client``."""
    return Auth(client)


def form(client: ErlenClient, page: str, **fields: str) -> dict[str, str]:
    """``fields`` plus the CSRF token taken from ``page``."""
    return {**fields, "csrf_token": csrf_token(client, page)}
