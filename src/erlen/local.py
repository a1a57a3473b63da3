"""Werkzeug's :class:`~werkzeug.local.LocalProxy`, with its hottest operations
written out.

Each special method of ``LocalProxy`` is a ``_ProxyLookup`` descriptor: an
attribute read through ``request``, ``g`` or ``current_app`` binds a new
function and calls it, about 0.6 µs where the read itself costs 0.02. Real
views and templates make dozens of such reads per request. :class:`ContextProxy`
is a ``LocalProxy`` subclass (``isinstance`` checks, ``_get_current_object``
and every other operation are Werkzeug's) that defines the common operations
as plain methods doing what the descriptors do: look the object up, then
apply the operation to it. An unbound proxy raises the same ``RuntimeError``,
is false and reads ``<LocalProxy unbound>``, as in Werkzeug.
"""

from __future__ import annotations

import typing as t

from werkzeug.local import LocalProxy

__all__ = ["ContextProxy"]


class ContextProxy(LocalProxy[t.Any]):
    """A :class:`~werkzeug.local.LocalProxy` with faster attribute, item,
    membership, length, iteration, truth and call operations."""

    __slots__ = ()

    def __getattribute__(self, name: str) -> t.Any:
        # PERF: instead of __getattr__, which Python calls only after the
        # normal lookup failed with an AttributeError (most of the cost).
        # Names the class has -- Werkzeug's descriptors, the slots, object's
        # methods -- are looked up normally, as before; any other name is the
        # object's, which is what LocalProxy.__getattr__ would answer.
        if name in _OWN:
            return _object_getattribute(self, name)
        return getattr(_object_getattribute(self, "_get_current_object")(), name)

    def __setattr__(self, name: str, value: t.Any) -> None:
        setattr(self._get_current_object(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._get_current_object(), name)

    def __getitem__(self, key: t.Any) -> t.Any:
        return self._get_current_object()[key]

    def __setitem__(self, key: t.Any, value: t.Any) -> None:
        self._get_current_object()[key] = value

    def __delitem__(self, key: t.Any) -> None:
        del self._get_current_object()[key]

    def __contains__(self, item: t.Any) -> bool:
        return item in self._get_current_object()

    def __iter__(self) -> t.Iterator[t.Any]:
        try:
            obj = self._get_current_object()
        except RuntimeError:
            # What iter() of an unbound LocalProxy raises.
            raise TypeError("'LocalProxy' object is not iterable") from None
        return iter(obj)

    def __len__(self) -> int:
        return len(self._get_current_object())

    def __bool__(self) -> bool:
        try:
            obj = self._get_current_object()
        except RuntimeError:
            return False  # Werkzeug: an unbound proxy is false
        return bool(obj)

    def __repr__(self) -> str:
        try:
            obj = self._get_current_object()
        except RuntimeError:
            return "<LocalProxy unbound>"  # Werkzeug's, and what Flask shows
        return repr(obj)

    def __call__(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        # Werkzeug calls the object's __call__ attribute, as this does.
        return self._get_current_object().__call__(*args, **kwargs)


# The class docstring replaced Werkzeug's __doc__ descriptor, which gives the
# proxied object's docstring (the class's when unbound): put it back.
ContextProxy.__doc__ = LocalProxy.__dict__["__doc__"]

_object_getattribute = object.__getattribute__
#: Every name the proxy class itself has (see ContextProxy.__getattribute__).
_OWN = frozenset(dir(ContextProxy))
