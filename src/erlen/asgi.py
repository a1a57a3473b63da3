"""The ASGI adapter: the same application, served natively by an ASGI server.

:func:`serve` is ``app.asgi_app``. An HTTP request runs top to bottom in
:func:`_http`, as :meth:`erlen.Erlen.wsgi_app` runs it over WSGI:

1. Receive the whole body before the view runs (spooled to a temporary file
   past :data:`SPOOL_SIZE`; ``MAX_CONTENT_LENGTH`` enforced while receiving),
   so that ``request.form``, ``get_data()`` and ``get_json()`` stay
   synchronous in every view.
2. Build the request's WSGI-style environ from the scope: Werkzeug's
   ``Request`` and Flask extensions read ``request.environ``, so it is the
   request description both adapters hand to the core.
3. Drive the core's steps (:meth:`erlen.Erlen._handle`): ``async def``
   views, hooks, handlers and teardown functions are awaited here on the
   server's event loop; every other step runs in a worker thread reserved for
   the request (its *lane*), so blocking code never blocks the loop, and all
   the synchronous code of one request — a ``sqlite3`` connection kept on
   ``g`` included — runs in that one thread.
4. Send the neutral response; a streamed body is iterated in the lane (or on
   the loop, for an async iterable) and closed when the client goes away.

The request's context variables live in one :class:`contextvars.Context`
that every step runs in, on the loop or in the lane, so contexts pushed by
one step are seen by the next whichever side runs it.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import sys
import tempfile
import threading
import typing as t
from collections import deque
from inspect import iscoroutinefunction
from io import BytesIO, RawIOBase
from urllib.parse import unquote_to_bytes

from werkzeug.exceptions import RequestEntityTooLarge

from .core import WSGI_START_KEY, RawResponse, RawStream, Steps, invoke
from .uploads import RECEIVE_KEY
from .websockets import serve_websocket
from .wrappers import _EncodedStream

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

    from .app import Erlen
    from .ctx import RequestContext

T = t.TypeVar("T")

ASGIScope = t.MutableMapping[str, t.Any]
ASGIMessage = t.MutableMapping[str, t.Any]
ASGIReceive = t.Callable[[], t.Awaitable[ASGIMessage]]
ASGISend = t.Callable[[ASGIMessage], t.Awaitable[None]]

#: Request bodies larger than this many bytes are spooled to a temporary file.
SPOOL_SIZE = 1024 * 1024
#: The default size of an app's worker-thread pool (``ASGI_THREADS``).
DEFAULT_THREADS = 40


class ASGIApp:
    """``app.asgi_app``: the app as an ASGI 3 application. Its ``__call__``
    is a coroutine function, so servers (uvicorn, hypercorn) detect ASGI 3."""

    __slots__ = ("app",)

    def __init__(self, app: Erlen) -> None:
        self.app = app

    async def __call__(
        self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend
    ) -> None:
        if scope["type"] == "http":  # PERF: one coroutine less per request
            await _http(self.app, scope, receive, send)
        else:
            await serve(self.app, scope, receive, send)

    def __repr__(self) -> str:
        return f"<ASGIApp of {self.app!r}>"


async def serve(
    app: Erlen, scope: ASGIScope, receive: ASGIReceive, send: ASGISend
) -> None:
    """Serve one ASGI connection."""
    kind = scope["type"]
    if kind == "http":
        await _http(app, scope, receive, send)
    elif kind == "lifespan":
        await _lifespan(app, receive, send)
    elif kind == "websocket":
        await serve_websocket(app, scope, receive, send)
    else:
        raise RuntimeError(f"erlen does not handle ASGI {kind!r} connections.")


async def _http(
    app: Erlen, scope: ASGIScope, receive: ASGIReceive, send: ASGISend
) -> None:
    """One HTTP request, top to bottom."""
    environ = environ_from_scope(scope, _NO_BODY)
    ctx = None
    streamed = app.__dict__.get("_streamed_endpoints")
    if streamed is None or streamed:
        ctx = _streamed_view_context(app, environ, receive)
    if ctx is None or RECEIVE_KEY not in environ:
        body = await _receive_body(app, environ, receive)
        if body is None:
            # The client went away (or half-closed) before the body was
            # complete: no view sees a truncated body; a client still
            # listening gets a 400.
            await _send_incomplete_body(send)
            return
        environ["wsgi.input"] = body
        if ctx is None:
            ctx = app.request_context(environ)
    lane = Lane(app)
    try:
        if "wsgi_app" in app.__dict__:
            # WSGI middleware replaced wsgi_app: run it, so it behaves the same.
            await _serve_wsgi(app.wsgi_app, environ, send, receive, lane)
            return
        response = await drive(app._handle(ctx), lane, app)
        await _send_response(response, environ, send, receive, lane)
    finally:
        lane.release()


# -- the body and the environ ------------------------------------------------


def _streamed_endpoints(app: Erlen) -> frozenset[str]:
    """The endpoints whose views read the body as it arrives
    (:func:`erlen.uploads.streamed_body`); fixed from the first request on."""
    found: frozenset[str] | None = app.__dict__.get("_streamed_endpoints")
    if found is None:
        found = frozenset(
            endpoint
            for endpoint, view in app.view_functions.items()
            if getattr(view, "streamed_body", False)
        )
        if app._got_first_request:
            app.__dict__["_streamed_endpoints"] = found
    return found


def _streamed_view_context(
    app: Erlen, environ: WSGIEnvironment, receive: ASGIReceive
) -> RequestContext | None:
    """In an app with streamed views, the request's context, matched before
    the body is received; for a streamed view the body is left to
    :func:`erlen.uploads.body_chunks` (``receive`` under ``RECEIVE_KEY``).
    ``None`` in other apps: their context is built once the body is in."""
    streamed = _streamed_endpoints(app)
    if not streamed or "wsgi_app" in app.__dict__:
        return None
    ctx = app.request_context(environ)
    ctx.match_request()
    rule = ctx._rule
    if rule is not None and rule.endpoint in streamed:
        environ[RECEIVE_KEY] = receive
        environ["wsgi.input"] = BytesIO()  # the view reads body_chunks
    return ctx


def _content_length(environ: WSGIEnvironment) -> int | None:
    """The request's ``Content-Length``, or ``None`` if absent or invalid
    (as Werkzeug reads it)."""
    value = environ.get("CONTENT_LENGTH")
    if value and value.isascii() and value.isdigit():
        return int(value)
    return None


async def _receive_body(
    app: Erlen, environ: WSGIEnvironment, receive: ASGIReceive
) -> t.IO[bytes] | None:
    """Receive the request body, or ``None`` if the client disconnected.

    A declared ``Content-Length`` over ``MAX_CONTENT_LENGTH`` is not read at
    all, and a body of unknown length stops being read one byte past it:
    reading either in the view is then a 413, as over WSGI.
    """
    limit: int | None = app.config["MAX_CONTENT_LENGTH"]
    length = _content_length(environ)
    if length is not None and limit is not None and length > limit:
        return t.cast(t.IO[bytes], _CutShort(BytesIO()))
    stop = limit + 1 if limit is not None and length is None else None
    buffer: t.IO[bytes] = BytesIO()
    size = 0
    spooled = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if not spooled and size > SPOOL_SIZE:
                # Not a with block: the file is the request body, closed with it.
                spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_SIZE)  # noqa: SIM115
                spool.write(buffer.getvalue())  # type: ignore[attr-defined]
                buffer = t.cast(t.IO[bytes], spool)
                spooled = True
            buffer.write(chunk)
            if stop is not None and size >= stop:
                buffer.seek(0)
                return t.cast(t.IO[bytes], _CutShort(buffer))
        if not message.get("more_body", False):
            break
    buffer.seek(0)
    return buffer


class _CutShort(RawIOBase):
    """A body no longer received once past ``MAX_CONTENT_LENGTH``: the bytes
    received, then a 413 for any read wanting more. The app-wide limit
    applies while receiving, before the view runs, so a higher
    ``request.max_content_length`` set by the view gets a 413 over ASGI —
    never a body silently cut short, nor a 400."""

    def __init__(self, received: t.IO[bytes]) -> None:
        super().__init__()
        self.received = received

    def readable(self) -> bool:
        return True

    def readinto(self, b: t.Any) -> int:
        data = self.received.read(len(b))
        if len(data) < len(b):
            raise RequestEntityTooLarge()
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.received.close()
        super().close()


_INCOMPLETE = b"Bad Request: the request body was incomplete."


async def _send_incomplete_body(send: ASGISend) -> None:
    try:
        await send(
            _start_message(
                "400 BAD REQUEST",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(_INCOMPLETE))),
                    ("Connection", "close"),
                ],
            )
        )
        await send({"type": "http.response.body", "body": _INCOMPLETE})
    except Exception:
        pass


_SPECIAL_HEADERS = {"CONTENT_TYPE", "CONTENT_LENGTH"}
#: The request body until the real one is received (never read).
_NO_BODY: t.IO[bytes] = BytesIO()
_PROTOCOLS = {v: f"HTTP/{v}" for v in ("1.0", "1.1", "2", "3")}
#: Header names seen so far, as environ keys (bounded).
_environ_keys: dict[bytes, str] = {}


def _environ_key(raw_name: bytes) -> str:
    name = raw_name.decode("latin-1").upper().replace("-", "_")
    if name not in _SPECIAL_HEADERS:
        name = f"HTTP_{name}"
    if len(_environ_keys) < 512:
        _environ_keys[raw_name] = name
    return name


def environ_from_scope(scope: ASGIScope, body: t.IO[bytes]) -> WSGIEnvironment:
    """The WSGI environ a WSGI server would give for this HTTP scope."""
    root_path: str = scope.get("root_path", "")
    # What a connection's requests share (server, client, scheme, version) is
    # worked out once per connection, as a template copied for each request.
    key = (
        scope.get("scheme", "http"),
        scope.get("server"),
        scope.get("client"),
        scope.get("http_version", "1.1"),
        root_path,
    )
    try:
        base = _connection_environs.get(key)
    except TypeError:  # a server that sends lists, not tuples
        base = None
    if base is None:
        base = _connection_environ(key)
    environ = base.copy()
    path: str = scope["path"]
    if root_path:
        if path.startswith(root_path):
            path = path[len(root_path) :]
        path_info = path.encode("utf-8").decode("latin-1")
    else:
        raw_path: bytes | None = scope.get("raw_path")
        if raw_path is None:
            path_info = path.encode("utf-8").decode("latin-1")
        else:
            # (str's "in", not bytes': that one tries the operand as an int
            # first, raising and clearing a TypeError each time.)
            path_info = raw_path.decode("latin-1")
            if "%" in path_info or "?" in path_info:
                path_info = unquote_to_bytes(raw_path.partition(b"?")[0]).decode(
                    "latin-1"
                )
    query: bytes = scope.get("query_string", b"")
    environ["REQUEST_METHOD"] = scope["method"]
    environ["PATH_INFO"] = path_info
    environ["QUERY_STRING"] = query.decode("latin-1") if query else ""
    environ["wsgi.input"] = body
    environ["wsgi.errors"] = sys.stderr
    environ["asgi.scope"] = scope
    keys = _environ_keys
    for raw_name, raw_value in scope["headers"]:
        name = keys.get(raw_name) or _environ_key(raw_name)
        if name in environ:
            # Repeated headers are joined, as WSGI servers do; HTTP/2 sends
            # each cookie as a header of its own.
            sep = "; " if name == "HTTP_COOKIE" else ","
            environ[name] = f"{environ[name]}{sep}{raw_value.decode('latin-1')}"
        else:
            environ[name] = raw_value.decode("latin-1")
    if _content_length(environ) is None:
        environ["wsgi.input_terminated"] = True
    extensions = scope.get("extensions")
    if extensions:
        extra = extensions.get("erlen.environ")
        if extra:
            environ.update(extra)
    return environ


#: Connection templates of the environ (bounded).
_connection_environs: dict[tuple[t.Any, ...], dict[str, t.Any]] = {}


def _connection_environ(key: tuple[t.Any, ...]) -> dict[str, t.Any]:
    """The environ keys a connection's requests share, remembered under
    ``key`` (scheme, server, client, HTTP version, root path)."""
    scheme, server, client, version, root_path = key
    server = server or ("localhost", 80)
    base: dict[str, t.Any] = {
        "SCRIPT_NAME": root_path.encode("utf-8").decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]) if server[1] is not None else "",
        "SERVER_PROTOCOL": _PROTOCOLS.get(version) or f"HTTP/{version}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scheme,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if client:
        base["REMOTE_ADDR"] = str(client[0])
        base["REMOTE_PORT"] = str(client[1])
    try:
        if len(_connection_environs) >= 256:
            _connection_environs.clear()
        _connection_environs[key] = base
    except TypeError:
        pass
    return base


# -- driving the core --------------------------------------------------------

_ASYNC = object()


async def drive(steps: Steps[T], lane: Lane, app: Erlen) -> T:
    """Drive the core's steps for one request, in the lane's context:
    ``async def`` steps awaited here, the rest run in the lane's thread."""
    run = lane.context.run
    native = "ensure_sync" not in app._overrides
    value: t.Any = None
    error: BaseException | None = None
    while True:
        try:
            if error is None:
                step = run(steps.send, value)
            else:
                exc, error = error, None
                step = run(steps.throw, exc)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if not (step[3] and native):
            # Run this step, and the synchronous steps after it, in the lane,
            # up to the next async def step (or the end).
            outcome = await lane.run(_advance, steps, step, app, native)
            if outcome[0] is not _ASYNC:
                return outcome[1]  # type: ignore[no-any-return]
            step = outcome[1]
        func, args, kwargs, _, handling = step
        try:
            value = await InContext(lane.context, func(*args, **kwargs), handling)
        except BaseException as e:
            error = e
            value = None


