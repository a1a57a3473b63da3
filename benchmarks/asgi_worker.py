"""Time the ASGI scenarios in-process for one framework; prints JSON on stdout.

``python -m benchmarks.asgi_worker FRAMEWORK N SCENARIO...``

The requests are those of :data:`benchmarks.scenarios.SCENARIOS`. Every peer
answers :data:`ASGI_SCENARIOS`; erlen also serves the real applications
(:data:`ERLEN_ASGI_SCENARIOS`) through their ``app.asgi_app``.

One event loop for the whole run: each app's lifespan startup is completed
first (when the app takes part in it), then each request is a direct ``await
app(scope, receive, send)`` with a copy of a prepared scope, a ``receive`` that
hands over the body and then waits, as a server's would, for a disconnect
that never comes, and a ``send`` that collects the messages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import resource
import sys
import time
import typing as t

from .asgi_apps import FACTORIES, UNSUPPORTED
from .scenarios import LOGGED_IN, REAL, SCENARIOS
from .worker import BATCHES, DIVISOR

#: Scenarios every ASGI framework answers, and those erlen answers.
ASGI_SCENARIOS = ("text", "json", "async", "sync")
ERLEN_ASGI_SCENARIOS = tuple(s for s in SCENARIOS if s in REAL) + ASGI_SCENARIOS
Message = dict[str, t.Any]


def scope_for(name: str, cookie: str | None = None) -> tuple[dict[str, t.Any], bytes]:
    """The ``http`` scope a server would pass for scenario ``name``, and the body."""
    _, method, path, body, ctype, _ = SCENARIOS[name]
    headers = [(b"host", b"localhost"), (b"user-agent", b"bench")]
    if body or method == "POST":
        headers.append((b"content-length", str(len(body)).encode()))
    if ctype:
        headers.append((b"content-type", ctype.encode()))
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }
    return scope, body


async def call(
    app: t.Any, scope: dict[str, t.Any], body: bytes, state: dict[str, t.Any]
) -> list[Message]:
    """One request; returns the messages the app sent."""
    sent: list[Message] = []
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
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


def erlen_targets(scenarios: list[str]) -> dict[str, tuple[t.Any, str | None]]:
    """Scenario -> (erlen's ASGI app, cookie), empty when erlen has no asgi_app."""
    from . import worker
    from .real_apps import session_cookie

    apps = worker.load("erlen")
    out: dict[str, tuple[t.Any, str | None]] = {}
    for name in scenarios:
        app_name = SCENARIOS[name][0]
        app, cookie = apps[app_name], None
        if name in REAL:
            app = app()  # a fresh app and database, as on the WSGI side
            if name in LOGGED_IN:
                cookie = session_cookie(app, app_name)
        asgi = getattr(app, "asgi_app", None)
        if asgi is None:
            return {}
        out[name] = (asgi, cookie)
    return out


async def run(targets: dict[str, tuple[t.Any, str | None]], n: int) -> dict[str, t.Any]:
    out: dict[str, t.Any] = {"available": True, "us": {}, "responses": {}}
    lifespans: dict[int, Lifespan] = {}
    for name, (app, cookie) in targets.items():
        key = id(getattr(app, "__self__", app))  # bound asgi_app: one per app
        if key not in lifespans:
            lifespans[key] = lifespan = Lifespan(app)
            out["lifespan"] = await lifespan.startup()
        state = lifespans[key].state
        scope, body = scope_for(name, cookie)
        out["responses"][name] = describe(await call(app, scope, body, state))
        count = max(20, n // DIVISOR.get(name, 1))
        for _ in range(min(count, 200)):
            await call(app, scope, body, state)
        best = float("inf")
        for _ in range(BATCHES):
            start = time.perf_counter()
            for _ in range(count // BATCHES):
                await call(app, scope, body, state)
            best = min(best, time.perf_counter() - start)
        out["us"][name] = best / (count // BATCHES) * 1e6
    for lifespan in lifespans.values():
        await lifespan.shutdown()
    return out


def main() -> None:
    framework, n = sys.argv[1], int(sys.argv[2])
    scenarios = sys.argv[3:]
    if framework == "erlen":
        targets = erlen_targets(scenarios)
    else:
        app = FACTORIES[framework]()
        skip = UNSUPPORTED.get(framework, ())
        targets = {
            s: (app, None) for s in scenarios if s in ASGI_SCENARIOS and s not in skip
        }
    if not targets:
        out: dict[str, t.Any] = {"available": False, "us": {}, "responses": {}}
    else:
        out = asyncio.run(run(targets, n))
    out["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
