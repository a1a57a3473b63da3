"""The transport-free core's vocabulary: steps and neutral responses.

Flask's request cycle (hooks, view, error handlers, return-value conversion,
teardown) is written once, in :class:`erlen.app.Erlen`, as *generators of
steps*. A step is a call into application code — a view, a hook, an error
handler, a signal send — that the core does not make itself; it yields the
step and is sent the result (or has the exception thrown in). Everything
between steps is plain computation on the request context.

Each protocol drives the same generator:

- WSGI (:func:`run_sync`) calls every step in place, as Flask does, turning
  ``async def`` functions into plain calls with ``ensure_sync``.
- ASGI (:mod:`erlen.asgi`) awaits ``async def`` steps on the server's event
  loop and runs the others in a worker thread reserved for the request.

The result of a request is neutral too: a :class:`~erlen.wrappers.Response`,
or, when nothing needs a response object, a :class:`RawResponse` (status,
headers, body) or :class:`RawStream` (a view's generator). The adapters turn
either into WSGI or ASGI output.
"""

from __future__ import annotations

import typing as t
from inspect import iscoroutinefunction

T = t.TypeVar("T")

#: A call the core asks its driver to make:
#: ``(function, args, kwargs, is_async, exception_being_handled)``.
Step = tuple[
    t.Callable[..., t.Any],
    tuple[t.Any, ...],
    t.Mapping[str, t.Any],
    bool,
    t.Optional[BaseException],  # noqa: UP045 (a runtime alias on Python 3.10)
]
#: A generator of steps that returns ``T``.
Steps = t.Generator[Step, t.Any, T]

#: The kwargs of a step that has none (shared, never mutated).
NO_KWARGS: t.Mapping[str, t.Any] = {}

#: The key, in the ASGI adapter's response start messages, of the status line
#: and headers as the WSGI adapter gives them (names as the app wrote them;
#: ASGI's are lower-cased): the test client shows a response over ASGI as
#: it does over WSGI. Servers ignore keys they do not know.
WSGI_START_KEY = "erlen.wsgi_start"


def call(func: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any) -> Step:
    """A step calling ``func(*args, **kwargs)``."""
    return (func, args, kwargs or NO_KWARGS, iscoroutinefunction(func), None)


def call_handling(
    error: BaseException, func: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any
) -> Step:
    """A step calling ``func(*args, **kwargs)`` while ``error`` is being handled, so
    that ``sys.exc_info()`` (and a bare ``raise``) inside ``func`` see it, as
    they do when Flask calls an error handler from its ``except`` block."""
    return (func, args, kwargs or NO_KWARGS, iscoroutinefunction(func), error)


def invoke(
    func: t.Callable[..., t.Any],
    args: tuple[t.Any, ...],
    kwargs: t.Mapping[str, t.Any],
    handling: BaseException | None,
) -> t.Any:
    """Make a step's call (a synchronous function, or one made synchronous)."""
    if handling is None:
        return func(*args, **kwargs)
    tb = handling.__traceback__
    try:
        raise handling
    except BaseException:
        handling.__traceback__ = tb
        return func(*args, **kwargs)


def run_sync(
    steps: Steps[T], ensure_sync: t.Callable[[t.Callable[..., t.Any]], t.Any]
) -> T:
    """Drive ``steps`` to the end, making each call in this thread: the WSGI
    way, and what the public synchronous methods (``full_dispatch_request``,
    ``handle_exception``, ...) do."""
    value: t.Any = None
    error: BaseException | None = None
    send = steps.send
    while True:
        try:
            if error is None:
                func, args, kwargs, is_async, handling = send(value)
            else:
                exc, error = error, None
                func, args, kwargs, is_async, handling = steps.throw(exc)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if is_async:
            func = ensure_sync(func)
        try:
            if handling is None:
                value = func(*args, **kwargs)
            else:
                value = invoke(func, args, kwargs, handling)
        except BaseException as e:
            error = e
            value = None


class RawResponse:
    """A finished response that needs no Response object: status, headers, body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body


class RawStream:
    """A view's generator, to be sent as Werkzeug's ``Response(gen)`` would be:
    HTML content type, no length, ``str`` chunks encoded, the generator
    closed at the end."""

    __slots__ = ("gen",)

    status = "200 OK"

    def __init__(self, gen: t.Generator[t.Any, t.Any, t.Any]) -> None:
        self.gen = gen

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The response headers."""
        return [("Content-Type", "text/html; charset=utf-8")]
