"""Websocket routes and the websocket test client.

The test client drives ``app.asgi_app`` on its event loop whatever
``ERLEN_TEST_PROTOCOL`` says; the HTTP requests these tests also make follow
it. Two tests call ``app.asgi_app`` directly with hand-written ASGI messages
(the refusal with and without the ``websocket.http.response`` extension), and
one runs a real uvicorn server with the ``websockets`` client library.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

import pytest
import websockets.sync.client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from erlen import (
    Blueprint,
    Erlen,
    abort,
    current_app,
    g,
    request,
    session,
    url_for,
    websocket,
)
from erlen.testing import WebsocketResponseError
from erlen.websockets import WebsocketDisconnect, WebsocketRequired

Message = t.MutableMapping[str, t.Any]


@pytest.fixture
def app() -> Erlen:
    app = Erlen(__name__)
    app.secret_key = "websocket tests"
    return app


# -- frames ------------------------------------------------------------------


def test_text_and_binary_frames_echo(app: Erlen) -> None:
    @app.websocket("/echo")
    async def echo() -> None:
        while True:
            data = await websocket.receive()
            if isinstance(data, bytes):
                await websocket.send(b"bin:" + data)
            else:
                await websocket.send(f"text:{data}")

    with app.test_client().websocket("/echo") as ws:
        ws.send("héllo")
        assert ws.receive() == "text:héllo"
        ws.send(b"\x00\xff")
        reply = ws.receive()
        assert reply == b"bin:\x00\xff"
        assert isinstance(reply, bytes)


def test_json_helpers_use_the_apps_provider(app: Erlen) -> None:
    app.json.sort_keys = True  # type: ignore[attr-defined]

    @app.websocket("/json")
    async def json_echo() -> None:
        data = await websocket.receive_json()
        await websocket.send_json({"got": data, "b": 1, "a": 2})
        await websocket.send(await websocket.receive())

    with app.test_client().websocket("/json") as ws:
        ws.send_json({"x": [1, 2]})
        assert ws.receive() == '{"a": 2, "b": 1, "got": {"x": [1, 2]}}'
        ws.send_json([3])
        assert ws.receive_json() == [3]


def test_sending_other_types_is_a_type_error(app: Erlen) -> None:
    seen: list[str] = []

    @app.websocket("/bad")
    async def bad() -> None:
        try:
            await websocket.send(42)  # type: ignore[arg-type]
        except TypeError as e:
            seen.append(str(e))
        await websocket.send("still open")

    with app.test_client().websocket("/bad") as ws:
        assert ws.receive() == "still open"
    assert seen == [
        "A websocket sends str or bytes, not int; use send_json() for other values."
    ]


# -- accept, subprotocols, close codes ---------------------------------------


def test_subprotocol_negotiation_and_accept_headers(app: Erlen) -> None:
    @app.websocket("/proto")
    async def proto() -> None:
        offered = websocket.requested_subprotocols
        chosen = "v2.chat" if "v2.chat" in offered else None
        await websocket.accept(subprotocol=chosen, headers={"X-Room-Count": "3"})
        await websocket.send(",".join(offered))

    client = app.test_client()
    with client.websocket("/proto", subprotocols=["v1.chat", "v2.chat"]) as ws:
        assert ws.subprotocol == "v2.chat"
        assert ws.headers["X-Room-Count"] == "3"
        assert ws.receive() == "v1.chat,v2.chat"
    with client.websocket("/proto") as ws:
        assert ws.subprotocol is None
        assert ws.receive() == ""


def test_send_accepts_implicitly(app: Erlen) -> None:
    @app.websocket("/implicit")
    async def implicit() -> None:
        assert not websocket.accepted
        await websocket.send("first")
        assert websocket.accepted

    with app.test_client().websocket("/implicit") as ws:
        assert ws.subprotocol is None
        assert ws.receive() == "first"
        with pytest.raises(WebsocketDisconnect) as info:
            ws.receive()
        # The handler returned: a normal closure.
        assert info.value.code == 1000


def test_handler_closes_with_code_and_reason(app: Erlen) -> None:
    @app.websocket("/bye")
    async def bye() -> None:
        await websocket.send("going")
        await websocket.close(4001, "room closed")

    with app.test_client().websocket("/bye") as ws:
        assert ws.receive() == "going"
        with pytest.raises(WebsocketDisconnect) as info:
            ws.receive()
        assert (info.value.code, info.value.reason) == (4001, "room closed")
        # Still closed on the next call.
        with pytest.raises(WebsocketDisconnect) as info:
            ws.receive()
        assert info.value.code == 4001


def test_client_close_reaches_the_handler_and_teardown_runs(app: Erlen) -> None:
    events: list[t.Any] = []

    @app.websocket("/listen")
    async def listen() -> None:
        try:
            while True:
                events.append(await websocket.receive())
        except WebsocketDisconnect as e:
            events.append(("disconnect", e.code, e.reason))
            raise

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        events.append(("teardown", exc))

    with app.test_client().websocket("/listen") as ws:
        ws.send("a")
        ws.send("b")
        ws.close(4100, "leaving")
    assert events == ["a", "b", ("disconnect", 4100, "leaving"), ("teardown", None)]


def test_close_before_accept_refuses_with_403(app: Erlen) -> None:
    @app.websocket("/closed")
    async def closed() -> None:
        await websocket.close()

    with pytest.raises(WebsocketResponseError) as info:
        app.test_client().websocket("/closed")
    assert info.value.response.status_code == 403


# -- refused handshakes --------------------------------------------------------


def test_abort_before_accept_refuses_with_that_response(app: Erlen) -> None:
    @app.websocket("/private")
    async def private() -> None:
        if "token" not in websocket.args:
            abort(403, description="Show a token.")
        await websocket.send("welcome")

    client = app.test_client()
    with pytest.raises(WebsocketResponseError) as info:
        client.websocket("/private")
    response = info.value.response
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert b"Show a token." in response.data
    assert str(info.value) == "The websocket handshake was refused: 403 FORBIDDEN"
    with client.websocket("/private", query_string={"token": "t"}) as ws:
        assert ws.receive() == "welcome"


def test_unknown_path_is_refused_with_404_and_http_path_with_400(app: Erlen) -> None:
    @app.route("/page")
    def page() -> str:
        return "a page"

    client = app.test_client()
    with pytest.raises(WebsocketResponseError) as info:
        client.websocket("/nowhere")
    assert info.value.response.status_code == 404
    assert b"Not Found" in info.value.response.data
    with pytest.raises(WebsocketResponseError) as info:
        client.websocket("/page")
    assert info.value.response.status_code == 400


def test_error_handlers_shape_the_refusal(app: Erlen) -> None:
    bp = Blueprint("rooms", __name__, url_prefix="/rooms")

    @bp.websocket("/<name>")
    async def room(name: str) -> None:
        abort(404)

    @bp.errorhandler(404)
    def room_missing(e: Exception) -> tuple[dict[str, str], int]:
        return {"error": "no such room"}, 404

    app.register_blueprint(bp)
    with pytest.raises(WebsocketResponseError) as info:
        app.test_client().websocket("/rooms/kitchen")
    assert info.value.response.status_code == 404
    assert info.value.response.get_json() == {"error": "no such room"}


def test_handler_returning_before_accept_refuses_with_its_value(app: Erlen) -> None:
    @app.websocket("/later")
    async def later() -> tuple[str, int, dict[str, str]]:
        return "come back later", 503, {"Retry-After": "30"}

    with pytest.raises(WebsocketResponseError) as info:
        app.test_client().websocket("/later")
    response = info.value.response
    assert (response.status_code, response.data) == (503, b"come back later")
    assert response.headers["Retry-After"] == "30"


def _run_asgi(app: Erlen, scope: dict[str, t.Any]) -> list[Message]:
    """Call ``app.asgi_app`` with a hand-written connection: connect, then
    (if the app asks again) disconnect."""
    sent: list[Message] = []
    incoming = [{"type": "websocket.connect"}]

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        return {"type": "websocket.disconnect", "code": 1006}

    async def send(message: Message) -> None:
        sent.append(message)

    base: dict[str, t.Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"example.test")],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5555),
        "subprotocols": [],
    }
    asyncio.run(asyncio.wait_for(app.asgi_app({**base, **scope}, receive, send), 10))
    return sent


def test_refusal_without_the_http_response_extension_is_a_close(app: Erlen) -> None:
    @app.websocket("/guarded")
    async def guarded() -> None:
        abort(403)

    for path in ("/guarded", "/unknown"):
        sent = _run_asgi(app, {"path": path, "raw_path": path.encode()})
        # The server turns a close before accepting into 403 Forbidden.
        assert sent == [{"type": "websocket.close", "code": 1000}], path


def test_refusal_with_the_http_response_extension_sends_the_response(
    app: Erlen,
) -> None:
    @app.websocket("/guarded")
    async def guarded() -> None:
        abort(403, description="Members only.")

    sent = _run_asgi(
        app,
        {
            "path": "/guarded",
            "raw_path": b"/guarded",
            "extensions": {"websocket.http.response": {}},
        },
    )
    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert sent[0]["status"] == 403
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"] == b"text/html; charset=utf-8"
    body = sent[1]["body"]
    assert b"Members only." in body
    assert headers[b"content-length"] == str(len(body)).encode()


# -- the request context of a websocket --------------------------------------


def test_session_from_login_is_visible_to_the_handler(app: Erlen) -> None:
    @app.post("/login")
    def login() -> str:
        session["user"] = request.form["user"]
        return "logged in"

    @app.websocket("/whoami")
    async def whoami() -> None:
        user = session.get("user")
        if user is None:
            abort(401)
        await websocket.send(user)

    client = app.test_client()
    with pytest.raises(WebsocketResponseError) as info:
        client.websocket("/whoami")
    assert info.value.response.status_code == 401
    assert client.post("/login", data={"user": "ann"}).data == b"logged in"
    with client.websocket("/whoami") as ws:
        assert ws.receive() == "ann"


def test_request_g_current_app_and_handshake_details(app: Erlen) -> None:
    @app.websocket("/info/<room>")
    async def info(room: str) -> None:
        g.room = room
        await websocket.send_json(
            {
                "path": websocket.path,
                "args": websocket.args.to_dict(),
                "header": websocket.headers.get("X-Client"),
                "cookie": websocket.cookies.get("theme"),
                "scheme": websocket.scheme,
                "method": request.method,
                "request_path": request.path,
                "endpoint": request.endpoint,
                "view_args": request.view_args,
                "g": g.room,
                "app": current_app.name,
                "url": websocket.url,
            }
        )

    client = app.test_client()
    client.set_cookie("theme", "dark")
    with client.websocket("/info/kitchen?x=1", headers={"X-Client": "tests"}) as ws:
        assert ws.receive_json() == {
            "path": "/info/kitchen",
            "args": {"x": "1"},
            "header": "tests",
            "cookie": "dark",
            "scheme": "ws",
            "method": "GET",
            "request_path": "/info/kitchen",
            "endpoint": "info",
            "view_args": {"room": "kitchen"},
            "g": "kitchen",
            "app": app.name,
            "url": "ws://localhost/info/kitchen?x=1",
        }


def test_converters(app: Erlen) -> None:
    @app.websocket("/count/<int:start>")
    async def count(start: int) -> None:
        await websocket.send_json([start, start + 1])

    client = app.test_client()
    with client.websocket("/count/41") as ws:
        assert ws.receive_json() == [41, 42]
    with pytest.raises(WebsocketResponseError) as info:
        client.websocket("/count/forty")
    assert info.value.response.status_code == 404


def test_url_for_websocket_endpoints(app: Erlen) -> None:
    bp = Blueprint("chat", __name__, url_prefix="/chat")

    @bp.websocket("/<room>")
    async def room(room: str) -> None:
        await websocket.send_json(
            {
                "self": url_for(".room", room=room),
                "page": url_for("index"),
                "page_external": url_for("index", _external=True),
            }
        )

    @app.route("/")
    def index() -> str:
        return url_for("chat.room", room="a b")

    app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/").data == b"ws://localhost/chat/a%20b"
    assert client.get("/", base_url="https://example.test").data == (
        b"wss://example.test/chat/a%20b"
    )
    with app.test_request_context("/"):
        assert url_for("chat.room", room="x", _external=True) == (
            "ws://localhost/chat/x"
        )
    app.config["SERVER_NAME"] = "example.test"
    app.config["PREFERRED_URL_SCHEME"] = "https"
    with app.app_context():
        assert url_for("chat.room", room="x") == "wss://example.test/chat/x"
    with client.websocket("/chat/x") as ws:
        assert ws.receive_json() == {
            "self": "wss://example.test/chat/x",
            "page": "/",
            "page_external": "https://example.test/",
        }


def test_websocket_proxy_outside_a_connection(app: Erlen) -> None:
    with pytest.raises(RuntimeError, match="outside of a websocket connection"):
        websocket.path  # noqa: B018
    with (
        app.test_request_context("/"),
        pytest.raises(RuntimeError, match="outside of a websocket connection"),
    ):
        websocket.path  # noqa: B018


def test_sync_handler_is_refused_at_registration(app: Erlen) -> None:
    with pytest.raises(TypeError, match="'sync_handler' must be an 'async def'"):

        @app.websocket("/sync")
        def sync_handler() -> None:
            pass

    with pytest.raises(TypeError, match="no 'methods'"):
        app.add_websocket("/m", view_func=None, methods=["POST"])


# -- hooks and blueprints ----------------------------------------------------


def test_hooks_order_and_blueprint_scoping(app: Erlen) -> None:
    calls: list[str] = []
    api = Blueprint("api", __name__, url_prefix="/api")
    chat = Blueprint("chat", __name__, url_prefix="/chat")

    @app.before_request
    def app_before_request() -> None:
        calls.append("app before_request")

    @app.after_request
    def app_after_request(response: t.Any) -> t.Any:
        calls.append("app after_request")
        return response

    @app.before_websocket
    def app_before() -> None:
        calls.append("app before")

    @app.after_websocket
    async def app_after(response: t.Any) -> t.Any:
        calls.append(f"app after {response}")
        return response

    @api.before_websocket
    async def api_before() -> None:
        calls.append("api before")

    @api.after_websocket
    def api_after(response: t.Any) -> t.Any:
        calls.append("api after")
        return response

    @chat.before_websocket
    def chat_before() -> None:
        calls.append("chat before")

    @chat.after_websocket
    def chat_after(response: t.Any) -> t.Any:
        calls.append("chat after")
        return response

    @chat.before_app_websocket
    def every_websocket() -> None:
        calls.append("before_app_websocket")

    @chat.websocket("/<room>")
    async def room(room: str) -> None:
        calls.append(f"handler {request.endpoint} {room}")
        await websocket.send("hi")

    @app.websocket("/top")
    async def top() -> None:
        calls.append("top handler")
        await websocket.send("hi")

    @app.teardown_request
    def teardown(exc: BaseException | None) -> None:
        calls.append(f"teardown {exc}")

    api.register_blueprint(chat)
    app.register_blueprint(api)
    client = app.test_client()
    with client.websocket("/api/chat/lobby") as ws:
        assert ws.receive() == "hi"
    assert calls == [
        "app before",
        "before_app_websocket",
        "api before",
        "chat before",
        "handler api.chat.room lobby",
        "chat after",
        "api after",
        "app after None",
        "teardown None",
    ]
    calls.clear()
    with client.websocket("/top") as ws:
        assert ws.receive() == "hi"
    assert calls == [
        "app before",
        "before_app_websocket",
        "top handler",
        "app after None",
        "teardown None",
    ]


def test_before_websocket_can_refuse_and_after_websocket_sees_the_response(
    app: Erlen,
) -> None:
    seen: list[t.Any] = []

    @app.before_websocket
    def require_user() -> t.Any:
        if "user" not in session:
            session["refused"] = True
            return "log in first", 401
        return None

    @app.after_websocket
    def after(response: t.Any) -> t.Any:
        seen.append(None if response is None else response.status_code)
        if response is not None:
            response.headers["X-After"] = "yes"
        return response

    @app.websocket("/room")
    async def room() -> None:
        await websocket.send("in")

    client = app.test_client()
    with pytest.raises(WebsocketResponseError) as info:
        client.websocket("/room")
    response = info.value.response
    assert (response.status_code, response.data) == (401, b"log in first")
    assert response.headers["X-After"] == "yes"
    # The session is saved on the refusal, the only HTTP response there is.
    assert "session=" in response.headers["Set-Cookie"]
    with client.session_transaction() as sess:
        assert sess["refused"] is True
        sess["user"] = "ann"
    with client.websocket("/room") as ws:
        assert ws.receive() == "in"
    assert seen == [401, None]


def test_session_change_after_accept_is_logged_as_lost(
    app: Erlen, caplog: pytest.LogCaptureFixture
) -> None:
    @app.websocket("/change")
    async def change() -> None:
        await websocket.accept()
        session["x"] = 1

    with (
        caplog.at_level(logging.WARNING, logger=app.logger.name),
        app.test_client().websocket("/change") as ws,
        pytest.raises(WebsocketDisconnect),
    ):
        ws.receive()
    assert [r.getMessage() for r in caplog.records] == [
        "The session was modified during a websocket connection on /change;"
        " a websocket cannot set a cookie, so the change is lost."
    ]


# -- errors --------------------------------------------------------------------


def test_error_after_accept_closes_1011_and_is_logged_once(
    app: Erlen, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.websocket("/crash")
    async def crash() -> None:
        await websocket.send("before")
        await websocket.receive()
        raise ValueError("secret database password in this message")

    with caplog.at_level(logging.ERROR), app.test_client().websocket("/crash") as ws:
        assert ws.receive() == "before"
        ws.send("go")
        with pytest.raises(WebsocketDisconnect) as info:
            ws.receive()
    assert info.value.code == 1011
    assert info.value.reason == ""
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].name == app.logger.name
    assert errors[0].getMessage() == "Exception on /crash [GET]"
    assert errors[0].exc_info is not None
    assert "secret database password" in str(errors[0].exc_info[1])


def test_error_before_accept_is_a_500_refusal(
    app: Erlen, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.websocket("/broken")
    async def broken() -> None:
        raise KeyError("config")

    with caplog.at_level(logging.ERROR), pytest.raises(WebsocketResponseError) as info:
        app.test_client().websocket("/broken")
    assert info.value.response.status_code == 500
    assert b"Internal Server Error" in info.value.response.data
    assert b"config" not in info.value.response.data
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def test_error_handler_for_an_error_after_accept(app: Erlen) -> None:
    handled: list[str] = []

    @app.errorhandler(LookupError)
    def lookup(e: LookupError) -> tuple[str, int]:
        handled.append(repr(e))
        return "gone", 410

    @app.websocket("/lookup")
    async def lookup_ws() -> None:
        await websocket.accept()
        raise LookupError("room")

    with (
        app.test_client().websocket("/lookup") as ws,
        pytest.raises(WebsocketDisconnect) as info,
    ):
        ws.receive()
    # A 4xx response after accepting: policy violation.
    assert info.value.code == 1008
    assert handled == ["LookupError('room')"]


def test_error_propagates_to_the_test_in_testing_mode(app: Erlen) -> None:
    app.testing = True

    @app.websocket("/crash")
    async def crash() -> None:
        await websocket.accept()
        raise ValueError("boom")

    client = app.test_client()
    with pytest.raises(ValueError, match="boom"), client.websocket("/crash") as ws:
        ws.receive()
    with pytest.raises(ValueError, match="boom"), client.websocket("/crash"):
        pass


def test_waits_are_bounded(app: Erlen) -> None:
    release = threading.Event()

    @app.websocket("/silent")
    async def silent() -> None:
        await websocket.accept()
        while not release.is_set():
            await asyncio.sleep(0.01)

    @app.websocket("/never_accepts")
    async def never_accepts() -> None:
        while not release.is_set():
            await asyncio.sleep(0.01)

    client = app.test_client()
    try:
        with client.websocket("/silent", timeout=5) as ws:
            start = time.monotonic()
            with pytest.raises(TimeoutError, match=r"sent nothing for 0\.2 seconds"):
                ws.receive(timeout=0.2)
            assert time.monotonic() - start < 2
            release.set()
        release.clear()
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            client.websocket("/never_accepts", timeout=0.3)
        assert time.monotonic() - start < 3
    finally:
        release.set()


# -- websocket routes over WSGI --------------------------------------------------


def test_websocket_route_over_http_is_a_clear_400(app: Erlen) -> None:
    @app.websocket("/ws")
    async def ws() -> None:
        await websocket.send("never")

    client = app.test_client()
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket"}
    rv = client.get("/ws", headers=upgrade)
    assert rv.status_code == 400
    assert b"this request is not a websocket connection" in rv.data
    assert b"serve the application over ASGI (app.asgi_app" in rv.data
    # Without the upgrade headers Werkzeug refuses to match a websocket rule
    # (its WebsocketMismatch): the same clear 400, which handlers see.
    plain = client.get("/ws")
    assert plain.status_code == 400
    assert b"this request is not a websocket connection" in plain.data

    other = Erlen(__name__)
    other.websocket("/ws")(ws)

    @other.errorhandler(WebsocketRequired)
    def explain(e: WebsocketRequired) -> tuple[str, int]:
        return "websocket only", 400

    assert other.test_client().get("/ws").data == b"websocket only"


def test_blueprint_prefixes_and_nesting(app: Erlen) -> None:
    outer = Blueprint("outer", __name__, url_prefix="/v1")
    inner = Blueprint("inner", __name__, url_prefix="/live")

    @inner.websocket("/feed/<name>", endpoint="feed")
    async def feed_handler(name: str) -> None:
        await websocket.send(f"{request.endpoint}:{request.blueprint}:{name}")

    outer.register_blueprint(inner)
    app.register_blueprint(outer)
    app.register_blueprint(outer, name="again", url_prefix="/v2")
    rules = {r.rule: r for r in app.url_map.iter_rules() if r.websocket}
    assert sorted(rules) == ["/v1/live/feed/<name>", "/v2/live/feed/<name>"]
    assert rules["/v1/live/feed/<name>"].endpoint == "outer.inner.feed"
    client = app.test_client()
    with client.websocket("/v1/live/feed/x") as ws:
        assert ws.receive() == "outer.inner.feed:outer.inner:x"
    with client.websocket("/v2/live/feed/y") as ws:
        assert ws.receive() == "again.inner.feed:again.inner:y"


# -- a real server -------------------------------------------------------------

SERVER_APP = """
from erlen import Erlen, abort, websocket

