"""Accounts through the test client: register, log in, log out, CSRF."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from examples.blog import models
from examples.blog.auth import safe_next_url

from .conftest import PASSWORDS, Auth, csrf_token, form

if TYPE_CHECKING:
    from erlen import Erlen, Response
    from erlen.testing import ErlenClient


def test_register_page(client: ErlenClient) -> None:
    response = client.get("/auth/register")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Create an account</h1>" in html
    assert 'name="csrf_token"' in html
    assert 'type="password"' in html


def test_register_creates_hashed_user_and_flashes(
    client: ErlenClient, app: Erlen
) -> None:
    data = form(
        client,
        "/auth/register",
        username="carol",
        password="carol-pass",
        confirm="carol-pass",
    )
    response = client.post("/auth/register", data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
    with app.app_context():
        user = models.get_user_by_name("carol")
    assert user is not None
    assert user["password_hash"] != "carol-pass"
    assert user["password_hash"].startswith(("scrypt:", "pbkdf2:"))
    page = client.get("/auth/login").get_data(as_text=True)
    assert '<li class="flash flash-success">Welcome, carol! Please log in.</li>' in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "", "password": "long-enough"}, "Username is required."),
        (
            {"username": "a b", "password": "long-enough"},
            "Use 3 to 32 letters, digits, dots, dashes or underscores.",
        ),
        ({"username": "xy", "password": "long-enough"}, "Use 3 to 32 letters"),
        ({"username": "carol", "password": ""}, "Password is required."),
        (
            {"username": "carol", "password": "short"},
            "Password must be at least 8 characters long.",
        ),
        (
            {"username": "carol", "password": "long-enough", "confirm": "other-one"},
            "The two passwords do not match.",
        ),
        (
            {"username": "alice", "password": "long-enough"},
            "The username &#39;alice&#39; is already taken.",
        ),
    ],
)
def test_register_validation(
    client: ErlenClient, app: Erlen, fields: dict[str, str], message: str
) -> None:
    fields.setdefault("confirm", fields["password"])
    response = client.post(
        "/auth/register", data=form(client, "/auth/register", **fields)
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html
    assert 'class="flash flash-error">Please correct the errors below.' in html
    assert 'aria-invalid="true"' in html
    with app.app_context():
        count = models.get_db().execute('SELECT COUNT(*) AS n FROM "user"').fetchone()
    assert count["n"] == 2  # alice and bob only


def test_register_keeps_username_but_not_password(client: ErlenClient) -> None:
    data = form(client, "/auth/register", username="dave", password="x", confirm="x")
    html = client.post("/auth/register", data=data).get_data(as_text=True)
    assert 'value="dave"' in html
    assert 'value="x"' not in html


def test_login_sets_session_and_redirects_home(client: ErlenClient) -> None:
    data = form(client, "/auth/login", username="alice", password=PASSWORDS["alice"])
    response = client.post("/auth/login", data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    with client.session_transaction() as session:
        assert session["user_id"] == 1
    html = client.get("/").get_data(as_text=True)
    assert "Logged in as alice." in html
    assert "Signed in as <strong>alice</strong>" in html
    assert 'action="/auth/logout"' in html


def test_login_follows_local_next(client: ErlenClient) -> None:
    response = client.get("/posts/new")
    assert response.status_code == 302
    # No stray "?" when the page had no query string.
    assert response.headers["Location"] == "/auth/login?next=/posts/new"
    response = client.get("/posts/new?draft=1&x=a%20b")
    assert response.headers["Location"] == (
        "/auth/login?next=/posts/new?draft%3D1%26x%3Da%2520b"
    )
    data = form(client, "/auth/login", username="bob", password=PASSWORDS["bob"])
    response = client.post("/auth/login?next=/posts/new", data=data)
    assert response.headers["Location"] == "/posts/new"


def login_with_next(client: ErlenClient, query: str | dict[str, str]) -> Response:
    """Log bob in with ``query`` as the login URL's query string."""
    data = form(client, "/auth/login", username="bob", password=PASSWORDS["bob"])
    return client.post("/auth/login", query_string=query, data=data)


#: ``next`` values, as the view receives them (decoded), that must not be
#: followed: other hosts, however spelled, and anything a browser would turn
#: into another host by dropping tabs/newlines or reading ``\\`` as ``/``.
FOREIGN_TARGETS = [
    "",
    "https://evil.example/",
    "http://evil.example/x",
    "HTTPS://evil.example",
    "https:/evil.example",
    "https:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "//evil.example/",
    "///evil.example",
    "////evil.example",
    "//user:pass@evil.example/",
    "//user@evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "/\t/evil.example",
    "/\t\t/evil.example",
    "\t//evil.example",
    "/\n/evil.example",
    "/\r/evil.example",
    "/\r\n/evil.example",
    "/\x00/evil.example",
    "/\x7f/evil.example",
    " //evil.example",
    "/posts\r\nSet-Cookie: stolen=1",
    "/x\ny",
]


