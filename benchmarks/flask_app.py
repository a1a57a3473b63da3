"""The benchmark application, written once against the Flask API.

It runs on Flask, and on erlen when ``erlen.flask_patch`` was imported first.
"""

from __future__ import annotations

import asyncio
import os
import typing as t

from flask import Blueprint, Flask, render_template, request, session, url_for

HERE = os.path.dirname(os.path.abspath(__file__))


def create_app() -> Flask:
    app = Flask(__name__, template_folder=os.path.join(HERE, "templates"))
    app.secret_key = "benchmark secret"

    @app.route("/hello/<name>")
    def hello(name: str) -> str:
        return f"Hello {name}"

    @app.route("/sync/<name>")
    def sync_view(name: str) -> str:
        return f"Sync {name}"

    @app.route("/async/<name>")
    async def async_view(name: str) -> str:
        await asyncio.sleep(0)
        return f"Async {name}"

    @app.route("/json")
    def json_view() -> dict[str, t.Any]:
        return {f"field{i}": i * 3 for i in range(8)} | {"name": "erlen", "ok": True}

    rows = [
        {"id": i, "name": f"user {i}", "email": f"u{i}@example.com"} for i in range(20)
    ]

    @app.route("/page")
    def page() -> str:
        return render_template("page.html", rows=rows)

    @app.route("/session")
    def session_view() -> str:
        session["visits"] = session.get("visits", 0) + 1
        return str(session["visits"])

    @app.post("/form")
    def form() -> str:
        return f"{request.form['name']}:{request.form['email']}"

    for i in range(100):
        app.add_url_rule(f"/route{i}/<value>", f"route{i}", lambda value: value)

    @app.post("/upload")
    def upload() -> str:
        return str(len(request.files["file"].read()))

    def stream_body() -> t.Iterator[str]:
        chunk = "x" * 1024
        for _ in range(100):
            yield chunk

    @app.route("/stream")
    def stream() -> t.Any:
        return stream_body()

    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.route("/item/<int:item_id>")
    def item(item_id: int) -> str:
        return url_for(".item", item_id=item_id + 1)

    app.register_blueprint(bp)
    return app


def create_hooks_app() -> Flask:
    app = Flask("hooks")

    @app.before_request
    def before() -> None:
        request.environ["bench.seen"] = True

    @app.after_request
    def after(response: t.Any) -> t.Any:
        response.headers["X-Bench"] = "1"
        return response

    @app.route("/hooks")
    def hooks() -> str:
        return "hooked"

    return app
