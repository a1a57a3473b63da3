"""Server-sent events: a streamed ``text/event-stream`` response.

:func:`sse_response` turns an iterable of events into a response that
browsers read with ``new EventSource(url)``::

    from erlen.sse import Event, last_event_id, sse_response

    @app.get("/clock")
    def clock():
        def events():
            for n in itertools.count(int(last_event_id() or 0) + 1):
                yield Event({"tick": n}, event="tick", id=str(n))
                time.sleep(1)

        return sse_response(events())

The iterable may yield :class:`Event` objects, or plain values that become an
event's ``data`` (``str`` as is, ``bytes`` as UTF-8, anything else as JSON
through the application's JSON provider); ``None`` items send nothing (a
source that polls can yield ``None`` to hand back control: the stream is
then closed promptly once its client has gone, and the keep-alives still go
out on time).

A **sync** iterable streams under WSGI and ASGI servers. An **async**
iterable (an async generator) streams under ASGI only (``app.asgi_app``):
the response's ``response`` attribute is then an object with ``__aiter__``
and ``aclose`` that the ASGI adapter iterates; a WSGI server that tries to
iterate it gets a :exc:`RuntimeError` saying so, which it logs, answering
500 (nothing has been sent yet).

The stream starts with a first chunk at once (``retry: <ms>`` if ``retry``
is given, else a ``: ping``), so the headers are sent and the browser's
``EventSource`` opens before the first event. Keep-alive: when the source
has sent nothing for ``ping`` seconds, a ``: ping`` comment line is sent, so
proxies and load balancers do not close an idle stream and a vanished client
is noticed. For async sources this is
an asyncio timeout on the source; a sync source is run in a helper thread
(one per stream) so that the server's thread can send the pings while the
source blocks. ``ping=None`` turns keep-alives off, and a sync source then
runs in the server's own thread.

When the client goes away the source is closed (``close()`` / ``aclose()``,
so ``finally`` blocks and ``with`` statements in a generator run): at once if
it is waiting to be asked for its next item, else as soon as the item it is
computing is ready. Under WSGI the server notices the client has gone at the
next write, which the keep-alives make happen every ``ping`` seconds.
"""

from __future__ import annotations

import asyncio
import contextvars
import json as _json
import queue
import re
import threading
import time
import typing as t

from .globals import _cv_app, _cv_request

if t.TYPE_CHECKING:
    from .wrappers import Response

__all__ = ["Event", "last_event_id", "sse_response"]

#: The ``Content-Type`` of every event stream.
CONTENT_TYPE = "text/event-stream; charset=utf-8"

_PING = b": ping\n\n"
_SILENT = object()  # the source said nothing for ``ping`` seconds
_LINES = re.compile(r"\r\n|\r|\n")
_Dumps = t.Callable[[t.Any], str]


def _field(name: str, value: str) -> str:
    # "name: value"; a lone "name:" for an empty value (the same to a parser).
    return f"{name}: {value}\n" if value else f"{name}:\n"


class Event:
    """One server-sent event.

    :param data: The event's data. ``str`` is sent as is, ``bytes`` as UTF-8
        text, ``None`` sends no ``data`` field (an event that only sets
        ``id`` or ``retry``), anything else (``dict``, ``list``, numbers,
        dataclasses, ...) as JSON through the application's JSON provider.
        Text with line breaks (``\\n``, ``\\r\\n`` or ``\\r``) is sent as one
        ``data:`` line per line; the browser joins them with ``\\n``.
    :param event: The event type (``addEventListener(type, ...)`` in the
        browser); the default type is ``"message"``.
    :param id: The event id the browser sends back as ``Last-Event-ID`` when
        it reconnects; must not contain line breaks or NUL.
    :param retry: The reconnection delay the browser should use, in
        milliseconds (a non-negative ``int``).
    :param comment: A comment, ignored by browsers (several lines allowed).
    :raises ValueError: for an ``event`` or ``id`` containing a line break
        (or NUL for ``id``), a negative ``retry``, or an event with no field.
    :raises TypeError: for a ``retry`` that is not an ``int``.
    """

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: t.Any = None,
        event: str | None = None,
        id: str | int | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        if event is not None and ("\n" in event or "\r" in event):
            raise ValueError(f"An event type must be one line: {event!r}")
        if id is not None:
            id = str(id)
            if "\n" in id or "\r" in id or "\0" in id:
                raise ValueError(
                    f"An event id must not contain line breaks or NUL: {id!r}"
                )
        if retry is not None:
            if retry.__class__ is bool or not isinstance(retry, int):
                raise TypeError(
                    f"retry is an integer number of milliseconds, not {retry!r}"
                )
            if retry < 0:
                raise ValueError(f"retry must not be negative: {retry}")
        if (data, event, id, retry, comment) == (None, None, None, None, None):
            raise ValueError("An event needs data, event, id, retry or comment.")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in ("data", "event", "id", "retry", "comment")
            if getattr(self, name) is not None
        )
        return f"Event({fields})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Event:
            return NotImplemented
        return all(
            getattr(self, name) == getattr(other, name) for name in self.__slots__
        )

    __hash__ = None  # type: ignore[assignment]

    def encode(self, dumps: _Dumps | None = None) -> bytes:
        """The event as it is sent: its fields, one per line, and a blank line.

        The order is comment lines, ``event``, ``id``, ``retry``, ``data``
        lines. ``dumps`` serializes non-text data (default: the current app's
        JSON provider, else :func:`json.dumps`).
        """
        out: list[str] = []
        if self.comment is not None:
            out.extend(_field("", line) for line in _LINES.split(self.comment))
        if self.event is not None:
            out.append(_field("event", self.event))
        if self.id is not None:
            out.append(_field("id", self.id))
        if self.retry is not None:
            out.append(f"retry: {self.retry}\n")
        data = self.data
        if data is not None:
            if data.__class__ is not str:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    data = bytes(data).decode()
                elif not isinstance(data, str):
                    data = (dumps or _app_dumps())(data)
            out.extend(_field("data", line) for line in _LINES.split(data))
        out.append("\n")
        return "".join(out).encode()


