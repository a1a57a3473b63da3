"""The same plain-text, JSON and 404 scenarios on Falcon, Bottle and bare WSGI."""

from __future__ import annotations

import json
import typing as t

BODY_FIELDS = {f"field{i}": i * 3 for i in range(8)} | {"name": "erlen", "ok": True}


def bare_app(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
    path = environ["PATH_INFO"]
    if path.startswith("/hello/"):
        body = f"Hello {path[7:]}".encode()
        ctype = "text/html; charset=utf-8"
    elif path == "/json":
        body = (
            json.dumps(BODY_FIELDS, separators=(",", ":"), sort_keys=True) + "\n"
        ).encode()
        ctype = "application/json"
    else:
        start_response("404 NOT FOUND", [("Content-Type", "text/plain")])
        return [b"Not Found"]
    start_response(
        "200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))]
    )
    return [body]


def falcon_app() -> t.Any:
    import falcon

    class Hello:
        def on_get(self, req: t.Any, resp: t.Any, name: str) -> None:
            resp.content_type = "text/html; charset=utf-8"
            resp.text = f"Hello {name}"

    class Json:
        def on_get(self, req: t.Any, resp: t.Any) -> None:
            resp.media = BODY_FIELDS

    app = falcon.App()
    app.add_route("/hello/{name}", Hello())
    app.add_route("/json", Json())
    return app


def bottle_app() -> t.Any:
    import bottle

    app = bottle.Bottle()

    @app.route("/hello/<name>")
    def hello(name: str) -> str:
        return f"Hello {name}"

    @app.route("/json")
    def json_view() -> dict[str, t.Any]:
        return BODY_FIELDS

    return app
