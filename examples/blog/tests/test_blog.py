"""The HTML pages through the test client: list, view, create, edit, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from examples.blog import create_app, models

from .conftest import Auth, csrf_token, form

if TYPE_CHECKING:
    from erlen import Erlen
    from erlen.testing import ErlenClient


def add_posts(app: Erlen, count: int) -> None:
    """Add ``count`` posts by alice (user 1), titled "Post 1".."Post N"."""
    with app.app_context():
        for number in range(1, count + 1):
            models.create_post(1, f"Post {number}", f"Body {number}")


def test_index_lists_posts_newest_first(client: ErlenClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert html.index("Alice&#39;s second") < html.index("Alice&#39;s first")
    assert 'href="/posts/2"' in html
    assert 'class="pagination"' not in html  # a single page needs no links
    assert '<link rel="stylesheet" href="/static/style.css">' in html


def test_index_empty(app: Erlen, client: ErlenClient) -> None:
    with app.app_context():
        models.delete_post(1)
        models.delete_post(2)
    html = client.get("/").get_data(as_text=True)
    assert "No posts yet." in html


def test_pagination(app: Erlen, client: ErlenClient) -> None:
    add_posts(app, 9)  # 11 posts with alice's two; 5 per page -> 3 pages
    first = client.get("/").get_data(as_text=True)
    assert first.count('class="card post-summary"') == 5
    assert "Page 1 of 3" in first
    assert '<a rel="next" href="/?page=2">' in first
    assert '<span class="disabled">&larr; Newer</span>' in first
    assert ">Post 9<" in first and ">Post 5<" in first and ">Post 4<" not in first

    second = client.get("/?page=2").get_data(as_text=True)
    assert "Page 2 of 3" in second
    assert '<a rel="prev" href="/?page=1">' in second
    assert ">Post 4<" in second and ">Post 1<" in second
    assert "Alice&#39;s second" in second and "Alice&#39;s first" not in second

    third = client.get("/?page=3").get_data(as_text=True)
    assert third.count('class="card post-summary"') == 1
    assert "Alice&#39;s first" in third
    assert '<span class="disabled">Older &rarr;</span>' in third


@pytest.mark.parametrize("page", ["0", "-1", "4"])
def test_pagination_out_of_range_is_404(
    app: Erlen, client: ErlenClient, page: str
) -> None:
    add_posts(app, 9)
    response = client.get(f"/?page={page}")
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in response.get_data(as_text=True)


def test_pagination_ignores_non_numbers(client: ErlenClient) -> None:
    response = client.get("/?page=abc")
    assert response.status_code == 200
    assert "Alice&#39;s first" in response.get_data(as_text=True)


def test_view_post_renders_markdown(client: ErlenClient) -> None:
    response = client.get("/posts/1")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>Alice&#39;s first</h1>" in html
    assert "<p>Hello <em>world</em>.</p>" in html
    assert "by <strong>alice</strong>" in html
    assert "/posts/1/edit" not in html  # anonymous: no author actions


def test_view_missing_post_is_404(client: ErlenClient) -> None:
    response = client.get("/posts/999")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<h1>Page not found</h1>" in html
    assert "There is no post number 999." in html


def test_unknown_url_is_custom_404(client: ErlenClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<title>Page not found · erlen blog</title>" in html
    assert "Nothing lives at this address." in html
    assert 'href="/">Back to the posts</a>' in html


def test_error_500_page(database: dict[str, Any]) -> None:
    app = create_app(
        {"TESTING": True, "PROPAGATE_EXCEPTIONS": False, "SECRET_KEY": "k", **database}
    )

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("kaput")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "<h1>Something went wrong</h1>" in html
    assert "kaput" not in html


def test_static_css(client: ErlenClient) -> None:
    response = client.get("/static/style.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    css = response.get_data(as_text=True)
    assert "@media (max-width: 560px)" in css
    assert "http" not in css  # nothing loaded from elsewhere
    response.close()


def test_author_sees_edit_and_delete(client: ErlenClient, auth: Auth) -> None:
    auth.login("alice")
    html = client.get("/posts/1").get_data(as_text=True)
    assert 'href="/posts/1/edit"' in html
    assert 'action="/posts/1/delete"' in html


def test_other_user_sees_no_actions(client: ErlenClient, auth: Auth) -> None:
    auth.login("bob")
    html = client.get("/posts/1").get_data(as_text=True)
    assert "/posts/1/edit" not in html
    assert "/posts/1/delete" not in html


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/posts/new"), ("POST", "/posts/new"), ("GET", "/posts/1/edit")],
)
def test_login_required(client: ErlenClient, method: str, path: str) -> None:
    token = csrf_token(client)
    response = client.open(path, method=method, data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")
    html = client.get("/auth/login").get_data(as_text=True)
    assert '<li class="flash flash-warning">Please log in to continue.</li>' in html


def test_create_post(app: Erlen, client: ErlenClient, auth: Auth) -> None:
    auth.login("bob")
    page = client.get("/posts/new")
    assert page.status_code == 200
    assert "<h1>New post</h1>" in page.get_data(as_text=True)
    data = form(client, "/posts/new", title="  Bob writes  ", body="Some **bold**.")
    response = client.post("/posts/new", data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/posts/3"
    html = client.get("/posts/3").get_data(as_text=True)
    assert "Your post was published." in html
    assert "<h1>Bob writes</h1>" in html
    assert "<strong>bold</strong>" in html
    with app.app_context():
        post = models.get_post(3)
    assert post is not None
    assert post["author"] == "bob"
    assert post["title"] == "Bob writes"


@pytest.mark.parametrize(
    ("title", "body", "message"),
    [
        ("", "body", "Title is required."),
        ("   ", "body", "Title is required."),
        ("title", "", "Body is required."),
        ("x" * 121, "body", "Title must be at most 120 characters (it has 121)."),
    ],
)
def test_create_post_validation(
    app: Erlen, client: ErlenClient, auth: Auth, title: str, body: str, message: str
) -> None:
    auth.login("bob")
    data = form(client, "/posts/new", title=title, body=body)
    response = client.post("/posts/new", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    field = "title" if message.startswith("Title") else "body"
    assert f'<p class="error" id="{field}-error">{message}</p>' in html
    assert "Please correct the errors below." in html
    with app.app_context():
        assert models.list_posts(1, 10).total == 2


def test_create_post_csrf_failure(app: Erlen, client: ErlenClient, auth: Auth) -> None:
    auth.login("bob")
    response = client.post(
        "/posts/new", data={"title": "t", "body": "b", "csrf_token": "forged"}
    )
    assert response.status_code == 400
    with app.app_context():
        assert models.list_posts(1, 10).total == 2


def test_script_is_shown_not_run(client: ErlenClient, auth: Auth) -> None:
    auth.login("bob")
    body = (
        "<script>alert('x')</script>\n\n"
        '<img src=x onerror="alert(1)">\n\n'
        "[click](javascript:alert(1)) and [ok](https://example.com)"
    )
    title = "<b>Title</b>"
    client.post("/posts/new", data=form(client, "/posts/new", title=title, body=body))
    html = client.get("/posts/3").get_data(as_text=True)
    assert "<script>" not in html
    assert "<p>&lt;script&gt;alert('x')&lt;/script&gt;</p>" in html
    assert "<img" not in html
    assert '<p>&lt;img src=x onerror="alert(1)"&gt;</p>' in html
    assert "javascript:" not in html
    assert '<a rel="nofollow noopener">click</a>' in html
    assert '<a href="https://example.com" rel="nofollow noopener">ok</a>' in html
    assert "<h1>&lt;b&gt;Title&lt;/b&gt;</h1>" in html
    index = client.get("/").get_data(as_text=True)
    assert "<script>" not in index and "<b>Title" not in index


def test_edit_post(app: Erlen, client: ErlenClient, auth: Auth) -> None:
    auth.login("alice")
    page = client.get("/posts/1/edit").get_data(as_text=True)
    assert 'value="Alice&#39;s first"' in page
    assert ">Hello *world*.</textarea>" in page
    data = form(client, "/posts/1/edit", title="Changed", body="New body")
    response = client.post("/posts/1/edit", data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/posts/1"
    html = client.get("/posts/1").get_data(as_text=True)
    assert "Your changes were saved." in html
    assert "<h1>Changed</h1>" in html
    assert "· edited " in html
    with app.app_context():
        post = models.get_post(1)
    assert post is not None and post["updated"] is not None


def test_edit_post_validation(app: Erlen, client: ErlenClient, auth: Auth) -> None:
    auth.login("alice")
    data = form(client, "/posts/1/edit", title="", body="still here")
    response = client.post("/posts/1/edit", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Title is required." in html
    assert ">still here</textarea>" in html
    with app.app_context():
        post = models.get_post(1)
    assert post is not None and post["title"] == "Alice's first"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_edit_someone_elses_post_is_403(
    app: Erlen, client: ErlenClient, auth: Auth, method: str
) -> None:
    auth.login("bob")
    token = csrf_token(client, "/")
    response = client.open(
        "/posts/1/edit",
        method=method,
        data={"title": "Hacked", "body": "x", "csrf_token": token},
    )
    assert response.status_code == 403
    html = response.get_data(as_text=True)
    assert "<h1>Forbidden</h1>" in html
    assert "Only the author of a post can change or delete it." in html
    with app.app_context():
        post = models.get_post(1)
    assert post is not None and post["title"] == "Alice's first"


def test_edit_missing_post_is_404(client: ErlenClient, auth: Auth) -> None:
    auth.login("alice")
    assert client.get("/posts/99/edit").status_code == 404


def test_delete_post(app: Erlen, client: ErlenClient, auth: Auth) -> None:
    auth.login("alice")
    token = csrf_token(client, "/posts/1")
    response = client.post("/posts/1/delete", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    html = client.get("/").get_data(as_text=True)
    assert (
        '<li class="flash flash-info">Deleted &#34;Alice&#39;s first&#34;.</li>' in html
    )
    assert client.get("/posts/1").status_code == 404


def test_delete_someone_elses_post_is_403(
    app: Erlen, client: ErlenClient, auth: Auth
) -> None:
    auth.login("bob")
    token = csrf_token(client, "/")
    response = client.post("/posts/1/delete", data={"csrf_token": token})
    assert response.status_code == 403
    assert client.get("/posts/1").status_code == 200


def test_delete_requires_csrf(client: ErlenClient, auth: Auth) -> None:
    auth.login("alice")
    response = client.post("/posts/1/delete")
    assert response.status_code == 400
    assert client.get("/posts/1").status_code == 200


def test_delete_is_post_only(client: ErlenClient, auth: Auth) -> None:
    auth.login("alice")
    assert client.get("/posts/1/delete").status_code == 405
    assert client.get("/posts/1").status_code == 200


def test_delete_missing_post_is_404(client: ErlenClient, auth: Auth) -> None:
    auth.login("alice")
    token = csrf_token(client, "/")
    response = client.post("/posts/42/delete", data={"csrf_token": token})
    assert response.status_code == 404