def _app_dumps() -> _Dumps:
    app_ctx = _cv_app.get(None)
    if app_ctx is not None:
        return app_ctx.app.json.dumps
    return _json.dumps


def _encoder(dumps: _Dumps) -> t.Callable[[t.Any], bytes | None]:
    def encode(item: t.Any) -> bytes | None:
        if item is None:
            return None
        if item.__class__ is not Event:
            item = Event(item)
        return item.encode(dumps)  # type: ignore[no-any-return]

    return encode


def last_event_id(request: t.Any = None) -> str | None:
    """The ``Last-Event-ID`` header of ``request`` (default: the current
    request): the ``id`` of the last event a reconnecting browser received,
    or ``None`` on a first connection. Read it in the view and resume the
    stream after that event."""
    if request is None:
        req_ctx = _cv_request.get(None)
        if req_ctx is None:
            raise RuntimeError(
                "last_event_id() needs a request: call it in a view, or pass one."
            )
        request = req_ctx.request
    value = request.headers.get("Last-Event-ID")
    return value or None


def sse_response(
    iterable: t.Iterable[t.Any] | t.AsyncIterable[t.Any],
    *,
    ping: float | None = 15.0,
    retry: int | None = None,
    headers: t.Mapping[str, str] | t.Iterable[tuple[str, str]] | None = None,
    status: int = 200,
) -> Response:
    """A streamed ``text/event-stream`` response for an iterable of events.

    :param iterable: A sync iterable (any server) or an async iterable (ASGI
        only) of :class:`Event` objects or data values (see :class:`Event`);
        ``None`` items send nothing.
    :param ping: Seconds without an event after which a ``: ping`` comment
        is sent; ``None`` for no keep-alives.
    :param retry: If given, the stream starts with ``retry: <ms>``, the
        browser's reconnection delay. Otherwise, with keep-alives, it starts
        with a ``: ping``: a first chunk is sent at once, so the headers
        are, and the browser's ``EventSource`` opens without waiting for
        the first event.
    :param headers: Extra response headers.
    :param status: The status code.

    The response (the app's ``response_class``) has ``Content-Type:
    text/event-stream; charset=utf-8``, ``Cache-Control: no-cache``,
    ``X-Accel-Buffering: no`` (nginx must not buffer it) and no
    ``Content-Length``. Non-text data is serialized with the JSON provider of
    the application that is current when this function is called.
    """
    if ping is not None and ping <= 0:
        raise ValueError(f"ping must be a positive number of seconds, not {ping}")
    # Something goes out at once, so that the headers do (a WSGI server sends
    # them with the first chunk) and the browser's EventSource opens.
    if retry is not None:
        prelude = Event(retry=retry).encode()
    else:
        prelude = b"" if ping is None else _PING
    encode = _encoder(_app_dumps())
    body: _SyncEventStream | _AsyncEventStream
    if hasattr(iterable, "__aiter__"):
        body = _AsyncEventStream(t.cast(t.AsyncIterable[t.Any], iterable), encode)
    else:
        try:
            iterator = iter(iterable)
        except TypeError:
            raise TypeError(
                "sse_response() takes an iterable or an async iterable of events,"
                f" not {type(iterable).__name__}."
            ) from None
        body = _SyncEventStream(iterator, encode)
    body.ping = ping
    body.prelude = prelude
    app_ctx = _cv_app.get(None)
    if app_ctx is not None:
        response_class = app_ctx.app.response_class
    else:
        from .wrappers import Response as response_class
    response = response_class(body, status=status, content_type=CONTENT_TYPE)
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    if headers:
        response.headers.update(headers)
    return response


