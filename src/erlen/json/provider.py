"""JSON providers: the pluggable JSON behaviour behind ``app.json``."""

from __future__ import annotations

import dataclasses
import decimal
import json
import typing as t
import uuid
import weakref
from datetime import date

from werkzeug.http import http_date

if t.TYPE_CHECKING:
    from ..app import Erlen
    from ..wrappers import Response


class JSONProvider:
    """The JSON operations of an application; ``app.json`` is an instance.

    Subclass it to use another JSON library: implement at least :meth:`dumps`
    and :meth:`loads`, then set ``Erlen.json_provider_class`` on an app
    subclass or assign an instance to ``app.json``.

    :param app: The application. It is kept as a :func:`weakref.proxy` in
        :attr:`_app`, so the provider does not keep the app alive.
    """

    def __init__(self, app: Erlen) -> None:
        self._app: Erlen = t.cast("Erlen", weakref.proxy(app))

    def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        """Serialize ``obj`` to a JSON string.

        :param kwargs: May be passed to the underlying JSON library.
        """
        raise NotImplementedError

    def dump(self, obj: t.Any, fp: t.IO[str], **kwargs: t.Any) -> None:
        """Serialize ``obj`` as JSON into a text file."""
        fp.write(self.dumps(obj, **kwargs))

    def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
        """Deserialize JSON from text or UTF-8 bytes.

        :param kwargs: May be passed to the underlying JSON library.
        """
        raise NotImplementedError

    def load(self, fp: t.IO[t.AnyStr], **kwargs: t.Any) -> t.Any:
        """Deserialize JSON read from a text or binary file."""
        return self.loads(fp.read(), **kwargs)

    def _prepare_response_obj(
        self, args: tuple[t.Any, ...], kwargs: dict[str, t.Any]
    ) -> t.Any:
        if args and kwargs:
            raise TypeError("app.json.response() takes either args or kwargs, not both")
        if len(args) == 1:
            return args[0]
        if args:
            return list(args)
        if kwargs:
            return kwargs
        return None

    def response(self, *args: t.Any, **kwargs: t.Any) -> Response:
        """Serialize the arguments as JSON into an ``application/json``
        response (what :func:`~erlen.json.jsonify` returns).

        Pass either positional or keyword arguments, not both: one positional
        argument is serialized as is, several become a list, keyword arguments
        become a dict, and nothing serializes ``None``.
        """
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self.dumps(obj), mimetype="application/json")


def _default(o: t.Any) -> t.Any:
    """Serialize the types :mod:`json` does not know about, or fail."""
    if isinstance(o, date):
        return http_date(o)
    if isinstance(o, (decimal.Decimal, uuid.UUID)):
        return str(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    if hasattr(o, "__html__"):
        return str(o.__html__())
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


class DefaultJSONProvider(JSONProvider):
    """JSON with the standard library's :mod:`json`, plus these types:

    - :class:`datetime.datetime` and :class:`datetime.date` become HTTP date
      strings (:rfc:`822`);
    - :class:`uuid.UUID` and :class:`decimal.Decimal` become strings;
    - dataclass instances go through :func:`dataclasses.asdict`;
    - anything with an ``__html__`` method (such as
      :class:`~markupsafe.Markup`) becomes the string it returns.
    """

    default: t.Callable[[t.Any], t.Any] = staticmethod(_default)
    """Called for objects :mod:`json` cannot serialize; returns a JSON type
    or raises :exc:`TypeError`."""

    ensure_ascii = True
    """Escape non-ASCII characters."""

    sort_keys = True
    """Sort the keys of every dict (they must then all be strings)."""

    compact: bool | None = None
    """``True``, or ``None`` outside debug mode: :meth:`response` writes no
    indentation or spaces. ``False``, or ``None`` in debug mode: indent by 2."""

    mimetype = "application/json"
    """The mimetype :meth:`response` sets."""

    def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        """Serialize with :func:`json.dumps`, defaulting ``default``,
        ``ensure_ascii`` and ``sort_keys`` to this provider's attributes."""
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        return json.dumps(obj, **kwargs)

    def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
        """Deserialize with :func:`json.loads`."""
        return json.loads(s, **kwargs)

    def _response_body(self, obj: t.Any) -> str:
        """The exact text :meth:`response` sends for ``obj``, newline included.

        The application's fast path for ``dict``/``list`` return values calls
        this directly, so it must stay the single place that formats bodies.
        """
        indent = self.compact is False or (self.compact is None and self._app.debug)
        if type(self).dumps is not DefaultJSONProvider.dumps or "dumps" in vars(self):
            if indent:
                return f"{self.dumps(obj, indent=2)}\n"
            return f"{self.dumps(obj, separators=(',', ':'))}\n"
        # json.dumps builds a new encoder for every call with options; an
        # encoder for the current settings gives the same text, faster.
        key = (self.default, self.ensure_ascii, self.sort_keys, indent)
        cached = self.__dict__.get("_encoder")
        if cached is None or cached[0] != key:
            encoder = json.JSONEncoder(
                default=self.default,
                ensure_ascii=self.ensure_ascii,
                sort_keys=self.sort_keys,
                indent=2 if indent else None,
                separators=None if indent else (",", ":"),
            )
            self._encoder = cached = (key, encoder)
        return f"{cached[1].encode(obj)}\n"

    def response(self, *args: t.Any, **kwargs: t.Any) -> Response:
        """Serialize the arguments as JSON into a response with
        :attr:`mimetype`, indented when :attr:`compact` says so.

        Argument rules are those of :meth:`JSONProvider.response`.
        """
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(
            self._response_body(obj), mimetype=self.mimetype
        )
