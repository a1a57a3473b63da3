"""The application logger and its default handler."""

from __future__ import annotations

import logging
import sys
import typing as t

from werkzeug.local import LocalProxy

from .globals import _cv_request

if t.TYPE_CHECKING:
    from .app import Erlen


def _errors_stream() -> t.TextIO:
    ctx = _cv_request.get(None)
    if ctx is not None:
        return ctx.request.environ["wsgi.errors"]  # type: ignore[no-any-return]
    return sys.stderr


#: The best stream for error output: the request's ``wsgi.errors`` during a
#: request, else :data:`sys.stderr`. Use it as the stream of your own
#: :class:`logging.StreamHandler`; in file or dict logging configuration it
#: is ``ext://erlen.logging.wsgi_errors_stream``.
wsgi_errors_stream: t.TextIO = LocalProxy(_errors_stream)  # type: ignore[assignment]


def has_level_handler(logger: logging.Logger) -> bool:
    """Whether some handler on the way up from ``logger`` (following
    ``propagate``) handles the logger's effective level."""
    level = logger.getEffectiveLevel()
    current: logging.Logger | None = logger
    while current is not None:
        if any(handler.level <= level for handler in current.handlers):
            return True
        if not current.propagate:
            break
        current = current.parent
    return False


#: Writes to :data:`wsgi_errors_stream` in the format
#: ``[%(asctime)s] %(levelname)s in %(module)s: %(message)s``.
default_handler = logging.StreamHandler(wsgi_errors_stream)
default_handler.setFormatter(
    logging.Formatter("[%(asctime)s] %(levelname)s in %(module)s: %(message)s")
)


def create_logger(app: Erlen) -> logging.Logger:
    """Return the logger named ``app.name``, configured if needed.

    In debug mode a logger without its own level gets ``DEBUG``. If no
    handler would handle the logger's effective level, :data:`default_handler`
    is added.
    """
    logger = logging.getLogger(app.name)
    if app.debug and not logger.level:
        logger.setLevel(logging.DEBUG)
    if not has_level_handler(logger):
        logger.addHandler(default_handler)
    return logger
