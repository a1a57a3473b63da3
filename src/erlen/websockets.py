"""Websocket routes, served over ASGI.

``@app.websocket("/ws/<room>")`` registers an ``async def`` handler on a
Werkzeug rule with ``websocket=True``. An ASGI ``websocket`` connection runs
as an HTTP request does (:func:`serve_websocket`):

1. The handshake's scope becomes a WSGI-style environ (``GET``, an empty
   body, scheme ``ws``/``wss``) and a request context is built from it, so
   ``request``, ``session`` (read from the handshake's cookie), ``g``,
   ``current_app`` and ``url_for`` work in the handler; the
   :class:`Websocket` object is the ``websocket`` proxy.
2. The core's steps (:meth:`erlen.Erlen._handle` with ``websocket=True``)
   are driven by the ASGI driver: URL value preprocessors, then
   ``before_websocket`` functions, the handler, error handlers,
   ``after_websocket`` functions and, when the context pops, the
   ``teardown_request`` and ``teardown_appcontext`` functions.
3. What the handler leaves is sent: before the handshake was accepted, a
   response (an ``abort()``, an unknown path's 404, a value the handler
   returned) refuses it with that HTTP response; once accepted, the
   connection is closed (1000, or 1011 after an unhandled error).

Nothing here imports :mod:`asyncio`: the ASGI adapter does, and calls
:func:`serve_websocket`.
"""

from __future__ import annotations

import typing as t
from io import BytesIO

from werkzeug.datastructures import Headers
from werkzeug.exceptions import BadRequest

from .core import WSGI_START_KEY
from .globals import _cv_request

if t.TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict

    from .app import Erlen
    from .ctx import RequestContext
    from .wrappers import Request

    ASGIScope = t.MutableMapping[str, t.Any]
    ASGIMessage = t.MutableMapping[str, t.Any]
    ASGIReceive = t.Callable[[], t.Awaitable[ASGIMessage]]
    ASGISend = t.Callable[[ASGIMessage], t.Awaitable[None]]

#: The ASGI extension that lets an app refuse a handshake with any response.
HTTP_RESPONSE_EXTENSION = "websocket.http.response"


class WebsocketDisconnect(Exception):
    """The other side closed the websocket.

    Raised by :meth:`Websocket.receive` (and :meth:`Websocket.send`) in a
    handler once the client has gone away, and by the test client's
    ``receive()`` once the server has closed the connection. A handler that
    lets it propagate simply ends: it is not an error.

    :param code: The close code (1000 a normal close, 1006 when the peer
        went away without one).
    :param reason: The close reason, if any.
    """

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        if self.reason:
            return f"The websocket was closed with code {self.code}: {self.reason}"
        return f"The websocket was closed with code {self.code}."


class WebsocketRequired(BadRequest):
    """A plain HTTP request reached a websocket handler: 400.

    This is what a websocket route answers under a WSGI server (WSGI cannot
    carry websockets) or to an HTTP request that is not a websocket
    handshake."""

    description = (
        "This URL is a websocket endpoint, and this request is not a websocket"
        " connection. WSGI servers cannot make websocket connections: serve the"
        " application over ASGI (app.asgi_app, for example"
        " 'uvicorn module:app.asgi_app') to accept them."
    )


class WebsocketJSONError(BadRequest, ValueError):
    """A message :meth:`Websocket.receive_json` received is not JSON: a
    client error (400), as ``request.get_json()`` makes of a bad body, so an
    unhandled one closes the connection with 1008 and is not logged as an
    application error. It is a :exc:`ValueError` too, which the decoder
    raised before."""

    description = "The websocket message is not valid JSON."


def _header_list(
    headers: Headers | t.Mapping[str, str] | t.Iterable[tuple[str, str]] | None,
) -> list[tuple[bytes, bytes]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, (Headers, t.Mapping)) else headers
    return [
        (str(name).lower().encode("latin-1"), str(value).encode("latin-1"))
        for name, value in items
    ]