def _advance(
    steps: Steps[t.Any], step: t.Any, app: Erlen, native: bool
) -> tuple[object, t.Any]:
    """In the lane: make ``step``'s call and go on with the following steps
    until one is a coroutine function, or the steps end."""
    while True:
        func, args, kwargs, is_async, handling = step
        if is_async:
            if native:
                return _ASYNC, step
            func = app.ensure_sync(func)
        error: BaseException | None = None
        try:
            value = invoke(func, args, kwargs, handling)
        except BaseException as e:
            error = e
            value = None
        try:
            step = steps.send(value) if error is None else steps.throw(error)
        except StopIteration as stop:
            return None, stop.value


class InContext:
    """Await a coroutine with every step of it run in ``context``, so it sees
    (and sets) the request's context variables; ``handling`` is an exception
    that ``sys.exc_info()`` shows inside it, as for an error handler."""

    __slots__ = ("context", "coro", "handling")

    def __init__(
        self,
        context: contextvars.Context,
        coro: t.Coroutine[t.Any, t.Any, T],
        handling: BaseException | None = None,
    ) -> None:
        self.context = context
        self.coro = coro
        self.handling = handling

    def __await__(self) -> t.Generator[t.Any, t.Any, t.Any]:
        run = self.context.run
        coro = self.coro
        value: t.Any = None
        error: BaseException | None = None
        while True:
            try:
                if self.handling is not None:
                    yielded = run(_send_handling, coro, value, error, self.handling)
                elif error is None:
                    yielded = run(coro.send, value)
                else:
                    yielded = run(coro.throw, error)
            except StopIteration as stop:
                return stop.value
            try:
                value = yield yielded
                error = None
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as e:
                value = None
                error = e


