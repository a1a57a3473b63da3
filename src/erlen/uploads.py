"""Streaming a request body into an async view, without buffering it.

Over ASGI the adapter receives a request's whole body before the view runs, so
that ``request.form`` and ``request.get_data()`` stay synchronous. An
``async def`` view marked with :func:`streamed_body` is called before the body
is received instead, and reads it chunk by chunk as it arrives::

    @app.post("/upload")
    @streamed_body
    async def upload():
        size = 0
        async for chunk in body_chunks():
            size += len(chunk)
        return {"size": size}

The request's ``MAX_CONTENT_LENGTH`` (``request.max_content_length``, which the
view may raise or lower first) is enforced as the chunks arrive: a 413. The
same view works under WSGI, where the chunks are read from the server's input
stream. In a streamed view ``request.form`` and ``request.get_data()`` are
empty: the body is only what :func:`body_chunks` yields.
"""

from __future__ import annotations

import typing as t
from inspect import iscoroutinefunction

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import get_content_length

from .globals import _cv_request

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

#: The environ key under which the ASGI adapter leaves ``receive`` for a
#: streamed view.
RECEIVE_KEY = "erlen.asgi.receive"
_CHUNK = 64 * 1024


def streamed_body(view: F) -> F:
    """Mark an ``async def`` view as reading its body with :func:`body_chunks`."""
    if not iscoroutinefunction(view):
        raise TypeError(
            f"streamed_body needs an 'async def' view; {view.__name__!r} is not."
        )
    view.streamed_body = True  # type: ignore[attr-defined]
    return view


async def body_chunks() -> t.AsyncIterator[bytes]:
    """The current request's body, chunk by chunk as the client sends it.

    Raises :class:`~werkzeug.exceptions.RequestEntityTooLarge` (413) past the
    request's ``max_content_length`` and
    :class:`~werkzeug.exceptions.ClientDisconnected` (400) if the client goes
    away before the end.
    """
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError("'body_chunks' needs an active request context.")
    request = ctx.request
    limit = request.max_content_length
    receive = ctx.environ.get(RECEIVE_KEY)
    if receive is None:
        # Not streamed by the ASGI adapter (WSGI, or an unmarked view).
        stream = request.stream
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                return
            yield chunk
    ctx.environ[RECEIVE_KEY] = None  # The body can be read once.
    declared = get_content_length(ctx.environ)
    if limit is not None and declared is not None and declared > limit:
        raise RequestEntityTooLarge()
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected()
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            raise RequestEntityTooLarge()
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return
