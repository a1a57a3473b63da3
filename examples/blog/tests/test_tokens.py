"""API tokens: created by a logged-in user, sent as ``Authorization: Bearer``,
stored hashed, revocable; wrong or revoked tokens are a 401."""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

import pytest

from examples.blog.db import get_db

from .conftest import Auth, csrf_token, form
from .test_api import assert_error

if TYPE_CHECKING:
    from erlen import Erlen
    from erlen.testing import ErlenClient

NEW_TOKEN_RE = re.compile(r'<code id="new-token">(blog_[A-Za-z0-9_-]+)</code>')


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def stored_tokens(app: Erlen) -> list[Any]:
    """The rows of the api_token table, read on a connection of their own."""
    with app.app_context():
        return get_db().execute("SELECT * FROM api_token ORDER BY id").fetchall()


def test_tokens_page_needs_login(client: ErlenClient) -> None:
    response = client.get("/auth/tokens")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/auth/tokens"


def test_create_on_the_page_shows_the_token_once_and_stores_a_hash(
    app: Erlen, client: ErlenClient, auth: Auth
) -> None:
    auth.login("alice")
    page = client.get("/auth/tokens").get_data(as_text=True)
    assert "You have no API tokens." in page
    response = client.post(
        "/auth/tokens", data=form(client, "/auth/tokens", name="laptop")
    )
    assert response.status_code == 201
    html = response.get_data(as_text=True)
    match = NEW_TOKEN_RE.search(html)
    assert match is not None, html
    token = match.group(1)
    assert len(token) == len("blog_") + 43  # 32 random bytes, base64url
    assert "Created the token &#39;laptop&#39;: copy it now." in html
    assert f"<code>{token[:11]}…</code>" in html
    # In the database: its SHA-256 and first characters, never the token.
    (row,) = stored_tokens(app)
    assert row["user_id"] == 1 and row["name"] == "laptop"
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert row["shown"] == token[:11]
    assert token not in [str(value) for value in tuple(row)]
    # Shown once: not on the next visit.
    again = client.get("/auth/tokens").get_data(as_text=True)
    assert token not in again
    assert "<td>laptop</td>" in again and "<td>never</td>" in again


@pytest.mark.parametrize(
    ("name", "message"),
    [("", "Name is required."), ("   ", "Name is required."), ("x" * 65, "at most 64")],
)
def test_create_on_the_page_validates_the_name(
    app: Erlen, client: ErlenClient, auth: Auth, name: str, message: str
) -> None:
    auth.login("alice")
    response = client.post("/auth/tokens", data=form(client, "/auth/tokens", name=name))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert stored_tokens(app) == []


def test_page_forms_need_the_csrf_token(
    app: Erlen, client: ErlenClient, auth: Auth
) -> None:
    auth.login("alice")
    assert client.post("/auth/tokens", data={"name": "x"}).status_code == 400
    token = auth.create_token("alice")
    auth.login("alice")
    assert client.post("/auth/tokens/1/revoke").status_code == 400
    assert client.get("/api/tokens", headers=bearer(token)).status_code == 200