def _send_handling(
    coro: t.Coroutine[t.Any, t.Any, t.Any],
    value: t.Any,
    error: BaseException | None,
    handling: BaseException,
) -> t.Any:
    tb = handling.__traceback__
    try:
        raise handling
    except BaseException:
        handling.__traceback__ = tb
        if error is None:
            return coro.send(value)
        return coro.throw(error)


# -- worker threads ----------------------------------------------------------

_thread_state = threading.local()


def loop_of_worker_thread() -> asyncio.AbstractEventLoop | None:
    """The event loop of the ASGI request this worker thread runs code for,
    or ``None`` outside erlen's worker threads."""
    return getattr(_thread_state, "loop", None)


def run_on_loop(
    func: t.Callable[..., t.Coroutine[t.Any, t.Any, T]],
    loop: asyncio.AbstractEventLoop,
) -> t.Callable[..., T]:
    """``func`` made synchronous for a worker thread: each call runs the
    coroutine on the server's ``loop`` (in a copy of the caller's context
    variables) and waits for it."""

    def wrapper(*args: t.Any, **kwargs: t.Any) -> T:
        context = contextvars.copy_context()
        coro = func(*args, **kwargs)
        future = asyncio.run_coroutine_threadsafe(_awaited(context, coro), loop)
        return future.result()

    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    return wrapper


