"""Streaming a request body into an async view (erlen.uploads), under both
protocols and straight through app.asgi_app with the body in chunks."""

from __future__ import annotations

import asyncio
import typing as t

import pytest

from erlen import Erlen, body_chunks, request, streamed_body


def make_app() -> Erlen:
    app = Erlen(__name__)

    @app.post("/upload")
    @streamed_body
    async def upload() -> dict[str, t.Any]:
        if "limit" in request.args:
            request.max_content_length = int(request.args["limit"])
        sizes = [len(chunk) async for chunk in body_chunks()]
        return {"total": sum(sizes), "form": len(request.form)}

    @app.post("/buffered")
    async def buffered() -> dict[str, t.Any]:
        total = 0
        async for chunk in body_chunks():
            total += len(chunk)
        return {"total": total}

    return app


def test_streamed_view_reads_the_whole_body() -> None:
    app = make_app()
    rv = app.test_client().post("/upload", data=b"x" * 300_000)
    assert rv.status_code == 200
    assert rv.json == {"total": 300_000, "form": 0}


def test_unmarked_view_reads_the_received_body() -> None:
    rv = make_app().test_client().post("/buffered", data=b"y" * 70_000)
    assert rv.json == {"total": 70_000}


def test_limit_applies_while_streaming_and_can_be_raised_by_the_view() -> None:
    app = make_app()
    app.config["MAX_CONTENT_LENGTH"] = 1000
    client = app.test_client()
    assert client.post("/upload", data=b"x" * 2000).status_code == 413
    rv = client.post("/upload?limit=5000", data=b"x" * 2000)
    assert rv.json == {"total": 2000, "form": 0}


def test_sync_views_cannot_be_streamed() -> None:
    with pytest.raises(TypeError, match="async def"):

        @streamed_body
        def view() -> str:
            return ""


def test_outside_a_request_is_an_error() -> None:
    async def read() -> None:
        async for _ in body_chunks():
            pass

    with pytest.raises(RuntimeError, match="request context"):
        asyncio.run(read())


class Trickle:
    """An ASGI client sending the body in chunks, recording what it sent
    before the app answered."""

    def __init__(self, chunks: list[bytes], declared: int | None = None) -> None:
        self.chunks = list(chunks)
        self.declared = declared
        self.sent: list[dict[str, t.Any]] = []
        self.received_before_view: int | None = None

    def scope(self, path: str) -> dict[str, t.Any]:
        headers = [(b"host", b"localhost")]
        if self.declared is not None:
            headers.append((b"content-length", str(self.declared).encode()))
        return {
            "type": "http",
            "method": "POST",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "server": ("localhost", 80),
            "client": ("127.0.0.1", 5000),
            "scheme": "http",
            "root_path": "",
            "http_version": "1.1",
        }

    async def receive(self) -> dict[str, t.Any]:
        chunk = self.chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

    async def send(self, message: dict[str, t.Any]) -> None:
        self.sent.append(message)


def test_over_asgi_the_view_runs_before_the_body_is_received() -> None:
    app = Erlen(__name__)
    seen: list[tuple[int, int]] = []
    trickle = Trickle([b"a" * 10, b"b" * 20, b"c" * 30])

    @app.post("/upload")
    @streamed_body
    async def upload() -> str:
        async for chunk in body_chunks():
            # Each chunk arrives while later ones are still with the client.
            seen.append((len(chunk), len(trickle.chunks)))
        return "ok"

    asyncio.run(app.asgi_app(trickle.scope("/upload"), trickle.receive, trickle.send))
    assert trickle.sent[0]["status"] == 200
    assert seen == [(10, 2), (20, 1), (30, 0)]


def test_over_asgi_a_declared_length_over_the_limit_is_never_received() -> None:
    app = Erlen(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 10

    @app.post("/upload")
    @streamed_body
    async def upload() -> str:
        async for _ in body_chunks():
            pass
        return "read"

    trickle = Trickle([b"x" * 50], declared=50)
    asyncio.run(app.asgi_app(trickle.scope("/upload"), trickle.receive, trickle.send))
    assert trickle.sent[0]["status"] == 413
    assert trickle.chunks == [b"x" * 50]  # never asked for


def test_over_asgi_other_routes_still_receive_the_body_first() -> None:
    app = make_app()

    @app.post("/form")
    def form() -> str:
        return request.form["a"]

    trickle = Trickle([b"a=", b"hello"])
    trickle_scope = trickle.scope("/form")
    trickle_scope["headers"].append(
        (b"content-type", b"application/x-www-form-urlencoded")
    )
    asyncio.run(app.asgi_app(trickle_scope, trickle.receive, trickle.send))
    assert trickle.sent[0]["status"] == 200
    assert trickle.sent[1]["body"] == b"hello"
