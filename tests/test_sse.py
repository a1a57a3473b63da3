"""erlen.sse: event formatting (exact bytes), the response, keep-alives, and the
source closed when the client goes away, under the test client, a real
Werkzeug server over a socket, and async iteration as the ASGI adapter does."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import socket
import threading
import time
import typing as t

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.serving import make_server

from erlen import Erlen, request, stream_with_context
from erlen.broadcast import Broadcast
from erlen.json.provider import DefaultJSONProvider
from erlen.sse import Event, last_event_id, sse_response
from erlen.wrappers import Response

PING = b": ping\n\n"


def run(coro: t.Coroutine[t.Any, t.Any, t.Any], timeout: float = 30) -> t.Any:
    return asyncio.run(asyncio.wait_for(coro, timeout))


def parse_stream(stream: str) -> list[dict[str, str]]:
    """The events a browser dispatches for ``stream``: the HTML spec's
    event-stream interpretation, written out here independently."""
    events = []
    data: list[str] = []
    event_type = ""
    last_id = ""
    for line in re.split(r"\r\n|\r|\n", stream):
        if line == "":
            if data:
                events.append(
                    {"type": event_type or "message", "data": "\n".join(data)}
                    | {"id": last_id}
                )
            data, event_type = [], ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event_type = value
        elif name == "id" and "\0" not in value:
            last_id = value
    return events


# -- formatting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (Event("hello"), b"data: hello\n\n"),
        (Event("a\nb\r\nc\rd"), b"data: a\ndata: b\ndata: c\ndata: d\n\n"),
        (Event("x\n"), b"data: x\ndata:\n\n"),
        (Event(""), b"data:\n\n"),
        (Event(" indented"), b"data:  indented\n\n"),
        (Event("caf\u00e9 \u2603"), "data: caf\u00e9 \u2603\n\n".encode()),
        (Event(b"bytes \xc3\xa9"), "data: bytes \u00e9\n\n".encode()),
        (Event([1, "two"]), b'data: [1, "two"]\n\n'),
        (Event(3), b"data: 3\n\n"),
        (
            Event("d", event="update", id="7", retry=3000, comment="hi\nthere"),
            b": hi\n: there\nevent: update\nid: 7\nretry: 3000\ndata: d\n\n",
        ),
        (Event(id=42), b"id: 42\n\n"),
        (Event(id=""), b"id:\n\n"),
        (Event(retry=0), b"retry: 0\n\n"),
        (Event(comment=""), b":\n\n"),
    ],
)
def test_event_bytes(event: Event, expected: bytes) -> None:
    assert event.encode() == expected


def test_event_validation() -> None:
    for bad_id in ["a\nb", "a\rb", "a\0b"]:
        with pytest.raises(ValueError, match="event id must not contain"):
            Event("x", id=bad_id)
    with pytest.raises(ValueError, match="event type must be one line"):
        Event("x", event="a\nb")
    with pytest.raises(ValueError, match="must not be negative"):
        Event(retry=-1)
    for bad_retry in [1.5, True, "10"]:
        with pytest.raises(TypeError, match="integer number of milliseconds"):
            Event(retry=bad_retry)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs data, event, id, retry or comment"):
        Event()
    assert Event("x", id=1) == Event("x", id="1")
    assert repr(Event("x", event="e")) == "Event(data='x', event='e')"


@given(
    data=st.text(alphabet=st.sampled_from(["a", " ", "\n", "\r", "\u00e9", ":"])),
    event=st.text(alphabet="ab: ", min_size=1),
    event_id=st.text(alphabet="0123 ab"),
)
def test_browsers_read_back_what_was_sent(data: str, event: str, event_id: str) -> None:
    stream = Event(data, event=event, id=event_id).encode().decode()
    expected_data = re.sub(r"\r\n|\r", "\n", data)
    assert parse_stream(stream) == [
        {"type": event, "data": expected_data, "id": event_id}
    ]


def test_json_data_uses_the_apps_provider() -> None:
    class Provider(DefaultJSONProvider):
        ensure_ascii = False
        sort_keys = False

    app = Erlen(__name__)
    app.json = Provider(app)

    @app.get("/")
    def index() -> Response:
        return sse_response([{"z": "\u00e9", "a": 1}], ping=None)

    assert (
        app.test_client().get("/").data == 'data: {"z": "\u00e9", "a": 1}\n\n'.encode()
    )
    # Outside an app: the standard library's json.
    assert (
        Event({"b": 1, "a": "\u00e9"}).encode() == b'data: {"b": 1, "a": "\\u00e9"}\n\n'
    )


# -- the response ----------------------------------------------------------------------


def make_app() -> Erlen:
    app = Erlen(__name__)
    app.testing = True
    return app


def test_headers() -> None:
    app = make_app()

    @app.get("/events")
    def events() -> Response:
        return sse_response(["one"], headers={"X-Extra": "1"}, status=201)

    response = app.test_client().get("/events")
    assert response.status_code == 201
    expected = [
        ("Content-Type", "text/event-stream; charset=utf-8"),
        ("Cache-Control", "no-cache"),
        ("X-Accel-Buffering", "no"),
        ("X-Extra", "1"),
    ]
    # (Over ASGI too: the test client shows the names as the app wrote them.)
    assert response.headers.to_wsgi_list() == expected
    assert response.is_streamed
    # A first chunk at once (the headers go out with it), then the events.
    assert response.data == PING + b"data: one\n\n"


def test_the_apps_response_class_is_used() -> None:
    class MyResponse(Response):
        pass

    app = make_app()
    app.response_class = MyResponse
    with app.test_request_context():
        assert type(sse_response([])) is MyResponse
    assert type(sse_response([])) is Response  # no app


def test_sync_stream_bytes() -> None:
    app = make_app()

    @app.get("/events")
    def events() -> Response:
        def source() -> t.Iterator[t.Any]:
            yield Event("first", event="greeting", id="1")
            yield None  # nothing sent
            yield "two\nlines"
            yield {"n": 3}

        return sse_response(source(), retry=2500)

    response = app.test_client().get("/events", buffered=False)
    assert list(response.response) == [
        b"retry: 2500\n\n",
        b"event: greeting\nid: 1\ndata: first\n\n",
        b"data: two\ndata: lines\n\n",
        b'data: {"n": 3}\n\n',
    ]
    response.close()


def test_sync_keep_alive_while_the_source_is_silent() -> None:
    app = make_app()
    threads: list[str] = []

    @app.get("/events")
    def events() -> Response:
        def source() -> t.Iterator[str]:
            threads.append(threading.current_thread().name)
            yield "a"
            time.sleep(0.55)
            yield "b"

        return sse_response(source(), ping=0.1)

    response = app.test_client().get("/events", buffered=False)
    chunks = list(response.response)
    response.close()
    assert chunks[:2] == [PING, b"data: a\n\n"]
    assert chunks[-1] == b"data: b\n\n"
    pings = chunks[2:-1]
    assert set(pings) == {PING}
    assert 3 <= len(pings) <= 6, chunks
    assert threads == ["erlen-sse"]  # the source ran in the helper thread


def test_none_items_do_not_delay_the_keep_alive() -> None:
    def source() -> t.Iterator[t.Any]:
        deadline = time.monotonic() + 0.55
        while time.monotonic() < deadline:
            yield None
            time.sleep(0.01)
        yield "end"

    async def asource() -> t.AsyncIterator[t.Any]:
        deadline = time.monotonic() + 0.55
        while time.monotonic() < deadline:
            yield None
            await asyncio.sleep(0.01)
        yield "end"

    async def collect(body: t.Any) -> list[bytes]:
        return [chunk async for chunk in body]

    app = make_app()
    with app.test_request_context():
        sync_chunks = list(t.cast(t.Any, sse_response(source(), ping=0.1).response))
        async_body = sse_response(asource(), ping=0.1).response
    for chunks in (sync_chunks, run(collect(async_body))):
        assert chunks[-1] == b"data: end\n\n"
        assert set(chunks[:-1]) == {PING}
        assert 3 <= len(chunks) - 1 <= 6, chunks


@pytest.mark.wsgi_only("over ASGI a sync source runs in the request's worker thread")
def test_without_keep_alive_the_source_runs_in_the_servers_thread() -> None:
    app = make_app()
    threads: list[threading.Thread] = []

    @app.get("/events")
    def events() -> Response:
        def source() -> t.Iterator[str]:
            threads.append(threading.current_thread())
            yield "a"
            time.sleep(0.3)
            yield "b"

        return sse_response(source(), ping=None)

    response = app.test_client().get("/events", buffered=False)
    assert list(response.response) == [b"data: a\n\n", b"data: b\n\n"]
    response.close()
    assert threads == [threading.current_thread()]


def counter(closed: threading.Event, interval: float = 0) -> t.Iterator[int]:
    """0, 1, 2, ... forever; sets ``closed`` when the generator is closed."""
    try:
        n = 0
        while True:
            yield n
            n += 1
            if interval:
                time.sleep(interval)
    finally:
        closed.set()


@pytest.mark.parametrize("ping", [None, 5.0])
def test_closing_the_response_closes_the_source(ping: float | None) -> None:
    app = make_app()
    closed = threading.Event()

    @app.get("/events")
    def events() -> Response:
        return sse_response(counter(closed), ping=ping)

    response = app.test_client().get("/events", buffered=False)
    chunks = (c for c in response.response if c != PING)
    assert [next(chunks), next(chunks)] == [b"data: 0\n\n", b"data: 1\n\n"]
    assert not closed.is_set()
    response.close()
    # The source was idle (waiting to be asked): closed at once.
    assert closed.is_set()


def test_a_source_busy_with_an_item_is_closed_when_it_is_ready() -> None:
    app = make_app()
    closed = threading.Event()
    release = threading.Event()
    yielded_after_release: list[int] = []

    @app.get("/events")
    def events() -> Response:
        def source() -> t.Iterator[str]:
            try:
                yield "first"
                release.wait(10)
                yielded_after_release.append(1)
                yield "never sent"
            finally:
                closed.set()

        return sse_response(source(), ping=0.05)

    response = app.test_client().get("/events", buffered=False)
    chunks = iter(response.response)
    assert [next(chunks), next(chunks), next(chunks)] == [
        PING,
        b"data: first\n\n",
        PING,
    ]
    response.close()
    assert not closed.is_set()  # a running generator cannot be closed
    release.set()
    assert closed.wait(5)
    assert yielded_after_release == [1]


def test_head_sends_no_body_and_closes_the_source() -> None:
    app = make_app()
    started = []
    generators: list[t.Generator[str, None, None]] = []

    @app.get("/events")
    def events() -> Response:
        def source() -> t.Iterator[str]:
            started.append(True)
            yield "x"

        generators.append(source())  # type: ignore[arg-type]
        return sse_response(generators[0])

    response = app.test_client().head("/events")
    assert response.data == b""
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
    response.close()  # as a server does
    assert started == []
    assert generators[0].gi_frame is None  # closed without ever running


def test_a_failing_source_propagates() -> None:
    app = make_app()

    @app.get("/events")
    def events() -> Response:
        def source() -> t.Iterator[str]:
            yield "ok"
            raise LookupError("source broke")

        return sse_response(source(), ping=1.0)

    response = app.test_client().get("/events", buffered=False)
    chunks = iter(response.response)
    assert [next(chunks), next(chunks)] == [PING, b"data: ok\n\n"]
    with pytest.raises(LookupError, match="source broke"):
        next(chunks)
    response.close()


def test_last_event_id_and_stream_with_context() -> None:
    app = make_app()

    @app.get("/events")
    def events() -> Response:
        start = int(last_event_id() or 0) + 1

        @stream_with_context
        def source() -> t.Iterator[Event]:
            for n in range(start, start + 2):
                yield Event(request.args["name"], id=n)

        return sse_response(source(), ping=None)

    client = app.test_client()
    assert client.get("/events?name=a").data == b"id: 1\ndata: a\n\nid: 2\ndata: a\n\n"
    response = client.get("/events?name=b", headers={"Last-Event-ID": "41"})
    assert response.data == b"id: 42\ndata: b\n\nid: 43\ndata: b\n\n"

    with app.test_request_context(headers={"Last-Event-ID": ""}):
        assert last_event_id() is None
    with pytest.raises(RuntimeError, match="needs a request"):
        last_event_id()


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="not int"):
        sse_response(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ping must be a positive number"):
        sse_response([], ping=0)


# -- a real server over a socket -------------------------------------------------------


class Server:
    def __init__(self, app: Erlen) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def connect(self, path: str) -> Client:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        return Client(sock)


class Client:
    """Reads an HTTP/1.1 response as a browser would: the head, then the
    chunked body decoded as it arrives."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.raw = b""
        self.head = b""
        self.body = b""

    def _recv(self, deadline: float) -> None:
        assert time.monotonic() < deadline, (self.head, self.body, self.raw)
        chunk = self.sock.recv(65536)
        assert chunk, (self.head, self.body, self.raw)
        self.raw += chunk

    def read_head(self, limit: float = 10) -> bytes:
        deadline = time.monotonic() + limit
        while b"\r\n\r\n" not in self.raw:
            self._recv(deadline)
        self.head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        return self.head

    def _decode(self) -> bool:
        """Move one complete chunk from the raw bytes to the body."""
        size, sep, rest = self.raw.partition(b"\r\n")
        if sep and len(rest) >= int(size, 16) + 2:
            n = int(size, 16)
            self.body += rest[:n]
            self.raw = rest[n + 2 :]
            return True
        return False

    def read_until(self, marker: bytes, limit: float = 10) -> bytes:
        """The body so far, once it contains ``marker``."""
        deadline = time.monotonic() + limit
        if not self.head:
            self.read_head(limit)
        assert b"\r\nTransfer-Encoding: chunked\r\n" in self.head, self.head
        while marker not in self.body:
            if not self._decode():
                self._recv(deadline)
        return self.body

    def read_for(self, seconds: float) -> bytes:
        """The body after reading what arrives within ``seconds``."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self._decode():
                continue
            self.sock.settimeout(remaining)
            try:
                self._recv(deadline)
            except TimeoutError:
                break
            finally:
                self.sock.settimeout(10)
        return self.body

    def close(self) -> None:
        self.sock.close()


def test_real_server_streams_and_closes_the_source_on_disconnect() -> None:
    app = make_app()
    closed = threading.Event()

    @app.get("/events")
    def events() -> Response:
        return sse_response(counter(closed, interval=0.02), ping=1.0)

    with Server(app) as server:
        client = server.connect("/events")
        body = client.read_until(b"data: 2\n\n")
        head = client.head
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"\r\nContent-Type: text/event-stream; charset=utf-8\r\n" in head
        assert b"\r\nCache-Control: no-cache\r\n" in head
        assert b"\r\nX-Accel-Buffering: no\r\n" in head
        assert b"content-length" not in head.lower()
        assert body.startswith(PING + b"data: 0\n\ndata: 1\n\ndata: 2\n\n")
        client.close()
        assert closed.wait(5), "the generator was not closed"


def test_real_server_keep_alives_notice_a_silent_streams_client_leaving() -> None:
    app = make_app()
    server_closed = threading.Event()
    release = threading.Event()
    source_closed = threading.Event()

    @app.get("/events")
    def events() -> Response:
        def source() -> t.Iterator[str]:
            try:
                yield "hello"
                release.wait(20)
                yield "late"
            finally:
                source_closed.set()

        response = sse_response(source(), ping=0.05)
        response.call_on_close(server_closed.set)
        return response

    with Server(app) as server:
        client = server.connect("/events")
        received = client.read_until(b"hello\n\n: ping\n\n")
        # Pings every 50 ms: a loaded machine may send more than one first.
        assert received.startswith(PING)
        assert received.endswith(b"data: hello\n\n" + PING)
        assert received.replace(PING, b"") == b"data: hello\n\n"
        client.close()
        # Only the pings are written while the source is silent; one of them
        # fails, and the server closes the response.
        assert server_closed.wait(10)
        assert not source_closed.is_set()
        release.set()
        assert source_closed.wait(5)


@pytest.mark.wsgi_only("the error a WSGI server gives for an async source")
def test_async_source_under_wsgi_is_a_clear_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()

    @app.get("/events")
    def events() -> Response:
        async def source() -> t.AsyncIterator[str]:
            yield "x"

        return sse_response(source())

    with pytest.raises(RuntimeError, match="only an ASGI server can stream"):
        app.test_client().get("/events")

    caplog.set_level(logging.ERROR)
    with Server(app) as server:
        client = server.connect("/events")
        head = client.read_head()
        client.close()
    assert head.startswith(b"HTTP/1.1 500 INTERNAL SERVER ERROR\r\n")
    assert "only an ASGI server can stream" in caplog.text


# -- async sources, iterated as the ASGI adapter does ----------------------------------


def async_response(source: t.AsyncIterable[t.Any], **kwargs: t.Any) -> Response:
    app = make_app()
    with app.test_request_context():
        return sse_response(source, **kwargs)


def test_async_response_contract() -> None:
    async def source() -> t.AsyncIterator[t.Any]:
        yield Event("a", id=1)
        yield None
        yield {"b": 2}

    response = async_response(source(), retry=100)
    assert isinstance(response, Response)
    assert response.is_streamed
    assert hasattr(response.response, "__aiter__")
    assert hasattr(response.response, "aclose")
    assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"

    async def main() -> list[bytes]:
        return [chunk async for chunk in response.response]  # type: ignore[attr-defined]

    assert run(main()) == [
        b"retry: 100\n\n",
        b"id: 1\ndata: a\n\n",
        b'data: {"b": 2}\n\n',
    ]


def test_async_keep_alive_while_the_source_is_silent() -> None:
    async def source() -> t.AsyncIterator[str]:
        yield "a"
        await asyncio.sleep(0.55)
        yield "b"

    response = async_response(source(), ping=0.1)

    async def main() -> list[bytes]:
        return [chunk async for chunk in response.response]  # type: ignore[attr-defined]

    chunks = run(main())
    assert chunks[:2] == [PING, b"data: a\n\n"]
    assert chunks[-1] == b"data: b\n\n"
    assert set(chunks[2:-1]) == {PING}
    assert 3 <= len(chunks) - 3 <= 6, chunks


def test_async_events_that_keep_coming_need_no_ping() -> None:
    # Events 5 ms apart for 0.5 s with a 0.2 s keep-alive: the keep-alive
    # timer fires (and is re-armed) and never sends a ping between events;
    # then a silent spell of 0.3 s gets one.
    async def source() -> t.AsyncIterator[int]:
        for n in range(100):
            await asyncio.sleep(0.005)
            yield n
        await asyncio.sleep(0.3)
        yield 100

    response = async_response(source(), ping=0.2)

    async def main() -> list[bytes]:
        return [chunk async for chunk in response.response]  # type: ignore[attr-defined]

    chunks = run(main())
    assert chunks[0] == PING  # the prelude
    assert chunks[1:101] == [f"data: {n}\n\n".encode() for n in range(100)]
    assert chunks[101:] == [PING, b"data: 100\n\n"]


@pytest.mark.parametrize("ping", [None, 0.05])
@pytest.mark.parametrize("busy", [False, True])
def test_aclose_closes_the_async_source(ping: float | None, busy: bool) -> None:
    log: list[str] = []

    async def source() -> t.AsyncIterator[str]:
        try:
            yield "first"
            await asyncio.sleep(30)
            yield "never"
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
        finally:
            log.append("finally")

    response = async_response(source(), ping=ping)
    body = t.cast(t.Any, response.response)

    async def main() -> None:
        if ping is not None:
            assert await body.__anext__() == PING
        assert await body.__anext__() == b"data: first\n\n"
        if busy and ping is not None:
            assert await body.__anext__() == PING  # the source is in its sleep
        started = time.monotonic()
        await body.aclose()
        assert time.monotonic() - started < 1
        with pytest.raises(StopAsyncIteration):
            await body.__anext__()

    run(main())
    if busy and ping is not None:
        assert log == ["cancelled", "finally"]
    else:
        assert log == ["finally"]


def test_async_source_runs_in_one_task_with_the_callers_context() -> None:
    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    inner: contextvars.ContextVar[int] = contextvars.ContextVar("inner")

    async def source() -> t.AsyncIterator[str]:
        inner.set(1)
        task = asyncio.current_task()
        for _ in range(3):
            await asyncio.sleep(0.06)
            assert asyncio.current_task() is task
            yield f"{request_id.get()} {inner.get()}"

    response = async_response(source(), ping=0.05)

    async def main() -> list[bytes]:
        request_id.set("req-1")
        return [
            chunk
            async for chunk in response.response  # type: ignore[attr-defined]
            if chunk != PING
        ]

    assert run(main()) == [b"data: req-1 1\n\n"] * 3


def test_async_source_errors_propagate_and_cancellation_stops_it() -> None:
    async def failing() -> t.AsyncIterator[str]:
        yield "ok"
        raise LookupError("async source broke")

    body = t.cast(t.Any, async_response(failing(), ping=1.0).response)

    async def consume() -> list[bytes]:
        return [chunk async for chunk in body]

    with pytest.raises(LookupError, match="async source broke"):
        run(consume())

    stopped = []

    async def silent() -> t.AsyncIterator[str]:
        try:
            await asyncio.sleep(30)
            yield "never"
        finally:
            stopped.append(True)

    body = t.cast(t.Any, async_response(silent(), ping=10.0).response)

    async def cancel_consumer() -> None:
        assert await body.__anext__() == PING
        task = asyncio.ensure_future(body.__anext__())
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.wait((task,))
        await asyncio.sleep(0.05)  # the source's task sees its cancellation

    run(cancel_consumer())
    assert stopped == [True]


# -- with broadcast --------------------------------------------------------------------


def test_sync_stream_of_a_subscription_over_a_real_server() -> None:
    app = make_app()
    broadcast = Broadcast(app)
    subscribed = threading.Event()

    @app.get("/live")
    def live() -> Response:
        def source() -> t.Iterator[t.Any]:
            with broadcast.subscribe("posts") as sub:
                subscribed.set()
                for post in sub.listen(timeout=0.05):
                    yield post if post is None else Event(post, event="post")

        return sse_response(source(), ping=0.2)

    with Server(app) as server:
        client = server.connect("/live")
        assert subscribed.wait(5)
        broadcast.publish("posts", {"id": 1, "title": "Hello"})
        body = client.read_until(b'"Hello"}\n\n')
        # Pings come first (one at once, more depending on timing).
        assert body.replace(PING, b"") == (
            b'event: post\ndata: {"id": 1, "title": "Hello"}\n\n'
        )
        client.close()
        backend = broadcast._get_backend()
        deadline = time.monotonic() + 5
        while "posts" in backend.channels and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "posts" not in backend.channels  # unsubscribed
    broadcast.close()


def test_async_stream_of_a_subscription() -> None:
    app = make_app()
    broadcast = Broadcast(app)

    async def main() -> None:
        async def source() -> t.AsyncIterator[Event]:
            async with broadcast.subscribe("posts") as sub:
                async for post in sub:
                    yield Event(post, event="post")

        with app.test_request_context():
            body = t.cast(t.Any, sse_response(source(), ping=5).response)
        assert await body.__anext__() == PING
        first = asyncio.ensure_future(body.__anext__())
        backend = broadcast._get_backend()
        while "posts" not in backend.channels:
            await asyncio.sleep(0.01)
        await broadcast.apublish("posts", "p1")
        assert await first == b"event: post\ndata: p1\n\n"
        await body.aclose()
        assert "posts" not in backend.channels

    run(main())
    broadcast.close()
