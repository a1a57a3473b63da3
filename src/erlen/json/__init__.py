"""JSON helpers that follow the current application's ``app.json`` provider.

Inside an application context each function delegates to ``current_app.json``;
outside one, :func:`dumps` and :func:`dump` use :mod:`json` with the default
provider's extra types (dates, UUID, Decimal, dataclasses, ``__html__``).
"""

from __future__ import annotations

import json as _json
import typing as t

from ..globals import _cv_app, current_app
from .provider import _default

if t.TYPE_CHECKING:
    from ..wrappers import Response

__all__ = ["dump", "dumps", "jsonify", "load", "loads"]


def dumps(obj: t.Any, **kwargs: t.Any) -> str:
    """Serialize ``obj`` to a JSON string.

    :param kwargs: Passed to ``app.json.dumps`` or :func:`json.dumps`.
    """
    ctx = _cv_app.get(None)
    if ctx is not None:
        return ctx.app.json.dumps(obj, **kwargs)
    kwargs.setdefault("default", _default)
    return _json.dumps(obj, **kwargs)


def dump(obj: t.Any, fp: t.IO[str], **kwargs: t.Any) -> None:
    """Serialize ``obj`` as JSON into a text file.

    :param kwargs: Passed to ``app.json.dump`` or :func:`json.dump`.
    """
    ctx = _cv_app.get(None)
    if ctx is not None:
        ctx.app.json.dump(obj, fp, **kwargs)
        return
    kwargs.setdefault("default", _default)
    _json.dump(obj, fp, **kwargs)


def loads(s: str | bytes, **kwargs: t.Any) -> t.Any:
    """Deserialize JSON from text or UTF-8 bytes.

    :param kwargs: Passed to ``app.json.loads`` or :func:`json.loads`.
    """
    ctx = _cv_app.get(None)
    if ctx is not None:
        return ctx.app.json.loads(s, **kwargs)
    return _json.loads(s, **kwargs)


def load(fp: t.IO[t.AnyStr], **kwargs: t.Any) -> t.Any:
    """Deserialize JSON read from a text or binary file.

    :param kwargs: Passed to ``app.json.load`` or :func:`json.load`.
    """
    ctx = _cv_app.get(None)
    if ctx is not None:
        return ctx.app.json.load(fp, **kwargs)
    return _json.load(fp, **kwargs)


def jsonify(*args: t.Any, **kwargs: t.Any) -> Response:
    """Return an ``application/json`` response for the arguments, built by
    ``current_app.json.response()``; needs an application context.

    Pass one value, several values (serialized as a list) or keyword
    arguments (a dict), not both kinds; no arguments serialize ``None``.
    The output is indented in debug mode. A view can also just return a
    ``dict`` or ``list``.
    """
    return current_app.json.response(*args, **kwargs)
