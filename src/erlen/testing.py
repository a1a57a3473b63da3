"""Test helpers: the test client, its environ builder and the CLI runner."""

from __future__ import annotations

import asyncio
import contextvars
import importlib.metadata
import os
import queue
import sys
import threading
import typing as t
from contextlib import ExitStack, contextmanager
from copy import copy
from types import TracebackType
from urllib.parse import quote_from_bytes, urlsplit

import werkzeug.test
from click.testing import CliRunner, Result
from werkzeug.datastructures import Headers
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.test import Client
from werkzeug.wrappers import Request as BaseRequest
from werkzeug.wsgi import get_current_url

from .cli import ScriptInfo
from .core import WSGI_START_KEY
from .sessions import SessionMixin

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment
    from werkzeug.test import TestResponse

    from .app import Erlen


class EnvironBuilder(werkzeug.test.EnvironBuilder):
    """Werkzeug's environ builder with the app's defaults: ``SERVER_NAME``,
    ``APPLICATION_ROOT`` and ``PREFERRED_URL_SCHEME``; ``json=`` uses the
    app's JSON provider.

    :param app: The application.
    :param path: URL path; may be a full URL, in which case it sets the base.
    :param base_url: Base URL; built from the app's config when not given.
    :param subdomain: Subdomain of ``SERVER_NAME`` to use.
    :param url_scheme: Scheme instead of ``PREFERRED_URL_SCHEME``.
    """

    def __init__(
        self,
        app: Erlen,
        path: str = "/",
        base_url: str | None = None,
        subdomain: str | None = None,
        url_scheme: str | None = None,
        *args: t.Any,
        **kwargs: t.Any,
    ) -> None:
        assert not (base_url or subdomain or url_scheme) or (
            base_url is not None
        ) != bool(subdomain or url_scheme), (
            'Cannot pass "subdomain" or "url_scheme" with "base_url".'
        )
        if base_url is None:
            http_host = app.config.get("SERVER_NAME") or "localhost"
            app_root = app.config["APPLICATION_ROOT"]
            if subdomain:
                http_host = f"{subdomain}.{http_host}"
            if url_scheme is None:
                url_scheme = app.config["PREFERRED_URL_SCHEME"]
            url = urlsplit(path)
            base_url = (
                f"{url.scheme or url_scheme}://{url.netloc or http_host}"
                f"/{app_root.lstrip('/')}"
            )
            path = url.path
            if url.query:
                path = f"{path}?{url.query}"
        self.app = app
        super().__init__(path, base_url, *args, **kwargs)

    def json_dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        """Serialize ``json=`` data with the app's JSON provider."""
        return self.app.json.dumps(obj, **kwargs)


_werkzeug_version = ""


def _get_werkzeug_version() -> str:
    global _werkzeug_version
    if not _werkzeug_version:
        _werkzeug_version = importlib.metadata.version("werkzeug")
    return _werkzeug_version


def client_protocol() -> str:
    """The protocol test clients use: ``"asgi"`` when the environment
    variable ``ERLEN_TEST_PROTOCOL`` is ``asgi``, else ``"wsgi"``."""
    return "asgi" if os.environ.get("ERLEN_TEST_PROTOCOL") == "asgi" else "wsgi"