# -- sync sources ---------------------------------------------------------------

_ITEM, _END, _ERROR = 0, 1, 2
_IDLE, _RUNNING, _CLOSED = 0, 1, 2


class _SyncEventStream:
    """The body for a sync source: the encoded events, keep-alives while the
    source is silent, and the source closed when the server closes the body.

    With keep-alives the source runs in a helper thread, one item at a time
    and only when the server asks for the next chunk.
    """

    ping: float | None = None
    prelude = b""
    sent: float | None = None  # when a chunk was last returned

    def __init__(
        self, source: t.Iterator[t.Any], encode: t.Callable[[t.Any], bytes | None]
    ) -> None:
        self.source = source
        self.encode = encode
        self.finished = False
        self.lock = threading.Lock()
        self.state = _IDLE
        self.results: queue.SimpleQueue[tuple[int, t.Any]] = queue.SimpleQueue()
        self.demand = threading.Semaphore(0)
        self.waiting = False
        self.thread: threading.Thread | None = None

    def __iter__(self) -> _SyncEventStream:
        return self

    def __next__(self) -> bytes:
        if self.prelude:
            prelude, self.prelude = self.prelude, b""
            self.sent = time.monotonic()
            return prelude
        ping = self.ping
        if self.sent is None:
            self.sent = time.monotonic()
        while not self.finished:
            if ping is None:
                try:
                    item = next(self.source)
                except StopIteration:
                    self.finished = True
                    break
            else:
                # ``None`` items send nothing, so they do not delay the ping.
                wait = max(0.0, self.sent + ping - time.monotonic())
                item = self._next_from_thread(wait)
                if item is _SILENT:
                    self.sent = time.monotonic()
                    return _PING
            chunk: bytes | None = self.encode(item)
            if chunk is not None:
                self.sent = time.monotonic()
                return chunk
        raise StopIteration

    def _next_from_thread(self, ping: float) -> t.Any:
        if self.thread is None:
            context = contextvars.copy_context()
            self.thread = threading.Thread(
                target=context.run, args=(self._pump,), name="erlen-sse", daemon=True
            )
            self.thread.start()
        if not self.waiting:
            self.waiting = True
            self.demand.release()
        try:
            kind, value = self.results.get(timeout=ping)
        except queue.Empty:
            return _SILENT
        self.waiting = False
        if kind == _ITEM:
            return value
        self.finished = True
        if kind == _ERROR:
            raise value
        raise StopIteration

    def _pump(self) -> None:
        # Runs in the helper thread: one item from the source per demand.
        source = self.source
        while True:
            self.demand.acquire()
            with self.lock:
                if self.state == _CLOSED:
                    return
                self.state = _RUNNING
            try:
                item = next(source)
            except StopIteration:
                self.results.put((_END, None))
                return
            except BaseException as e:
                self.results.put((_ERROR, e))
                return
            finally:
                with self.lock:
                    closed = self.state == _CLOSED
                    self.state = _IDLE
                if closed:
                    _close(source)
            if closed:
                return
            self.results.put((_ITEM, item))

    def close(self) -> None:
        """Close the source: now if it is idle, else once its current item
        is ready (a generator cannot be closed while it runs)."""
        self.finished = True
        with self.lock:
            running = self.state == _RUNNING
            self.state = _CLOSED
        if not running:
            _close(self.source)
        # Let the helper thread see the closed state and end.
        self.demand.release()


def _close(source: object) -> None:
    close = getattr(source, "close", None)
    if close is not None:
        close()


# -- async sources --------------------------------------------------------------


