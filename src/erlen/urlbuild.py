"""A compiled URL builder that answers like Werkzeug's ``MapAdapter.build``, faster.

Werkzeug's :class:`~werkzeug.routing.Map` stays the source of truth, as for the
matcher (:mod:`erlen.routing`). Given the bound
:class:`~werkzeug.routing.MapAdapter` ``url_for`` would build with,
:class:`CompiledBuilder` returns the exact string ``adapter.build(...)`` would
return — or ``None``, meaning "ask Werkzeug". It chooses among an endpoint's
rules as Werkzeug does (the same order, the same suitability test, the
request's method first) and fills them the same way: static text quoted
alike, rule defaults, each converter's own ``to_url`` (with a shortcut for
plain ``str`` and ``int`` values in the default, string, path and int
converters, whose result is certain), and the values no rule part takes as
the query string, encoded by Werkzeug's rules (``sort_parameters`` and
``sort_key`` included).

Each endpoint is compiled the first time it is built — one small generated
function per rule, holding its text, converters and checks — and compiled
again when rules were added to it, so the cost is the same for ten routes or
ten thousand.

It returns ``None`` for what it does not replicate: host matching, a default
subdomain, rules with a subdomain, websocket, ``alias`` and ``redirect_to``
rules, ``Rule``/``MapAdapter`` subclasses that change building, values that
are not a plain ``dict``, keys Werkzeug would reject with ``TypeError``, and
every build with no suitable rule (Werkzeug raises its ``BuildError``, with
its suggestions). ``tests/test_url_builder.py`` checks it against Werkzeug
over random rule sets, converters, defaults, values and options.
"""

from __future__ import annotations

import typing as t
from urllib.parse import quote, quote_plus

from werkzeug.routing import Map, MapAdapter, Rule, ValidationError
from werkzeug.routing.converters import BaseConverter, NumberConverter

from .routing import _path_trace

# Werkzeug's safe characters in path segments (static text and converters)
# and in query strings (https://url.spec.whatwg.org/).
_PATH_SAFE = "!$&'()*+,/:;=@"
_QUERY_SAFE = "!$'()*,/:;?@"
_SECURE = frozenset({"https", "wss"})

#: A rule compiled to ``fill(values, method)``: the path and query string, or
#: ``None`` when the rule is not suitable or a converter refuses a value.
_Fill = t.Callable[[dict[str, t.Any], str | None], str | None]


class _Defer(Exception):
    """A build that must be left to Werkzeug (it would raise ``TypeError``)."""


def _own_method(obj: object, name: str, base: type) -> bool:
    """Whether ``obj.name`` is still ``base``'s (not overridden by a subclass,
    nor set on the instance)."""
    inherited = getattr(type(obj), name, None) is getattr(base, name)
    return inherited and name not in (getattr(obj, "__dict__", None) or ())


def _builds_like_werkzeug(rule: Rule) -> bool:
    return not (
        rule.subdomain
        or rule.host
        or rule.websocket
        or rule.alias
        or rule.redirect_to is not None
    ) and all(
        _own_method(rule, name, Rule)
        for name in (
            "build",
            "suitable_for",
            "_compile_builder",
            "_encode_query_vars",
            "build_compare_key",
        )
    )


def _query(names: frozenset[str], rule: Rule, values: dict[t.Any, t.Any]) -> str:
    """``?`` and the query string of the values ``rule`` does not take."""
    extra = {k: v for k, v in values.items() if k not in names}
    if not extra:
        return ""
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
            if not (value.isascii() and value.isalnum()):
                value = quote_plus(value, _QUERY_SAFE)
        elif cls is not int:
            simple = False
            continue
        if not (key.isascii() and key.isalnum()):
            key = quote_plus(key, _QUERY_SAFE)
        pieces.append(f"{key}={value}")
    if simple:
        return "?" + "&".join(pieces)
    # Lists, sets, other types, sorting: the rule's own encoder (Werkzeug's).
    params = rule._encode_query_vars(extra)
    return f"?{params}" if params else ""


def _convert(j: int, v: str, converter: BaseConverter) -> str:
    """Source for ``s{j}``, the URL text of the value in variable ``v``,
    calling ``c{j}`` (the converter's ``to_url``) unless the result is
    certain."""
    if _own_method(converter, "to_url", BaseConverter):
        # PERF: quote() leaves ASCII letters and digits as they are.
        return (
            f"{v} if type({v}) is str and {v}.isascii() and {v}.isalnum()"
            f" else str({v}) if type({v}) is int else c{j}({v})"
        )
    digits = getattr(converter, "fixed_digits", None)
    if (
        _own_method(converter, "to_url", NumberConverter)
        and getattr(converter, "num_convert", None) is int
        and type(digits) is int
    ):
        text = f"str({v}).zfill({digits})" if digits else f"str({v})"
        return f"{text} if type({v}) is int else c{j}({v})"
    return f"c{j}({v})"