class ErlenClient(Client):
    """The test client: Werkzeug's, plus app-aware environ building,
    ``session_transaction`` and ``with client:`` keeping the last request's
    context active until the block ends."""

    application: Erlen

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.preserve_context = False
        self._new_contexts: list[t.ContextManager[t.Any]] = []
        self._context_stack = ExitStack()
        self.environ_base = {
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_USER_AGENT": f"Werkzeug/{_get_werkzeug_version()}",
        }

    @contextmanager
    def session_transaction(
        self, *args: t.Any, **kwargs: t.Any
    ) -> t.Iterator[SessionMixin]:
        """Open the session the next request would see, to read or change it;
        changes are saved back into the client's cookies on exit."""
        if self._cookies is None:
            raise TypeError(
                "Cookies are disabled. Create a client with 'use_cookies=True'."
            )
        app = self.application
        ctx = app.test_request_context(*args, **kwargs)
        self._add_cookies_to_wsgi(ctx.request.environ)
        with ctx:
            sess = app.session_interface.open_session(app, ctx.request)
        if sess is None:
            raise RuntimeError("Session backend did not open a session.")
        yield sess
        resp = app.response_class()
        if app.session_interface.is_null_session(sess):
            return
        with ctx:
            app.session_interface.save_session(app, sess, resp)
        self._update_cookies_from_response(
            ctx.request.host.partition(":")[0],
            ctx.request.path,
            resp.headers.getlist("Set-Cookie"),
        )

    def run_wsgi_app(
        self, environ: WSGIEnvironment, buffered: bool = False
    ) -> tuple[t.Iterable[bytes], str, Headers]:
        """Run the app for one request: through ``wsgi_app``, or through
        ``asgi_app`` on a real event loop when ``ERLEN_TEST_PROTOCOL=asgi``."""
        if (
            client_protocol() != "asgi"
            or getattr(self.application, "asgi_app", None) is None
        ):
            return super().run_wsgi_app(environ, buffered)
        self._add_cookies_to_wsgi(environ)
        rv = run_asgi_app(self.application.asgi_app, environ, buffered)
        url = urlsplit(get_current_url(environ))
        self._update_cookies_from_response(
            url.hostname or "localhost", url.path, rv[2].getlist("Set-Cookie")
        )
        return rv

    def _copy_environ(self, other: WSGIEnvironment) -> WSGIEnvironment:
        out = {**self.environ_base, **other}
        if self.preserve_context:
            out["werkzeug.debug.preserve_context"] = self._new_contexts.append
        return out

    def _request_from_builder_args(
        self, args: tuple[t.Any, ...], kwargs: dict[str, t.Any]
    ) -> BaseRequest:
        kwargs["environ_base"] = self._copy_environ(kwargs.get("environ_base", {}))
        builder = EnvironBuilder(self.application, *args, **kwargs)
        try:
            return builder.get_request()
        finally:
            builder.close()

    def open(
        self,
        *args: t.Any,
        buffered: bool = False,
        follow_redirects: bool = False,
        **kwargs: t.Any,
    ) -> TestResponse:
        """Make a request; accepts everything Werkzeug's ``open`` does and the
        app-aware ``EnvironBuilder`` arguments."""
        if args and isinstance(
            args[0], (werkzeug.test.EnvironBuilder, dict, BaseRequest)
        ):
            if isinstance(args[0], werkzeug.test.EnvironBuilder):
                builder = copy(args[0])
                builder.environ_base = self._copy_environ(builder.environ_base or {})  # type: ignore[arg-type]
                request = builder.get_request()
            elif isinstance(args[0], dict):
                request = EnvironBuilder.from_environ(
                    args[0], app=self.application, environ_base=self._copy_environ({})
                ).get_request()
            else:
                request = copy(args[0])
                request.environ = self._copy_environ(request.environ)
        else:
            request = self._request_from_builder_args(args, kwargs)
        # Pop contexts kept by the previous request before making this one.
        self._context_stack.close()
        response = super().open(
            request, buffered=buffered, follow_redirects=follow_redirects
        )
        response.json_module = self.application.json  # type: ignore[assignment]
        # Re-push what the request preserved: app context first, then request.
        for cm in self._new_contexts:
            self._context_stack.enter_context(cm)
        self._new_contexts.clear()
        return response

    def websocket(
        self,
        path: str,
        *args: t.Any,
        headers: t.Any = None,
        subprotocols: t.Sequence[str] | None = None,
        timeout: float | None = None,
        **kwargs: t.Any,
    ) -> WebsocketConnection:
        """Open a websocket to ``path``: ``with client.websocket("/ws") as
        ws: ws.send("hi"); ws.receive()``.

        The handshake carries the client's cookies (so a session set by an
        earlier request is the handler's), ``headers`` and ``subprotocols``
        (``Sec-WebSocket-Protocol``); other arguments are those of
        :class:`EnvironBuilder` (``query_string``, ``base_url`` with
        ``https`` for ``wss``, ...). The app runs over ``app.asgi_app`` on
        the client's event loop whatever ``ERLEN_TEST_PROTOCOL`` says. A
        refused handshake raises :class:`WebsocketResponseError`; every wait
        is bounded by ``timeout`` (default :data:`WEBSOCKET_TIMEOUT`)."""
        if args:
            raise TypeError("client.websocket() takes the path, then keywords.")
        return _websocket(
            self,
            path,
            headers,
            subprotocols,
            WEBSOCKET_TIMEOUT if timeout is None else timeout,
            kwargs,
        )

    def __enter__(self) -> ErlenClient:
        if self.preserve_context:
            raise RuntimeError("Cannot nest client invocations")
        self.preserve_context = True
        return self

    def __exit__(
        self,
        exc_type: type | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.preserve_context = False
        self._context_stack.close()


class ErlenCliRunner(CliRunner):
    """A click runner that invokes the app's commands with the app loaded."""

    def __init__(self, app: Erlen, **kwargs: t.Any) -> None:
        self.app = app
        super().__init__(**kwargs)

    def invoke(  # type: ignore[override]
        self, cli: t.Any = None, args: t.Any = None, **kwargs: t.Any
    ) -> Result:
        """Invoke ``cli`` (default: ``app.cli``) with ``args``."""
        if cli is None:
            cli = self.app.cli
        if "obj" not in kwargs:
            kwargs["obj"] = ScriptInfo(create_app=lambda: self.app)
        return super().invoke(cli, args, **kwargs)


# -- the test client over ASGI -------------------------------------------------

#: Environ keys an ASGI scope carries; the test client passes the others (test
#: streams, ``werkzeug.debug.preserve_context``, ...) as a scope extension.
_SCOPE_KEYS = frozenset(
    (
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "PATH_INFO",
        "QUERY_STRING",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "REMOTE_ADDR",
        "REMOTE_PORT",
        "CONTENT_TYPE",
        "CONTENT_LENGTH",
        "wsgi.version",
        "wsgi.url_scheme",
        "wsgi.input",
        "wsgi.input_terminated",
    )
)
_PATH_SAFE = "/!$&'()*+,;=:@-._~"


def scope_from_environ(environ: WSGIEnvironment) -> dict[str, t.Any]:
    """The ASGI HTTP scope an ASGI server would give for a WSGI environ."""
    headers = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:]
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if not value:
                continue
            name = key
        else:
            continue
        headers.append(
            (name.replace("_", "-").lower().encode("latin-1"), value.encode("latin-1"))
        )
    path_bytes = environ.get("PATH_INFO", "").encode("latin-1")
    root = environ.get("SCRIPT_NAME", "").encode("latin-1").decode("utf-8", "replace")
    path = path_bytes.decode("utf-8", "replace")
    port = environ.get("SERVER_PORT") or "80"
    protocol = environ.get("SERVER_PROTOCOL", "HTTP/1.1")
    scope: dict[str, t.Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": protocol.partition("/")[2] or "1.1",
        "method": environ["REQUEST_METHOD"],
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": root + path,
        "raw_path": quote_from_bytes(path_bytes, _PATH_SAFE).encode("ascii"),
        "root_path": root,
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "headers": headers,
        "server": (environ.get("SERVER_NAME", "localhost"), int(port)),
        "client": (
            environ.get("REMOTE_ADDR", "127.0.0.1"),
            int(environ.get("REMOTE_PORT") or 0),
        ),
        "extensions": {
            "erlen.environ": {
                key: value
                for key, value in environ.items()
                if key not in _SCOPE_KEYS and not key.startswith("HTTP_")
            }
        },
    }
    return scope


