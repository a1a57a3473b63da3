"""The ASGI side: the Flask-API app through erlen's ``app.asgi_app``, and peers.

Every app answers the three ASGI scenarios: plain text with a path parameter
(``/hello/<name>``), a JSON object (``/json``) and an async view
(``/async/<name>``, which awaits ``asyncio.sleep(0)``). erlen serves
:mod:`benchmarks.flask_app` unchanged (its text and JSON views are plain
``def`` functions, as a Flask app's are); the peers are written the way each
framework's documentation writes an endpoint (``async def``).

Each factory imports its framework only when called, so one process loads one
framework.
"""

from __future__ import annotations

import asyncio
import json
import typing as t

from .other_apps import BODY_FIELDS

HTML = "text/html; charset=utf-8"


def erlen_app() -> t.Any:
    """erlen's ASGI callable for the Flask-API app, or ``None`` if it has none."""
    import erlen.flask_patch  # noqa: F401  (before the app imports flask)

    from .flask_app import create_app

    return getattr(create_app(), "asgi_app", None)


def starlette_app() -> t.Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    async def hello(request: Request) -> HTMLResponse:
        return HTMLResponse(f"Hello {request.path_params['name']}")

    async def json_view(request: Request) -> JSONResponse:
        return JSONResponse(BODY_FIELDS)

    async def async_view(request: Request) -> HTMLResponse:
        await asyncio.sleep(0)
        return HTMLResponse(f"Async {request.path_params['name']}")

    def sync_view(request: Request) -> HTMLResponse:
        return HTMLResponse(f"Sync {request.path_params['name']}")

    return Starlette(
        routes=[
            Route("/hello/{name}", hello),
            Route("/json", json_view),
            Route("/async/{name}", async_view),
            Route("/sync/{name}", sync_view),
        ]
    )


def fastapi_app() -> t.Any:
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    app = FastAPI()

    @app.get("/hello/{name}", response_class=HTMLResponse)
    async def hello(name: str) -> str:
        return f"Hello {name}"

    @app.get("/json")
    async def json_view() -> dict[str, t.Any]:
        return BODY_FIELDS

    @app.get("/async/{name}", response_class=HTMLResponse)
    async def async_view(name: str) -> str:
        await asyncio.sleep(0)
        return f"Async {name}"

    @app.get("/sync/{name}", response_class=HTMLResponse)
    def sync_view(name: str) -> str:
        return f"Sync {name}"

    return app


def quart_app() -> t.Any:
    from quart import Quart

    app = Quart("bench")

    @app.route("/hello/<name>")
    async def hello(name: str) -> str:
        return f"Hello {name}"

    @app.route("/json")
    async def json_view() -> dict[str, t.Any]:
        return BODY_FIELDS

    @app.route("/async/<name>")
    async def async_view(name: str) -> str:
        await asyncio.sleep(0)
        return f"Async {name}"

    @app.route("/sync/<name>")
    def sync_view(name: str) -> str:  # Quart runs it in a thread
        return f"Sync {name}"

    return app


def falcon_app() -> t.Any:
    import falcon.asgi

    class Hello:
        async def on_get(self, req: t.Any, resp: t.Any, name: str) -> None:
            resp.content_type = HTML
            resp.text = f"Hello {name}"

    class Json:
        async def on_get(self, req: t.Any, resp: t.Any) -> None:
            resp.media = BODY_FIELDS

    class Async:
        async def on_get(self, req: t.Any, resp: t.Any, name: str) -> None:
            await asyncio.sleep(0)
            resp.content_type = HTML
            resp.text = f"Async {name}"

    app = falcon.asgi.App()
    app.add_route("/hello/{name}", Hello())
    app.add_route("/json", Json())
    app.add_route("/async/{name}", Async())
    return app


_JSON_BODY = (
    json.dumps(BODY_FIELDS, separators=(",", ":"), sort_keys=True) + "\n"
).encode()


async def bare_app(scope: dict[str, t.Any], receive: t.Any, send: t.Any) -> None:
    """A hand-written ASGI callable: the floor."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    ctype = HTML.encode()
    if path.startswith("/hello/"):
        body = f"Hello {path[7:]}".encode()
    elif path.startswith("/async/"):
        await asyncio.sleep(0)
        body = f"Async {path[7:]}".encode()
    elif path.startswith("/sync/"):
        # The floor for a plain def endpoint: one call in a worker thread.
        name = path[6:]
        body = await asyncio.get_running_loop().run_in_executor(
            None, f"Sync {name}".encode
        )
    elif path == "/json":
        body, ctype = _JSON_BODY, b"application/json"
    else:
        body, ctype = b"Not Found", b"text/plain"
    await send(
        {
            "type": "http.response.start",
            "status": 404 if ctype == b"text/plain" else 200,
            "headers": [
                (b"content-type", ctype),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


#: Scenarios a framework can't express: Falcon's ASGI app takes only
#: ``async def`` responders.
UNSUPPORTED: dict[str, tuple[str, ...]] = {"falcon": ("sync",)}

FACTORIES: dict[str, t.Callable[[], t.Any]] = {
    "erlen": erlen_app,
    "starlette": starlette_app,
    "fastapi": fastapi_app,
    "quart": quart_app,
    "falcon": falcon_app,
    "bare": lambda: bare_app,
}