async def _awaited(
    context: contextvars.Context, coro: t.Coroutine[t.Any, t.Any, T]
) -> T:
    return await InContext(context, coro)  # type: ignore[no-any-return]


_Job = tuple[
    contextvars.Context,
    t.Callable[..., t.Any],
    tuple[t.Any, ...],
    "asyncio.Future[t.Any]",
    asyncio.AbstractEventLoop,
]


class _Worker(threading.Thread):
    """A worker thread: runs jobs, one at a time, from its own queue."""

    def __init__(self, pool: WorkerPool) -> None:
        super().__init__(name=f"erlen-worker-{pool.started}", daemon=True)
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()

    def run(self) -> None:
        state = _thread_state
        while True:
            job = self.jobs.get()
            if job is None:
                return
            context, func, args, future, loop = job
            state.loop = loop
            try:
                result = context.run(func, *args)
            except BaseException as e:
                loop.call_soon_threadsafe(_set_exception, future, e)
            else:
                loop.call_soon_threadsafe(_set_result, future, result)
            finally:
                state.loop = None
            del job, context, func, args, future


def _set_result(future: asyncio.Future[t.Any], result: t.Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[t.Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


class WorkerPool:
    """A bounded set of worker threads, lent to requests one at a time.

    At most ``size`` threads are started; a request that needs one while all
    are lent waits (on its event loop, holding no thread) for one to return.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("ASGI_THREADS must be at least 1.")
        self.size = size
        self.started = 0
        self._idle: list[_Worker] = []
        self._waiters: deque[
            tuple[asyncio.Future[_Worker], asyncio.AbstractEventLoop]
        ] = deque()
        self._lock = threading.Lock()

    async def acquire(self) -> _Worker:
        """A worker for the calling request."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if self.started < self.size:
                self.started += 1
                worker = _Worker(self)
                worker.start()
                return worker
            loop = asyncio.get_running_loop()
            future: asyncio.Future[_Worker] = loop.create_future()
            self._waiters.append((future, loop))
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release(future.result())
            raise

    def release(self, worker: _Worker) -> None:
        """Give ``worker`` back: to the next waiting request, else idle."""
        with self._lock:
            while self._waiters:
                future, loop = self._waiters.popleft()
                if not future.done():
                    loop.call_soon_threadsafe(self._hand_over, future, worker)
                    return
            self._idle.append(worker)

    def _hand_over(self, future: asyncio.Future[_Worker], worker: _Worker) -> None:
        if future.done():
            self.release(worker)
        else:
            future.set_result(worker)


class Lane:
    """One request's context variables and, once it first needs one, its
    worker thread: every synchronous step of the request runs there."""

    __slots__ = ("app", "context", "worker")

    def __init__(self, app: Erlen) -> None:
        self.app = app
        self.context = contextvars.copy_context()
        self.worker: _Worker | None = None

    async def run(self, func: t.Callable[..., T], *args: t.Any) -> T:
        """Call ``func(*args)`` in the lane's thread and context."""
        worker = self.worker
        if worker is None:
            worker = self.worker = await _pool(self.app).acquire()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        worker.jobs.put((self.context, func, args, future, loop))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The thread can't be stopped: let the call finish before the
            # request's generator or context is touched again.
            while not future.done():
                try:
                    await asyncio.shield(future)
                except asyncio.CancelledError:
                    continue
                except BaseException:
                    break
            raise

    def release(self) -> None:
        """Give the worker thread back to the pool."""
        worker = self.worker
        if worker is not None:
            self.worker = None
            _pool(self.app).release(worker)


def _pool(app: Erlen) -> WorkerPool:
    pool: WorkerPool | None = app.__dict__.get("_worker_pool")
    if pool is None:
        size = app.config.get("ASGI_THREADS") or DEFAULT_THREADS
        pool = app.__dict__["_worker_pool"] = WorkerPool(int(size))
    return pool


# -- sending the response ----------------------------------------------------


#: Response header names, lower-cased and encoded once (bounded).
_header_names: dict[str, bytes] = {}


def _start_message(status: str, headers: t.Iterable[tuple[str, str]]) -> ASGIMessage:
    names = _header_names
    return {
        "type": "http.response.start",
        "status": int(status[:3]),
        "headers": [
            (names.get(name) or _header_name(name), value.encode("latin-1"))
            for name, value in headers
        ],
        WSGI_START_KEY: (status, headers),
    }


def _header_name(name: str) -> bytes:
    raw = name.lower().encode("latin-1")
    if len(_header_names) < 512:
        _header_names[name] = raw
    return raw


async def _send_response(
    response: t.Any,
    environ: WSGIEnvironment,
    send: ASGISend,
    receive: ASGIReceive,
    lane: Lane,
) -> None:
    """Send the core's response: the same status, headers and bytes the WSGI
    adapter would give the server."""
    cls = response.__class__
    if cls is RawResponse:
        await send(_start_message(response.status, response.headers))
        body = b"" if environ["REQUEST_METHOD"] == "HEAD" else response.body
        await send({"type": "http.response.body", "body": body})
        return
    if cls is RawStream:
        await send(_start_message(response.status, response.headers))
        if environ["REQUEST_METHOD"] == "HEAD":
            await lane.run(response.gen.close)
            await send({"type": "http.response.body", "body": b""})
            return
        await _send_iterable(_EncodedStream(response.gen), send, receive, lane)
        return
    source = getattr(response, "response", None)
    if hasattr(source, "__aiter__"):
        # The request's sync code has all run (its context is popped) and
        # the body is iterated on the loop: the worker thread is not needed
        # while a long stream (server-sent events) is open.
        lane.release()
        await _send_async_iterable(response, environ, send, receive, lane)
        return
    await _serve_wsgi(response, environ, send, receive, lane, inline=True)


async def _serve_wsgi(
    wsgi_app: t.Callable[..., t.Iterable[bytes]],
    environ: WSGIEnvironment,
    send: ASGISend,
    receive: ASGIReceive,
    lane: Lane,
    inline: bool = False,
) -> None:
    """Call a WSGI application (a response object, or middleware around
    ``wsgi_app``) and send what it starts and returns."""
    started: list[t.Any] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
    ) -> t.Callable[[bytes], object]:
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return _no_write

    if inline:
        # A response object's __call__ only computes headers: no I/O.
        body = lane.context.run(wsgi_app, environ, start_response)
        if (
            body.__class__ is not list
            and getattr(wsgi_app, "is_sequence", False)
            and not getattr(wsgi_app, "_on_close", True)
            and not getattr(wsgi_app, "direct_passthrough", True)
        ):
            # A buffered body behind Werkzeug's iterator: nothing to wait for.
            chunks = list(body)
            body.close()  # type: ignore[attr-defined]
            body = chunks
    else:
        body = await lane.run(wsgi_app, environ, start_response)
    if body.__class__ is list:
        if not started:
            raise RuntimeError("The WSGI application did not call start_response.")
        await send(_start_message(*started))
        await send({"type": "http.response.body", "body": b"".join(body)})
        return
    await _send_iterable(body, send, receive, lane, started)


def _no_write(data: bytes) -> object:
    raise RuntimeError("erlen's ASGI adapter does not support WSGI write().")


def _next_chunk(iterator: t.Iterator[bytes]) -> bytes | None:
    for chunk in iterator:
        if chunk:
            return chunk
    return None


async def _send_iterable(
    body: t.Iterable[bytes],
    send: ASGISend,
    receive: ASGIReceive,
    lane: Lane,
    started: list[t.Any] | None = None,
) -> None:
    """Send a body iterated in the lane, chunk by chunk, stopping (and
    closing it) when the client disconnects."""
    iterator = iter(body)
    watcher: asyncio.Task[t.Any] | None = None
    try:
        chunk = await lane.run(_next_chunk, iterator)
        if started is not None:
            if not started:
                raise RuntimeError("The WSGI application did not call start_response.")
            await send(_start_message(*started))
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            while chunk is not None:
                if watcher.done():
                    return
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": True}
                )
                if watcher.done():
                    return
                chunk = await lane.run(_next_chunk, iterator)
            await send({"type": "http.response.body", "body": b""})
        except OSError:
            return  # The client went away; the body is closed below.
    finally:
        if watcher is not None:
            watcher.cancel()
        close = getattr(body, "close", None)
        if close is not None:
            await lane.run(close)


