"""Live index pages: new posts pushed as server-sent events (examples/blog/live.py).

Three levels: the test client (exact event bytes, the form and the API both
announce, ``Last-Event-ID`` catch-up); the blog under uvicorn with 2 workers
and a real redis-server, where a post created through one worker reaches
subscribers on the other (which worker holds a connection is read from
/proc, so both are covered deterministically); and Chromium with two pages,
one publishing, the other seeing the post appear without a reload, and a page
whose server went away catching up when it is back. Under gunicorn's sync
workers the stream is refused with 204.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Browser, Page, expect

from examples.blog import create_app, live, models, tokens
from examples.blog.db import create_user, seed_demo

from ._support import ROOT, free_port, running, server_command
from .conftest import Auth, form
from .test_browser import TIMEOUT_MS, browser

__all__ = ["browser"]  # the fixture: headless Chromium at /usr/bin/chromium

if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

pytest_plugins = ["redis_fixture"]

if TYPE_CHECKING:
    from redis_fixture import RedisServer

    from erlen import Erlen
    from erlen.testing import ErlenClient

WAIT = 10.0  # seconds: the bound of every wait in this module
RETRY = b"retry: 2000\n\n"
PING = 0.05  # LIVE_PING_SECONDS in these tests
PING_CHUNK = b": ping\n\n"


def wait_until(condition: Any, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


# -- the test client ----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fast_pings(request: pytest.FixtureRequest) -> None:
    """Keep-alives every PING seconds, so reads here never block long."""
    if "app" in request.fixturenames:
        request.getfixturevalue("app").config["LIVE_PING_SECONDS"] = PING


class Stream:
    """An open ``/live/posts`` response, read chunk by chunk in this thread
    (as a server does: it also closes it from here). The app's keep-alives
    come every :data:`PING` seconds, so no read blocks for longer."""

    def __init__(self, client: ErlenClient, url: str = "/live/posts", **headers: str):
        self.response = client.get(url, headers=headers, buffered=False)
        self.chunks = iter(self.response.response)
        self.pending: list[bytes] = []

    def pump(self) -> None:
        """Read one chunk; keep it unless it is a keep-alive."""
        chunk: bytes = next(self.chunks)
        if chunk != PING_CHUNK:
            self.pending.append(chunk)

    def next(self) -> bytes:
        """The next chunk other than a keep-alive (bounded wait)."""
        deadline = time.monotonic() + WAIT
        while not self.pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"no event in {WAIT}s")
            self.pump()
        return self.pending.pop(0)

    def nothing_for(self, seconds: float) -> bool:
        """Whether only keep-alives arrive for ``seconds``."""
        deadline = time.monotonic() + seconds
        while not self.pending and time.monotonic() < deadline:
            self.pump()
        return not self.pending

    def close(self) -> None:
        self.response.close()


@contextmanager
def stream(
    app: Erlen, client: ErlenClient, url: str = "/live/posts", **headers: str
) -> Iterator[Stream]:
    """A stream whose subscription is active (it is made once the first
    chunk, ``retry: ...``, has gone out); closed and unsubscribed after."""
    backend = app.extensions["broadcast"]._get_backend()
    before = len(backend.channels.get(live.CHANNEL, ()))
    opened = Stream(client, url, **headers)
    try:
        assert opened.next() == RETRY
        deadline = time.monotonic() + WAIT
        while len(backend.channels.get(live.CHANNEL, ())) == before:
            assert time.monotonic() < deadline, "the stream did not subscribe"
            opened.pump()  # the source runs when the next chunk is asked for
        yield opened
    finally:
        opened.close()
    wait_until(
        lambda: len(backend.channels.get(live.CHANNEL, ())) == before,
        "the closed stream to unsubscribe",
    )


def expected_event(app: Erlen, post_id: int, excerpt: str = "body") -> bytes:
    """The exact bytes of the ``post`` event for ``post_id``, from the
    database; ``excerpt`` is the text the index shows (Markdown rendered,
    tags stripped)."""
    with app.app_context():
        post = models.get_post(post_id)
    assert post is not None
    data = json.dumps(
        {
            "author": post["author"],
            "created": post["created"],
            "excerpt": excerpt,
            "id": post_id,
            "title": post["title"],
            "url": f"/posts/{post_id}",
        }
    )
    return f"event: post\nid: {post_id}\ndata: {data}\n\n".encode()


def test_the_stream_is_an_event_stream(client: ErlenClient) -> None:
    response = client.get("/live/posts", buffered=False)
    try:
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-cache"
        assert response.headers["X-Accel-Buffering"] == "no"
        assert "Content-Length" not in response.headers
        assert next(iter(response.response)) == RETRY
    finally:
        response.close()


def test_page_one_opens_the_stream_after_its_newest_post(
    app: Erlen, client: ErlenClient
) -> None:
    html = client.get("/").get_data(as_text=True)
    assert '<div id="posts" data-live="/live/posts"\n      data-after="2">' in html
    assert '<script src="/static/live.js" defer></script>' in html
    assert '<article class="card post-summary" data-post-id="2">' in html
    script = client.get("/static/live.js")
    assert script.status_code == 200
    text = script.get_data(as_text=True)
    assert "new EventSource(url)" in text
    assert "innerHTML" not in text
    # Older pages do not change: no stream there.
    with app.app_context():
        for n in range(5):
            models.create_post(1, f"Filler {n}", "x")
    page_two = client.get("/?page=2").get_data(as_text=True)
    assert "data-live" not in page_two
    assert "live.js" not in page_two
    assert 'data-after="7"' in client.get("/").get_data(as_text=True)


def test_an_empty_blog_starts_after_zero(tmp_path: Path) -> None:
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "b.sqlite")}
    )
    html = app.test_client().get("/").get_data(as_text=True)
    assert 'data-after="0"' in html
    assert "No posts yet." in html


def test_a_post_from_the_form_is_sent_to_open_streams(
    app: Erlen, client: ErlenClient, auth: Auth
) -> None:
    auth.login("bob")
    watcher = app.test_client()
    with stream(app, watcher) as first, stream(app, watcher) as second:
        fields = form(
            client,
            "/posts/new",
            title="Live <b>one</b>",
            body='Some \\*stars\\* & <script>alert("x")</script>',
        )
        response = client.post("/posts/new", data=fields)
        assert response.status_code == 302
        assert response.headers["Location"] == "/posts/3"
        event = expected_event(app, 3, 'Some *stars* & <script>alert("x")</script>')
        assert b'"author": "bob"' in event
        assert b'"title": "Live <b>one</b>"' in event
        assert first.next() == event
        assert second.next() == event
        assert first.nothing_for(0.2)


def test_a_post_from_the_api_is_sent(app: Erlen, client: ErlenClient) -> None:
    with app.app_context():
        _, token = tokens.create_token(1, "live")
    watcher = app.test_client()
    with stream(app, watcher) as opened:
        response = client.post(
            "/api/posts",
            json={"title": "From a script", "body": "*Markdown* body"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        post_id = response.get_json()["id"]
        assert opened.next() == expected_event(app, post_id, "Markdown body")


def test_a_refused_post_sends_nothing(app: Erlen, client: ErlenClient) -> None:
    with app.app_context():
        _, token = tokens.create_token(1, "live")
    with stream(app, app.test_client()) as opened:
        response = client.post(
            "/api/posts",
            json={"title": "", "body": "x"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 422
        assert opened.nothing_for(0.3)


def test_a_reconnect_gets_what_it_missed_first(app: Erlen) -> None:
    with app.app_context():
        for title in ("Missed 3", "Missed 4", "Missed 5"):
            models.create_post(1, title, "body")
    client = app.test_client()
    # Last-Event-ID (the browser's reconnect) wins over ?after= (the page's).
    with stream(app, client, "/live/posts?after=1", **{"Last-Event-ID": "3"}) as s:
        assert s.next() == expected_event(app, 4)
        assert s.next() == expected_event(app, 5)
        with app.test_request_context():
            post_id = models.create_post(2, "Live 6", "body")
            live.publish_post(post_id)
        assert s.next() == expected_event(app, 6)
        assert s.nothing_for(0.2)


def test_the_page_s_after_is_used_on_a_first_connection(app: Erlen) -> None:
    with stream(app, app.test_client(), "/live/posts?after=1") as s:
        assert s.next() == expected_event(app, 2, "More text.")
        assert s.nothing_for(0.2)


@pytest.mark.parametrize("value", ["", "abc", "-1", "1.5", str(2**64)])
def test_an_unusable_id_catches_up_nothing(app: Erlen, value: str) -> None:
    with stream(app, app.test_client(), **{"Last-Event-ID": value}) as s:
        assert s.nothing_for(0.2)


def test_catch_up_is_bounded(app: Erlen) -> None:
    with app.app_context():
        for n in range(live.CATCH_UP_LIMIT + 5):
            models.create_post(1, f"Bulk {n}", "b")
    newest = 2 + live.CATCH_UP_LIMIT + 5
    with stream(app, app.test_client(), **{"Last-Event-ID": "0"}) as s:
        ids = []
        for _ in range(live.CATCH_UP_LIMIT):
            chunk = s.next()
            assert chunk is not None
            match = re.search(rb"^id: (\d+)$", chunk, re.M)
            assert match is not None
            ids.append(int(match.group(1)))
        assert ids == list(range(newest - live.CATCH_UP_LIMIT + 1, newest + 1))
        assert s.nothing_for(0.2)


def test_an_unreachable_broker_does_not_lose_the_post(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on this port: publishing fails, the post is still saved.
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "t",
            "DATABASE": str(tmp_path / "b.sqlite"),
            "BROADCAST_URL": f"redis://127.0.0.1:{free_port()}/0",
            "BROADCAST_TIMEOUT": 1.0,
        }
    )
    with app.app_context():
        user = create_user("carol", "carol-secret")
        _, token = tokens.create_token(user, "t")
    try:
        response = app.test_client().post(
            "/api/posts",
            json={"title": "Still here", "body": "b"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 201
        assert "Could not announce post 1 to open pages." in caplog.text
        assert app.test_client().get("/posts/1").status_code == 200
    finally:
        app.extensions["broadcast"].close()


# -- uvicorn, 2 workers, a real redis-server ------------------------------------------


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces and parentheses.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry))
    return found


def _server_socket_inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server's end of the loopback connection from
    ``client_port`` (from /proc/net/tcp)."""
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if (
                int(local.rpartition(":")[2], 16) == server_port
                and int(remote.rpartition(":")[2], 16) == client_port
            ):
                return inode
    return None


