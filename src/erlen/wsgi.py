"""The WSGI adapter: a neutral response from the core, sent to a WSGI server.

:meth:`erlen.Erlen.wsgi_app` reads the whole request path top to bottom; this
module holds the one step that is WSGI's own, writing the result.
"""

from __future__ import annotations

import typing as t

from .core import RawResponse, RawStream
from .wrappers import _EncodedStream

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from .wrappers import Response


def respond(
    response: Response | RawResponse | RawStream,
    environ: WSGIEnvironment,
    start_response: StartResponse,
) -> t.Iterable[bytes]:
    """Start the response and return its body iterable."""
    cls = response.__class__
    if cls is RawResponse:
        raw = t.cast(RawResponse, response)
        start_response(raw.status, raw.headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            return []
        return [raw.body]
    if cls is RawStream:
        stream = t.cast(RawStream, response)
        start_response(stream.status, stream.headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            stream.gen.close()
            return []
        return _EncodedStream(stream.gen)
    return response(environ, start_response)  # type: ignore[operator]
