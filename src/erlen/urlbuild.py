"""A compiled URL builder that answers like Werkzeug's ``MapAdapter.build``, faster.

Werkzeug's :class:`~werkzeug.routing.Map` stays the source of truth, as for the
matcher (:mod:`erlen.routing`). :class:`CompiledBuilder` is a snapshot of it
(replaced whenever a rule is added) that, given the bound
:class:`~werkzeug.routing.MapAdapter` ``url_for`` would build with, returns the
exact string ``adapter.build(...)`` would return — or ``None``, meaning "ask
Werkzeug". It chooses among an endpoint's rules exactly as Werkzeug does (the
same order, the same suitability test, the same method rules) and fills them
the same way: static text quoted alike, rule defaults, each converter's own
``to_url`` (with a shortcut for the plain ``str`` and ``int`` values of the
default, path and int converters, whose result is certain), extra values as
the query string through Werkzeug's own encoding rules (``sort_parameters``
and ``sort_key`` included).

It defers — returns ``None`` — for everything it does not replicate: host
matching, a default subdomain, rules with a subdomain or host, websocket
rules, ``alias`` and ``redirect_to`` rules, custom ``Rule``/``MapAdapter``
classes that override building, values that are not a plain ``dict``, keys
that are not plain strings, and any build with no suitable rule (Werkzeug
raises its :class:`~werkzeug.routing.BuildError` with all its suggestions).
``tests/test_url_builder.py`` checks it against Werkzeug over random rule
sets, converters, defaults, values and options.
"""

from __future__ import annotations

import typing as t
from urllib.parse import quote, quote_plus

from werkzeug.routing import Map, MapAdapter, Rule, ValidationError
from werkzeug.routing.converters import BaseConverter, NumberConverter

from .routing import _path_trace

# Werkzeug's safe characters: path segments (converters and static text) and
# query strings (https://url.spec.whatwg.org/).
_PATH_SAFE = "!$&'()*+,/:;=@"
_QUERY_SAFE = "!$'()*,/:;?@"
_SECURE = frozenset({"https", "wss"})

# How a rule part is filled: constant text, BaseConverter.to_url (quote the
# str of the value), NumberConverter.to_url with ``int``, or the converter's
# own to_url for anything else.
_STATIC, _QUOTED, _INTEGER, _CALL = 0, 1, 2, 3


class _Defer(Exception):
    """A build that must be left to Werkzeug (it would raise TypeError)."""


_Part = tuple[int, str, t.Any]


def _own_method(obj: object, name: str, base: type) -> bool:
    """Whether ``obj.name`` is still ``base``'s method (not overridden by a
    subclass nor set on the instance)."""
    return getattr(type(obj), name, None) is getattr(base, name) and name not in (
        getattr(obj, "__dict__", None) or ()
    )


def _part(name: str, converter: BaseConverter) -> _Part:
    if _own_method(converter, "to_url", BaseConverter):
        return (_QUOTED, name, converter.to_url)
    if (
        _own_method(converter, "to_url", NumberConverter)
        and getattr(converter, "num_convert", None) is int
    ):
        return (_INTEGER, name, converter)
    return (_CALL, name, converter.to_url)


class _RuleBuilder:
    """One rule, ready to be filled with values."""

    __slots__ = ("defaults", "methods", "names", "parts", "required", "rule")

    def __init__(self, rule: Rule) -> None:
        defaults = rule.defaults or {}
        self.defaults = defaults
        self.methods = rule.methods
        #: Arguments the values must provide (the others have defaults).
        self.required = tuple(a for a in rule.arguments if a not in defaults)
        #: Keys the rule consumes; any other value goes to the query string.
        self.names = frozenset(self.required) | frozenset(defaults)
        self.rule = rule
        parts: list[_Part] = []
        for is_dynamic, data in _path_trace(rule):
            if is_dynamic and data in defaults:
                # Werkzeug fills an argument that has a default with the
                # default, whatever the values say (they must agree anyway).
                text = rule._converters[data].to_url(defaults[data])
                parts.append((_STATIC, text, None))
            elif is_dynamic:
                parts.append(_part(data, rule._converters[data]))
            else:
                parts.append((_STATIC, quote(data, safe=_PATH_SAFE), None))
        # Adjacent constant text joined once.
        merged: list[_Part] = []
        for part in parts:
            if part[0] == _STATIC and merged and merged[-1][0] == _STATIC:
                merged[-1] = (_STATIC, merged[-1][1] + part[1], None)
            else:
                merged.append(part)
        self.parts = tuple(merged)

    def suitable(self, values: dict[str, t.Any], method: str | None) -> bool:
        """Werkzeug's ``Rule.suitable_for``, in the same order."""
        methods = self.methods
        if method is not None and methods is not None and method not in methods:
            return False
        for key in self.required:
            if key not in values:
                return False
        for key, value in self.defaults.items():
            if key in values and value != values[key]:
                return False
        return True

    def path(self, values: dict[str, t.Any]) -> str | None:
        """The path and query string, or ``None`` when a converter refuses a
        value (Werkzeug then tries the next rule)."""
        names = self.names
        try:
            if len(values) == len(self.required) and not self.defaults:
                # Every value fills the rule (suitable() saw them all).
                query = ""
            else:
                extra = {k: v for k, v in values.items() if k not in names}
                query = _encode_query(extra, self.rule) if extra else ""
            out = []
            for kind, data, conv in self.parts:
                if kind == _STATIC:
                    out.append(data)
                    continue
                value = values[data]
                cls = type(value)
                if kind == _QUOTED:
                    if cls is str:
                        # PERF: quote() leaves ASCII letters and digits alone.
                        out.append(
                            value
                            if value.isalnum() and value.isascii()
                            else conv(value)
                        )
                    elif cls is int:
                        out.append(str(value))
                    else:
                        out.append(conv(value))
                elif kind == _INTEGER:
                    if cls is int:
                        text = str(value)
                        if conv.fixed_digits:
                            text = text.zfill(conv.fixed_digits)
                        out.append(text)
                    else:
                        out.append(conv.to_url(value))
                else:
                    out.append(conv(value))
        except ValidationError:
            return None
        return "".join(out) + query