class _Portal:
    """An event loop running in a daemon thread, for synchronous callers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.tasks: set[asyncio.Task[t.Any]] = set()
        thread = threading.Thread(
            target=self.loop.run_forever, name="erlen-test-loop", daemon=True
        )
        thread.start()

    def start(
        self, coro: t.Coroutine[t.Any, t.Any, t.Any], context: contextvars.Context
    ) -> None:
        """Run ``coro`` as a task in ``context``."""

        def create() -> None:
            if sys.version_info >= (3, 11):
                task = self.loop.create_task(coro, context=context)
            else:  # Python 3.10: the task runs in a copy of the context.
                task = context.run(self.loop.create_task, coro)
            # The loop keeps tasks weakly: hold each until it ends.
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

        self.loop.call_soon_threadsafe(create)


_portal: _Portal | None = None
_portal_lock = threading.Lock()


def _get_portal() -> _Portal:
    global _portal
    with _portal_lock:
        if _portal is None:
            _portal = _Portal()
        return _portal


_FINISHED = object()
#: How long the client waits for the app's next message before failing.
ASGI_TIMEOUT = 60.0
#: How long closing a response waits for the app to notice and finish.
ASGI_CLOSE_WAIT = 10.0


class _ASGIExchange:
    """One request to an ASGI app: the body sent as ``http.request``
    messages, what the app sends handed to the caller's thread one message at
    a time (the app waits until the caller takes each body chunk), and a
    disconnect once the caller closes the body."""

    def __init__(self, body: t.IO[bytes] | None, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.body = body
        self.body_sent = body is None
        # The client keeps its request body (a 307 redirect sends it again).
        self.body_start = body.tell() if body is not None and body.seekable() else None
        self.outbox: queue.SimpleQueue[t.Any] = queue.SimpleQueue()
        self.disconnected = asyncio.Event()
        self.closed = False
        self.taken: asyncio.Future[t.Any] | None = None
        self.finished = threading.Event()

    async def receive(self) -> dict[str, t.Any]:
        if not self.body_sent:
            # Read as the app asks for it: a body it never receives stays unread.
            chunk = self.body.read(65536)  # type: ignore[union-attr]
            more = len(chunk) == 65536
            self.body_sent = not more
            if not more and self.body_start is not None:
                self.body.seek(self.body_start)  # type: ignore[union-attr]
            return {"type": "http.request", "body": chunk, "more_body": more}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, t.Any]) -> None:
        if self.closed:
            raise OSError("The test client closed the response.")
        if message["type"] == "http.response.body" and message.get("more_body"):
            taken = self.loop.create_future()
            self.outbox.put((message, taken))
            await taken
        else:
            self.outbox.put((message, None))

    async def run(self, app: t.Any, scope: dict[str, t.Any]) -> None:
        try:
            await app(scope, self.receive, self.send)
        except BaseException as e:
            self.outbox.put((e, None))
        else:
            self.outbox.put((_FINISHED, None))
        finally:
            self.finished.set()

    def take(self) -> t.Any:
        """The app's next message (raising what the app raised)."""
        # The app may produce its next chunk only once this one is asked for.
        if self.taken is not None:
            self.loop.call_soon_threadsafe(_resolve, self.taken)
        try:
            item, self.taken = self.outbox.get(timeout=ASGI_TIMEOUT)
        except queue.Empty:
            raise TimeoutError("The ASGI app sent nothing for too long.") from None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.loop.call_soon_threadsafe(self.disconnected.set)
            if self.taken is not None:
                self.loop.call_soon_threadsafe(_resolve, self.taken)


