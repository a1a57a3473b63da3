"""Flask-Login, unchanged, on erlen through ``erlen.flask_patch``.

Validated against real Flask with the validation shim and
``ERLEN_VALIDATE_WITH_FLASK=1``, which only relaxes the check that ``flask``
really is erlen (`test_runs_on_erlen`).
"""

from __future__ import annotations

import os
import typing as t

import flask
import pytest
from flask import Flask, render_template_string
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    fresh_login_required,
    login_required,
    login_user,
    logout_user,
    session_protected,
    user_logged_in,
    user_logged_out,
)
from flask_login.test_client import FlaskLoginClient

import erlen


class User(UserMixin):
    def __init__(self, user_id: str, name: str) -> None:
        self.id = user_id
        self.name = name


USERS = {"1": User("1", "alice"), "2": User("2", "bob")}


def test_runs_on_erlen() -> None:
    assert flask.Flask is erlen.Erlen
    if os.environ.get("ERLEN_VALIDATE_WITH_FLASK") != "1":
        assert flask.Flask.__module__ == "erlen.app"


@pytest.fixture
def loaded() -> list[str]:
    return []


@pytest.fixture
def app(loaded: list[str]) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="login-secret", TESTING=True)
    manager = LoginManager(app)
    manager.login_view = "login"

    @manager.user_loader
    def load_user(user_id: str) -> User | None:
        loaded.append(user_id)
        return USERS.get(user_id)

    @app.route("/login")
    def login() -> str:
        user_id = flask.request.args.get("user")
        if user_id is None:
            return "login page"
        remember = flask.request.args.get("remember") == "1"
        assert login_user(USERS[user_id], remember=remember)
        return f"logged in {current_user.name}"

    @app.route("/logout")
    def logout() -> str:
        logout_user()
        return "logged out"

    @app.route("/private")
    @login_required
    def private() -> str:
        return f"hello {current_user.name}"

    @app.route("/fresh")
    @fresh_login_required
    def fresh() -> str:
        return f"fresh {current_user.name}"

    @app.route("/whoami")
    def whoami() -> str:
        return render_template_string(
            "{% if current_user.is_authenticated %}user:{{ current_user.name }}"
            "{% else %}anonymous:{{ current_user.is_anonymous }}{% endif %}"
        )

    return app


def test_login_manager_is_attached_to_app(app: Flask) -> None:
    assert isinstance(app.login_manager, LoginManager)  # type: ignore[attr-defined]


