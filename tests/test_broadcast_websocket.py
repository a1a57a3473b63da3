"""Websocket subscribers of a Redis broadcast while Redis goes away.

The app (``APP``, written to a module so that the in-process test client and
a real uvicorn server run the same code) follows docs/realtime.md's chat
pattern: ``/chat/<room>`` subscribes before accepting, relays what arrives
from a task and publishes what its client sends; ``POST /publish/<room>`` is
a plain view that publishes. Two more handlers show what an app does when
Redis is down at subscription time: ``/feed`` accepts first and turns
:exc:`~erlen.broadcast.BroadcastError` into close code 1013 (try again
later); ``/strict-feed`` accepts first and lets it propagate (1011).

What is shown, in process (``client.websocket``) and under uvicorn:

- ``redis-server`` killed mid-stream: the connected websocket stays open and
  answers its client; publishing meanwhile raises ``BroadcastError`` (the
  view answers 503, the handler tells its client), other requests are
  served; once Redis is back the websocket receives what is published after
  the restart, in order, and nothing published while it was down;
- after the connection ends, ``teardown_request`` and ``teardown_appcontext``
  ran once for it, without an exception, its subscription is gone from the
  broadcast, and no request or app context is left (in process: none alive
  at all; under uvicorn: nothing logged as an error);
- Redis down when a websocket subscribes: the handshake is refused with a
  500 (subscribing before accepting, the documented pattern), or the
  connection closes with the app's code (1013) or 1011; an unhandled error
  is logged once, and the client never gets a traceback or the broker's
  address.
"""

from __future__ import annotations

import importlib.util
import json
import time
import typing as t
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import websockets.sync.client
from test_asgi_reliability import live_contexts
from test_hardening import log_lines
from test_websocket_reliability import Server, uvicorn_server
from websockets.exceptions import ConnectionClosed, InvalidStatus

from erlen.testing import WebsocketResponseError
from erlen.websockets import WebsocketDisconnect

pytest_plugins = ["redis_fixture"]

if t.TYPE_CHECKING:
    from types import ModuleType

    from redis_fixture import RedisServer

    from erlen import Erlen

#: The bound of every wait for Redis to be back (reconnects back off up to 5 s).
BACK_WITHIN = 30.0

APP = '''
import asyncio
import collections
import os

from erlen import Erlen, current_app, g, request, websocket
from erlen.broadcast import Broadcast, BroadcastError
from erlen.globals import _cv_app, _cv_request

app = Erlen(__name__)
app.config.update(
    BROADCAST_URL=os.environ["TEST_BROADCAST_URL"],
    BROADCAST_TIMEOUT=0.5,
)
broadcast = Broadcast(app)
TEARDOWNS = collections.Counter()
APP_TEARDOWNS = collections.Counter()
ERRORS = []
HANDLERS = collections.Counter()


@app.before_request
@app.before_websocket
async def remember_path():
    g.path = request.path


@app.teardown_request
def count_teardown(exc):
    TEARDOWNS[request.path] += 1
    if exc is not None:
        ERRORS.append(f"{request.path}: {exc!r}")


@app.teardown_appcontext
def count_app_teardown(exc):
    # Each request and each websocket has an app context of its own.
    APP_TEARDOWNS[g.get("path")] += 1


def without_stats(counter):
    return {path: n for path, n in counter.items() if path != "/stats"}


@app.get("/stats")
def stats():
    backend = broadcast._backend
    return {
        "teardowns": without_stats(TEARDOWNS),
        "app_teardowns": without_stats(APP_TEARDOWNS),
        "errors": ERRORS,
        "handlers": HANDLERS,
        "channels": sorted(backend.channels) if backend else [],
    }


@app.get("/health")
def health():
    return "ok"


@app.post("/publish/<room>")
def publish(room):
    try:
        broadcast.publish(f"chat:{room}", request.get_json())
    except BroadcastError:
        return "not sent: the broker is unavailable", 503
    return "sent"


@app.websocket("/chat/<room>")
async def chat(room):
    """docs/realtime.md's chat: subscribe, accept, relay, receive."""
    HANDLERS["/chat running"] += 1
    try:
        async with broadcast.subscribe(f"chat:{room}") as sub:
            await websocket.accept()

            async def relay():
                async for message in sub:
                    await websocket.send_json(message)

            task = asyncio.create_task(relay())
            try:
                while True:
                    text = await websocket.receive()
                    if text == "ping":
                        await websocket.send("pong")
                        continue
                    try:
                        await broadcast.apublish(f"chat:{room}", {"text": text})
                    except BroadcastError:
                        await websocket.send_json({"error": "not sent"})
            finally:
                task.cancel()
    finally:
        HANDLERS["/chat running"] -= 1
        if _cv_request.get(None) is None or _cv_app.get(None) is None:
            HANDLERS["/chat without its context"] += 1


@app.websocket("/feed")
async def feed():
    await websocket.accept()
    try:
        async with broadcast.subscribe("feed") as sub:
            async for message in sub:
                await websocket.send_json(message)
    except BroadcastError:
        current_app.logger.warning("No live feed: the broker is unavailable.")
        await websocket.close(1013, "live updates unavailable, try again later")


@app.websocket("/strict-feed")
async def strict_feed():
    await websocket.accept()
    async with broadcast.subscribe("feed") as sub:
        async for message in sub:
            await websocket.send_json(message)
'''


