"""A compiled URL matcher that answers like Werkzeug's, faster.

Werkzeug's :class:`~werkzeug.routing.Map` stays the source of truth: rules are
added to it as usual, and :class:`CompiledMatcher` is rebuilt from it whenever
it changed. The matcher only answers when the answer is certain:

* a request path equal to a rule without converters (Werkzeug always prefers
  a fully static match; when several rules have that path, Werkzeug's own
  answer, remembered the first time it is asked), or
* a path that exactly one rule could match at all, or
* a path that no rule can match (a certain 404).

Everything else — redirects for missing slashes or merged slashes, 404, 405,
ambiguous paths, aliases, ``redirect_to``, host and subdomain matching — is
left to Werkzeug's own ``MapAdapter.match``, so results never differ.
"""

from __future__ import annotations

import re
import typing as t

from werkzeug.routing import Map, Rule, ValidationError
from werkzeug.routing.converters import BaseConverter, PathConverter

#: Returned when no rule can match the path at all: a certain 404.
NOT_FOUND = ("not found",)

#: A ``(rule, view_args)`` result, ``NOT_FOUND``, or ``None`` for "ask Werkzeug".
MatchResult = t.Union[tuple[Rule, dict[str, t.Any]], tuple[str], None]  # noqa: UP007


class _Dynamic:
    """A rule with converters, compiled to one regular expression."""

    __slots__ = (
        "converters",
        "loose",
        "methods",
        "rule",
        "slow",
        "strict",
        "trailing_slash",
    )

    def __init__(self, rule: Rule, slow: bool) -> None:
        self.rule = rule
        self.methods = rule.methods
        #: Werkzeug may turn a match of this rule into a redirect.
        self.slow = slow
        # (name, group, to_python or None when it is the identity)
        self.converters = [
            (
                name,
                f"a{index}",
                None
                if type(converter).to_python is BaseConverter.to_python
                else converter.to_python,
            )
            for index, (name, converter) in enumerate(rule._converters.items())
        ]
        pattern = []
        names = list(rule._converters)
        for is_dynamic, data in _path_trace(rule):
            if is_dynamic:
                converter = rule._converters[data]
                pattern.append(f"(?P<a{names.index(data)}>{converter.regex})")
            else:
                pattern.append(re.escape(data))
        body = "".join(pattern)
        self.strict = re.compile(body)
        self.trailing_slash = body.endswith("/")
        # The loose form accepts the path with or without a trailing slash, so
        # that slash redirects and non-strict rules count as candidates.
        loose_body = body[:-1] if body.endswith("/") else body
        self.loose = re.compile(f"{loose_body}/?")

    def values(self, match: re.Match[str]) -> dict[str, t.Any] | None:
        result = {}
        # Named groups: a converter's own regex may contain groups too.
        groups = match.groupdict()
        try:
            for name, group, to_python in self.converters:
                value = groups[group]
                result[name] = value if to_python is None else to_python(value)
        except ValidationError:
            return None
        defaults = self.rule.defaults
        if defaults:
            result.update(defaults)
        return result


def _path_trace(rule: Rule) -> list[tuple[bool, str]]:
    """The rule's parsed pieces after the ``|`` that ends its host part."""
    trace = rule._trace
    for i, (is_dynamic, data) in enumerate(trace):
        if not is_dynamic and data == "|":
            return trace[i + 1 :]
    return trace


def _first_segment(rule: Rule) -> str | None:
    """The rule's first path segment if it is plain text, else ``None``."""
    text = []
    for is_dynamic, data in _path_trace(rule):
        if is_dynamic:
            return None
        text.append(data)
        joined = "".join(text)
        if "/" in joined[1:]:
            return joined[1:].split("/", 1)[0]
    joined = "".join(text)
    return joined[1:].split("/", 1)[0]