app = Erlen(__name__)


@app.websocket("/echo/<room>")
async def echo(room):
    offered = websocket.requested_subprotocols
    await websocket.accept(subprotocol=offered[0] if offered else None)
    while True:
        message = await websocket.receive()
        if message == "close":
            await websocket.close(4002, "asked to")
            return
        if isinstance(message, str):
            message = f"{room}: {message}"
        await websocket.send(message)


@app.websocket("/private")
async def private():
    abort(403, description="Members only.")
"""


def test_real_uvicorn_server_with_the_websockets_client(tmp_path: Path) -> None:
    (tmp_path / "ws_server_app.py").write_text(SERVER_APP)
    uvicorn = Path(sys.executable).parent / "uvicorn"
    proc = subprocess.Popen(
        [
            str(uvicorn),
            "--host=127.0.0.1",
            "--port=0",
            "--lifespan=off",
            "ws_server_app:app.asgi_app",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    log: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                assert proc.poll() is None, "".join(log)
                continue
            log.append(line)
            if "Uvicorn running on http://127.0.0.1:" in line:
                port = int(line.split("127.0.0.1:")[1].split()[0])
        assert port is not None, "".join(log)
        url = f"ws://127.0.0.1:{port}"
        with websockets.sync.client.connect(
            f"{url}/echo/lobby",
            subprotocols=["chat"],
            open_timeout=10,  # type: ignore[list-item]
        ) as conn:
            assert conn.subprotocol == "chat"
            conn.send("hello")
            assert conn.recv(timeout=10) == "lobby: hello"
            conn.send(b"\x01\x02")
            assert conn.recv(timeout=10) == b"\x01\x02"
            conn.send("close")
            with pytest.raises(ConnectionClosed) as closed:
                conn.recv(timeout=10)
            assert closed.value.rcvd is not None
            assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
                4002,
                "asked to",
            )
        with pytest.raises(InvalidStatus) as refused:
            websockets.sync.client.connect(f"{url}/private", open_timeout=10)
        assert refused.value.response.status_code == 403
        assert b"Members only." in refused.value.response.body
        with pytest.raises(InvalidStatus) as refused:
            websockets.sync.client.connect(f"{url}/nowhere", open_timeout=10)
        assert refused.value.response.status_code == 404
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
