"""async def views, hooks and handlers work as in Flask 3.1 (with asgiref)."""

from __future__ import annotations

import asyncio
import typing as t

import pytest
from werkzeug.exceptions import HTTPException

from erlen import Blueprint, Erlen, Response, g, request
from erlen.views import MethodView, View


@pytest.fixture
def app() -> Erlen:
    app = Erlen(__name__)
    app.testing = True
    return app


def test_async_view(app: Erlen) -> None:
    @app.route("/", methods=["GET", "POST"])
    async def index() -> str:
        await asyncio.sleep(0)
        return f"async {request.method} {request.args.get('a')}"

    c = app.test_client()
    assert c.get("/?a=1").data == b"async GET 1"
    assert c.post("/?a=2").data == b"async POST 2"


def test_async_view_return_types(app: Erlen) -> None:
    @app.route("/json")
    async def js() -> dict[str, int]:
        return {"a": 1}

    @app.route("/tuple")
    async def tup() -> tuple[str, int, dict[str, str]]:
        return "t", 201, {"X-A": "a"}

    @app.route("/none")
    async def none() -> None:
        return None

    c = app.test_client()
    assert c.get("/json").json == {"a": 1}
    rv = c.get("/tuple")
    assert (rv.status_code, rv.headers["X-A"]) == (201, "a")
    with pytest.raises(TypeError, match="The view function for 'none'"):
        c.get("/none")


def test_async_view_with_url_args(app: Erlen) -> None:
    @app.route("/u/<int:uid>")
    async def user(uid: int) -> str:
        return str(uid * 2)

    assert app.test_client().get("/u/21").data == b"42"


def test_async_view_exception_propagates(app: Erlen) -> None:
    @app.route("/")
    async def index() -> str:
        raise ValueError("async boom")

    with pytest.raises(ValueError, match="async boom"):
        app.test_client().get("/")


def test_async_hooks(app: Erlen) -> None:
    events: list[str] = []

    @app.before_request
    async def before() -> None:
        await asyncio.sleep(0)
        g.value = "from before"
        events.append("before")

    @app.after_request
    async def after(resp: Response) -> Response:
        events.append("after")
        resp.headers["X-Async"] = "yes"
        return resp

    @app.teardown_request
    async def teardown(exc: BaseException | None) -> None:
        events.append(f"teardown {exc}")

    @app.teardown_appcontext
    async def teardown_app(exc: BaseException | None) -> None:
        events.append("teardown_app")

    @app.route("/")
    async def index() -> str:
        events.append("view")
        return g.value

    rv = app.test_client().get("/")
    assert rv.data == b"from before"
    assert rv.headers["X-Async"] == "yes"
    assert events == ["before", "view", "after", "teardown None", "teardown_app"]


def test_async_before_request_short_circuit(app: Erlen) -> None:
    @app.before_request
    async def stop() -> t.Any:
        return "stopped", 403

    @app.route("/")
    async def index() -> str:
        return "view"

    rv = app.test_client().get("/")
    assert (rv.status_code, rv.data) == (403, b"stopped")


def test_async_error_handlers(app: Erlen) -> None:
    class MyError(Exception):
        pass

    @app.errorhandler(MyError)
    async def handle_mine(e: MyError) -> t.Any:
        await asyncio.sleep(0)
        return f"handled {e}", 400

    @app.errorhandler(404)
    async def handle_404(e: HTTPException) -> t.Any:
        return "async 404", 404

    @app.route("/")
    async def index() -> str:
        raise MyError("mine")

    c = app.test_client()
    rv = c.get("/")
    assert (rv.status_code, rv.data) == (400, b"handled mine")
    assert c.get("/missing").data == b"async 404"


def test_async_url_value_preprocessor_and_blueprint_hooks(app: Erlen) -> None:
    bp = Blueprint("bp", __name__, url_prefix="/bp")
    events: list[str] = []

    @bp.before_request
    async def bp_before() -> None:
        events.append("bp_before")

    @bp.after_request
    async def bp_after(resp: Response) -> Response:
        events.append("bp_after")
        return resp

    @bp.route("/")
    async def index() -> str:
        return "bp"

    app.register_blueprint(bp)
    assert app.test_client().get("/bp/").data == b"bp"
    assert events == ["bp_before", "bp_after"]


def test_async_method_view(app: Erlen) -> None:
    class Res(MethodView):
        async def get(self) -> str:
            await asyncio.sleep(0)
            return "async get"

        async def post(self) -> tuple[str, int]:
            return f"async post {request.get_json()['k']}", 201

    app.add_url_rule("/", view_func=Res.as_view("res"))
    c = app.test_client()
    assert c.get("/").data == b"async get"
    rv = c.post("/", json={"k": "v"})
    assert (rv.status_code, rv.data) == (201, b"async post v")
    assert c.head("/").status_code == 200


def test_async_view_class(app: Erlen) -> None:
    class Plain(View):
        async def dispatch_request(self) -> str:
            return "async view class"

    app.add_url_rule("/", view_func=Plain.as_view("plain"))
    assert app.test_client().get("/").data == b"async view class"


def test_ensure_sync_and_async_to_sync(app: Erlen) -> None:
    async def coro(x: int) -> int:
        return x + 1

    def plain(x: int) -> int:
        return x

    assert app.ensure_sync(plain) is plain
    assert app.ensure_sync(coro)(1) == 2
    assert app.async_to_sync(coro)(5) == 6


def test_async_view_request_context_available_after_await(app: Erlen) -> None:
    @app.route("/")
    async def index() -> str:
        await asyncio.sleep(0.001)
        g.x = request.path
        await asyncio.sleep(0)
        return g.x

    assert app.test_client().get("/").data == b"/"
