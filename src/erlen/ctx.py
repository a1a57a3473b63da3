"""Application and request contexts.

A request context knows the WSGI environ from the start; everything else about
the request is built on first use: the :class:`~erlen.wrappers.Request`, the
session, the URL adapter and ``g`` are created by ``__getattr__`` the first
time something reads them, then live in the instance ``__dict__`` so later
reads cost a plain attribute lookup.
"""

from __future__ import annotations

import contextvars
import functools
import sys
import typing as t
from types import TracebackType

from werkzeug.exceptions import HTTPException

from . import typing as ft
from .core import Steps, call, run_sync
from .globals import _cv_app, _cv_request
from .signals import (
    appcontext_popped,
    appcontext_pushed,
    appcontext_tearing_down,
)

if t.TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment
    from werkzeug.routing import MapAdapter, Rule

    from .app import Erlen
    from .sessions import SessionMixin
    from .wrappers import Request

# A sentinel for "use the exception being handled", as in ``pop(exc=_sentinel)``.
_sentinel = object()


class _AppCtxGlobals:
    """A plain namespace object: ``g``.

    Besides attributes, it supports ``get``, ``pop``, ``setdefault``, ``in``
    and iteration over the attribute names.
    """

    def __getattr__(self, name: str) -> t.Any:
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: t.Any) -> None:
        self.__dict__[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self.__dict__[name]
        except KeyError:
            raise AttributeError(name) from None

    def get(self, name: str, default: t.Any | None = None) -> t.Any:
        """The attribute ``name``, or ``default`` if it is not set."""
        return self.__dict__.get(name, default)

    def pop(self, name: str, default: t.Any = _sentinel) -> t.Any:
        """Remove and return ``name``; ``KeyError`` if missing and no default."""
        if default is _sentinel:
            return self.__dict__.pop(name)
        return self.__dict__.pop(name, default)

    def setdefault(self, name: str, default: t.Any = None) -> t.Any:
        """The attribute ``name``, set to ``default`` first if missing."""
        return self.__dict__.setdefault(name, default)

    def __contains__(self, item: str) -> bool:
        return item in self.__dict__

    def __iter__(self) -> t.Iterator[str]:
        return iter(self.__dict__)

    def __repr__(self) -> str:
        app_ctx = _cv_app.get(None)
        if app_ctx is not None:
            from .helpers import _flask_patched

            package = "flask" if _flask_patched() else "erlen"
            return f"<{package}.g of '{app_ctx.app.name}'>"
        return object.__repr__(self)


def after_this_request(
    f: ft.AfterRequestCallable[t.Any],
) -> ft.AfterRequestCallable[t.Any]:
    """Run ``f(response)`` after this request, before the after-request hooks.

    It must take the response and return it (or a new one).
    """
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "'after_this_request' can only be used when a request"
            " context is active, such as in a view function."
        )
    ctx._after_request_functions.append(f)
    return f


F = t.TypeVar("F", bound=t.Callable[..., t.Any])


def copy_current_request_context(f: F) -> F:
    """Decorate ``f`` so it runs inside a copy of the current request context.

    Useful for threads and greenlets started from a view: the copy shares the
    request and session objects with the original context.
    """
    ctx = _cv_request.get(None)
    if ctx is None:
        raise RuntimeError(
            "'copy_current_request_context' can only be used when a"
            " request context is active, such as in a view function."
        )
    ctx = ctx.copy()

    def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
        with ctx:
            return ctx.app.ensure_sync(f)(*args, **kwargs)

    return functools.update_wrapper(wrapper, f)  # type: ignore[return-value]


def has_request_context() -> bool:
    """Whether a request context is active (``request`` can be used)."""
    return _cv_request.get(None) is not None


def has_app_context() -> bool:
    """Whether an application context is active (``current_app`` can be used)."""
    return _cv_app.get(None) is not None


def _reset_latest(var: contextvars.ContextVar[t.Any], tokens: list[t.Any]) -> t.Any:
    """Undo the latest push of a context made in the current
    :class:`contextvars.Context`, and return what was stored with its token.

    The same context object can be pushed in two at once — the test client
    re-pushes a preserved request context in the test's thread while the
    request's streamed body pushes it again where it runs over ASGI — so
    the latest token is not always this one's.
    """
    for i in range(len(tokens) - 1, -1, -1):
        entry = tokens[i]
        token = entry[0] if entry.__class__ is tuple else entry
        try:
            var.reset(token)
        except ValueError:
            if token.var is var and i:
                continue
            raise
        del tokens[i]
        return entry[1] if entry.__class__ is tuple else None
    raise IndexError("pop from empty list")


