"""Websocket echo and server-sent events apps for the realtime benchmark.

Each framework serves the same two endpoints, written the way its
documentation writes them:

- ``/echo``: a websocket that sends every message back as it came (text
  stays text), until the client closes.
- ``/sse``: a ``text/event-stream`` of ``data: {"n": <i>}`` events, as fast
  as the server takes them, until the client goes away (or 10 million
  events). erlen uses :func:`erlen.sse.sse_response` on an async generator of
  dicts (encoded by the app's JSON provider); Starlette a ``StreamingResponse``
  and Quart a streamed ``Response`` of an async generator of the same events,
  formatted with :func:`json.dumps`. erlen also serves ``/sse-no-ping``,
  the same stream with ``ping=None`` (no keep-alive timer per event). Every
  generator awaits ``asyncio.sleep(0)`` before each event, as a source
  waiting on a queue or a broadcast channel would (a generator that never
  awaits starves the other connections on the event loop).

uvicorn imports ``benchmarks.realtime_apps:<framework>_app``; each factory
imports its framework only when called, so one server loads one framework.
"""

from __future__ import annotations

import asyncio
import json
import typing as t

#: Events an SSE stream sends at most (the client leaves long before).
MAX_EVENTS = 10_000_000


def erlen_realtime() -> t.Any:
    from erlen import Erlen, websocket
    from erlen.sse import sse_response
    from erlen.websockets import WebsocketDisconnect

    app = Erlen("bench_realtime")

    @app.websocket("/echo")
    async def echo() -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send(await websocket.receive())
        except WebsocketDisconnect:
            pass

    async def events() -> t.AsyncIterator[dict[str, int]]:
        for n in range(MAX_EVENTS):
            await asyncio.sleep(0)
            yield {"n": n}

    @app.get("/sse")
    def sse() -> t.Any:
        return sse_response(events())

    @app.get("/sse-no-ping")
    def sse_no_ping() -> t.Any:
        return sse_response(events(), ping=None)

    return app.asgi_app


def starlette_realtime() -> t.Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await ws.send_text(message["text"])
                else:
                    await ws.send_bytes(message["bytes"])
        except WebSocketDisconnect:
            pass

    async def sse(request: Request) -> StreamingResponse:
        async def events() -> t.AsyncIterator[str]:
            for n in range(MAX_EVENTS):
                await asyncio.sleep(0)
                yield f"data: {json.dumps({'n': n})}\n\n"

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return Starlette(routes=[WebSocketRoute("/echo", echo), Route("/sse", sse)])


def quart_realtime() -> t.Any:
    from quart import Quart, Response, websocket

    app = Quart("bench_realtime")

    @app.websocket("/echo")
    async def echo() -> None:
        await websocket.accept()
        while True:
            await websocket.send(await websocket.receive())

    @app.route("/sse")
    async def sse() -> Response:
        async def events() -> t.AsyncIterator[bytes]:
            for n in range(MAX_EVENTS):
                await asyncio.sleep(0)
                yield f"data: {json.dumps({'n': n})}\n\n".encode()

        response = Response(
            events(),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
        response.timeout = None
        return response

    return app


FACTORIES: dict[str, t.Callable[[], t.Any]] = {
    "erlen": erlen_realtime,
    "starlette": starlette_realtime,
    "quart": quart_realtime,
}


def __getattr__(name: str) -> t.Any:
    framework = name.removesuffix("_app")
    if name.endswith("_app") and framework in FACTORIES:
        return FACTORIES[framework]()
    raise AttributeError(name)