def _encode_query(extra: dict[t.Any, t.Any], rule: Rule) -> str:
    """``?`` and the query string for the values no rule part consumed."""
    pieces = []
    simple = not rule.map.sort_parameters
    for key, value in extra.items():
        if type(key) is not str or key == ".self":
            # Werkzeug's generated builder would raise TypeError.
            raise _Defer
        if not simple:
            continue
        cls = type(value)
        if cls is str:
            if not (value.isalnum() and value.isascii()):
                value = quote_plus(value, _QUERY_SAFE)
        elif cls is not int:
            simple = False
            continue
        if not (key.isalnum() and key.isascii()):
            key = quote_plus(key, _QUERY_SAFE)
        pieces.append(f"{key}={value}")
    if simple:
        return "?" + "&".join(pieces)
    # Lists, sets, other types, sorting: the rule's own encoder (Werkzeug's).
    params = rule._encode_query_vars(extra)
    return f"?{params}" if params else ""


_Endpoint = tuple[_RuleBuilder, ...]


def _overrides_building(rule: Rule) -> bool:
    return not all(
        _own_method(rule, name, Rule)
        for name in ("build", "suitable_for", "_encode_query_vars", "build_compare_key")
    )


class CompiledBuilder:
    """Builds URLs for a snapshot of a :class:`Map`, as its adapters would.

    Endpoints are compiled the first time they are built, so creating a
    builder costs nothing however many rules the map has.
    """

    __slots__ = ("_endpoints", "enabled", "rule_count", "url_map")

    def __init__(self, url_map: Map) -> None:
        self.url_map = url_map
        #: The map's rule count when this snapshot was taken: a different
        #: count means rules were added and the builder must be replaced.
        self.rule_count = len(url_map._rules)
        self.enabled = not url_map.host_matching and not url_map.default_subdomain
        self._endpoints: dict[t.Any, _Endpoint | None] = {}

    def is_current(self, url_map: Map) -> bool:
        """Whether this builder still describes ``url_map``."""
        return url_map is self.url_map and len(url_map._rules) == self.rule_count

    def _compile(self, endpoint: t.Any) -> _Endpoint | None:
        rules = self.url_map._rules_by_endpoint.get(endpoint)
        if not rules:
            return None  # unknown: Werkzeug raises BuildError
        compiled: _Endpoint | None = None
        # The order Map.update() gives them; sorted() is stable like it.
        ordered = sorted(rules, key=lambda r: r.build_compare_key())
        if not any(
            r.subdomain
            or r.host
            or r.websocket
            or r.alias
            or r.redirect_to is not None
            or _overrides_building(r)
            for r in ordered
        ):
            compiled = tuple(_RuleBuilder(r) for r in ordered)
        self._endpoints[endpoint] = compiled
        return compiled

    def build(
        self,
        adapter: MapAdapter,
        endpoint: t.Any,
        values: dict[str, t.Any],
        method: str | None = None,
        force_external: bool = False,
        url_scheme: str | None = None,
    ) -> str | None:
        """``adapter.build(endpoint, values, method, force_external,
        url_scheme=url_scheme)``, or ``None`` to let Werkzeug answer (also
        whenever Werkzeug would raise ``BuildError``)."""
        if not self.enabled or type(adapter) is not MapAdapter:
            return None
        if adapter.map is not self.url_map or type(values) is not dict:
            return None
        try:
            rules = self._endpoints[endpoint]
        except KeyError:
            rules = self._compile(endpoint)
        if rules is None:
            return None
        for value in values.values():
            if value is None:
                values = {k: v for k, v in values.items() if v is not None}
                break
        path = None
        try:
            if method is None:
                # Werkzeug tries the request's method first, then any method.
                path = _first(rules, values, adapter.default_method)
            if path is None:
                path = _first(rules, values, method)
        except _Defer:
            return None
        if path is None:
            return None
        path = path.lstrip("/")
        if not force_external and adapter.subdomain == "":
            return f"{adapter.script_name.rstrip('/')}/{path}"
        if url_scheme is None:
            url_scheme = adapter.url_scheme
        # Non-websocket rules are built with an HTTP scheme.
        scheme = ("https:" if url_scheme in _SECURE else "http:") if url_scheme else ""
        return f"{scheme}//{adapter.server_name}{adapter.script_name[:-1]}/{path}"


def _first(
    rules: _Endpoint, values: dict[str, t.Any], method: str | None
) -> str | None:
    for rule in rules:
        if rule.suitable(values, method):
            path = rule.path(values)
            if path is not None:
                return path
    return None