def _resolve(future: asyncio.Future[t.Any]) -> None:
    if not future.done():
        future.set_result(None)


class _ASGIBody:
    """The response body as the app sends it, chunk by chunk."""

    def __init__(self, exchange: _ASGIExchange, first: bytes, more: bool) -> None:
        self.exchange = exchange
        self.pending = first
        self.more = more

    def __iter__(self) -> _ASGIBody:
        return self

    def __next__(self) -> bytes:
        while True:
            if self.pending:
                chunk, self.pending = self.pending, b""
                return chunk
            if not self.more:
                self.close()
                raise StopIteration
            message = self.exchange.take()
            if message is _FINISHED:
                self.more = False
                continue
            self.pending = message.get("body", b"")
            self.more = message.get("more_body", False)

    def close(self) -> None:
        """Disconnect, and wait (a bounded time) for the app to finish, as
        closing a WSGI body returns once the app has cleaned up."""
        self.exchange.close()
        self.exchange.finished.wait(ASGI_CLOSE_WAIT)

    def __del__(self) -> None:
        # A response dropped unread: the app sees the client go away.
        self.exchange.close()


def run_asgi_app(
    app: t.Any, environ: WSGIEnvironment, buffered: bool = False
) -> tuple[t.Iterable[bytes], str, Headers]:
    """Send one request, described by a WSGI environ, to an ASGI app on a
    real event loop; return ``(body, status, headers)`` like Werkzeug's
    ``run_wsgi_app``. Context variables of the caller are seen by the app,
    as a WSGI app called in this thread would see them."""
    portal = _get_portal()
    exchange = _ASGIExchange(environ.get("wsgi.input"), portal.loop)
    portal.start(
        exchange.run(app, scope_from_environ(environ)), contextvars.copy_context()
    )
    message = exchange.take()
    while message is not _FINISHED and message["type"] != "http.response.start":
        message = exchange.take()
    if message is _FINISHED:
        raise RuntimeError("The ASGI app finished without sending a response.")
    status, headers = _start_as_wsgi(message)
    first = exchange.take()
    if first is _FINISHED:
        response_body = _ASGIBody(exchange, b"", False)
    else:
        response_body = _ASGIBody(
            exchange, first.get("body", b""), first.get("more_body", False)
        )
    if buffered:
        try:
            data = b"".join(response_body)
        finally:
            response_body.close()
        return [data], status, headers
    return response_body, status, headers