def _url(
    adapter: MapAdapter, path: str, force_external: bool, url_scheme: str | None
) -> str:
    """The end of Werkzeug's build for a rule without a subdomain."""
    path = path.lstrip("/")
    if not force_external and adapter.subdomain == "":
        return f"{adapter.script_name.rstrip('/')}/{path}"
    if url_scheme is None:
        url_scheme = adapter.url_scheme
    # Rules that are not websocket rules get an HTTP scheme.
    scheme = ("https:" if url_scheme in _SECURE else "http:") if url_scheme else ""
    return f"{scheme}//{adapter.server_name}{adapter.script_name[:-1]}/{path}"


def _compile_rule(rule: Rule, whole: bool) -> t.Callable[..., str | None]:
    """Generate the code for one rule: ``fill(values, method)`` returns its
    path and query string, or ``None`` when the rule is not suitable or a
    converter refuses a value; with ``whole``, ``build(adapter, values,
    method, force_external, url_scheme)`` is the whole build of an endpoint
    that has only this rule. Only identifiers and numbers go into the source;
    every piece of text or object is a name in its namespace."""
    defaults = rule.defaults or {}
    required = sorted(a for a in rule.arguments if a not in defaults)
    ns: dict[str, t.Any] = {
        "ValidationError": ValidationError,
        "Defer": _Defer,
        "methods": rule.methods,
        "query": _query,
        "names": frozenset(required) | frozenset(defaults),
        "rule": rule,
        "url": _url,
    }
    # The path: constant text and converted values, in order.
    local = {name: f"x{i}" for i, name in enumerate(required)}
    pieces: list[str] = []
    conversions: list[str] = []
    text: list[str] = []
    for j, (is_dynamic, data) in enumerate(_path_trace(rule)):
        if is_dynamic and data in defaults:
            # Werkzeug fills an argument that has a default with the default.
            text.append(rule._converters[data].to_url(defaults[data]))
        elif not is_dynamic:
            text.append(quote(data, safe=_PATH_SAFE))
        else:
            if text:
                ns[f"t{j}"] = "".join(text)
                pieces.append(f"t{j}")
                text = []
            converter = rule._converters[data]
            ns[f"c{j}"] = converter.to_url
            conversions.append(f"s{j} = {_convert(j, local[data], converter)}")
            pieces.append(f"s{j}")
    if text:
        ns["tail"] = "".join(text)
        pieces.append("tail")
    path = " + ".join(pieces)

    if whole:
        src = ["def build(adapter, values, method, force_external, url_scheme):"]
    else:
        src = ["def fill(values, method):"]
    if rule.methods is not None:
        src += [
            "    if method is not None and method not in methods:",
            "        return",
        ]
    # Werkzeug's Rule.suitable_for, on the values that are not None: the
    # arguments present, then the defaults not contradicted.
    for i, name in enumerate(required):
        ns[f"r{i}"] = name
        src += [
            f"    x{i} = values.get(r{i})",
            f"    if x{i} is None:",
            "        return",
        ]
    # PERF: values that are exactly the arguments (so no None, nothing for
    # the query string, no default to compare) need no more work.
    src.append(f"    if len(values) == {len(required)}:")
    if conversions:
        src.append("        try:")
        src += [f"            {line}" for line in conversions]
        src += ["        except ValidationError:", "            return"]
    src.append(f"        {'path =' if whole else 'return'} {path}")
    src.append("    else:")
    if whole:  # (``fill`` is given values without None)
        src.append(
            "        values = {k: v for k, v in values.items() if v is not None}"
        )
    for i, (key, value) in enumerate(defaults.items()):
        ns[f"k{i}"], ns[f"d{i}"] = key, value
        src += [
            f"        if k{i} in values and d{i} != values[k{i}]:",
            "            return",
        ]
    # As in Werkzeug's builder, the query string is encoded first.
    src += ["        try:", "            q = query(names, rule, values)"]
    src += [f"            {line}" for line in conversions]
    if whole:
        src += ["        except (ValidationError, Defer):", "            return"]
        src.append(f"        path = {path} + q")
        # PERF: for a path with one leading slash, Werkzeug's strip and join
        # come down to a concatenation (a rule's text starts with "/").
        first = ns.get(pieces[0], "")
        check = (
            ""
            if first[:1] == "/" and first[1:2] not in ("", "/")
            else (" and path[1:2] != '/'")
        )
        src += [
            f"    if not force_external and adapter.subdomain == ''{check}:",
            "        return adapter.script_name.rstrip('/') + path",
            "    return url(adapter, path, force_external, url_scheme)",
        ]
    else:
        src += ["        except ValidationError:", "            return"]
        src.append(f"        return {path} + q")
    code = compile("\n".join(src), f"<erlen url builder {rule.rule!r}>", "exec")
    exec(code, ns)
    return ns["build" if whole else "fill"]  # type: ignore[no-any-return]