def test_token_writes_posts_without_session_or_csrf(
    app: Erlen, client: ErlenClient, auth: Auth
) -> None:
    token = auth.create_token("bob")
    fresh = app.test_client()  # no cookie at all, like curl
    created = fresh.post(
        "/api/posts", json={"title": "By token", "body": "*b*"}, headers=bearer(token)
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    post = created.get_json()
    assert post["author"] == {"id": 2, "username": "bob"}
    assert fresh.get_cookie("session") is None
    location = created.headers["Location"]
    patched = fresh.patch(location, json={"title": "Edited"}, headers=bearer(token))
    assert patched.status_code == 200
    assert patched.get_json()["title"] == "Edited"
    replaced = fresh.put(
        location, json={"title": "T", "body": "B"}, headers=bearer(token)
    )
    assert replaced.get_json()["body"] == "B"
    # Still only the author's posts.
    assert_error(
        fresh.delete("/api/posts/1", headers=bearer(token)), 403, "Only the author"
    )
    assert fresh.delete(location, headers=bearer(token)).status_code == 204
    assert fresh.get(location).status_code == 404
    # Its use is recorded.
    (row,) = stored_tokens(app)
    assert row["last_used"] is not None


def test_token_beats_the_session_cookie(
    app: Erlen, client: ErlenClient, auth: Auth
) -> None:
    token = auth.create_token("alice")
    auth.login("bob")
    created = client.post(
        "/api/posts", json={"title": "t", "body": "b"}, headers=bearer(token)
    )
    assert created.get_json()["author"]["username"] == "alice"


@pytest.mark.parametrize(
    ("header", "error", "message"),
    [
        ("Bearer blog_not-a-real-token", "invalid_token", "wrong or has been revoked"),
        ("Bearer nothing-like-ours", "invalid_token", "wrong or has been revoked"),
        ("Bearer", "invalid_request", "Authorization: Bearer <token>"),
        ("Basic YWxpY2U6YWxpY2Utc2VjcmV0", "invalid_request", "Bearer <token>"),
        ("Token abc", "invalid_request", "Bearer <token>"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/posts"), ("POST", "/api/posts"), ("DELETE", "/api/posts/1")],
)
def test_wrong_token_is_401(
    app: Erlen,
    client: ErlenClient,
    auth: Auth,
    header: str,
    error: str,
    message: str,
    method: str,
    path: str,
) -> None:
    auth.create_token("alice")  # a real token exists; these are not it
    response = client.open(
        path,
        method=method,
        json={"title": "t", "body": "b"},
        headers={"Authorization": header},
    )
    assert_error(response, 401, message)
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="blog", error="{error}"'
    )
    assert client.get("/api/posts").get_json()["total"] == 2


def test_anonymous_write_is_401_with_a_bearer_challenge(client: ErlenClient) -> None:
    response = client.post("/api/posts", json={"title": "t", "body": "b"})
    assert_error(response, 401, "send an API token")
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="blog"'


def test_revoke_on_the_page(app: Erlen, client: ErlenClient, auth: Auth) -> None:
    token = auth.create_token("alice", "old")
    assert client.get("/api/tokens", headers=bearer(token)).status_code == 200
    auth.login("alice")
    response = client.post("/auth/tokens/1/revoke", data=form(client, "/auth/tokens"))
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/tokens"
    assert "Revoked the token &#39;old&#39;." in client.get("/auth/tokens").get_data(
        as_text=True
    )
    assert stored_tokens(app) == []
    assert_error(
        client.get("/api/posts", headers=bearer(token)), 401, "has been revoked"
    )


def test_nobody_revokes_someone_elses_token(
    app: Erlen, client: ErlenClient, auth: Auth
) -> None:
    alices = auth.create_token("alice")
    bobs = auth.create_token("bob")
    assert_error(
        client.delete("/api/tokens/1", headers=bearer(bobs)), 404, "no API token 1"
    )
    auth.login("bob")
    response = client.post("/auth/tokens/1/revoke", data=form(client, "/"))
    assert response.status_code == 404
    assert client.get("/api/tokens", headers=bearer(alices)).status_code == 200


def test_api_lists_creates_and_revokes_tokens(
    app: Erlen, client: ErlenClient, auth: Auth
) -> None:
    csrf = auth.login_for_api("alice")
    created = client.post("/api/tokens", json={"name": "ci"})
    assert created.status_code == 201
    body = created.get_json()
    assert set(body) == {"id", "name", "starts_with", "created", "last_used", "token"}
    assert body["name"] == "ci" and body["token"].startswith(body["starts_with"])
    token = body["token"]
    # Listed (with the session or the token), never with the secret.
    listing = client.get("/api/tokens", headers=bearer(token)).get_json()["tokens"]
    assert [t["name"] for t in listing] == ["ci"]
    assert "token" not in listing[0] and token not in str(listing)
    assert client.get("/api/tokens").get_json()["tokens"][0]["id"] == body["id"]
    # A token cannot mint tokens.
    assert_error(
        client.post("/api/tokens", json={"name": "more"}, headers=bearer(token)),
        403,
        "from a logged-in session",
    )
    assert_error(client.post("/api/tokens", json={}), 422, "not valid")
    assert_error(client.post("/api/tokens", json={"name": 3}), 422, "not valid")
    assert_error(
        client.post("/api/tokens", json={"name": "x", "scope": "all"}),
        422,
        "Unknown fields",
    )
    # Revoked with the session's CSRF header, or with the token itself.
    second = client.post("/api/tokens", json={"name": "two"}).get_json()
    assert client.delete(f"/api/tokens/{second['id']}").status_code == 204
    assert (
        client.delete(f"/api/tokens/{body['id']}", headers=bearer(token)).status_code
        == 204
    )
    assert_error(client.get("/api/tokens", headers=bearer(token)), 401, "revoked")
    assert_error(
        client.delete(f"/api/tokens/{body['id']}", headers={"X-CSRF-Token": csrf}),
        404,
        "no API token",
    )
    assert stored_tokens(app) == []


def test_tokens_do_not_log_into_the_html_site(client: ErlenClient, auth: Auth) -> None:
    token = auth.create_token("alice")
    response = client.get("/posts/new", headers=bearer(token))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_deleting_a_user_deletes_their_tokens(app: Erlen, auth: Auth) -> None:
    token = auth.create_token("bob")
    with app.app_context():
        get_db().execute('DELETE FROM "user" WHERE username = ?', ("bob",))
        get_db().commit()
    assert stored_tokens(app) == []
    response = app.test_client().get("/api/posts", headers=bearer(token))
    assert response.status_code == 401


def test_csrf_meta_only_for_logged_in_users(client: ErlenClient, auth: Auth) -> None:
    assert 'name="csrf-token"' not in client.get("/").get_data(as_text=True)
    assert client.get_cookie("session") is None
    auth.login("alice")
    html = client.get("/").get_data(as_text=True)
    assert f'<meta name="csrf-token" content="{csrf_token(client, "/")}">' in html