def worker_of(sock: socket.socket, server_port: int, workers: list[int]) -> int:
    """Which of ``workers`` holds the server's end of connection ``sock``."""
    inode = _server_socket_inode(server_port, sock.getsockname()[1])
    assert inode is not None, "connection not in /proc/net/tcp"
    target = f"socket:[{inode}]"
    for pid in workers:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker of {workers} holds {target}")


class Subscriber:
    """A raw connection to ``/live/posts``, reading the chunked event stream."""

    def __init__(self, port: int, after: int | None) -> None:
        query = "" if after is None else f"?after={after}"
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        self.sock.sendall(
            f"GET /live/posts{query} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n\r\n".encode()
        )
        self.raw = b""
        self.body = b""  # the de-chunked stream
        while b"\r\n\r\n" not in self.raw:
            self._recv()
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        self.head = head.decode().lower()
        assert "transfer-encoding: chunked" in self.head, self.head
        self._dechunk()

    def _recv(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise AssertionError("the server closed the stream")
        self.raw += data

    def _dechunk(self) -> None:
        while b"\r\n" in self.raw:
            size_line, _, rest = self.raw.partition(b"\r\n")
            size = int(size_line, 16)
            if len(rest) < size + 2:
                return
            assert size > 0, "the stream ended"
            self.body += rest[:size]
            self.raw = rest[size + 2 :]

    def event(self, timeout: float = WAIT) -> bytes | None:
        """The next event other than keep-alives and ``retry``, or ``None``
        if none comes within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            while b"\n\n" not in self.body:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.sock.settimeout(remaining)
                try:
                    self._recv()
                except TimeoutError:
                    return None
                self._dechunk()
            event, _, self.body = self.body.partition(b"\n\n")
            if event.startswith(b"event:"):
                return event + b"\n\n"

    def close(self) -> None:
        self.sock.close()


def _prepare_database(path: Path) -> str:
    """A database with the demo user and an API token for it."""
    app = create_app({"DATABASE": str(path), "SECRET_KEY": "seed"})
    with app.app_context():
        user = create_user("demo", "demo-secret")
        _, token = tokens.create_token(user, "test")
        models.create_post(user, "Before", "b")
    return token


class Publisher:
    """A kept-alive HTTP/1.1 connection that creates posts through the API."""

    def __init__(self, port: int, token: str) -> None:
        import http.client

        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        self.token = token
        self.request("GET", "/api/posts?per_page=1")  # connects

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        response = self.conn.getresponse()
        return response.status, json.loads(response.read())

    def publish(self, title: str) -> int:
        status, post = self.request("POST", "/api/posts", {"title": title, "body": "b"})
        assert status == 201, post
        post_id: int = post["id"]
        return post_id

    @property
    def sock(self) -> socket.socket:
        assert self.conn.sock is not None
        return self.conn.sock

    def close(self) -> None:
        self.conn.close()


@contextmanager
def two_workers(
    folder: Path, broadcast_url: str
) -> Iterator[tuple[int, str, list[int]]]:
    """The blog under uvicorn with 2 workers; yields its port, an API token
    and the workers' pids."""
    token = _prepare_database(folder / "blog.sqlite")
    port = free_port()
    env = {
        "BLOG_DATABASE": str(folder / "blog.sqlite"),
        "BLOG_SECRET_KEY": "live-test",
        "BLOG_BROADCAST_URL": broadcast_url,
        "BLOG_BROADCAST_PREFIX": "blog-live-test:",
        "BLOG_LIVE_PING_SECONDS": "0.5",
    }
    log = folder / "uvicorn.log"
    with running(server_command("uvicorn", port), port, log, env) as process:
        wait_until(
            lambda: log.read_text().count("Application startup complete.") == 2,
            "both workers to start",
            timeout=30,
        )
        # Each worker logs "Started server process [<pid>]".
        started = re.findall(r"Started server process \[(\d+)\]", log.read_text())
        workers = sorted(int(pid) for pid in started)
        assert sorted(set(workers) & set(_children(process.pid))) == workers
        yield port, token, workers
    # Stopped (SIGTERM, as in production) without an error in either worker.
    output = log.read_text()
    assert output.count("Application shutdown complete.") == 2, output
    assert "Traceback" not in output, output


def _connect_to_each(
    make: Any, port: int, workers: list[int], attempts: int = 40
) -> dict[int, Any]:
    """Connections made with ``make()`` until each worker holds one (the
    kernel picks the worker); extra ones are closed."""
    held: dict[int, Any] = {}
    extra = []
    for _ in range(attempts):
        conn = make()
        pid = worker_of(conn.sock, port, workers)
        if pid in held:
            extra.append(conn)
        else:
            held[pid] = conn
        if len(held) == 2:
            break
    for conn in extra:
        conn.close()
    assert len(held) == 2, f"{attempts} connections all went to {list(held)}"
    return held


def test_a_post_through_one_worker_reaches_subscribers_on_the_other(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    with two_workers(tmp_path, redis_server.url) as (port, token, workers):
        assert len(workers) == 2, workers
        subscribers = _connect_to_each(lambda: Subscriber(port, 1), port, workers)
        publishers = _connect_to_each(lambda: Publisher(port, token), port, workers)
        try:
            for sub in subscribers.values():
                assert "content-type: text/event-stream" in sub.head
            # A first post, after which every stream is past its catch-up
            # from the database: later posts can only come through Redis.
            first = publishers[workers[0]].publish("Warm-up")
            for sub in subscribers.values():
                assert f"id: {first}\n".encode() in (sub.event() or b"")
            for source, target in (workers, workers[::-1]):
                post_id = publishers[source].publish(f"From worker {source}")
                event = subscribers[target].event()
                assert event is not None, f"{source} -> {target}: nothing"
                assert f"id: {post_id}\n".encode() in event
                assert f'"title": "From worker {source}"'.encode() in event
                event = subscribers[source].event()
                assert event is not None and f"id: {post_id}\n".encode() in event
        finally:
            for conn in [*subscribers.values(), *publishers.values()]:
                conn.close()


def test_memory_backend_reaches_only_its_own_worker(tmp_path: Path) -> None:
    # What the docs warn about: memory:// under several workers. The streams
    # catch nothing up from the database, so they hear only of live posts.
    with two_workers(tmp_path, "memory://") as (port, token, workers):
        subscribers = _connect_to_each(lambda: Subscriber(port, None), port, workers)
        publishers = _connect_to_each(lambda: Publisher(port, token), port, workers)
        try:
            own, other = workers
            # Publish until the stream on the same worker has subscribed.
            published = []
            for attempt in range(20):
                published.append(publishers[own].publish(f"Only here {attempt}"))
                event = subscribers[own].event(timeout=0.5)
                if event is not None:
                    break
            assert event is not None
            match = re.search(rb"^id: (\d+)$", event, re.M)
            assert match is not None and int(match.group(1)) in published
            assert subscribers[other].event(timeout=1.5) is None
        finally:
            for conn in [*subscribers.values(), *publishers.values()]:
                conn.close()


# -- Chromium: one page publishes, the other sees it -----------------------------------

#: A title that would run script if it were ever inserted as HTML.
NASTY_TITLE = '<img src=x onerror="window.pwned=1">Live & <b>well</b>'


@pytest.fixture(scope="module", params=["serve", "uvicorn+redis"])
def live_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The demo blog under the development server (one process, memory://)
    or uvicorn with 2 workers on a real redis-server; yields its base URL."""
    folder = tmp_path_factory.mktemp("live-browser")
    port = free_port()
    database = folder / "blog.sqlite"
    env = {"BLOG_DATABASE": str(database), "BLOG_SECRET_KEY": "live-browser"}
    if request.param == "serve":
        command = [sys.executable, "-m", "examples.blog.serve", "--port", str(port)]
    else:
        redis: RedisServer = request.getfixturevalue("redis_server")
        env["BLOG_BROADCAST_URL"] = redis.url
        env["BLOG_BROADCAST_PREFIX"] = "blog-live-browser:"
        app = create_app({"DATABASE": str(database), "SECRET_KEY": "seed"})
        with app.app_context():
            seed_demo()
        command = server_command("uvicorn", port)
    log = folder / "server.log"
    with running(command, port, log, env):
        yield f"http://127.0.0.1:{port}"
    assert "Traceback" not in log.read_text(), log.read_text()


@contextmanager
def new_page(browser: Browser, base: str) -> Iterator[Page]:
    """A page in a browser context of its own (own cookies), closed after,
    so its event stream is closed before the server stops."""
    context = browser.new_context(base_url=base)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_a_published_post_appears_on_an_open_index(
    browser: Browser, live_site: str
) -> None:
    with new_page(browser, live_site) as reader, new_page(browser, live_site) as writer:
        errors: list[str] = []
        reader.on("pageerror", lambda error: errors.append(str(error)))
        reader.goto("/")
        posts = reader.locator("#posts")
        expect(posts).to_have_attribute("data-live-state", "open")
        reader.evaluate("window.sameDocument = true")
        count = reader.locator("article.post-summary").count()

        writer.goto("/auth/login")
        writer.get_by_label("Username").fill("demo")
        writer.get_by_label("Password").fill("demo")
        writer.get_by_role("button", name="Log in").click()
        expect(writer.locator(".who")).to_have_text("Signed in as demo")
        writer.goto("/posts/new")
        writer.get_by_label("Title").fill(NASTY_TITLE)
        writer.get_by_label("Body").fill(
            "Pushed **live** <script>window.pwned=2</script>"
        )
        writer.get_by_role("button", name="Publish").click()
        expect(writer.locator("article.post h1")).to_have_text(NASTY_TITLE)

        first = reader.locator("article.post-summary").first
        expect(first.locator("h2 a")).to_have_text(NASTY_TITLE)
        expect(reader.locator("article.post-summary")).to_have_count(count + 1)
        expect(first.locator(".meta strong")).to_have_text("demo")
        expect(first.locator(".excerpt")).to_have_text(
            "Pushed live <script>window.pwned=2</script>"
        )
        post_url = writer.url.removeprefix(live_site)
        expect(first.locator("h2 a")).to_have_attribute("href", post_url)
        # Text, not HTML; and the same document: no reload happened.
        assert posts.locator("img, b, script").count() == 0
        assert reader.evaluate("window.pwned") is None
        assert reader.evaluate("window.sameDocument") is True
        assert errors == []

        first.locator("h2 a").click()
        expect(reader.locator("article.post h1")).to_have_text(NASTY_TITLE)


# -- WSGI servers with one thread per worker ------------------------------------------


def test_a_single_threaded_wsgi_server_gets_no_stream(client: ErlenClient) -> None:
    response = client.get(
        "/live/posts",
        environ_overrides={"SERVER_SOFTWARE": "gunicorn/23", "wsgi.multithread": False},
    )
    assert response.status_code == 204
    assert response.data == b""
    threaded = client.get(
        "/live/posts",
        buffered=False,
        environ_overrides={"SERVER_SOFTWARE": "gunicorn/23", "wsgi.multithread": True},
    )
    try:
        assert threaded.status_code == 200
        assert threaded.headers["Content-Type"].startswith("text/event-stream")
    finally:
        threaded.close()


def test_gunicorn_sync_workers_are_not_held_by_open_pages(tmp_path: Path) -> None:
    # Under gunicorn's default sync workers (2 here), more open pages than
    # workers: each stream request is answered 204, and the site still serves.
    _prepare_database(tmp_path / "blog.sqlite")
    port = free_port()
    env = {"BLOG_DATABASE": str(tmp_path / "blog.sqlite"), "BLOG_SECRET_KEY": "g"}
    log = tmp_path / "gunicorn.log"
    with running(server_command("gunicorn", port), port, log, env):
        for _ in range(4):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/live/posts")
            with urllib.request.urlopen(request, timeout=WAIT) as response:
                assert response.status == 204
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=WAIT) as page:
            assert page.status == 200
            assert b'data-live="/live/posts"' in page.read()


def test_a_page_that_lost_its_server_catches_up_when_it_is_back(
    browser: Browser, tmp_path: Path
) -> None:
    # The browser reconnects by itself (retry: 2000 ms), sending the id of the
    # last post it received as Last-Event-ID; a post saved while the server
    # was down then appears without a reload.
    database = tmp_path / "blog.sqlite"
    token = _prepare_database(database)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "examples.blog.serve", "--port", str(port)]
    env = {"BLOG_DATABASE": str(database), "BLOG_SECRET_KEY": "reconnect"}
    app = create_app({"DATABASE": str(database), "SECRET_KEY": "reconnect"})
    with new_page(browser, base) as reader:
        with running(command, port, tmp_path / "first.log", env):
            reader.goto("/")
            posts = reader.locator("#posts")
            expect(posts).to_have_attribute("data-live-state", "open")
            reader.evaluate("window.sameDocument = true")
            publisher = Publisher(port, token)
            publisher.publish("Seen live")
            publisher.close()
            first = reader.locator("article.post-summary h2 a").first
            expect(first).to_have_text("Seen live")
        expect(posts).to_have_attribute("data-live-state", "reconnecting")
        with app.app_context():
            models.create_post(1, "Saved while the server was down", "b")
        with running(command, port, tmp_path / "second.log", env):
            expect(first).to_have_text("Saved while the server was down")
            expect(reader.locator("article.post-summary")).to_have_count(3)
            expect(posts).to_have_attribute("data-live-state", "open")
            assert reader.evaluate("window.sameDocument") is True