def _start_as_wsgi(message: t.Mapping[str, t.Any]) -> tuple[str, Headers]:
    """The status line and headers of a response start message, as the WSGI
    side gives them: erlen's adapter sends those beside ASGI's lower-cased
    names (:data:`erlen.core.WSGI_START_KEY`), used unless middleware
    changed the message since; otherwise the ASGI names and a status line
    from the code."""
    code = message["status"]
    sent = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in message.get("headers") or ()
    ]
    wsgi = message.get(WSGI_START_KEY)
    if wsgi is not None:
        line, original = wsgi
        original = list(original)
        if (
            int(line[:3]) == code
            and [(name.lower(), value) for name, value in original] == sent
        ):
            return line, Headers(original)
    return f"{code} {HTTP_STATUS_CODES.get(code, 'UNKNOWN').upper()}", Headers(sent)


# -- the websocket test client -------------------------------------------------

#: How long the websocket test client waits for the app (handshake, messages,
#: the end of the handler) before failing with ``TimeoutError``.
WEBSOCKET_TIMEOUT = 10.0


class WebsocketResponseError(Exception):
    """The app refused the websocket handshake; :attr:`response` is the HTTP
    response it refused it with (status, headers, body), as Quart's test
    client reports it."""

    def __init__(self, response: TestResponse) -> None:
        super().__init__(response)
        self.response = response

    def __str__(self) -> str:
        return f"The websocket handshake was refused: {self.response.status}"


_CLIENT_CLOSED = object()


