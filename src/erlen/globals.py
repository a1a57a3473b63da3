"""Context-local globals: ``current_app``, ``g``, ``request`` and ``session``.

Each is a :class:`werkzeug.local.LocalProxy` (erlen's faster subclass,
:class:`erlen.local.ContextProxy`) over a :mod:`contextvars` variable, so they
are safe with threads, greenlets and asyncio tasks alike.
"""

from __future__ import annotations

import typing as t
from contextvars import ContextVar

from .local import ContextProxy

if t.TYPE_CHECKING:
    from .app import Erlen
    from .ctx import AppContext, RequestContext, _AppCtxGlobals
    from .sessions import SessionMixin
    from .websockets import Websocket
    from .wrappers import Request

_no_app_msg = """\
Working outside of application context.

This typically means that you attempted to use functionality that needed
the current application. To solve this, set up an application context
with app.app_context(). See the documentation for more information.\
"""
_no_req_msg = """\
Working outside of request context.

This typically means that you attempted to use functionality that needed
an active HTTP request. Consult the documentation on testing for
information about how to avoid this problem.\
"""

_cv_app: ContextVar[AppContext] = ContextVar("erlen.app_ctx")
_cv_request: ContextVar[RequestContext] = ContextVar("erlen.request_ctx")

app_ctx: AppContext = ContextProxy(  # type: ignore[assignment]
    _cv_app, unbound_message=_no_app_msg
)
current_app: Erlen = ContextProxy(  # type: ignore[assignment]
    _cv_app, "app", unbound_message=_no_app_msg
)
g: _AppCtxGlobals = ContextProxy(  # type: ignore[assignment]
    _cv_app, "g", unbound_message=_no_app_msg
)
request_ctx: RequestContext = ContextProxy(  # type: ignore[assignment]
    _cv_request, unbound_message=_no_req_msg
)
request: Request = ContextProxy(  # type: ignore[assignment]
    _cv_request, "request", unbound_message=_no_req_msg
)
session: SessionMixin = ContextProxy(  # type: ignore[assignment]
    _cv_request, "session", unbound_message=_no_req_msg
)


def _current_websocket() -> Websocket:
    from .websockets import current_websocket

    return current_websocket()


#: The current websocket connection, in a websocket handler and its hooks.
websocket: Websocket = ContextProxy(_current_websocket)  # type: ignore[assignment]