async def _wait_disconnect(receive: ASGIReceive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _send_async_iterable(
    response: t.Any,
    environ: WSGIEnvironment,
    send: ASGISend,
    receive: ASGIReceive,
    lane: Lane,
) -> None:
    """Send a response whose body is an async iterable, iterated on the loop
    in the request's context, and closed when the client disconnects."""
    source = response.response
    headers = response.get_wsgi_headers(environ)
    await send(_start_message(response.status, headers.to_wsgi_list()))
    iterator = source.__aiter__()
    watcher = asyncio.ensure_future(_wait_disconnect(receive))
    # PERF: one task pumps the whole body, raced once against the disconnect.
    pump = asyncio.ensure_future(
        _awaited(lane.context, _pump(iterator, response, environ, send))
    )
    try:
        done, _ = await asyncio.wait(
            (pump, watcher), return_when=asyncio.FIRST_COMPLETED
        )
        if pump not in done:
            # Let the cancelled pump end before the iterator is closed:
            # aclose() refuses a generator still running.
            pump.cancel()
            await asyncio.wait((pump,))
            return
        try:
            pump.result()
        except OSError:
            return  # The client went away (send raises, ASGI 2.4); closed below.
    finally:
        watcher.cancel()
        if not pump.done():
            pump.cancel()
            await asyncio.wait((pump,))
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await _awaited(lane.context, aclose())
        if (
            iscoroutinefunction(getattr(source, "aclose", None))
            and source is not iterator
        ):
            await _awaited(lane.context, source.aclose())
        # What a WSGI server's close() of the body runs: the response's
        # call_on_close functions.
        close = getattr(response, "close", None)
        if close is not None:
            await lane.run(close)


async def _pump(
    iterator: t.AsyncIterator[t.Any],
    response: t.Any,
    environ: WSGIEnvironment,
    send: ASGISend,
) -> None:
    if environ["REQUEST_METHOD"] != "HEAD":
        charset = getattr(response, "charset", "utf-8")
        async for chunk in iterator:
            if isinstance(chunk, str):
                chunk = chunk.encode(charset)
            if chunk:
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": True}
                )
    await send({"type": "http.response.body", "body": b""})