class WebsocketConnection:
    """A websocket connection made by the test client (``client.websocket``).

    Synchronous: each call waits (at most ``timeout`` seconds) for the app,
    which runs on the test client's event loop, over ``app.asgi_app``.
    """

    def __init__(
        self,
        client: ErlenClient,
        scope: dict[str, t.Any],
        environ: WSGIEnvironment,
        timeout: float,
    ) -> None:
        self.client = client
        self.scope = scope
        self.environ = environ
        self.timeout = timeout
        #: The subprotocol the app chose on accepting, if any.
        self.subprotocol: str | None = None
        #: The headers the app added to its ``accept``.
        self.headers = Headers()
        #: The close code and reason once the app closed the connection.
        self.close_code: int | None = None
        self.close_reason = ""
        self._portal = _get_portal()
        self._inbox: asyncio.Queue[dict[str, t.Any]] | None = None
        self._outbox: queue.SimpleQueue[t.Any] = queue.SimpleQueue()
        self._finished = threading.Event()
        self._error: BaseException | None = None
        self._closed_by_client = False
        self._disconnect_sent: dict[str, t.Any] | None = None

    # -- the app's side, on the loop ------------------------------------------

    async def _receive(self) -> dict[str, t.Any]:
        if self._disconnect_sent is not None:
            return self._disconnect_sent
        assert self._inbox is not None
        message = await self._inbox.get()
        if message["type"] == "websocket.disconnect":
            self._disconnect_sent = message
        return message

    async def _send(self, message: t.MutableMapping[str, t.Any]) -> None:
        if self._closed_by_client:
            raise OSError("The test client closed the websocket.")
        self._outbox.put(message)

    async def _run(self) -> None:
        self._inbox = asyncio.Queue()
        self._inbox.put_nowait({"type": "websocket.connect"})
        try:
            await self.client.application.asgi_app(
                self.scope, self._receive, self._send
            )
        except BaseException as e:
            self._error = e
            self._outbox.put(e)
        finally:
            self._outbox.put(_FINISHED)
            self._finished.set()

    def _to_app(self, message: dict[str, t.Any]) -> None:
        inbox = self._inbox
        assert inbox is not None
        self._portal.loop.call_soon_threadsafe(inbox.put_nowait, message)

    # -- the test's side ---------------------------------------------------------

    def _take(self, timeout: float | None) -> t.Any:
        try:
            item = self._outbox.get(
                timeout=self.timeout if timeout is None else timeout
            )
        except queue.Empty:
            raise TimeoutError(
                "The websocket handler sent nothing for"
                f" {self.timeout if timeout is None else timeout} seconds."
            ) from None
        if isinstance(item, BaseException):
            self._error = None  # Raised here: not again on exit.
            raise item
        return item

    def _connect(self) -> None:
        self._portal.start(self._run(), contextvars.copy_context())
        message = self._take(None)
        kind = None if message is _FINISHED else message["type"]
        if kind == "websocket.accept":
            self.subprotocol = message.get("subprotocol")
            self.headers = Headers(
                [
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers") or ()
                ]
            )
            self._update_cookies(self.headers)
            return
        if kind == "websocket.close":
            # What a server answers to a handshake closed before accepting.
            self._wait_finished()
            raise WebsocketResponseError(self._response(403, Headers(), b""))
        if kind == "websocket.http.response.start":
            headers = _start_as_wsgi(message)[1]
            status = message["status"]
            chunks = []
            while True:
                body = self._take(None)
                if body is _FINISHED:
                    break
                chunks.append(body.get("body", b""))
                if not body.get("more_body", False):
                    break
            self._wait_finished()
            self._update_cookies(headers)
            raise WebsocketResponseError(
                self._response(status, headers, b"".join(chunks))
            )
        raise RuntimeError(
            f"The ASGI app answered a websocket handshake with {message!r}."
        )

    def _response(self, status: int, headers: Headers, body: bytes) -> TestResponse:
        response = werkzeug.test.TestResponse(
            [body],
            f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}",
            headers,
            BaseRequest(self.environ),
        )
        response.json_module = self.client.application.json  # type: ignore[assignment]
        return response

    def _update_cookies(self, headers: Headers) -> None:
        cookies = headers.getlist("Set-Cookie")
        if cookies and self.client._cookies is not None:
            url = urlsplit(get_current_url(self.environ))
            self.client._update_cookies_from_response(
                url.hostname or "localhost", url.path, cookies
            )

    def _wait_finished(self) -> None:
        if not self._finished.wait(self.timeout):
            raise TimeoutError(
                f"The websocket handler did not end within {self.timeout} seconds."
            )
        # Whatever is left: an error the app raised is raised here.
        while True:
            try:
                item = self._outbox.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, BaseException):
                self._error = None
                raise item

    def send(self, data: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message to the app."""
        if self._closed_by_client:
            raise RuntimeError("The websocket was closed by the test client.")
        if isinstance(data, str):
            self._to_app({"type": "websocket.receive", "text": data})
        else:
            self._to_app({"type": "websocket.receive", "bytes": bytes(data)})

    def send_json(self, obj: t.Any) -> None:
        """Send ``obj`` as a text message, encoded by the app's JSON provider."""
        self.send(self.client.application.json.dumps(obj))

    def receive(self, timeout: float | None = None) -> str | bytes:
        """The app's next message: ``str`` or ``bytes``. Raises
        :class:`~erlen.websockets.WebsocketDisconnect` (with ``.code`` and
        ``.reason``) once the app closed the connection, ``TimeoutError``
        when it sends nothing for ``timeout`` seconds (default: the
        client's), and whatever the app raised when it propagated an error."""
        from .websockets import WebsocketDisconnect

        if self.close_code is not None:
            raise WebsocketDisconnect(self.close_code, self.close_reason)
        if self._closed_by_client:
            raise RuntimeError("The websocket was closed by the test client.")
        message = self._take(timeout)
        if message is _FINISHED:
            self.close_code = 1006
            raise WebsocketDisconnect(1006, "The app ended without closing.")
        kind = message["type"]
        if kind == "websocket.send":
            text = message.get("text")
            if text is not None:
                return t.cast(str, text)
            return t.cast(bytes, message.get("bytes") or b"")
        if kind == "websocket.close":
            self.close_code = message.get("code", 1000)
            self.close_reason = message.get("reason") or ""
            closed = WebsocketDisconnect(self.close_code, self.close_reason)
            if self.close_code == 1011 and self._finished.wait(self.timeout):
                # An internal error: the one the app propagated, if it did.
                try:
                    self._wait_finished()
                except BaseException as e:
                    raise e from closed
            raise closed
        raise RuntimeError(f"Unexpected ASGI message from the app: {message!r}")

    def receive_json(self, timeout: float | None = None) -> t.Any:
        """The app's next message, decoded by the app's JSON provider."""
        return self.client.application.json.loads(self.receive(timeout))

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (the app's ``receive()`` raises
        ``WebsocketDisconnect``) and wait, a bounded time, for the handler
        to end; an error the app propagated is raised here."""
        if not self._closed_by_client:
            self._closed_by_client = True
            self._to_app(
                {"type": "websocket.disconnect", "code": code, "reason": reason}
            )
        self._wait_finished()

    def __enter__(self) -> WebsocketConnection:
        return self

    def __exit__(
        self,
        exc_type: type | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            return
        try:
            self.close()
        except Exception:
            pass  # The test's own exception is the one to report.


def _websocket(
    client: ErlenClient,
    path: str,
    headers: t.Any,
    subprotocols: t.Sequence[str] | None,
    timeout: float,
    kwargs: dict[str, t.Any],
) -> WebsocketConnection:
    """Build the handshake as a browser sends it and connect."""
    kwargs["environ_base"] = {**client.environ_base, **kwargs.get("environ_base", {})}
    hdrs = Headers(headers)
    hdrs.setdefault("Connection", "Upgrade")
    hdrs.setdefault("Upgrade", "websocket")
    hdrs.setdefault("Sec-WebSocket-Version", "13")
    hdrs.setdefault("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
    if subprotocols:
        hdrs.setdefault("Sec-WebSocket-Protocol", ", ".join(subprotocols))
    builder = EnvironBuilder(client.application, path, headers=hdrs, **kwargs)
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    if client._cookies is not None:
        client._add_cookies_to_wsgi(environ)
    scope = scope_from_environ(environ)
    del scope["method"]
    scope["type"] = "websocket"
    scope["scheme"] = "wss" if scope["scheme"] in ("https", "wss") else "ws"
    scope["subprotocols"] = list(subprotocols or ())
    scope["extensions"]["websocket.http.response"] = {}
    ws = WebsocketConnection(client, scope, environ, timeout)
    ws._connect()
    return ws