class AppContext:
    """The application context: binds ``current_app`` and ``g``.

    Pushed automatically for every request, and by ``app.app_context()``
    for CLI commands, shells and tests.
    """

    def __init__(self, app: Erlen) -> None:
        self.app = app
        self._cv_tokens: list[contextvars.Token[AppContext]] = []

    def __getattr__(self, name: str) -> t.Any:
        # Lazy attributes, created on first read and then stored normally.
        if name == "g":
            value: t.Any = self.app.app_ctx_globals_class()
        elif name == "url_adapter":
            value = self.app.create_url_adapter(None)
        else:
            raise AttributeError(name)
        self.__dict__[name] = value
        return value

    if t.TYPE_CHECKING:
        g: _AppCtxGlobals
        url_adapter: MapAdapter | None

    def push(self) -> None:
        """Bind this context to the current execution context."""
        self._cv_tokens.append(_cv_app.set(self))
        if appcontext_pushed.receivers:
            appcontext_pushed.send(self.app, _async_wrapper=self.app.ensure_sync)

    def pop(self, exc: BaseException | None = _sentinel) -> None:  # type: ignore[assignment]
        """Unbind, running the app-context teardown functions on the last pop."""
        if exc is _sentinel:
            exc = sys.exc_info()[1]
        run_sync(self._pop_steps(exc), self.app.ensure_sync)

    def _pop_steps(self, exc: BaseException | None) -> Steps[None]:
        app = self.app
        try:
            if len(self._cv_tokens) == 1:
                if "do_teardown_appcontext" in app._overrides:
                    yield call(app.do_teardown_appcontext, exc)
                else:
                    yield from app._teardown_appcontext(exc)
        finally:
            ctx = self._unbind()
        self._check_popped(ctx)
        if appcontext_popped.receivers:
            yield call(appcontext_popped.send, app, _async_wrapper=app.ensure_sync)

    def _quiet(self) -> bool:
        """Whether popping runs no application code (no teardown function,
        receiver or override): the core then unbinds it in place."""
        app = self.app
        return not (
            app.teardown_appcontext_funcs
            or appcontext_tearing_down.receivers
            or appcontext_popped.receivers
            or "do_teardown_appcontext" in app._overrides
        )

    def _unbind(self) -> AppContext:
        """Undo this context's latest push; the context that was current."""
        ctx = _cv_app.get()
        tokens = self._cv_tokens
        token = tokens.pop()
        try:
            _cv_app.reset(token)
        except ValueError:
            tokens.append(token)
            _reset_latest(_cv_app, tokens)
        return ctx

    def _check_popped(self, ctx: AppContext) -> None:
        if ctx is not self:
            raise AssertionError(
                f"Popped wrong app context. ({ctx!r} instead of {self!r})"
            )

    def __enter__(self) -> AppContext:
        self.push()
        return self

    def __exit__(
        self,
        exc_type: type | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.pop(exc_value)

    def __repr__(self) -> str:
        return f"<AppContext {self.app.name!r}>"


class RequestContext:
    """The request context: binds ``request`` and ``session``.

    Created by the app for each request, or with ``app.request_context(environ)``
    and ``app.test_request_context(...)``. Pushing it also pushes an app context
    when none for this app is active.
    """

    def __init__(
        self,
        app: Erlen,
        environ: WSGIEnvironment,
        request: Request | None = None,
        session: SessionMixin | None = None,
    ) -> None:
        self.app = app
        self.environ = environ
        if request is not None:
            self.request = request
        if session is not None:
            self._session = session
        self._cv_tokens: list[
            tuple[contextvars.Token[RequestContext], AppContext | None]
        ] = []

    #: Messages flashed for this request, once read from the session.
    flashes: list[tuple[str, str]] | None = None
    # Routing results (class defaults until matched), kept here until the
    # Request object exists.
    _rule: Rule | None = None
    _view_args: dict[str, t.Any] | None = None
    _routing_exc: HTTPException | None = None

    if t.TYPE_CHECKING:
        request: Request
        _session: SessionMixin
        url_adapter: MapAdapter | None
        _after_request_functions: list[ft.AfterRequestCallable[t.Any]]

    @property
    def session(self) -> SessionMixin:
        """The session, opened on first use. Reading it through this property
        (as the ``session`` proxy does) marks it accessed, so the response
        gets ``Vary: Cookie``."""
        session = self._session
        session.accessed = True
        return session

    def __getattr__(self, name: str) -> t.Any:
        # Lazy attributes: only requests that use them pay for them.
        if name == "request":
            request = self.app.request_class(self.environ)
            request.json_module = self.app.json
            request.url_rule = self._rule
            request.view_args = self._view_args
            request.routing_exception = self._routing_exc
            self.__dict__["request"] = request
            return request
        if name == "_session":
            si = self.app.session_interface
            session = si.open_session(self.app, self.request)
            if session is None:
                session = si.make_null_session(self.app)
            self.__dict__["_session"] = session
            return session
        if name == "url_adapter":
            adapter = self.app.create_url_adapter(self.request)
            self.__dict__["url_adapter"] = adapter
            return adapter
        if name == "_after_request_functions":
            funcs: list[ft.AfterRequestCallable[t.Any]] = []
            self.__dict__["_after_request_functions"] = funcs
            return funcs
        raise AttributeError(name)

    def copy(self) -> RequestContext:
        """A new context for the same request, sharing request and session."""
        return self.__class__(
            self.app,
            environ=self.request.environ,
            request=self.request,
            session=self._session,
        )

    def match_request(self) -> None:
        """Match the request against the URL map, storing rule and arguments.

        A routing failure (404, 405, redirect) is stored, not raised; dispatch
        raises it later so that hooks and error handlers see it.
        """
        try:
            self._rule, self._view_args = self.app._match(self)
        except HTTPException as e:
            self._set_match(None, None, e)
        else:
            if "request" in self.__dict__:
                self._set_match(self._rule, self._view_args, None)

    def _set_match(
        self,
        rule: Rule | None,
        view_args: dict[str, t.Any] | None,
        exc: HTTPException | None,
    ) -> None:
        self._rule = rule
        self._view_args = view_args
        self._routing_exc = exc
        request = self.__dict__.get("request")
        if request is not None:
            request.url_rule = rule
            request.view_args = view_args
            request.routing_exception = exc

    def push(self) -> None:
        """Bind the request (and, if needed, an app context) and match its URL."""
        app_ctx = _cv_app.get(None)
        if app_ctx is None or app_ctx.app is not self.app:
            app_ctx = self.app.app_context()
            app_ctx.push()
        else:
            app_ctx = None
        self._cv_tokens.append((_cv_request.set(self), app_ctx))
        # The session opens lazily; a context pushed again (e.g. one preserved
        # by the test client) keeps the session it already has.
        if self._rule is None and self._routing_exc is None:
            self.match_request()

    def pop(self, exc: BaseException | None = _sentinel) -> None:  # type: ignore[assignment]
        """Unbind; on the last pop run teardown functions and close the request."""
        if exc is _sentinel:
            exc = sys.exc_info()[1]
        run_sync(self._pop_steps(exc), self.app.ensure_sync)

    def _pop_steps(self, exc: BaseException | None) -> Steps[None]:
        app = self.app
        clear_request = len(self._cv_tokens) == 1
        try:
            if clear_request:
                if "do_teardown_request" in app._overrides:
                    yield call(app.do_teardown_request, exc)
                elif app._runs_on_teardown(self):
                    yield from app._teardown_request(exc)
                request = self.__dict__.get("request")
                if request is not None:
                    request.close()
        finally:
            ctx, app_ctx = self._unbind(clear_request)
            if app_ctx is not None:
                if type(app_ctx).pop is not AppContext.pop:
                    yield call(app_ctx.pop, exc)
                elif app_ctx._quiet():
                    app_ctx._check_popped(app_ctx._unbind())
                else:
                    yield from app_ctx._pop_steps(exc)
            self._check_popped(ctx)

    def _pop_if_quiet(self) -> bool:
        """:meth:`pop`, in place, when popping now runs no application code
        (no teardown function, receiver or override): ``True`` once popped.
        ``False``, having done nothing, when the core must pop with steps."""
        tokens = self._cv_tokens
        if len(tokens) != 1 or self.__class__.pop is not RequestContext.pop:
            return False
        app = self.app
        if app._overrides or app._runs_on_teardown(self):
            return False
        app_ctx = tokens[0][1]
        if app_ctx is not None and not (
            app_ctx.__class__.pop is AppContext.pop and app_ctx._quiet()
        ):
            return False
        request = self.__dict__.get("request")
        if request is not None:
            request.close()
        ctx, app_ctx = self._unbind(True)
        if app_ctx is not None:
            app_ctx._check_popped(app_ctx._unbind())
        self._check_popped(ctx)
        return True

    def _unbind(self, clear_request: bool) -> tuple[RequestContext, AppContext | None]:
        """Undo this context's latest push: the context that was current, and
        the app context that push pushed (if any)."""
        ctx = _cv_request.get()
        tokens = self._cv_tokens
        entry = tokens.pop()
        try:
            _cv_request.reset(entry[0])
        except ValueError:
            tokens.append(entry)
            app_ctx = _reset_latest(_cv_request, tokens)
        else:
            app_ctx = entry[1]
        if clear_request and "request" in self.__dict__:
            self.environ["werkzeug.request"] = None
        return ctx, app_ctx

    def _check_popped(self, ctx: RequestContext) -> None:
        if ctx is not self:
            raise AssertionError(
                f"Popped wrong request context. ({ctx!r} instead of {self!r})"
            )

    def __enter__(self) -> RequestContext:
        self.push()
        return self

    def __exit__(
        self,
        exc_type: type | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.pop(exc_value)

    def __repr__(self) -> str:
        environ = self.environ
        url = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        return f"<{type(self).__name__} {url!r} [{method}] of {self.app.name}>"