class _AsyncEventStream:
    """The body for an async source, iterated by the ASGI adapter with
    ``async for`` and closed with :meth:`aclose` when the client goes away.

    With keep-alives the source runs in one task of its own (the context of
    the first ``__anext__`` call), fetching one item each time one is asked
    for, so that a silent source can be waited for with a timeout without
    cancelling it; one timer per stream, re-armed only when it comes due,
    sends the pings.
    """

    ping: float | None = None
    prelude = b""
    sent: float | None = None  # when a chunk was last returned

    def __init__(
        self,
        source: t.AsyncIterable[t.Any],
        encode: t.Callable[[t.Any], bytes | None],
    ) -> None:
        self.source = source
        self.iterator: t.AsyncIterator[t.Any] | None = None
        self.encode = encode
        self.finished = False
        self.task: asyncio.Task[None] | None = None
        #: The source task waits on this for an item to be asked for.
        self.demand: asyncio.Future[None] | None = None
        #: An item was asked for and not yet taken / the task must fetch one.
        self.outstanding = False
        self.requested = False
        #: What the task fetched, not yet taken: (kind, value).
        self.result: tuple[int, t.Any] | None = None
        #: Resolved when a result arrives or a ping is due.
        self.waiter: asyncio.Future[None] | None = None
        self.timer: asyncio.TimerHandle | None = None

    def __iter__(self) -> t.NoReturn:
        raise RuntimeError(
            "This server-sent event stream comes from an async iterable, which"
            " only an ASGI server can stream: serve the app's ASGI entry point"
            " (app.asgi_app, e.g. `uvicorn module:app.asgi_app`), or give"
            " sse_response() a sync iterable to stream it under WSGI."
        )

    def __aiter__(self) -> _AsyncEventStream:
        return self

    async def __anext__(self) -> bytes:
        if self.prelude:
            prelude, self.prelude = self.prelude, b""
            self.sent = time.monotonic()
            return prelude
        if self.iterator is None:
            self.iterator = aiter(self.source)
        ping = self.ping
        if self.sent is None:
            self.sent = time.monotonic()
        while not self.finished:
            if ping is None:
                try:
                    item = await anext(self.iterator)
                except StopAsyncIteration:
                    self.finished = True
                    break
            else:
                wait = max(0.0, self.sent + ping - time.monotonic())
                item = await self._next_from_task(wait)
                if item is _SILENT:
                    self.sent = time.monotonic()
                    return _PING
            chunk: bytes | None = self.encode(item)
            if chunk is not None:
                self.sent = time.monotonic()
                return chunk
        raise StopAsyncIteration

    async def _next_from_task(self, ping: float) -> t.Any:
        # The source runs in a task of its own, fetching an item when one is
        # asked for; this waits for it, or until ``ping`` seconds have passed
        # since a chunk was last sent. PERF: one future per item, and at most
        # one timer per stream, re-armed only when it fires early (an event
        # went out meanwhile), instead of a timer armed and cancelled for
        # every event.
        loop = asyncio.get_running_loop()
        if self.task is None:
            self.task = asyncio.ensure_future(self._pump())
        if self.result is None:
            if not self.outstanding:
                self.outstanding = self.requested = True
                demand = self.demand
                if demand is not None and not demand.done():
                    demand.set_result(None)
            waiter = self.waiter = loop.create_future()
            if self.timer is None:
                self.timer = loop.call_later(
                    max(0.0, self.sent + ping - time.monotonic()),  # type: ignore[operator]
                    self._due,
                    ping,
                )
            try:
                await waiter
            except asyncio.CancelledError:
                # The response itself was cancelled: stop the source with it.
                self.task.cancel()
                raise
            finally:
                self.waiter = None
            if self.result is None:
                return _SILENT
        kind, value = self.result
        self.result = None
        self.outstanding = False
        if kind == _ITEM:
            return value
        self.finished = True
        if kind == _ERROR:
            raise value
        raise StopAsyncIteration

    def _due(self, ping: float) -> None:
        """The keep-alive timer: wake a waiting :meth:`_next_from_task` for a
        ping if nothing was sent for ``ping`` seconds, else wait the rest."""
        self.timer = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return  # not waiting now: the next wait arms a new timer
        remaining = self.sent + ping - time.monotonic()  # type: ignore[operator]
        if remaining > 0.001:
            self.timer = asyncio.get_running_loop().call_later(
                remaining, self._due, ping
            )
        else:
            waiter.set_result(None)

    async def _pump(self) -> None:
        assert self.iterator is not None
        loop = asyncio.get_running_loop()
        while True:
            while not self.requested:
                demand = self.demand = loop.create_future()
                await demand
            self.requested = False
            try:
                item = await anext(self.iterator)
            except StopAsyncIteration:
                self._deliver((_END, None))
                return
            except Exception as e:
                self._deliver((_ERROR, e))
                return
            self._deliver((_ITEM, item))

    def _deliver(self, result: tuple[int, t.Any]) -> None:
        self.result = result
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def aclose(self) -> None:
        """Stop and close the source (its ``finally`` blocks run now)."""
        self.finished = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            # wait() rather than await: a cancellation of the caller must
            # not be mistaken for the task's.
            await asyncio.wait((task,))
        if self.iterator is None:
            self.iterator = t.cast(t.AsyncIterator[t.Any], self.source)
        aclose = getattr(self.iterator, "aclose", None)
        if aclose is not None:
            await aclose()
