"""Fixtures for the Flaskr suite: an app on a temporary database, a test
client, a CLI runner, and login helpers."""

from __future__ import annotations

import os
import tempfile
import typing as t

import flask
import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from werkzeug.security import generate_password_hash

# The project's main pytest run also loads this conftest (while looking for
# tests, of which it finds none here), so it imports nothing from the app at
# import time and does no slow work: the flaskr imports are in the fixtures.


def pytest_report_header(config: pytest.Config) -> str:
    # tests/test_flaskapp_suite.py reads this line to tell which framework ran.
    return (
        f"flaskapp suite running on {flask.Flask.__module__}.{flask.Flask.__qualname__}"
    )


@pytest.fixture(scope="session")
def passwords() -> dict[str, str]:
    # Hashed once per run: password hashing is deliberately slow.
    return {name: generate_password_hash(name) for name in ("test", "other")}


@pytest.fixture
def app(passwords: dict[str, str]) -> t.Iterator[Flask]:
    from flaskr import create_app
    from flaskr.db import get_db, init_db

    db_fd, db_path = tempfile.mkstemp(suffix=".sqlite")
    app = create_app({"TESTING": True, "DATABASE": db_path})

    with app.app_context():
        init_db()
        db = get_db()
        db.executemany(
            "INSERT INTO user (username, password) VALUES (?, ?)", passwords.items()
        )
        db.execute(
            "INSERT INTO post (title, body, author_id, created)"
            " VALUES ('test title', 'test' || x'0a' || 'body', 1,"
            " '2018-01-01 00:00:00')"
        )
        db.commit()

    yield app

    os.close(db_fd)
    os.unlink(db_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


class AuthActions:
    def __init__(self, client: FlaskClient) -> None:
        self._client = client

    def login(self, username: str = "test", password: str = "test") -> t.Any:
        return self._client.post(
            "/auth/login", data={"username": username, "password": password}
        )

    def logout(self) -> t.Any:
        return self._client.get("/auth/logout")


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)