class Websocket:
    """One websocket connection: the ``websocket`` proxy in a handler.

    Reading the handshake (``path``, ``args``, ``headers``, ``cookies``,
    ``requested_subprotocols``) goes through the handshake's
    :class:`~erlen.wrappers.Request`. ``send`` and ``receive`` accept the
    handshake first if the handler did not.
    """

    def __init__(
        self,
        scope: ASGIScope,
        receive: ASGIReceive,
        send: ASGISend,
        ctx: RequestContext,
    ) -> None:
        self.scope = scope
        self._receive = receive
        self._send = send
        self._ctx = ctx
        #: Whether the handshake was accepted.
        self.accepted = False
        #: Whether the server side closed (or refused) the connection.
        self.closed = False
        #: The client's close, once received: a :class:`WebsocketDisconnect`.
        self.disconnected: WebsocketDisconnect | None = None
        #: The subprotocol chosen by :meth:`accept`, if any.
        self.subprotocol: str | None = None

    # -- the handshake ---------------------------------------------------------

    @property
    def request(self) -> Request:
        """The handshake as a request: a ``GET`` with ``Upgrade: websocket``,
        scheme ``http`` or ``https``."""
        return self._ctx.request

    @property
    def path(self) -> str:
        """The path of the handshake's URL."""
        return self.request.path

    @property
    def full_path(self) -> str:
        """The path and query string."""
        return self.request.full_path

    @property
    def query_string(self) -> bytes:
        """The raw query string."""
        return self.request.query_string

    @property
    def args(self) -> MultiDict[str, str]:
        """The query string's arguments."""
        return self.request.args

    @property
    def headers(self) -> Headers:
        """The handshake's request headers."""
        return self.request.headers

    @property
    def cookies(self) -> MultiDict[str, str]:
        """The handshake's cookies."""
        return self.request.cookies

    @property
    def url(self) -> str:
        """The full URL, ``ws://`` or ``wss://``."""
        return self.scheme + self.request.url[len(self.request.scheme) :]

    @property
    def host(self) -> str:
        """The host the client connected to."""
        return self.request.host

    @property
    def scheme(self) -> str:
        """``ws`` or ``wss`` (``request.scheme`` is the handshake's,
        ``http`` or ``https``)."""
        return "wss" if self.request.is_secure else "ws"

    @property
    def remote_addr(self) -> str | None:
        """The client's address."""
        return self.request.remote_addr

    @property
    def requested_subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self.scope.get("subprotocols") or ())

    # -- the connection ------------------------------------------------------

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Headers
        | t.Mapping[str, str]
        | t.Iterable[tuple[str, str]]
        | None = None,
    ) -> None:
        """Accept the handshake, choosing ``subprotocol`` (one of
        :attr:`requested_subprotocols`) and adding ``headers`` to the
        server's ``101 Switching Protocols`` response. Raises
        :class:`WebsocketDisconnect` (1006) if the client has already gone."""
        if self.accepted:
            raise RuntimeError("The websocket was already accepted.")
        if self.closed:
            raise RuntimeError("The websocket was closed before it was accepted.")
        message: dict[str, t.Any] = {"type": "websocket.accept"}
        if subprotocol is not None:
            message["subprotocol"] = subprotocol
        if headers:
            message["headers"] = _header_list(headers)
        self.accepted = True
        self.subprotocol = subprotocol
        try:
            await self._send(message)
        except OSError as e:  # The client left before the handshake's answer.
            self.disconnected = WebsocketDisconnect(1006)
            raise self.disconnected from e

    async def receive(self) -> str | bytes:
        """The next message from the client: ``str`` for a text frame,
        ``bytes`` for a binary one. Raises :class:`WebsocketDisconnect` when
        the client has gone away."""
        if self.disconnected is not None:
            raise self.disconnected
        if self.closed:
            raise WebsocketDisconnect(1000, "The server closed the websocket.")
        if not self.accepted:
            await self.accept()
        message = await self._receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            if text is not None:
                return t.cast(str, text)
            return t.cast(bytes, message.get("bytes") or b"")
        if kind == "websocket.disconnect":
            self.disconnected = WebsocketDisconnect(
                message.get("code", 1005), message.get("reason") or ""
            )
            raise self.disconnected
        raise RuntimeError(f"Unexpected ASGI message {kind!r} on a websocket.")

    async def send(self, data: str | bytes) -> None:
        """Send a text (``str``) or binary (``bytes``) message."""
        if self.disconnected is not None:
            raise self.disconnected
        if self.closed:
            raise RuntimeError("The websocket is closed.")
        if not self.accepted:
            await self.accept()
        if isinstance(data, str):
            message: dict[str, t.Any] = {"type": "websocket.send", "text": data}
        elif isinstance(data, (bytes, bytearray, memoryview)):
            message = {"type": "websocket.send", "bytes": bytes(data)}
        else:
            raise TypeError(
                f"A websocket sends str or bytes, not {type(data).__name__};"
                " use send_json() for other values."
            )
        try:
            await self._send(message)
        except OSError as e:  # The client went away (servers raise OSError).
            self.disconnected = WebsocketDisconnect(1006)
            raise self.disconnected from e

    async def receive_json(self) -> t.Any:
        """The next message, decoded with the app's JSON provider.

        :raises WebsocketJSONError: if it is not JSON.
        """
        data = await self.receive()
        try:
            return self._ctx.app.json.loads(data)
        except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
            raise WebsocketJSONError() from e

    async def send_json(self, obj: t.Any) -> None:
        """Send ``obj`` as a text message encoded by the app's JSON provider."""
        await self.send(self._ctx.app.json.dumps(obj))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection. Before the handshake was accepted this
        refuses it (the server answers ``403 Forbidden``)."""
        if self.closed or self.disconnected is not None:
            return
        self.closed = True
        message: dict[str, t.Any] = {"type": "websocket.close", "code": code}
        if reason:
            message["reason"] = reason
        try:
            await self._send(message)
        except OSError:
            self.disconnected = WebsocketDisconnect(1006)

    def __repr__(self) -> str:
        return f"<Websocket {self.scope.get('path')!r}>"


def current_websocket() -> Websocket:
    """The websocket of the current connection (what the ``websocket``
    proxy resolves to); ``RuntimeError`` outside a websocket handler."""
    ctx = _cv_request.get(None)
    ws = None if ctx is None else ctx.__dict__.get("websocket")
    if ws is None:
        raise RuntimeError(
            "Working outside of a websocket connection: 'websocket' is only"
            " available in a websocket handler (@app.websocket) and its"
            " hooks, when the app is served over ASGI."
        )
    return t.cast(Websocket, ws)


# -- serving -------------------------------------------------------------------


async def serve_websocket(
    app: Erlen, scope: ASGIScope, receive: ASGIReceive, send: ASGISend
) -> None:
    """Serve one ASGI ``websocket`` connection (called by ``app.asgi_app``)."""
    from .asgi import Lane, drive, environ_from_scope

    message = await receive()
    if message["type"] != "websocket.connect":
        return  # The client left before the handshake was passed on.
    handshake = {**scope, "method": "GET", "headers": scope.get("headers") or ()}
    environ = environ_from_scope(handshake, BytesIO())
    environ["asgi.scope"] = scope
    # The handshake as a WSGI server describes it: an HTTP GET asking to
    # upgrade, which Werkzeug's URL map matches against websocket rules.
    secure = environ["wsgi.url_scheme"] in ("https", "wss")
    environ["wsgi.url_scheme"] = "https" if secure else "http"
    environ["HTTP_UPGRADE"] = "websocket"
    if "upgrade" not in environ.get("HTTP_CONNECTION", "").lower():
        environ["HTTP_CONNECTION"] = "Upgrade"
    lane = Lane(app)
    try:
        ctx = app.request_context(environ)
        ws = ctx.__dict__["websocket"] = Websocket(scope, receive, send, ctx)
        try:
            response: t.Any = await drive(app._handle(ctx, True), lane, app)
        except Exception:
            # Propagated (testing, debug or PROPAGATE_EXCEPTIONS): the server
            # or test client reports it; the client sees a server error.
            if not ws.accepted:
                await _refuse(ws, None, environ, lane, 500)
            else:
                await ws.close(1011)
            raise
        if ws.disconnected is not None:
            return
        if not ws.accepted:
            await _refuse(ws, response, environ, lane)
        elif not ws.closed:
            status = 0 if response is None else response.status_code
            await ws.close(close_code(status))
    finally:
        lane.release()


def close_code(status: int) -> int:
    """The close code for a response a handler produced after accepting:
    1011 (internal error) for a 5xx, 1008 (policy violation) for a 4xx, else
    1000 (normal closure)."""
    if status >= 500:
        return 1011
    if status >= 400:
        return 1008
    return 1000


async def _refuse(
    ws: Websocket,
    response: t.Any,
    environ: t.Any,
    lane: t.Any,
    status: int | None = None,
) -> None:
    """Refuse the handshake: with ``response`` where the server supports the
    ``websocket.http.response`` extension, else with a close (403)."""
    extensions = ws.scope.get("extensions") or {}
    if HTTP_RESPONSE_EXTENSION not in extensions or (
        response is None and status is None
    ):
        await ws.close()
        return
    if response is None:
        from werkzeug.exceptions import InternalServerError

        response = InternalServerError().get_response(environ)
    ws.closed = True
    status_line, headers, body = await lane.run(_buffer, response, environ)
    await ws._send(
        {
            "type": "websocket.http.response.start",
            "status": int(status_line[:3]),
            "headers": _header_list(headers),
            WSGI_START_KEY: (status_line, headers),
        }
    )
    await ws._send({"type": "websocket.http.response.body", "body": body})


def _buffer(
    response: t.Any, environ: t.Any
) -> tuple[str, list[tuple[str, str]], bytes]:
    """In the lane: a response's status, headers and whole body (a refusal
    is sent in one piece)."""
    started: list[t.Any] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: t.Any = None
    ) -> t.Callable[[bytes], object]:
        started[:] = [status, headers]
        return _no_write

    iterable = response(environ, start_response)
    try:
        body = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return started[0], started[1], body


def _no_write(data: bytes) -> object:
    raise RuntimeError("A websocket refusal cannot use WSGI write().")