def _several(fills: tuple[_Fill, ...]) -> t.Callable[..., str | None]:
    """The build of an endpoint with several rules, chosen as Werkzeug does."""

    def build(
        adapter: MapAdapter,
        values: dict[str, t.Any],
        method: str | None,
        force_external: bool,
        url_scheme: str | None,
    ) -> str | None:
        for value in values.values():
            if value is None:  # Werkzeug ignores None values.
                values = {k: v for k, v in values.items() if v is not None}
                break
        try:
            path = None
            if method is None:
                # The request's method first, then any method.
                path = _first(fills, values, adapter.default_method)
            if path is None:
                path = _first(fills, values, method)
        except _Defer:
            return None
        return None if path is None else _url(adapter, path, force_external, url_scheme)

    return build


def _first(
    fills: tuple[_Fill, ...], values: dict[str, t.Any], method: str | None
) -> str | None:
    for fill in fills:
        path = fill(values, method)
        if path is not None:
            return path
    return None


def _unsupported(*args: t.Any) -> None:
    return None


#: An endpoint's rule list in the map, its length when compiled, and its build
#: function (``_unsupported`` leaves the endpoint to Werkzeug).
_Entry = tuple[list[Rule], int, t.Callable[..., str | None]]


class CompiledBuilder:
    """Builds URLs for a :class:`Map` as its adapters would (see the module)."""

    __slots__ = ("_endpoints", "url_map")

    def __init__(self, url_map: Map) -> None:
        self.url_map = url_map
        self._endpoints: dict[t.Any, _Entry] = {}

    def _compile(self, endpoint: t.Any) -> _Entry | None:
        rules = self.url_map._rules_by_endpoint.get(endpoint)
        if not rules:
            return None  # unknown: Werkzeug raises BuildError
        # The order Map.update() sorts them in (sorted() is stable as it is).
        ordered = sorted(rules, key=lambda r: r.build_compare_key())
        build: t.Callable[..., str | None] = _unsupported
        if all(_builds_like_werkzeug(r) for r in ordered):
            try:
                if len(ordered) == 1:
                    # One rule: trying the request's method first, then any
                    # method (as Werkzeug does) comes down to one try.
                    build = _compile_rule(ordered[0], whole=True)
                else:
                    fills = tuple(_compile_rule(r, whole=False) for r in ordered)
                    build = _several(fills)
            except Exception:
                # A converter that fails where Werkzeug's compile did not:
                # leave the endpoint to Werkzeug.
                build = _unsupported
        entry = self._endpoints[endpoint] = (rules, len(rules), build)
        return entry

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
        url_scheme=url_scheme)``, or ``None`` to let Werkzeug answer (always
        when Werkzeug would raise ``BuildError``). ``values`` is not changed."""
        if type(values) is not dict:
            return None
        build = self.function(adapter, endpoint)
        if build is None:
            return None
        return build(adapter, values, method, force_external, url_scheme)

    def function(
        self, adapter: MapAdapter, endpoint: t.Any
    ) -> t.Callable[..., str | None] | None:
        """The function :meth:`build` calls for ``endpoint`` with ``adapter``
        (the same arguments, ``values`` a plain ``dict``), or ``None`` when
        Werkzeug must answer."""
        url_map = self.url_map
        if (
            type(adapter) is not MapAdapter
            or adapter.map is not url_map
            or url_map.host_matching
            or url_map.default_subdomain
        ):
            return None
        entry = self._endpoints.get(endpoint)
        if entry is None or len(entry[0]) != entry[1]:
            # First build of this endpoint, or rules were added to it.
            entry = self._compile(endpoint)
            if entry is None:
                return None
        return entry[2]