class CompiledMatcher:
    """Matches ``(path, method)`` against a snapshot of a :class:`Map`."""

    def __init__(self, url_map: Map) -> None:
        url_map.update()
        self.static: dict[str, list[Rule]] = {}
        self.by_segment: dict[str, list[_Dynamic]] = {}
        self.wildcard: list[_Dynamic] = []
        #: Rules whose matches Werkzeug may turn into redirects.
        self.slow: set[int] = set()
        #: Werkzeug's answers for static paths that several rules share.
        self.learned: dict[tuple[str, str], Rule] = {}
        self.enabled = not url_map.host_matching and not url_map.default_subdomain
        if not self.enabled:
            return
        rules = list(url_map.iter_rules())
        with_defaults: dict[str, list[Rule]] = {}
        for rule in rules:
            if rule.defaults:
                with_defaults.setdefault(rule.endpoint, []).append(rule)
        for rule in rules:
            if rule.subdomain or rule.host:
                self.enabled = False
                return
            if (
                # Werkzeug matches websocket rules only on websocket requests
                # (a plain request that only they match is a 400): deferred.
                rule.websocket
                or rule.alias
                or rule.redirect_to is not None
                or any(r is not rule for r in with_defaults.get(rule.endpoint, ()))
            ):
                self.slow.add(id(rule))
            if not rule._converters:  # (its arguments may be defaults only)
                path = "".join(data for _, data in _path_trace(rule))
                self.static.setdefault(path, []).append(rule)
                continue
            if any(
                not c.part_isolating and not isinstance(c, PathConverter)
                for c in rule._converters.values()
            ):
                # A custom converter that spans segments: matching it like
                # Werkzeug needs Werkzeug.
                self.enabled = False
                return
            compiled = _Dynamic(rule, id(rule) in self.slow)
            segment = _first_segment(rule)
            if segment is None:
                self.wildcard.append(compiled)
            else:
                self.by_segment.setdefault(segment, []).append(compiled)
        # Rules whose first segment is a converter can match under any segment.
        for group in self.by_segment.values():
            group.extend(self.wildcard)

    def learn(self, path: str, method: str, rule: Rule) -> None:
        """Remember that Werkzeug matched ``rule`` for ``path`` and ``method``
        when several rules have that static path: its answer depends on
        nothing else (the order it added them in, their methods, websocket
        flags and redirects), so it is the answer until the map changes.
        At most 1,024 are kept (methods are the client's to choose)."""
        bucket = self.static.get(path)
        if (
            bucket is not None
            and len(bucket) > 1
            and any(r is rule for r in bucket)
            and len(self.learned) < 1024
        ):
            self.learned[(path, method)] = rule

    def match(self, path: str, method: str) -> MatchResult:
        """The matching rule and its values, or ``None`` to defer to Werkzeug."""
        if not self.enabled or "//" in path or path[:1] != "/":
            return None
        static = self.static
        bucket = static.get(path)
        if bucket is not None:
            found = None
            for rule in bucket:
                if rule.methods is None or method in rule.methods:
                    if found is not None:
                        # Several rules have this path (flaskr's "/" is both
                        # "index" and "blog.index"): Werkzeug's choice, once
                        # it has been asked (see learn).
                        learned = self.learned.get((path, method))
                        if learned is None:
                            return None
                        return learned, dict(learned.defaults or ())
                    found = rule
            if found is None or id(found) in self.slow:
                return None
            return found, dict(found.defaults) if found.defaults else {}
        # A static rule differing only by a trailing slash wins or redirects.
        if path + "/" in static or (path[-1:] == "/" and path[:-1] in static):
            return None
        end = path.find("/", 1)
        segment = path[1:] if end == -1 else path[1:end]
        candidate = None
        m = None
        for compiled in self.by_segment.get(segment, self.wildcard):
            loose = compiled.loose.fullmatch(path)
            if loose is not None:
                if candidate is not None:
                    return None
                candidate = compiled
                m = loose
        if candidate is None:
            # No rule matches the path with or without a trailing slash, so
            # Werkzeug would find nothing either (not even a redirect or 405).
            return NOT_FOUND
        methods = candidate.methods
        if candidate.slow or (methods is not None and method not in methods):
            return None
        if candidate.trailing_slash or path[-1] == "/":
            # Only then can the optional slash of the loose form have changed
            # the match; otherwise the loose match is the strict one.
            m = candidate.strict.fullmatch(path)
            if m is None:
                return None
        values = candidate.values(m)  # type: ignore[arg-type]
        if values is None:
            return None
        return candidate.rule, values
