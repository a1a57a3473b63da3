"""The blog under production WSGI servers, over real HTTP on a loopback port."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from examples.blog import create_app
from examples.blog.db import DEMO_PASSWORD, DEMO_POSTS, DEMO_USERNAME, seed_demo

from ._support import SERVERS, Http, free_port, running, server_command


@pytest.mark.parametrize("server", SERVERS)
def test_blog_over_http(server: str, tmp_path: Path) -> None:
    database = tmp_path / "served.sqlite"
    app = create_app({"DATABASE": str(database), "SECRET_KEY": "seed"})
    with app.app_context():
        seed_demo()
    port = free_port()
    env = {"BLOG_DATABASE": str(database), "BLOG_SECRET_KEY": "served-secret"}
    log = tmp_path / f"{server}.log"
    with running(server_command(server, port), port, log, env):
        client = Http(f"http://127.0.0.1:{port}")

        status, html = client.text("/")
        assert status == 200
        assert '<h1 class="page-title">Latest posts</h1>' in html
        assert "Welcome to the erlen blog" in html
        assert "Page 1 of 2" in html

        status, headers, css = client.request("GET", "/static/style.css")
        assert status == 200
        assert headers["content-type"].startswith("text/css")
        assert b".flash-success" in css

        status, html = client.text("/posts/1")
        assert status == 200
        assert "<strong>flagship example</strong>" in html

        status, html = client.text("/no-such-page")
        assert status == 404
        assert "<h1>Page not found</h1>" in html

        status, headers, body = client.request("GET", "/api/posts?per_page=3")
        assert status == 200
        assert headers["content-type"] == "application/json"
        listing = json.loads(body)
        assert listing["total"] == len(DEMO_POSTS)
        assert len(listing["posts"]) == 3
        assert listing["next"] == f"http://127.0.0.1:{port}/api/posts?page=2&per_page=3"

        status, _, body = client.request(
            "POST", "/api/posts", json_body={"title": "t", "body": "b"}
        )
        assert status == 401
        assert json.loads(body)["error"]["status"] == 401

        status, _, body = client.request(
            "POST", "/auth/login", form={"username": "demo", "password": "demo"}
        )
        assert status == 400  # no CSRF token

        page = client.login(DEMO_USERNAME, DEMO_PASSWORD)
        assert "Logged in as demo." in page

        # The session writes the API with its CSRF token, as a page's script.
        csrf = {"X-CSRF-Token": client.api_csrf_token()}
        status, _, body = client.request(
            "POST", "/api/posts", json_body={"title": "t", "body": "b"}
        )
        assert status == 400, body
        status, headers, body = client.request(
            "POST",
            "/api/posts",
            json_body={"title": "Over HTTP", "body": "*yes*"},
            headers=csrf,
        )
        assert status == 201, body
        created = json.loads(body)
        assert created["html"] == "<p><em>yes</em></p>"
        location = headers["location"]
        assert location == f"/api/posts/{created['id']}"

        # Several requests, so that both gunicorn workers serve some of them:
        # the signed session cookie and the database are shared.
        for _ in range(6):
            status, _, body = client.request(
                "PATCH", location, json_body={"title": "Patched"}, headers=csrf
            )
            assert status == 200, body
            assert json.loads(body)["title"] == "Patched"

        status, _, body = client.request(
            "PUT",
            location,
            raw=b"{not json",
            content_type="application/json",
            headers=csrf,
        )
        assert status == 400
        assert (
            json.loads(body)["error"]["message"]
            == "The request body is not valid JSON."
        )

        status, _, body = client.request("DELETE", location, headers=csrf)
        assert status == 204 and body == b""
        assert client.request("GET", location)[0] == 404

        # An API token, and then curl's way: no cookies, the token only.
        status, _, body = client.request(
            "POST", "/api/tokens", json_body={"name": "script"}, headers=csrf
        )
        assert status == 201, body
        token = json.loads(body)
        bearer = {"Authorization": f"Bearer {token['token']}"}
        script = Http(f"http://127.0.0.1:{port}")
        for _ in range(4):  # both workers
            status, _, body = script.request(
                "POST",
                "/api/posts",
                json_body={"title": "By token", "body": "b"},
                headers=bearer,
            )
            assert status == 201, body
        status, headers, body = script.request(
            "DELETE", f"/api/tokens/{token['id']}", headers=bearer
        )
        assert status == 204, body
        status, headers, body = script.request("GET", "/api/tokens", headers=bearer)
        assert status == 401
        assert (
            headers["www-authenticate"] == 'Bearer realm="blog", error="invalid_token"'
        )

    output = log.read_text()
    if server == "gunicorn":
        assert output.count("Booting worker with pid") == 2, output


def test_gunicorn_without_a_key_generates_one_for_all_workers(tmp_path: Path) -> None:
    """No BLOG_SECRET_KEY: the workers share a key generated into the instance
    folder on first start, and a restart keeps it (sessions survive)."""
    database = tmp_path / "keyless.sqlite"
    app = create_app({"DATABASE": str(database), "SECRET_KEY": "seed"})
    with app.app_context():
        seed_demo()
    key_file = tmp_path / "instance" / "secret_key"
    env = {
        "BLOG_DATABASE": str(database),
        "BLOG_SECRET_KEY": "",  # unset, whatever this machine's environment says
        "BLOG_SECRET_KEY_FILE": str(key_file),
    }
    port = free_port()
    client = Http(f"http://127.0.0.1:{port}")
    signed_in = "Signed in as <strong>demo</strong>"
    with running(server_command("gunicorn", port), port, tmp_path / "1.log", env):
        assert "Logged in as demo." in client.login(DEMO_USERNAME, DEMO_PASSWORD)
        # Enough requests for both workers to check the signature.
        for _ in range(8):
            assert signed_in in client.text("/")[1]
    key = key_file.read_text().strip()
    assert len(key) == 64
    assert key_file.stat().st_mode & 0o777 == 0o600
    with running(server_command("gunicorn", port), port, tmp_path / "2.log", env):
        assert signed_in in client.text("/")[1]
    assert key_file.read_text().strip() == key