def test_login_required_redirects_with_next(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/private")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fprivate"
    with client.session_transaction() as session:
        assert session["_flashes"] == [
            ("message", "Please log in to access this page.")
        ]


def test_unauthorized_without_login_view_is_401(app: Flask) -> None:
    app.login_manager.login_view = None  # type: ignore[attr-defined]
    response = app.test_client().get("/private")
    assert response.status_code == 401
    assert b"Unauthorized" in response.data


def test_login_then_logout(app: Flask, loaded: list[str]) -> None:
    client = app.test_client()
    response = client.get("/login?user=1")
    assert response.status_code == 200
    assert response.text == "logged in alice"
    with client.session_transaction() as session:
        assert session["_user_id"] == "1"
        assert session["_fresh"] is True

    response = client.get("/private")
    assert response.status_code == 200
    assert response.text == "hello alice"
    # The user is reloaded from the session by the user_loader.
    assert loaded == ["1"]

    assert client.get("/logout").text == "logged out"
    with client.session_transaction() as session:
        assert "_user_id" not in session
    assert client.get("/private").status_code == 302


def test_current_user_in_templates(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/whoami").text == "anonymous:True"
    client.get("/login?user=2")
    assert client.get("/whoami").text == "user:bob"


def test_login_and_logout_signals(app: Flask) -> None:
    events: list[tuple[str, object, str]] = []

    def on_login(sender: object, user: User) -> None:
        events.append(("in", sender, user.name))

    def on_logout(sender: object, user: User) -> None:
        events.append(("out", sender, user.name))

    with (
        user_logged_in.connected_to(on_login, app),
        user_logged_out.connected_to(on_logout, app),
    ):
        client = app.test_client()
        client.get("/login?user=1")
        client.get("/logout")
    assert events == [("in", app, "alice"), ("out", app, "alice")]


def test_remember_cookie_restores_session(app: Flask, loaded: list[str]) -> None:
    client = app.test_client()
    response = client.get("/login?user=1&remember=1")
    remember_headers = [
        h for h in response.headers.getlist("Set-Cookie") if "remember_token=" in h
    ]
    assert len(remember_headers) == 1
    assert "HttpOnly" in remember_headers[0]
    assert "Expires=" in remember_headers[0]
    cookie = client.get_cookie("remember_token")
    assert cookie is not None
    assert cookie.value.startswith("1|")

    # A new browser session: no session cookie, only the remember cookie.
    fresh_client = app.test_client()
    fresh_client.set_cookie("remember_token", cookie.value)
    response = fresh_client.get("/private")
    assert response.status_code == 200
    assert response.text == "hello alice"
    assert loaded[-1] == "1"
    with fresh_client.session_transaction() as session:
        assert session["_user_id"] == "1"
        assert session["_fresh"] is False

    # A session restored from the cookie is not fresh.
    response = fresh_client.get("/fresh")
    assert response.status_code == 401


def test_fresh_login_required(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/fresh").status_code == 302
    client.get("/login?user=2")
    response = client.get("/fresh")
    assert response.status_code == 200
    assert response.text == "fresh bob"


def test_needs_refresh_redirects_to_refresh_view(app: Flask) -> None:
    app.login_manager.refresh_view = "login"  # type: ignore[attr-defined]
    client = app.test_client()
    client.get("/login?user=1")
    with client.session_transaction() as session:
        session["_fresh"] = False
    response = client.get("/fresh")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Ffresh"


def test_invalid_remember_cookie_is_ignored(app: Flask) -> None:
    client = app.test_client()
    client.set_cookie("remember_token", "1|forged-digest")
    assert client.get("/private").status_code == 302


def test_flask_login_test_client(app: Flask) -> None:
    app.test_client_class = FlaskLoginClient
    client: t.Any = app.test_client(user=USERS["2"])
    response = client.get("/private")
    assert response.status_code == 200
    assert response.text == "hello bob"


def test_login_disabled_config(app: Flask) -> None:
    @app.route("/guarded")
    @login_required
    def guarded() -> str:
        return f"anonymous={current_user.is_anonymous}"

    client = app.test_client()
    assert client.get("/guarded").status_code == 302
    app.config["LOGIN_DISABLED"] = True
    response = client.get("/guarded")
    assert response.status_code == 200
    assert response.text == "anonymous=True"


def test_login_required_on_async_view(app: Flask) -> None:
    @app.route("/async")
    @login_required
    async def async_view() -> str:
        return f"async {current_user.name}"

    client = app.test_client()
    assert client.get("/async").status_code == 302
    client.get("/login?user=2")
    response = client.get("/async")
    assert response.status_code == 200
    assert response.text == "async bob"


def test_strong_session_protection(app: Flask) -> None:
    app.login_manager.session_protection = "strong"  # type: ignore[attr-defined]
    protected: list[object] = []

    def on_protected(sender: object) -> None:
        protected.append(sender)

    client = app.test_client()
    client.get("/login?user=1&remember=1", headers={"User-Agent": "browser-a"})
    assert client.get("/private", headers={"User-Agent": "browser-a"}).status_code == (
        200
    )
    with session_protected.connected_to(on_protected, app):
        # The same cookies from another browser: the session is dropped.
        response = client.get("/whoami", headers={"User-Agent": "browser-b"})
    assert response.text == "anonymous:True"
    assert protected == [app]
    cookies = response.headers.getlist("Set-Cookie")
    assert any(c.startswith("remember_token=;") and "Max-Age=0" in c for c in cookies)
    assert client.get_cookie("remember_token") is None
