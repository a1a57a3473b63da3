"""Scaling out: two app servers of the blog behind one (imagined) load
balancer, on ONE PostgreSQL and ONE Redis, both real, over real HTTP.

Server A is gunicorn (WSGI, 2 sync workers), server B uvicorn (ASGI, 2
workers), on two loopback ports, sharing only ``BLOG_SECRET_KEY``,
``BLOG_DATABASE_URL`` and ``BLOG_BROADCAST_URL``. A browser (one cookie
jar, as behind a load balancer) registers and logs in on A and is logged in
on B; a post written on A is listed by B; a page's live stream held by B
gets the post published through A (through Redis: the stream is past its
catch-up from the database by then). The four workers start at once on an
empty database, and create the schema without tripping over each other.
"""

from __future__ import annotations

import json
import re
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from examples.blog import create_app, models

from ._support import ROOT, Http, free_port, running, server_command
from .test_live import Subscriber

if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

pytest_plugins = ["redis_fixture"]

if TYPE_CHECKING:
    from postgres_fixture import PostgresServer
    from redis_fixture import RedisServer

META_CSRF_RE = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
WAIT = 10.0  # seconds: the bound of every read of the live stream


def titles(client: Http, path: str = "/api/posts") -> list[str]:
    status, _, body = client.request("GET", path)
    assert status == 200, body
    return [post["title"] for post in json.loads(body)["posts"]]


def test_two_servers_share_one_postgresql_and_one_redis(
    tmp_path: Path, postgres_server: PostgresServer, redis_server: RedisServer
) -> None:
    url = postgres_server.create_database()
    env = {
        "BLOG_DATABASE_URL": url,
        "BLOG_SECRET_KEY": "shared-by-every-server",
        "BLOG_BROADCAST_URL": redis_server.url,
        "BLOG_BROADCAST_PREFIX": "blog-scale-out:",
        "BLOG_LIVE_PING_SECONDS": "0.5",
    }
    port_a, port_b = free_port(), free_port()
    log_a, log_b = tmp_path / "a-gunicorn.log", tmp_path / "b-uvicorn.log"
    with ExitStack() as servers:
        servers.enter_context(
            running(server_command("gunicorn", port_a), port_a, log_a, env)
        )
        servers.enter_context(
            running(server_command("uvicorn", port_b), port_b, log_b, env)
        )
        a = Http(f"http://127.0.0.1:{port_a}")
        b = Http(f"http://127.0.0.1:{port_b}")
        b.opener = a.opener  # one browser: the same cookie jar for both

        # Register and log in on A.
        form = {
            "username": "carol",
            "password": "carol-secret",
            "confirm": "carol-secret",
            "csrf_token": a.csrf_token("/auth/register"),
        }
        status, _, body = a.request("POST", "/auth/register", form=form)
        assert status == 200, body  # the login page, after the redirect
        assert b"Welcome, carol! Please log in." in body
        assert "Logged in as carol." in a.login("carol", "carol-secret")

        # B knows the session (the signed cookie) and the user (PostgreSQL).
        status, html = b.text("/posts/new")
        assert status == 200, html
        assert "Signed in as <strong>carol</strong>" in html
        match = META_CSRF_RE.search(html)
        assert match is not None
        csrf = match.group(1)  # the session's token: the same on A

        # A page on B subscribes to new posts, from none on.
        subscriber = Subscriber(port_b, after=0)
        try:
            assert "content-type: text/event-stream" in subscriber.head
            headers = {"X-CSRF-Token": csrf}
            status, _, body = a.request(
                "POST",
                "/api/posts",
                json_body={"title": "Warm-up", "body": "w"},
                headers=headers,
            )
            assert status == 201, body
            first = json.loads(body)["id"]
            event = subscriber.event(WAIT)
            assert event is not None and f"id: {first}\n".encode() in event

            # Past its catch-up: this one can only come through Redis.
            post = {"title": "Written on A", "body": "Read *on B*.", "csrf_token": csrf}
            status, _, body = a.request("POST", "/posts/new", form=post)
            assert status == 200, body  # the new post's page, after the redirect
            assert b"Your post was published." in body
            event = subscriber.event(WAIT)
            assert event is not None, "the post published on A did not reach B"
            data = json.loads(event.partition(b"data: ")[2])
            assert data["title"] == "Written on A"
            assert data["author"] == "carol"
            assert data["excerpt"] == "Read on B."
            assert event.startswith(f"event: post\nid: {data['id']}\n".encode())
        finally:
            subscriber.close()

        # B lists what A wrote, and the other way round.
        assert titles(b) == ["Written on A", "Warm-up"]
        status, html = b.text("/")
        assert status == 200 and "Written on A" in html
        status, _, body = b.request(
            "POST",
            "/api/posts",
            json_body={"title": "Written on B", "body": "b"},
            headers={"X-CSRF-Token": csrf},
        )
        assert status == 201, body
        assert titles(a)[0] == "Written on B"
        status, _, body = a.request("GET", f"/api/posts/{data['id']}")
        assert status == 200 and json.loads(body)["html"] == (
            "<p>Read <em>on B</em>.</p>"
        )

    for log in (log_a, log_b):
        output = log.read_text()
        assert "Traceback" not in output, output
    # And it is all in PostgreSQL, for any later server to find.
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "k"})
    with app.app_context():
        user = models.get_user_by_name("carol")
        assert user is not None
        assert models.list_posts(1, 10).total == 3
