"""Time the ASGI scenarios in-process for one framework; prints JSON on stdout.

``python -m benchmarks.asgi_worker FRAMEWORK N SCENARIO...``

One event loop for the whole run: the lifespan startup is completed first
(when the app takes part in it), then each request is a direct ``await
app(scope, receive, send)`` with a copy of a prepared scope, a ``receive`` that
hands over the (empty) body and then waits, as a server's would, for a
disconnect that never comes, and a ``send`` that collects the messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import sys
import time
import typing as t

from .asgi_apps import FACTORIES

#: scenario -> path (all GET without a body).
ASGI_SCENARIOS = {"text": "/hello/world", "json": "/json", "async": "/async/world"}
Message = dict[str, t.Any]


def scope_for(path: str) -> dict[str, t.Any]:
    """The ``http`` scope a server would pass for ``GET path``."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }


async def call(
    app: t.Any, scope: dict[str, t.Any], state: dict[str, t.Any]
) -> list[Message]:
    """One request; returns the messages the app sent."""
    sent: list[Message] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.get_running_loop().create_future()  # until cancelled
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    await app({**scope, "state": dict(state)}, receive, send)
    return sent


def describe(messages: list[Message]) -> dict[str, t.Any]:
    """Status, content type and body of a response, comparable with WSGI's."""
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(
        m.get("body", b"") for m in messages if m["type"] == "http.response.body"
    )
    headers = {bytes(k).lower(): bytes(v) for k, v in start.get("headers", ())}
    ctype = headers.get(b"content-type")
    return {
        "status": int(start["status"]),
        "content_type": ctype.decode("latin-1") if ctype is not None else None,
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_len": len(body),
    }


class Lifespan:
    """Drives an app's ``lifespan`` scope: startup now, shutdown at the end."""

    def __init__(self, app: t.Any) -> None:
        self.app = app
        self.state: dict[str, t.Any] = {}
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.outbox: asyncio.Queue[Message] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self.inbox.get, self.outbox.put)
        except Exception as exc:  # an app without lifespan support may raise
            await self.outbox.put({"type": "unsupported", "message": repr(exc)})

    async def startup(self) -> str:
        self.task = asyncio.ensure_future(self._run())
        await self.inbox.put({"type": "lifespan.startup"})
        try:
            reply = await asyncio.wait_for(self.outbox.get(), 10)
        except asyncio.TimeoutError:
            return "no reply"
        if reply["type"] == "lifespan.startup.failed":
            raise RuntimeError(f"lifespan startup failed: {reply.get('message')}")
        return str(reply["type"])

    async def shutdown(self) -> None:
        if self.task is None or self.task.done():
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self.outbox.get(), 10)
        except asyncio.TimeoutError:
            self.task.cancel()


async def run(app: t.Any, n: int, scenarios: list[str]) -> dict[str, t.Any]:
    out: dict[str, t.Any] = {"available": True, "us": {}, "responses": {}}
    lifespan = Lifespan(app)
    out["lifespan"] = await lifespan.startup()
    for name in scenarios:
        scope = scope_for(ASGI_SCENARIOS[name])
        out["responses"][name] = describe(await call(app, scope, lifespan.state))
        for _ in range(min(n, 200)):
            await call(app, scope, lifespan.state)
        start = time.perf_counter()
        for _ in range(n):
            await call(app, scope, lifespan.state)
        out["us"][name] = (time.perf_counter() - start) / n * 1e6
    await lifespan.shutdown()
    return out


def main() -> None:
    framework, n = sys.argv[1], int(sys.argv[2])
    scenarios = sys.argv[3:]
    app = FACTORIES[framework]()
    if app is None:
        out: dict[str, t.Any] = {"available": False, "us": {}, "responses": {}}
    else:
        out = asyncio.run(run(app, n, scenarios))
    out["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