# -- lifespan ----------------------------------------------------------------


async def _lifespan(app: Erlen, receive: ASGIReceive, send: ASGISend) -> None:
    """Run ``before_serving`` functions at startup and ``after_serving``
    functions at shutdown, each in an app context; a failing startup is
    reported to the server, which then refuses to start."""
    while True:
        kind = (await receive())["type"]
        if kind == "lifespan.startup":
            funcs, what = app.before_serving_funcs, "Startup"
        elif kind == "lifespan.shutdown":
            funcs, what = app.after_serving_funcs, "Shutdown"
        else:
            continue
        try:
            await _run_serving_funcs(app, funcs)
        except BaseException as e:
            app.logger.exception(f"{what} failed")
            await send({"type": f"{kind}.failed", "message": repr(e)})
            return
        await send({"type": f"{kind}.complete"})
        if kind == "lifespan.shutdown":
            return


async def _run_serving_funcs(
    app: Erlen, funcs: t.Sequence[t.Callable[[], t.Any]]
) -> None:
    if not funcs:
        return
    lane = Lane(app)
    ctx = app.app_context()
    try:
        lane.context.run(ctx.push)
        try:
            for func in funcs:
                if iscoroutinefunction(func):
                    await InContext(lane.context, func())
                else:
                    await lane.run(func)
        finally:
            await lane.run(ctx.pop, None)
    finally:
        lane.release()


# -- debug mode --------------------------------------------------------------


class TracebackMiddleware:
    """Debug mode over ASGI (``erlen run --asgi --debug``): an error that
    escapes the app before its response started is answered with Werkzeug's
    traceback page, not interactive (the debugger console is WSGI only).
    Never use it in production: the page shows source code."""

    def __init__(self, app: t.Callable[..., t.Awaitable[None]]) -> None:
        self.app = app

    async def __call__(
        self, scope: ASGIScope, receive: ASGIReceive, send: ASGISend
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: ASGIMessage) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as e:
            if started:
                raise
            from werkzeug.debug.tbtools import DebugTraceback

            traceback_ = DebugTraceback(e)
            sys.stderr.write(traceback_.render_traceback_text() + "\n")
            page = traceback_.render_debugger_html(
                evalex=False, secret="", evalex_trusted=False
            ).encode()
            headers = [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(page))),
            ]
            await send(_start_message("500 INTERNAL SERVER ERROR", headers))
            await send({"type": "http.response.body", "body": page})