def load_app(folder: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``APP`` imported in this process, broadcasting through ``url``."""
    path = folder / "broadcast_ws_app.py"
    path.write_text(APP)
    monkeypatch.setenv("TEST_BROADCAST_URL", url)
    spec = importlib.util.spec_from_file_location(f"broadcast_ws_app_{id(path)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def redis(redis_factory: t.Callable[[], RedisServer]) -> RedisServer:
    return redis_factory()


@pytest.fixture
def inprocess(
    tmp_path: Path, redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    module = load_app(tmp_path, redis.url, monkeypatch)
    try:
        yield module
    finally:
        module.broadcast.close()


def stats(module: ModuleType) -> dict[str, t.Any]:
    response = module.app.test_client().get("/stats")
    assert response.status_code == 200
    return response.get_json()  # type: ignore[no-any-return]


def until_redelivered(
    publish: t.Callable[[str], int], receive: t.Callable[[float], t.Any]
) -> t.Any:
    """Publish ``"after restart"`` until the subscriber gets it (Redis is
    back and the channel subscribed again); what was received."""
    deadline = time.monotonic() + BACK_WITHIN
    while True:
        assert time.monotonic() < deadline, "never subscribed again"
        if publish("after restart") == 200:
            try:
                return receive(0.3)
            except TimeoutError:
                pass
        else:
            time.sleep(0.1)


def received_in_order(receive: t.Callable[[float], t.Any], count: int) -> list[t.Any]:
    """The next ``count`` messages, after any ``"after restart"`` left over."""
    got: list[t.Any] = []
    while len(got) < count:
        message = receive(5)
        if got or message != {"text": "after restart"}:
            got.append(message)
    return got


# -- in process: the test client -------------------------------------------------


def test_a_websocket_subscriber_survives_a_redis_restart_in_process(
    inprocess: ModuleType, redis: RedisServer
) -> None:
    app: Erlen = inprocess.app
    client = app.test_client()
    before = live_contexts()

    def publish(text: str) -> int:
        return client.post("/publish/tea", json={"text": text}).status_code

    with client.websocket("/chat/tea") as ws:
        # Subscribed before accepting: what is published now arrives.
        assert publish("one") == 200
        assert ws.receive_json() == {"text": "one"}
        ws.send("from the client")
        assert ws.receive_json() == {"text": "from the client"}

        redis.kill()
        response = client.post("/publish/tea", json={"text": "lost"})
        assert response.status_code == 503
        assert response.text == "not sent: the broker is unavailable"
        ws.send("also lost")  # apublish fails inside the handler
        assert ws.receive_json() == {"error": "not sent"}
        # Redis is gone; the websocket and the app are not.
        ws.send("ping")
        assert ws.receive() == "pong"
        assert client.get("/health").text == "ok"

        redis.start()
        assert until_redelivered(publish, ws.receive_json) == {"text": "after restart"}
        for i in range(5):
            assert publish(str(i)) == 200
        assert received_in_order(ws.receive_json, 5) == [
            {"text": str(i)} for i in range(5)
        ]
        ws.send("ping")
        assert ws.receive() == "pong"

    after = stats(inprocess)
    assert after["teardowns"]["/chat/tea"] == 1
    assert after["errors"] == []
    assert after["handlers"] == {"/chat running": 0}
    assert after["channels"] == []  # the subscription went with the connection
    # The app context of each request and of the websocket torn down once.
    assert after["app_teardowns"] == after["teardowns"]
    assert live_contexts() == before


def test_redis_down_when_a_websocket_subscribes_in_process(
    inprocess: ModuleType, redis: RedisServer
) -> None:
    app: Erlen = inprocess.app
    client = app.test_client()
    redis.kill()
    before = live_contexts()
    with log_lines(app.logger) as log:
        # Subscribing before accepting: the handshake is refused with a 500.
        with pytest.raises(WebsocketResponseError) as refused:
            client.websocket("/chat/tea")
        response = refused.value.response
        assert response.status_code == 500
        assert b"Internal Server Error" in response.data
        for secret in (b"Traceback", b"Redis", b"127.0.0.1", b"BroadcastError"):
            assert secret not in response.data
        assert log.take() == ["ERROR Exception on /chat/tea [GET] | BroadcastError"]

        # Accepting first and closing with a code of the app's choosing.
        with client.websocket("/feed") as ws, pytest.raises(WebsocketDisconnect) as e:
            ws.receive()
        assert (e.value.code, e.value.reason) == (
            1013,
            "live updates unavailable, try again later",
        )
        assert log.take() == ["WARNING No live feed: the broker is unavailable."]

        # Accepting first and not handling it: 1011, no detail, logged once.
        with (
            client.websocket("/strict-feed") as ws,
            pytest.raises(WebsocketDisconnect) as e,
        ):
            ws.receive()
        assert (e.value.code, e.value.reason) == (1011, "")
        assert log.take() == ["ERROR Exception on /strict-feed [GET] | BroadcastError"]

    after = stats(inprocess)
    assert after["teardowns"] == {"/chat/tea": 1, "/feed": 1, "/strict-feed": 1}
    assert after["app_teardowns"] == after["teardowns"]
    # teardown_request saw the error where the app did not handle it.
    assert [e.partition(": the Redis")[0] for e in after["errors"]] == [
        "/chat/tea: BroadcastError(\"Could not subscribe to 'chat:tea'",
        "/strict-feed: BroadcastError(\"Could not subscribe to 'feed'",
    ]
    assert after["handlers"] == {"/chat running": 0}
    assert after["channels"] == []
    assert live_contexts() == before

    # Redis back: the same route works at once (the reader, backing off,
    # tries again for a new subscriber).
    redis.start()
    with client.websocket("/chat/tea") as ws:
        assert client.post("/publish/tea", json={"text": "back"}).status_code == 200
        assert ws.receive_json() == {"text": "back"}


# -- under uvicorn -------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path, redis: RedisServer) -> Iterator[Server]:
    """``APP`` under uvicorn; still serving when the test ends."""
    env = {"TEST_BROADCAST_URL": redis.url}
    with uvicorn_server(tmp_path, APP, "broadcast_ws_app", env=env) as server:
        yield server
        assert get(server, "/health") == (200, "ok")


def post(server: Server, path: str, body: t.Any) -> tuple[int, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def get(server: Server, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{server.port}{path}", timeout=10
    ) as response:
        return response.status, response.read().decode()


def test_a_websocket_subscriber_survives_a_redis_restart_under_uvicorn(
    served: Server, redis: RedisServer
) -> None:
    def publish(text: str) -> int:
        return post(served, "/publish/tea", {"text": text})[0]

    def receive(timeout: float) -> t.Any:
        return json.loads(ws.recv(timeout=timeout))

    with websockets.sync.client.connect(
        f"{served.url}/chat/tea", open_timeout=10, close_timeout=5
    ) as ws:
        assert publish("one") == 200
        assert receive(10) == {"text": "one"}

        redis.kill()
        assert post(served, "/publish/tea", {"text": "lost"}) == (
            503,
            "not sent: the broker is unavailable",
        )
        ws.send("also lost")
        assert receive(10) == {"error": "not sent"}
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong"
        assert get(served, "/health") == (200, "ok")

        redis.start()
        assert until_redelivered(publish, receive) == {"text": "after restart"}
        for i in range(5):
            assert publish(str(i)) == 200
        assert received_in_order(receive, 5) == [{"text": str(i)} for i in range(5)]
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong"

    after = served.wait_stats(lambda s: s["teardowns"].get("/chat/tea", 0) == 1)
    assert after["errors"] == []
    assert after["handlers"] == {"/chat running": 0}
    assert after["channels"] == []
    assert after["app_teardowns"] == after["teardowns"]
    log = served.log_since(0)
    assert "Lost the Redis pub/sub connection" in log, log
    for bad in ("Traceback", "ERROR", "Exception in ASGI application"):
        assert bad not in log, log


def test_redis_down_when_a_websocket_subscribes_under_uvicorn(
    served: Server, redis: RedisServer
) -> None:
    redis.kill()
    with pytest.raises(InvalidStatus) as refused:
        websockets.sync.client.connect(f"{served.url}/chat/tea", open_timeout=10)
    assert refused.value.response.status_code == 500
    body = refused.value.response.body or b""
    assert b"Internal Server Error" in body
    for secret in (b"Traceback", b"Redis", b"127.0.0.1", b"BroadcastError"):
        assert secret not in body

    closes = {}
    for path in ("/feed", "/strict-feed"):
        with (
            websockets.sync.client.connect(
                f"{served.url}{path}", open_timeout=10
            ) as ws,
            pytest.raises(ConnectionClosed) as closed,
        ):
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None
        closes[path] = (closed.value.rcvd.code, closed.value.rcvd.reason)
    assert closes == {
        "/feed": (1013, "live updates unavailable, try again later"),
        "/strict-feed": (1011, ""),
    }
    after = served.wait_stats(
        lambda s: s["teardowns"] == {"/chat/tea": 1, "/feed": 1, "/strict-feed": 1}
    )
    assert [e.partition(":")[0] for e in after["errors"]] == [
        "/chat/tea",
        "/strict-feed",
    ]
    assert after["app_teardowns"] == after["teardowns"]
    assert after["channels"] == []
    log = served.log_since(0)
    assert log.count("Exception on /chat/tea [GET]") == 1, log
    assert log.count("Exception on /strict-feed [GET]") == 1, log
    assert log.count("No live feed: the broker is unavailable.") == 1, log
    assert log.count("Traceback") == 2, log
    assert "Exception in ASGI application" not in log, log

    # The server goes on; with Redis back, subscribing works again.
    redis.start()
    with websockets.sync.client.connect(f"{served.url}/chat/tea") as ws:
        assert post(served, "/publish/tea", {"text": "back"}) == (200, "sent")
        assert json.loads(ws.recv(timeout=10)) == {"text": "back"}
    assert "Exception in ASGI application" not in served.log_since(0)