@pytest.mark.parametrize("target", FOREIGN_TARGETS)
def test_login_ignores_foreign_next(client: ErlenClient, target: str) -> None:
    response = login_with_next(client, {"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Set-Cookie: stolen" not in str(response.headers)
    with client.session_transaction() as session:
        assert session["user_id"] == 2


#: The same attacks written as they arrive in a URL: percent-encoded, or raw
#: characters in the query string.
ENCODED_QUERIES = [
    "next=/%09/evil.example",
    "next=/%0a/evil.example",
    "next=/%0A/evil.example",
    "next=/%0d/evil.example",
    "next=/%0d%0a/evil.example",
    "next=%09//evil.example",
    "next=/%5cevil.example",
    "next=/%5Cevil.example",
    "next=%5c/evil.example",
    "next=/%5c/evil.example",
    "next=%2f%2fevil.example",
    "next=/%2fevil.example",
    "next=//user:pass%40evil.example",
    "next=//user:pass@evil.example",
    "next=https%3A%2F%2Fevil.example",
    "next=/\t/evil.example",
    "next=/\\evil.example",
    "next=/%00/evil.example",
]


@pytest.mark.parametrize("query", ENCODED_QUERIES)
def test_login_ignores_foreign_next_in_url(client: ErlenClient, query: str) -> None:
    response = login_with_next(client, query)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("query", "location"),
    [
        # Local paths are followed, query and fragment included.
        ("next=/posts/1", "/posts/1"),
        ("next=/?page=2", "/?page=2"),
        ("next=/posts/new%3Fdraft%3D1", "/posts/new?draft=1"),
        # Encoded once more, these are only odd path characters on this site.
        ("next=/%2509/evil.example", "/%09/evil.example"),
        ("next=/%255cevil.example", "/%5cevil.example"),
        ("next=/%252f%252fevil.example", "/%2f%2fevil.example"),
        ("next=/a%20b", "/a%20b"),
        ("next=/caf%C3%A9", "/caf%C3%A9"),
    ],
)
def test_login_follows_odd_but_local_next(
    client: ErlenClient, query: str, location: str
) -> None:
    response = login_with_next(client, query)
    assert response.status_code == 302
    assert response.headers["Location"] == location


def test_safe_next_url_is_the_documented_recipe_made_strict() -> None:
    # The cases docs/security.md and tests/test_hardening.py give for the recipe.
    assert safe_next_url("//evil.example/x", "/") == "/"
    assert safe_next_url("https://evil.example", "/") == "/"
    assert safe_next_url("/\\evil.example", "/") == "/"
    assert safe_next_url("/account?tab=2", "/") == "/account?tab=2"
    # What the recipe alone lets through: a triple slash (``//host`` to a
    # browser) and control characters (dropped by browsers, or a 500).
    assert safe_next_url("///evil.example", "/home") == "/home"
    assert safe_next_url("/ok\rpath", "/home") == "/home"


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wrong-password"), ("nobody", "whatever1")]
)
def test_login_rejects_bad_credentials(
    client: ErlenClient, username: str, password: str
) -> None:
    data = form(client, "/auth/login", username=username, password=password)
    response = client.post("/auth/login", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert '<li class="flash flash-error">Incorrect username or password.</li>' in html
    with client.session_transaction() as session:
        assert "user_id" not in session


def test_login_requires_both_fields(client: ErlenClient) -> None:
    data = form(client, "/auth/login", username="", password="")
    response = client.post("/auth/login", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Username is required." in html
    assert "Password is required." in html


def test_logout_clears_session(client: ErlenClient, auth: Auth) -> None:
    auth.login()
    token = csrf_token(client, "/")
    response = client.post("/auth/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    with client.session_transaction() as session:
        assert "user_id" not in session
    html = client.get("/").get_data(as_text=True)
    assert '<li class="flash flash-info">You have been logged out.</li>' in html
    assert "Log in</a>" in html


def test_logout_is_post_only(client: ErlenClient, auth: Auth) -> None:
    auth.login()
    response = client.get("/auth/logout")
    assert response.status_code == 405
    # Werkzeug builds Allow from a set: the order is not fixed.
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    with client.session_transaction() as session:
        assert session["user_id"] == 1


@pytest.mark.parametrize("token", [None, "", "forged-token"])
@pytest.mark.parametrize("path", ["/auth/login", "/auth/register", "/auth/logout"])
def test_csrf_failure_is_400(client: ErlenClient, path: str, token: str | None) -> None:
    csrf_token(client)  # the session has a token; the request does not match it
    data = {"username": "alice", "password": PASSWORDS["alice"], "confirm": "x"}
    if token is not None:
        data["csrf_token"] = token
    response = client.post(path, data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "<h1>Bad Request</h1>" in html
    assert "security token is missing or has expired" in html
    with client.session_transaction() as session:
        assert "user_id" not in session


def test_csrf_without_session_token_is_400(client: ErlenClient) -> None:
    response = client.post(
        "/auth/login", data={"username": "a", "password": "b", "csrf_token": "x"}
    )
    assert response.status_code == 400


def test_csrf_header_is_accepted(client: ErlenClient) -> None:
    token = csrf_token(client)
    response = client.post(
        "/auth/login",
        data={"username": "alice", "password": PASSWORDS["alice"]},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 302


def test_csrf_token_is_stable_within_a_session(client: ErlenClient) -> None:
    assert csrf_token(client, "/auth/login") == csrf_token(client, "/auth/register")
    other = client.application.test_client()
    assert csrf_token(other) != csrf_token(client)
