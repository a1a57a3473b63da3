"""``app.asgi_app`` called directly on a real event loop (``asyncio.run``
with hand-written ``receive``/``send``), and where it matters through a real
uvicorn: lifespan, where each piece of a request runs (loop thread or worker
thread), the request body, every response type (compared with what the WSGI
side gives for the same request), URLs, and WSGI middleware.

These tests call the ASGI side themselves, so they mean the same under either
``ERLEN_TEST_PROTOCOL``.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import json
import select
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

import pytest
from werkzeug.datastructures import Headers
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import EnvironBuilder, run_wsgi_app

import erlen.asgi
from erlen import (
    Erlen,
    Response,
    current_app,
    g,
    request,
    send_file,
    send_from_directory,
    stream_with_context,
    url_for,
)
from erlen.globals import _cv_app, _cv_request
from erlen.signals import request_finished, request_started
from examples.blog.tests._support import free_port, running

Message = dict[str, t.Any]
DISCONNECT = object()  # in a Conn's request chunks: the client goes away there


# -- a hand-written ASGI connection ----------------------------------------


class Conn:
    """One connection: ``receive`` hands out the request body chunks (then,
    once ``gone`` is set, ``http.disconnect``); ``send`` records messages.
    ``disconnect_after`` sets ``gone`` after that many response body chunks."""

    def __init__(
        self,
        chunks: t.Sequence[bytes | object] = (b"",),
        disconnect_after: int | None = None,
    ) -> None:
        self.chunks = list(chunks)
        self.sent: list[Message] = []
        self.receive_calls = 0
        self.disconnect_after = disconnect_after
        self.gone: asyncio.Event | None = None

    async def receive(self) -> Message:
        self.receive_calls += 1
        if self.gone is None:
            self.gone = asyncio.Event()
        if self.chunks:
            chunk = self.chunks.pop(0)
            if chunk is DISCONNECT:
                self.chunks.clear()
                self.gone.set()
                return {"type": "http.disconnect"}
            await asyncio.sleep(0)
            return {
                "type": "http.request",
                "body": chunk,
                "more_body": bool(self.chunks),
            }
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.gone is None:
            self.gone = asyncio.Event()
        if self.gone.is_set() and message["type"] == "http.response.body":
            raise OSError("the client is gone")
        self.sent.append(message)
        if (
            self.disconnect_after is not None
            and message["type"] == "http.response.body"
            and len(self.body_messages) >= self.disconnect_after
        ):
            self.gone.set()
            await asyncio.sleep(0)

    @property
    def body_messages(self) -> list[Message]:
        return [m for m in self.sent if m["type"] == "http.response.body"]

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> Headers:
        return Headers(
            [
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in self.sent[0]["headers"]
            ]
        )

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.body_messages)


def scope(
    path: str = "/",
    method: str = "GET",
    *,
    query: bytes = b"",
    headers: t.Sequence[tuple[str, str]] = (),
    root_path: str = "",
    scheme: str = "http",
    server: tuple[str, int] = ("localhost", 80),
    client: tuple[str, int] = ("127.0.0.1", 50000),
    host: str | None = None,
) -> Message:
    """The HTTP scope an ASGI server gives for a request."""
    if host is None:
        default = 443 if scheme == "https" else 80
        host = server[0] if server[1] == default else f"{server[0]}:{server[1]}"
    if any(name.lower() == "host" for name, _ in headers):
        host_header = []
    else:
        host_header = [(b"host", host.encode())]
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": root_path + path,
        "raw_path": (root_path + path).encode(),
        "root_path": root_path,
        "query_string": query,
        "headers": host_header + [(k.lower().encode(), v.encode()) for k, v in headers],
        "server": server,
        "client": client,
    }


def call(app: Erlen, request_scope: Message, conn: Conn | None = None) -> Conn:
    """Run one request through ``app.asgi_app`` in a fresh ``asyncio.run``."""
    conn = conn or Conn()

    async def main() -> None:
        await app.asgi_app(request_scope, conn.receive, conn.send)

    asyncio.run(main())
    return conn


def call_wsgi(app: Erlen, environ: dict[str, t.Any]) -> tuple[int, Headers, bytes]:
    body, status, headers = run_wsgi_app(app.wsgi_app, environ, buffered=True)
    return int(status[:3]), Headers(headers), b"".join(body)


def normalized(headers: Headers) -> list[tuple[str, str]]:
    """Header names lower-cased; a ``Date`` (send_file's, to the second) only
    needs to be there on both sides."""
    return sorted(
        (k.lower(), "<date>" if k.lower() == "date" else v) for k, v in headers.items()
    )


def both(
    app: Erlen,
    path: str = "/",
    method: str = "GET",
    *,
    query: str = "",
    headers: t.Sequence[tuple[str, str]] = (),
    body: bytes | None = None,
    root_path: str = "",
    scheme: str = "http",
    server: tuple[str, int] = ("localhost", 80),
    client: tuple[str, int] = ("127.0.0.1", 50000),
) -> tuple[int, Headers, bytes]:
    """Run one request over WSGI and over ASGI; assert the status, headers
    (names compared case-insensitively) and body are identical; return them."""
    default = 443 if scheme == "https" else 80
    port = "" if server[1] == default else f":{server[1]}"
    builder = EnvironBuilder(
        path=path,
        base_url=f"{scheme}://{server[0]}{port}{root_path}",
        method=method,
        query_string=query,
        headers=list(headers),
        data=body,
        environ_base={"REMOTE_ADDR": client[0], "REMOTE_PORT": str(client[1])},
    )
    environ = builder.get_environ()
    environ["SERVER_NAME"], environ["SERVER_PORT"] = server[0], str(server[1])
    wsgi_status, wsgi_headers, wsgi_body = call_wsgi(app, environ)
    extra = list(headers)
    if body is not None:
        extra.append(("Content-Length", str(len(body))))
    asgi = call(
        app,
        scope(
            path,
            method,
            query=query.encode(),
            headers=extra,
            root_path=root_path,
            scheme=scheme,
            server=server,
            client=client,
        ),
        Conn([body or b""]),
    )
    assert asgi.status == wsgi_status
    assert normalized(asgi.headers) == normalized(wsgi_headers)
    assert asgi.body == wsgi_body
    return wsgi_status, wsgi_headers, wsgi_body


def lifespan(app: Erlen, *events: str) -> list[Message]:
    """Send lifespan events (``startup``, ``shutdown``) and return the replies."""
    incoming: list[Message] = [{"type": f"lifespan.{e}"} for e in events]
    replies: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        replies.append(message)

    async def main() -> None:
        await app.asgi_app(
            {"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send
        )

    asyncio.run(main())
    return replies


# -- lifespan ---------------------------------------------------------------


def test_lifespan_runs_serving_functions_once_in_an_app_context() -> None:
    app = Erlen(__name__)
    app.config["NAME"] = "served"
    calls: list[tuple[str, str, bool]] = []

    @app.before_serving
    def sync_start() -> None:
        calls.append(("sync start", current_app.config["NAME"], _on_loop()))

    @app.before_serving
    async def async_start() -> None:
        await asyncio.sleep(0)
        calls.append(("async start", current_app.config["NAME"], _on_loop()))

    @app.after_serving
    async def async_stop() -> None:
        calls.append(("async stop", current_app.config["NAME"], _on_loop()))

    @app.after_serving
    def sync_stop() -> None:
        calls.append(("sync stop", current_app.config["NAME"], _on_loop()))

    replies = lifespan(app, "startup", "shutdown")
    assert replies == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]
    assert calls == [
        ("sync start", "served", False),
        ("async start", "served", True),
        ("async stop", "served", True),
        ("sync stop", "served", False),
    ]


_loop_thread: contextvars.ContextVar[int] = contextvars.ContextVar("loop_thread")


def _on_loop() -> bool:
    """Whether the caller runs on an event loop's thread (the loop is running)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_lifespan_without_serving_functions_completes() -> None:
    assert lifespan(Erlen(__name__), "startup", "shutdown") == [
        {"type": "lifespan.startup.complete"},
        {"type": "lifespan.shutdown.complete"},
    ]


def test_failing_startup_is_reported_with_the_error() -> None:
    app = Erlen(__name__)
    after: list[str] = []

    @app.before_serving
    def connect() -> None:
        raise ConnectionError("database at db.invalid unreachable")

    app.after_serving(lambda: after.append("ran"))
    replies = lifespan(app, "startup")
    assert len(replies) == 1
    assert replies[0]["type"] == "lifespan.startup.failed"
    assert "database at db.invalid unreachable" in replies[0]["message"]
    assert after == []


def test_failing_async_shutdown_is_reported() -> None:
    app = Erlen(__name__)

    @app.after_serving
    async def close() -> None:
        raise RuntimeError("pool would not close")

    replies = lifespan(app, "startup", "shutdown")
    assert replies[0] == {"type": "lifespan.startup.complete"}
    assert replies[1]["type"] == "lifespan.shutdown.failed"
    assert "pool would not close" in replies[1]["message"]


FAILING_APP = """
from erlen import Erlen

app = Erlen(__name__)


@app.before_serving
async def connect():
    raise ConnectionError("the database at db.invalid is unreachable")


@app.route("/")
def index():
    return "should never be served"
"""


def test_uvicorn_refuses_to_start_when_startup_fails(tmp_path: Path) -> None:
    (tmp_path / "failing_app.py").write_text(FAILING_APP)
    uvicorn = Path(sys.executable).parent / "uvicorn"
    result = subprocess.run(
        [
            str(uvicorn),
            "--lifespan=on",
            "--host=127.0.0.1",
            "--port=0",
            "failing_app:app.asgi_app",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode != 0, log
    assert "the database at db.invalid is unreachable" in log
    assert "Application startup failed" in log
    assert "Uvicorn running on" not in log


def test_websocket_is_refused() -> None:
    app = Erlen(__name__)
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app.asgi_app({"type": "websocket", "path": "/"}, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1000}]


# -- where the pieces of a request run --------------------------------------


def test_async_pieces_run_on_the_callers_loop_and_sync_ones_in_workers() -> None:
    app = Erlen(__name__)
    seen: dict[str, tuple[int, str, asyncio.AbstractEventLoop | None]] = {}

    def record(name: str) -> None:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        seen[name] = (threading.get_ident(), threading.current_thread().name, loop)

    @app.before_request
    async def async_before() -> None:
        record("async before_request")

    @app.before_request
    def sync_before() -> None:
        record("sync before_request")

    @app.after_request
    async def async_after(response: Response) -> Response:
        record("async after_request")
        return response

    @app.after_request
    def sync_after(response: Response) -> Response:
        record("sync after_request")
        return response

    @app.teardown_request
    async def async_teardown(exc: BaseException | None) -> None:
        record("async teardown")

    @app.teardown_request
    def sync_teardown(exc: BaseException | None) -> None:
        record("sync teardown")

    @app.errorhandler(KeyError)
    async def async_handler(e: KeyError) -> tuple[str, int]:
        record("async errorhandler")
        return "handled", 409

    @app.errorhandler(LookupError)
    def sync_handler(e: LookupError) -> tuple[str, int]:
        record("sync errorhandler")
        return "handled", 410

    @app.route("/async")
    async def async_view() -> str:
        record("async view")
        return "a"

    @app.route("/sync")
    def sync_view() -> str:
        record("sync view")
        return "s"

    @app.route("/async-fails")
    async def async_fails() -> str:
        raise KeyError("x")

    @app.route("/sync-fails")
    def sync_fails() -> str:
        raise IndexError("x")

    def receiver(sender: Erlen, **extra: t.Any) -> None:
        record("signal receiver")

    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())
        for path, status in [
            ("/async", 200),
            ("/sync", 200),
            ("/async-fails", 409),
            ("/sync-fails", 410),
        ]:
            conn = Conn()
            await app.asgi_app(scope(path), conn.receive, conn.send)
            assert conn.status == status, path

    with request_finished.connected_to(receiver, app):
        asyncio.run(main())
    # asyncio.run's loop runs on this thread.
    loop_thread = threading.get_ident()
    for name, (ident, thread_name, loop) in seen.items():
        if name.startswith("async"):
            assert (ident, loop) == (loop_thread, loops[0]), name
        else:
            assert ident != loop_thread, name
            assert thread_name.startswith("erlen-worker-"), (name, thread_name)
            assert loop is None, name
    assert len(seen) == 11  # 5 kinds of piece, sync and async, and a receiver


def test_async_view_uses_the_same_loop_on_every_call() -> None:
    app = Erlen(__name__)
    loops: list[asyncio.AbstractEventLoop] = []

    @app.route("/")
    async def index() -> str:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return "ok"

    async def main() -> asyncio.AbstractEventLoop:
        for _ in range(5):
            conn = Conn()
            await app.asgi_app(scope("/"), conn.receive, conn.send)
            assert conn.body == b"ok"
        return asyncio.get_running_loop()

    caller = asyncio.run(main())
    assert loops == [caller] * 5


def test_sync_view_calling_async_code_runs_it_on_the_servers_loop() -> None:
    # app.ensure_sync inside a worker thread sends the coroutine to the loop.
    app = Erlen(__name__)
    seen: list[asyncio.AbstractEventLoop] = []

    async def fetch() -> str:
        seen.append(asyncio.get_running_loop())
        return request.path

    @app.route("/mixed")
    def mixed() -> str:
        return "got " + app.ensure_sync(fetch)()

    caller: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        caller.append(asyncio.get_running_loop())
        conn = Conn()
        await app.asgi_app(scope("/mixed"), conn.receive, conn.send)
        assert conn.body == b"got /mixed"

    asyncio.run(main())
    assert seen == caller


def test_sync_pieces_of_one_request_share_a_thread_sqlite_on_g(tmp_path: Path) -> None:
    app = Erlen(__name__)
    database = tmp_path / "lane.sqlite"
    with sqlite3.connect(database) as setup:
        setup.execute("create table t (v text)")
        setup.execute("insert into t values ('stored')")
    setup.close()
    same_thread: list[tuple[str, bool]] = []

    @app.before_request
    def open_db() -> None:
        g.thread = threading.get_ident()
        g.db = sqlite3.connect(database)  # thread-affine: check_same_thread

    @app.before_request
    async def in_between() -> None:
        await asyncio.sleep(0)

    @app.route("/")
    def index() -> str:
        same_thread.append(("view", g.thread == threading.get_ident()))
        return str(g.db.execute("select v from t").fetchone()[0])

    @app.teardown_request
    def close_db(exc: BaseException | None) -> None:
        same_thread.append(("teardown", g.thread == threading.get_ident()))
        g.db.close()

    async def main() -> list[Conn]:
        conns = [Conn() for _ in range(6)]
        await asyncio.gather(
            *(app.asgi_app(scope("/"), c.receive, c.send) for c in conns)
        )
        return conns

    conns = asyncio.run(main())
    assert [c.body for c in conns] == [b"stored"] * 6
    assert sorted(same_thread) == [("teardown", True)] * 6 + [("view", True)] * 6


def test_worker_pool_is_bounded_and_extra_requests_wait() -> None:
    app = Erlen(__name__)
    app.config["ASGI_THREADS"] = 2
    lock = threading.Lock()
    running = [0]
    peak = [0]
    names: set[str] = set()
    pair = threading.Barrier(2, timeout=10)

    @app.route("/")
    def slow() -> str:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            names.add(threading.current_thread().name)
        try:
            pair.wait()  # two requests do run at the same time
            time.sleep(0.02)
        finally:
            with lock:
                running[0] -= 1
        return "done"

    async def main() -> list[Conn]:
        conns = [Conn() for _ in range(8)]
        await asyncio.wait_for(
            asyncio.gather(
                *(app.asgi_app(scope("/"), c.receive, c.send) for c in conns)
            ),
            timeout=30,
        )
        return conns

    conns = asyncio.run(main())
    assert [(c.status, c.body) for c in conns] == [(200, b"done")] * 8
    assert peak[0] == 2
    assert len(names) == 2
    assert all(name.startswith("erlen-worker-") for name in names)


def test_context_variables_cross_between_sync_and_async_pieces() -> None:
    app = Erlen(__name__)
    from_sync: contextvars.ContextVar[str] = contextvars.ContextVar("from_sync")
    from_async: contextvars.ContextVar[str] = contextvars.ContextVar("from_async")
    seen: list[str] = []

    @app.before_request
    def sync_before() -> None:
        from_sync.set(f"sync saw {request.path}")

    @app.before_request
    async def async_before() -> None:
        from_async.set(f"async saw {request.path}")

    @app.route("/async")
    async def async_view() -> str:
        return from_sync.get() + " / " + from_async.get()

    @app.route("/sync")
    def sync_view() -> str:
        from_sync.set("changed by the sync view")
        return from_async.get()

    @app.teardown_request
    async def teardown(exc: BaseException | None) -> None:
        seen.append(from_sync.get())

    assert call(app, scope("/async")).body == b"sync saw /async / async saw /async"
    assert call(app, scope("/sync")).body == b"async saw /sync"
    assert seen == ["sync saw /async", "changed by the sync view"]
    assert from_sync.get(None) is None


def test_contexts_are_popped_after_every_request() -> None:
    app = Erlen(__name__)
    app.config["ASGI_THREADS"] = 1
    torn: list[str] = []
    leaked: list[object] = []

    @app.route("/set")
    def set_g() -> str:
        leaked.append(getattr(g, "mark", None))
        g.mark = "from the first request"
        return "set"

    @app.route("/async")
    async def async_view() -> str:
        leaked.append(getattr(g, "mark", None))
        g.mark = "from an async request"
        return "async"

    @app.route("/fails")
    def fails() -> str:
        raise RuntimeError("boom")

    app.teardown_request(lambda exc: torn.append(f"request {type(exc).__name__}"))
    app.teardown_appcontext(lambda exc: torn.append(f"app {type(exc).__name__}"))

    async def main() -> None:
        for path in ["/set", "/set", "/async", "/fails", "/set"]:
            conn = Conn()
            await app.asgi_app(scope(path), conn.receive, conn.send)
            assert _cv_request.get(None) is None and _cv_app.get(None) is None

    asyncio.run(main())
    assert leaked == [None, None, None, None]
    assert torn == [
        "request NoneType",
        "app NoneType",
    ] * 3 + [
        "request RuntimeError",
        "app RuntimeError",
        "request NoneType",
        "app NoneType",
    ]
    assert _cv_request.get(None) is None and _cv_app.get(None) is None

    # Nothing is left on the worker thread either: a plain job there sees no context.
    def contexts_in_worker() -> tuple[object, object]:
        return _cv_request.get(None), _cv_app.get(None)

    async def probe() -> tuple[object, object]:
        lane = erlen.asgi.Lane(app)
        try:
            return await lane.run(contexts_in_worker)
        finally:
            lane.release()

    assert asyncio.run(probe()) == (None, None)


# -- the request body -------------------------------------------------------


def body_app() -> Erlen:
    app = Erlen(__name__)

    def describe() -> dict[str, t.Any]:
        return {
            "data": len(request.get_data()),
            "form": request.form.to_dict(),
            "files": {
                name: [f.filename, f.read().decode()]
                for name, f in request.files.items()
            },
            "json": request.get_json(silent=True),
        }

    @app.post("/sync")
    def sync_body() -> dict[str, t.Any]:
        return describe()

    @app.post("/async")
    async def async_body() -> dict[str, t.Any]:
        await asyncio.sleep(0)
        return describe()

    @app.post("/digest")
    def digest() -> dict[str, t.Any]:
        import hashlib

        stream_type = type(request.environ["wsgi.input"]).__name__
        data = request.get_data()
        return {
            "size": len(data),
            "sha": hashlib.sha256(data).hexdigest(),
            "input": stream_type,
        }

    return app


def multipart(
    fields: dict[str, str], files: dict[str, tuple[str, bytes]]
) -> tuple[bytes, str]:
    builder = EnvironBuilder(
        method="POST",
        data={
            **fields,
            **{
                name: (io.BytesIO(data), filename)
                for name, (filename, data) in files.items()
            },
        },
    )
    environ = builder.get_environ()
    return environ["wsgi.input"].read(), environ["CONTENT_TYPE"]


@pytest.mark.parametrize("view", ["/sync", "/async"])
def test_form_files_json_and_data_in_sync_and_async_views(view: str) -> None:
    app = body_app()
    raw, content_type = multipart(
        {"title": "hello"}, {"upload": ("a.txt", b"file body")}
    )
    _, _, body = both(
        app, view, "POST", headers=[("Content-Type", content_type)], body=raw
    )
    assert json.loads(body) == {
        "data": len(raw),  # read before the form: the form is parsed from it
        "form": {"title": "hello"},
        "files": {"upload": ["a.txt", "file body"]},
        "json": None,
    }
    _, _, body = both(
        app,
        view,
        "POST",
        headers=[("Content-Type", "application/json")],
        body=b'{"a": [1, 2]}',
    )
    assert json.loads(body)["json"] == {"a": [1, 2]}
    assert json.loads(body)["data"] == 13
    _, _, body = both(
        app,
        view,
        "POST",
        headers=[("Content-Type", "application/x-www-form-urlencoded")],
        body=b"a=1&b=%C3%A9",
    )
    assert json.loads(body)["form"] == {"a": "1", "b": "é"}


def test_body_in_many_chunks_is_read_whole() -> None:
    app = body_app()
    payload = bytes(range(256)) * 40
    chunks = [payload[i : i + 100] for i in range(0, len(payload), 100)]
    conn = call(
        app,
        scope("/digest", "POST", headers=[("Content-Length", str(len(payload)))]),
        Conn(chunks),
    )
    import hashlib

    assert json.loads(conn.body)["sha"] == hashlib.sha256(payload).hexdigest()
    assert json.loads(conn.body)["input"] == "BytesIO"


def test_large_body_is_spooled_to_a_temporary_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import hashlib

    monkeypatch.setattr(erlen.asgi, "SPOOL_SIZE", 64 * 1024)
    app = body_app()
    payload = (b"0123456789abcdef" * 4096) * 5  # 320 KiB, five times the spool size
    chunks = [payload[i : i + 16384] for i in range(0, len(payload), 16384)]
    conn = call(app, scope("/digest", "POST"), Conn(chunks))  # chunked: no length
    got = json.loads(conn.body)
    assert got["size"] == len(payload)
    assert got["sha"] == hashlib.sha256(payload).hexdigest()
    assert got["input"] == "SpooledTemporaryFile"
    # Below the spool size the body stays in memory.
    small = call(app, scope("/digest", "POST"), Conn([b"x" * 1000]))
    assert json.loads(small.body)["input"] == "BytesIO"


def test_spooled_body_is_on_disk_not_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(erlen.asgi, "SPOOL_SIZE", 64 * 1024)
    app = Erlen(__name__)
    seen: dict[str, t.Any] = {}

    @app.post("/")
    def upload() -> str:
        stream = request.environ["wsgi.input"]
        seen["rolled"] = getattr(stream, "_rolled", None)
        seen["on_disk"] = hasattr(stream._file, "fileno") and not isinstance(
            stream._file, io.BytesIO
        )
        return str(len(request.stream.read()))

    chunks = [b"z" * 32768] * 10
    conn = call(
        app, scope("/", "POST", headers=[("Content-Length", "327680")]), Conn(chunks)
    )
    assert conn.body == b"327680"
    assert seen == {"rolled": True, "on_disk": True}


def test_declared_length_over_the_limit_is_413_without_receiving() -> None:
    app = body_app()
    app.config["MAX_CONTENT_LENGTH"] = 100
    conn = Conn([b"x" * 1000])
    call(
        app,
        scope(
            "/sync",
            "POST",
            headers=[
                ("Content-Length", "1000"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
        ),
        conn,
    )
    assert conn.status == 413
    assert conn.receive_calls == 0


def test_chunked_body_over_the_limit_stops_one_byte_past_it() -> None:
    app = Erlen(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 100

    @app.post("/")
    def upload() -> str:
        return str(len(request.get_data()))

    conn = Conn([b"x" * 10 for _ in range(50)])  # 500 bytes in 10-byte chunks
    call(app, scope("/", "POST"), conn)
    assert conn.status == 413
    # 11 chunks received (110 bytes: the first chunk past 100), the rest never.
    assert conn.receive_calls == 11
    assert len(conn.chunks) == 39
    # Exactly at the limit is fine.
    ok = call(app, scope("/", "POST"), Conn([b"x" * 50, b"x" * 50]))
    assert (ok.status, ok.body) == (200, b"100")


@pytest.mark.parametrize("declared", ["-1", "+5", " 5", "5_0", "abc"])
def test_a_malformed_length_is_an_unknown_one_under_the_limit(declared: str) -> None:
    # Servers refuse such headers; should one pass it on, receiving stops one
    # byte past the limit, as for a chunked body, instead of taking all the
    # client sends, and the view sees at most the limit.
    app = Erlen(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 100

    @app.post("/")
    def upload() -> str:
        return f"{request.content_length} {len(request.get_data())}"

    conn = Conn([b"x" * 10 for _ in range(50)])
    call(app, scope("/", "POST", headers=[("Content-Length", declared)]), conn)
    assert conn.status == 200
    assert int(conn.body.split()[1]) <= 100
    assert conn.receive_calls == 11


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("read", ["get_data", "form", "stream"])
def test_a_view_raising_its_limit_gets_413_not_a_body_cut_short(
    declared: bool, read: str
) -> None:
    # Over ASGI the app-wide MAX_CONTENT_LENGTH applies while receiving, before
    # the view runs: a view raising request.max_content_length past it gets a
    # 413 (over WSGI the body is still unread and it is served).
    app = Erlen(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 100
    got: list[int] = []

    @app.post("/upload")
    def upload() -> str:
        request.max_content_length = 10_000
        if read == "get_data":
            got.append(len(request.get_data()))
        elif read == "form":
            got.append(len(request.form["a"]))
        else:
            got.append(len(request.stream.read()))
        return str(got[-1])

    body = b"a=" + b"x" * 998
    headers = [("Content-Type", "application/x-www-form-urlencoded")]
    if declared:
        headers.append(("Content-Length", "1000"))
    conn = call(
        app, scope("/upload", "POST", headers=headers), Conn([body[:500], body[500:]])
    )
    assert conn.status == 413
    assert got == []
    environ = EnvironBuilder(
        "/upload", method="POST", data=body, headers=headers[:1]
    ).get_environ()
    assert call_wsgi(app, environ)[0] == 200


def test_disconnect_mid_body_runs_no_view_and_leaks_nothing() -> None:
    app = Erlen(__name__)
    ran: list[str] = []
    app.before_request(lambda: ran.append("before_request"))
    app.teardown_request(lambda exc: ran.append("teardown"))

    @app.post("/")
    def upload() -> str:
        ran.append("view")
        return "x"

    async def main() -> Conn:
        conn = Conn([b"part one", DISCONNECT])
        await app.asgi_app(
            scope("/", "POST", headers=[("Content-Length", "1000")]),
            conn.receive,
            conn.send,
        )
        assert _cv_request.get(None) is None and _cv_app.get(None) is None
        return conn

    conn = asyncio.run(main())
    assert ran == []
    # The client is gone; if anything at all was sent it is a 400.
    assert all(
        m["type"] != "http.response.start" or m["status"] == 400 for m in conn.sent
    )


def test_body_cut_short_gets_a_400_for_a_client_still_listening() -> None:
    app = Erlen(__name__)
    sent: list[Message] = []
    incoming = [
        {"type": "http.request", "body": b"abc", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app.asgi_app(scope("/", "POST"), receive, send))
    assert sent[0]["status"] == 400
    assert b"incomplete" in sent[1]["body"]


# -- responses: identical to the WSGI side ----------------------------------


class WSGIHello:
    """A WSGI application returned by a view."""

    def __call__(
        self, environ: dict[str, t.Any], start_response: t.Callable[..., t.Any]
    ) -> list[bytes]:
        start_response("202 Accepted", [("Content-Type", "text/x-wsgi"), ("X-W", "1")])
        return [b"from ", b"a WSGI app"]


def response_app(static: Path) -> Erlen:
    app = Erlen(__name__)

    @app.route("/str")
    def a_str() -> str:
        return "héllo"

    @app.route("/bytes")
    def a_bytes() -> bytes:
        return b"\x00\x01raw"

    @app.route("/dict")
    def a_dict() -> dict[str, t.Any]:
        return {"b": 1, "a": [1, "two"]}

    @app.route("/list")
    def a_list() -> list[t.Any]:
        return [1, {"x": None}]

    @app.route("/tuple-status")
    def tuple_status() -> tuple[str, int]:
        return "created", 201

    @app.route("/tuple-headers")
    def tuple_headers() -> tuple[str, dict[str, str]]:
        return "with headers", {"X-Extra": "yes"}

    @app.route("/tuple-all")
    def tuple_all() -> tuple[dict[str, str], int, list[tuple[str, str]]]:
        return {"k": "v"}, 418, [("X-Teapot", "short"), ("Set-Cookie", "a=b")]

    @app.route("/response")
    def a_response() -> Response:
        response = Response("custom", status=299, mimetype="text/x-custom")
        response.set_cookie("flavour", "oat")
        response.headers["X-Multi"] = "1"
        response.headers.add("X-Multi", "2")
        return response

    @app.route("/generator")
    def a_generator() -> t.Any:
        def gen() -> t.Iterator[str | bytes]:
            yield "one "
            yield b"two "
            yield ""
            yield "three"

        return gen()

    @app.route("/with-context")
    def with_context() -> t.Any:
        @stream_with_context
        def gen() -> t.Iterator[str]:
            yield "path="
            yield request.path
            yield " arg=" + request.args.get("q", "")

        return gen()

    @app.route("/streamed-response")
    def streamed_response() -> Response:
        return Response((c for c in ["a", "b", "c"]), mimetype="text/plain")

    @app.route("/file")
    def a_file() -> Response:
        return send_file(static / "data.txt")

    @app.route("/static-dir/<path:name>")
    def from_dir(name: str) -> Response:
        return send_from_directory(static, name)

    @app.route("/wsgi-callable")
    def a_wsgi_callable() -> t.Any:
        return WSGIHello()

    @app.route("/redirect")
    def a_redirect() -> Response:
        return app.redirect(url_for("a_str"))

    @app.route("/error")
    def an_error() -> str:
        raise RuntimeError("boom")

    @app.route("/async-dict")
    async def async_dict() -> dict[str, int]:
        return {"async": 1}

    @app.route("/post-only", methods=["POST"])
    def post_only() -> str:
        return "posted"

    return app


@pytest.fixture
def static(tmp_path: Path) -> Path:
    (tmp_path / "data.txt").write_bytes(b"0123456789" * 100)
    (tmp_path / "page.html").write_text("<p>static</p>")
    return tmp_path


RESPONSE_PATHS = [
    "/str",
    "/bytes",
    "/dict",
    "/list",
    "/tuple-status",
    "/tuple-headers",
    "/tuple-all",
    "/response",
    "/generator",
    "/with-context",
    "/streamed-response",
    "/file",
    "/static-dir/page.html",
    "/static-dir/missing.html",
    "/static-dir/../data.txt",
    "/wsgi-callable",
    "/redirect",
    "/error",
    "/async-dict",
    "/post-only",
    "/nowhere",
]


@pytest.mark.parametrize("path", RESPONSE_PATHS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_every_return_type_is_identical_over_both_protocols(
    static: Path, path: str, method: str
) -> None:
    app = response_app(static)
    status, headers, body = both(app, path, method, query="q=z")
    if method == "HEAD":
        assert body == b""
        get_status, get_headers, get_body = both(app, path, query="q=z")
        assert status == get_status
        assert normalized(headers) == normalized(get_headers)
        assert get_body or get_status in (302, 404, 405)


def test_return_types_bodies(static: Path) -> None:
    app = response_app(static)
    expected = {
        "/str": (200, "héllo".encode()),
        "/dict": (200, b'{"a":[1,"two"],"b":1}\n'),
        "/tuple-all": (418, b'{"k":"v"}\n'),
        "/generator": (200, b"one two three"),
        "/with-context": (200, b"path=/with-context arg=z"),
        "/wsgi-callable": (202, b"from a WSGI app"),
        "/file": (200, b"0123456789" * 100),
    }
    for path, (status, body) in expected.items():
        conn = call(app, scope(path, query=b"q=z"))
        assert (conn.status, conn.body) == (status, body), path


def test_send_file_range_and_conditional_requests(static: Path) -> None:
    app = response_app(static)
    status, headers, body = both(app, "/file", headers=[("Range", "bytes=10-19")])
    assert (status, body) == (206, b"0123456789")
    assert headers["Content-Range"] == "bytes 10-19/1000"
    status, _, body = both(app, "/file", headers=[("Range", "bytes=990-")])
    assert (status, body) == (206, b"0123456789")
    status, _, _ = both(app, "/file", headers=[("Range", "bytes=5000-")])
    assert status == 416
    etag = headers["ETag"]
    last_modified = headers["Last-Modified"]
    status, _, body = both(app, "/file", headers=[("If-None-Match", etag)])
    assert (status, body) == (304, b"")
    status, _, _ = both(app, "/file", headers=[("If-Modified-Since", last_modified)])
    assert status == 304
    status, _, body = both(
        app, "/file", headers=[("Range", "bytes=0-4"), ("If-Range", etag)]
    )
    assert (status, body) == (206, b"01234")
    status, _, body = both(
        app, "/file", headers=[("Range", "bytes=0-4"), ("If-Range", '"stale"')]
    )
    assert (status, len(body)) == (200, 1000)
    status, headers, body = both(app, "/file", "HEAD", headers=[("Range", "bytes=0-4")])
    assert (status, body, headers["Content-Length"]) == (206, b"", "5")


def test_large_file_is_sent_in_chunks(tmp_path: Path) -> None:
    (tmp_path / "big.bin").write_bytes(b"b" * (1024 * 1024))
    app = Erlen(__name__)
    app.route("/big")(lambda: send_file(tmp_path / "big.bin"))
    conn = call(app, scope("/big"))
    assert conn.body == b"b" * (1024 * 1024)
    assert len(conn.body_messages) > 10
    assert max(len(m.get("body", b"")) for m in conn.body_messages) <= 64 * 1024


def stream_app(events: list[str]) -> Erlen:
    app = Erlen(__name__)

    @app.route("/stream")
    def stream() -> t.Any:
        def gen() -> t.Iterator[str]:
            try:
                for i in range(10_000):
                    events.append(f"chunk {i}")
                    yield f"chunk {i}\n"
            finally:
                events.append("closed")

        return gen()

    @app.route("/stream-with-context")
    def stream_ctx() -> t.Any:
        @stream_with_context
        def gen() -> t.Iterator[str]:
            try:
                for i in range(10_000):
                    events.append(f"chunk {i}")
                    yield f"{request.path} {i}\n"
            finally:
                events.append("closed")

        return gen()

    @app.route("/async-stream")
    async def async_stream() -> Response:
        async def agen() -> t.AsyncIterator[str]:
            try:
                for i in range(10_000):
                    events.append(f"chunk {i}")
                    await asyncio.sleep(0)
                    yield f"chunk {i}\n"
            finally:
                events.append("closed")

        return Response(agen())

    @app.route("/async-waits")
    async def async_waits() -> Response:
        # An event stream waiting for its next event when the client leaves.
        async def agen() -> t.AsyncIterator[str]:
            try:
                for i in range(3):
                    events.append(f"chunk {i}")
                    yield f"data: {i}\n\n"
                await asyncio.Event().wait()
                yield "never"
            finally:
                events.append("closed")

        return Response(agen(), mimetype="text/event-stream")

    app.teardown_request(lambda exc: events.append("teardown"))
    return app


@pytest.mark.parametrize(
    "path", ["/stream", "/stream-with-context", "/async-stream", "/async-waits"]
)
def test_disconnect_mid_stream_stops_and_closes_the_body(path: str) -> None:
    events: list[str] = []
    app = stream_app(events)

    async def main() -> Conn:
        conn = Conn(disconnect_after=3)
        await asyncio.wait_for(app.asgi_app(scope(path), conn.receive, conn.send), 10)
        assert _cv_request.get(None) is None
        return conn

    conn = asyncio.run(main())
    assert conn.status == 200
    assert "closed" in events and "teardown" in events
    # Stopped soon after the disconnect, far from the 10,000 chunks.
    assert len([e for e in events if e.startswith("chunk")]) < 20
    assert len(conn.body_messages) == 3


def test_streaming_body_closed_when_send_fails() -> None:
    events: list[str] = []
    app = stream_app(events)
    count = [0]

    incoming = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> Message:
        if incoming:
            return incoming.pop()
        await asyncio.Event().wait()  # the client never says it left
        raise AssertionError

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            count[0] += 1
            if count[0] == 2:
                raise OSError("connection reset")

    asyncio.run(asyncio.wait_for(app.asgi_app(scope("/stream"), receive, send), 10))
    assert "teardown" in events and "closed" in events
    assert len([e for e in events if e.startswith("chunk")]) < 10


# -- URLs, hosts and clients agree with WSGI --------------------------------


def url_app() -> Erlen:
    app = Erlen(__name__)

    @app.route("/where/<name>")
    def where(name: str) -> dict[str, t.Any]:
        return {
            "external": url_for("where", name=name, _external=True),
            "relative": url_for("where", name="x"),
            "remote_addr": request.remote_addr,
            "host_url": request.host_url,
            "url": request.url,
            "root": request.root_path,
            "path": request.path,
            "scheme": request.scheme,
            "secure": request.is_secure,
            "host": request.host,
            "server": list(request.server or ()),
        }

    return app


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"root_path": "/mounted/app"},
        {"scheme": "https", "server": ("example.com", 443)},
        {"scheme": "https", "server": ("example.com", 8443)},
        {"client": ("203.0.113.9", 61000), "server": ("10.0.0.5", 8000)},
        {"root_path": "/prefix", "scheme": "https", "server": ("shop.example", 443)},
    ],
)
def test_urls_and_addresses_agree_with_wsgi(kwargs: dict[str, t.Any]) -> None:
    app = url_app()
    status, _, body = both(app, "/where/café", **kwargs)
    assert status == 200
    got = json.loads(body)
    root = kwargs.get("root_path", "")
    assert got["root"] == root
    assert got["path"] == "/where/café"
    assert got["relative"] == f"{root}/where/x"
    assert got["remote_addr"] == kwargs.get("client", ("127.0.0.1",))[0]
    assert got["scheme"] == kwargs.get("scheme", "http")


def test_server_name_and_trusted_hosts_agree_with_wsgi() -> None:
    app = url_app()
    app.config["SERVER_NAME"] = "example.com"
    app.config["TRUSTED_HOSTS"] = ["example.com", ".example.com"]
    server = ("example.com", 80)
    status, _, body = both(app, "/where/a", server=server)
    assert status == 200
    assert json.loads(body)["external"] == "http://example.com/where/a"
    # A Host the app does not serve: 404 by SERVER_NAME on both sides.
    status, _, _ = both(app, "/where/a", server=server, headers=[("Host", "evil.test")])
    assert status in (400, 404)
    app2 = url_app()
    app2.config["TRUSTED_HOSTS"] = ["good.test"]
    status, _, _ = both(app2, "/where/a", server=("good.test", 80))
    assert status == 200
    status, _, _ = both(app2, "/where/a", headers=[("Host", "evil.test")])
    assert status == 400


def test_proxy_fix_replacing_wsgi_app_behaves_the_same_over_asgi() -> None:
    app = url_app()
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    forwarded = [
        ("X-Forwarded-For", "198.51.100.7"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "public.example"),
    ]
    status, _, body = both(app, "/where/p", headers=forwarded)
    assert status == 200
    got = json.loads(body)
    assert got["remote_addr"] == "198.51.100.7"
    assert got["scheme"] == "https"
    assert got["external"] == "https://public.example/where/p"
    assert got["host_url"] == "https://public.example/"


def test_wsgi_middleware_path_runs_async_views_on_the_loop_and_closes_streams() -> None:
    app = Erlen(__name__)
    events: list[str] = []

    @app.route("/async-where")
    async def async_where() -> dict[str, t.Any]:
        await asyncio.sleep(0)
        events.append(threading.current_thread().name)
        return {"addr": request.remote_addr, "scheme": request.scheme}

    @app.route("/stream")
    def stream() -> t.Any:
        def gen() -> t.Iterator[str]:
            try:
                for i in range(1000):
                    yield f"{i} "
            finally:
                events.append("closed")

        return gen()

    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    forwarded = [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-Proto", "https")]
    _, _, body = both(app, "/async-where", headers=forwarded)
    assert json.loads(body) == {"addr": "198.51.100.7", "scheme": "https"}
    # Over ASGI the middleware runs in a worker; the coroutine on the loop.
    assert events[-1] == threading.current_thread().name
    events.clear()

    async def main() -> Conn:
        conn = Conn(disconnect_after=2)
        await asyncio.wait_for(
            app.asgi_app(scope("/stream"), conn.receive, conn.send), 10
        )
        return conn

    conn = asyncio.run(main())
    assert len(conn.body_messages) == 2
    assert events == ["closed"]


def test_async_signal_receiver_runs_on_the_servers_loop() -> None:
    app = Erlen(__name__)
    seen: list[tuple[str, asyncio.AbstractEventLoop]] = []

    async def on_started(sender: Erlen, **extra: t.Any) -> None:
        seen.append((request.path, asyncio.get_running_loop()))

    app.route("/")(lambda: "ok")

    async def main() -> asyncio.AbstractEventLoop:
        conn = Conn()
        await app.asgi_app(scope("/"), conn.receive, conn.send)
        assert conn.body == b"ok"
        return asyncio.get_running_loop()

    with request_started.connected_to(on_started, app):
        loop = asyncio.run(main())
    assert seen == [("/", loop)]


def send_chunked_until_answered(port: int, head: str) -> bytes:
    """Send a chunked body of 64 KiB chunks (up to 64 MiB) until the server
    answers or resets the connection; return what was answered (``b""``
    when the reset came first: the server closed with our unread body in its
    buffer, and the kernel drops what it had sent)."""
    chunk = b"%x\r\n%s\r\n" % (65536, b"c" * 65536)
    data = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(head.encode() + b"Transfer-Encoding: chunked\r\n\r\n")
            for _ in range(1024):
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(chunk)
            while part := sock.recv(65536):
                data += part
        except (ConnectionResetError, BrokenPipeError):
            pass
    return data


UPLOAD_APP = """
from erlen import Erlen, request

app = Erlen(__name__)
app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024


@app.post("/upload")
def upload():
    data = request.get_data()
    return f"{len(data)} {type(request.environ['wsgi.input']).__name__}"
"""


def test_bodies_and_limits_under_uvicorn(tmp_path: Path) -> None:
    (tmp_path / "upload_app.py").write_text(UPLOAD_APP)
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "uvicorn"),
        "--host=127.0.0.1",
        f"--port={port}",
        "upload_app:app.asgi_app",
    ]

    def exchange(head: str, body: bytes = b"") -> bytes:
        # No half-close: uvicorn takes one for a disconnect, even once the
        # body is in.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(head.encode() + b"\r\n" + body)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            return data

    post = "POST /upload HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
    log = tmp_path / "uvicorn.log"
    with running(command, port, log, {"PYTHONPATH": str(tmp_path)}):
        # 3 MiB: spooled to a temporary file, read intact.
        size = 3 * 1024 * 1024
        reply = exchange(post + f"Content-Length: {size}\r\n", b"u" * size)
        assert reply.startswith(b"HTTP/1.1 200 OK")
        assert reply.endswith(f"{size} SpooledTemporaryFile".encode())
        # Declared over the limit, waiting for 100 Continue: answered 413 at
        # once, without the body ever being asked for.
        reply = exchange(post + "Content-Length: 50000000\r\nExpect: 100-continue\r\n")
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        assert b"100 Continue" not in reply
        # Chunked, over the limit: 413 once the limit is passed, while the
        # client is still sending (it stops when the answer comes).
        reply = send_chunked_until_answered(port, post)
        assert reply == b"" or reply.startswith(b"HTTP/1.1 413"), reply[:200]
        # Chunked, under it: read whole.
        reply = exchange(
            post + "Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n0\r\n\r\n"
        )
        assert reply.endswith(b"5 BytesIO")
    output = log.read_text()
    assert "Traceback" not in output
    # The server's access log: the two refused uploads were 413s.
    assert output.count('"POST /upload HTTP/1.1" 413') == 2, output


def test_open_async_streams_hold_no_worker_thread() -> None:
    # A sync hook makes every request take a worker; a streamed async body
    # (server-sent events, say) is sent after the request's sync code has
    # all run, so its worker goes back to the pool while the stream is open.
    app = Erlen(__name__)
    app.config["ASGI_THREADS"] = 1
    hooks: list[str] = []
    closed: list[str] = []

    @app.before_request
    def sync_hook() -> None:
        hooks.append(threading.current_thread().name)

    @app.route("/stream/<name>")
    def stream(name: str) -> t.Any:
        async def body() -> t.AsyncIterator[str]:
            yield f"start {name};"
            await release.wait()
            yield f"end {name}"

        response = app.response_class(body())
        response.call_on_close(lambda: closed.append(name))
        return response

    @app.route("/plain")
    def plain() -> str:
        return "plain"

    async def main() -> tuple[list[Conn], Conn]:
        nonlocal release
        release = asyncio.Event()
        streams = [Conn() for _ in range(3)]
        tasks = [
            asyncio.ensure_future(
                app.asgi_app(scope(f"/stream/{i}"), c.receive, c.send)
            )
            for i, c in enumerate(streams)
        ]
        plain_conn = Conn()

        async def while_open() -> None:
            while not all(c.body_messages for c in streams):
                await asyncio.sleep(0.01)
            # Three streams open, one worker thread: a sync request runs.
            await app.asgi_app(scope("/plain"), plain_conn.receive, plain_conn.send)

        try:
            await asyncio.wait_for(while_open(), 5)
        finally:
            release.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
        return streams, plain_conn

    release: asyncio.Event
    streams, plain_conn = asyncio.run(main())
    assert (plain_conn.status, plain_conn.body) == (200, b"plain")
    assert [c.body for c in streams] == [
        f"start {i};end {i}".encode() for i in range(3)
    ]
    assert len(hooks) == 4 and len(set(hooks)) == 1  # one pool thread, reused
    assert sorted(closed) == ["0", "1", "2"]  # the response's close ran
