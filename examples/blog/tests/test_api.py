"""The JSON API through the test client: status codes, bodies, JSON errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from examples.blog import models

from .conftest import Auth

if TYPE_CHECKING:
    from werkzeug.test import TestResponse

    from erlen import Erlen
    from erlen.testing import ErlenClient


def assert_error(response: TestResponse, status: int, message: str) -> dict[str, Any]:
    """Check a JSON error response and return its ``error`` object."""
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["status"] == status
    assert message in error["message"]
    return error


def test_list_posts(client: ErlenClient) -> None:
    response = client.get("/api/posts")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    data = response.get_json()
    assert data["page"] == 1
    assert data["per_page"] == 10
    assert data["total"] == 2
    assert data["pages"] == 1
    assert data["next"] is None and data["prev"] is None
    assert [post["id"] for post in data["posts"]] == [2, 1]
    first = data["posts"][1]
    assert first == {
        "id": 1,
        "title": "Alice's first",
        "body": "Hello *world*.",
        "html": "<p>Hello <em>world</em>.</p>",
        "author": {"id": 1, "username": "alice"},
        "created": first["created"],
        "updated": None,
        "url": "http://localhost/posts/1",
        "api_url": "http://localhost/api/posts/1",
    }
    assert len(first["created"]) == 19  # "YYYY-MM-DD HH:MM:SS"


def test_list_pagination(app: Erlen, client: ErlenClient) -> None:
    with app.app_context():
        for number in range(5):
            models.create_post(2, f"Bob {number}", "b")
    data = client.get("/api/posts?per_page=3&page=2").get_json()
    assert data["total"] == 7 and data["pages"] == 3
    assert [post["title"] for post in data["posts"]] == [
        "Bob 1",
        "Bob 0",
        "Alice's second",
    ]
    assert data["next"] == "http://localhost/api/posts?page=3&per_page=3"
    assert data["prev"] == "http://localhost/api/posts?page=1&per_page=3"
    last = client.get("/api/posts?per_page=3&page=3").get_json()
    assert [post["id"] for post in last["posts"]] == [1]
    assert last["next"] is None


def test_list_per_page_is_capped(client: ErlenClient) -> None:
    assert client.get("/api/posts?per_page=5000").get_json()["per_page"] == 100


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=abc", "'page' must be an integer"),
        ("page=0", "'page' must be at least 1"),
        ("per_page=-3", "'per_page' must be at least 1"),
    ],
)
def test_list_bad_query_is_400(client: ErlenClient, query: str, message: str) -> None:
    assert_error(client.get(f"/api/posts?{query}"), 400, message)


def test_list_page_past_the_end_is_404(client: ErlenClient) -> None:
    assert_error(client.get("/api/posts?page=2"), 404, "There is no page 2")


def test_get_post(client: ErlenClient) -> None:
    response = client.get("/api/posts/2")
    assert response.status_code == 200
    assert response.get_json()["title"] == "Alice's second"


def test_get_missing_post_is_404(client: ErlenClient) -> None:
    error = assert_error(client.get("/api/posts/77"), 404, "There is no post 77.")
    assert error["title"] == "Not Found"


def test_unknown_api_url_is_json_404(client: ErlenClient) -> None:
    assert_error(client.get("/api/nothing"), 404, "The requested URL was not found")
    assert_error(client.get("/api/posts/abc"), 404, "not found")


def test_wrong_method_is_json_405(client: ErlenClient) -> None:
    response = client.delete("/api/posts")
    assert_error(response, 405, "method is not allowed")
    assert set(response.headers["Allow"].split(", ")) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "POST",
    }


#: Every write endpoint of the posts API, on a post that exists.
POST_WRITES = [
    ("POST", "/api/posts"),
    ("PUT", "/api/posts/1"),
    ("PATCH", "/api/posts/1"),
    ("DELETE", "/api/posts/1"),
]


@pytest.mark.parametrize(("method", "path"), POST_WRITES)
def test_writes_need_login(
    app: Erlen, client: ErlenClient, method: str, path: str
) -> None:
    response = client.open(path, method=method, json={"title": "t", "body": "b"})
    assert_error(response, 401, "Log in first")
    with app.app_context():
        assert models.list_posts(1, 10).total == 2


def test_create_post(app: Erlen, client: ErlenClient, auth: Auth) -> None:
    auth.login_for_api("bob")
    response = client.post(
        "/api/posts", json={"title": "From the API", "body": "<script>x</script> *hi*"}
    )
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/posts/3"
    data = response.get_json()
    assert data["id"] == 3
    assert data["author"] == {"id": 2, "username": "bob"}
    assert data["html"] == "<p>&lt;script&gt;x&lt;/script&gt; <em>hi</em></p>"
    assert client.get("/api/posts/3").get_json() == data


@pytest.mark.parametrize(
    ("method", "path"),
    [*POST_WRITES, ("POST", "/api/tokens"), ("DELETE", "/api/tokens/1")],
)
@pytest.mark.parametrize("sent", [None, "", "wrong-token"])
def test_session_writes_need_the_csrf_header(
    app: Erlen, client: ErlenClient, auth: Auth, method: str, path: str, sent: str
) -> None:
    auth.login("alice")
    headers = {} if sent is None else {"X-CSRF-Token": sent}
    response = client.open(
        path, method=method, json={"title": "t", "body": "b"}, headers=headers
    )
    assert_error(response, 400, "needs the page's CSRF token in the X-CSRF-Token")
    with app.app_context():
        assert models.list_posts(1, 10).total == 2
        post = models.get_post(1)
    assert post is not None and post["title"] == "Alice's first"


def test_invalid_json_is_400(client: ErlenClient, auth: Auth) -> None:
    auth.login_for_api("bob")
    response = client.post(
        "/api/posts", data='{"title": "x", ', content_type="application/json"
    )
    assert_error(response, 400, "not valid JSON")


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "3", "null"])
def test_json_must_be_an_object(client: ErlenClient, auth: Auth, body: str) -> None:
    auth.login_for_api("bob")
    response = client.post("/api/posts", data=body, content_type="application/json")
    expected = "not valid JSON" if body == "null" else "must be an object"
    assert_error(response, 400, expected)


def test_form_body_is_415(client: ErlenClient, auth: Auth) -> None:
    auth.login_for_api("bob")
    response = client.post("/api/posts", data={"title": "t", "body": "b"})
    assert_error(response, 415, "Content-Type: application/json")


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({}, {"title": "Title is required.", "body": "Body is required."}),
        ({"title": "  ", "body": "b"}, {"title": "Title is required."}),
        ({"title": 5, "body": "b"}, {"title": "Title must be a string."}),
        (
            {"title": "t", "body": "b" * 20001},
            {"body": "Body must be at most 20000 characters (it has 20001)."},
        ),
        ({"title": "t", "body": "b", "tags": []}, {"tags": "Unknown field."}),
    ],
)
def test_create_validation_is_422(
    app: Erlen,
    client: ErlenClient,
    auth: Auth,
    payload: dict[str, Any],
    fields: dict[str, str],
) -> None:
    auth.login_for_api("bob")
    error = assert_error(client.post("/api/posts", json=payload), 422, "")
    assert error["fields"] == fields
    with app.app_context():
        assert models.list_posts(1, 10).total == 2


def test_put_replaces(client: ErlenClient, auth: Auth) -> None:
    auth.login_for_api("alice")
    response = client.put("/api/posts/1", json={"title": "New", "body": "**b**"})
    assert response.status_code == 200
    data = response.get_json()
    assert data["title"] == "New"
    assert data["html"] == "<p><strong>b</strong></p>"
    assert data["updated"] is not None


def test_put_needs_every_field(client: ErlenClient, auth: Auth) -> None:
    auth.login_for_api("alice")
    error = assert_error(client.put("/api/posts/1", json={"title": "x"}), 422, "")
    assert error["fields"] == {"body": "Body is required."}


def test_patch_changes_given_fields(client: ErlenClient, auth: Auth) -> None:
    auth.login_for_api("alice")
    response = client.patch("/api/posts/1", json={"title": "Only the title"})
    assert response.status_code == 200
    data = response.get_json()
    assert data["title"] == "Only the title"
    assert data["body"] == "Hello *world*."


def test_patch_validates_given_fields(client: ErlenClient, auth: Auth) -> None:
    auth.login_for_api("alice")
    error = assert_error(client.patch("/api/posts/1", json={"body": ""}), 422, "")
    assert error["fields"] == {"body": "Body is required."}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_someone_elses_post_is_403(
    app: Erlen, client: ErlenClient, auth: Auth, method: str
) -> None:
    auth.login_for_api("bob")
    response = client.open(
        "/api/posts/1", method=method, json={"title": "Hacked", "body": "x"}
    )
    assert_error(response, 403, "Only the author")
    with app.app_context():
        post = models.get_post(1)
    assert post is not None and post["title"] == "Alice's first"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_missing_post_is_404_for_writes(
    client: ErlenClient, auth: Auth, method: str
) -> None:
    auth.login_for_api("alice")
    response = client.open("/api/posts/404", method=method, json={"title": "x"})
    assert_error(response, 404, "There is no post 404.")


def test_put_invalid_json_is_400(client: ErlenClient, auth: Auth) -> None:
    auth.login_for_api("alice")
    response = client.put("/api/posts/1", data="{", content_type="application/json")
    assert_error(response, 400, "not valid JSON")


def test_delete(client: ErlenClient, auth: Auth) -> None:
    auth.login_for_api("alice")
    response = client.delete("/api/posts/1")
    assert response.status_code == 204
    assert response.data == b""
    assert_error(client.get("/api/posts/1"), 404, "There is no post 1.")
    assert_error(client.delete("/api/posts/1"), 404, "There is no post 1.")


def test_api_and_site_share_the_session(client: ErlenClient, auth: Auth) -> None:
    auth.login_for_api("bob")
    created = client.post("/api/posts", json={"title": "Shared", "body": "b"})
    html = client.get(f"/posts/{created.get_json()['id']}").get_data(as_text=True)
    assert "<h1>Shared</h1>" in html
    assert "by <strong>bob</strong>" in html
    assert "Edit</a>" in html
