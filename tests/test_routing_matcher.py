"""The compiled matcher gives Werkzeug's answer for every rule set and path.

Property-based: random rule sets (static, converters, trailing slashes,
strict_slashes, defaults, methods) and random paths are matched both by
``erlen.routing.CompiledMatcher`` and by Werkzeug's ``MapAdapter.match``; when
the compiled matcher answers, the answer must be the same rule and values.
"""

from __future__ import annotations

import typing as t

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, RequestRedirect, Rule

from erlen import Erlen
from erlen.routing import NOT_FOUND, CompiledMatcher

SEGMENTS = ["a", "b", "users", "static", "x-1", "%41", "me", "1", "42", "3.5"]
CONVERTERS = ["<v>", "<int:v>", "<float:v>", "<path:v>", "<any(a, b):v>", "p-<v>"]


@st.composite
def rule_specs(draw: st.DrawFn) -> tuple[str, bool, frozenset[str], bool | str]:
    parts = draw(st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=3))
    if draw(st.booleans()):
        pos = draw(st.integers(0, len(parts)))
        parts.insert(pos, draw(st.sampled_from(CONVERTERS)))
    # A path converter only at the end, and one argument name per rule.
    parts = [p for i, p in enumerate(parts) if "<path" not in p or i == len(parts) - 1]
    path = "/" + "/".join(parts)
    if parts and draw(st.booleans()):
        path += "/"
    strict = draw(st.booleans())
    methods = frozenset(draw(st.sampled_from([["GET"], ["POST"], ["GET", "POST"]])))
    with_default = draw(st.booleans()) and "<" not in path
    if draw(st.integers(0, 2)) == 0:
        # A websocket rule: plain requests it alone matches are Werkzeug's 400.
        return path, strict, frozenset(["GET"]), "ws"
    return path, strict, methods, with_default


@st.composite
def paths(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from([*SEGMENTS, "", "p-z", "c.d"]), max_size=4))
    path = "/" + "/".join(parts)
    if draw(st.booleans()):
        path += "/"
    return path


def _build_map(specs: list[tuple[str, bool, frozenset[str], bool | str]]) -> Map:
    url_map = Map()
    for i, (path, strict, methods, with_default) in enumerate(specs):
        ws = with_default == "ws"
        defaults = {"d": 1} if with_default and not ws else None
        url_map.add(
            Rule(
                path,
                endpoint=f"e{i % 3}",
                methods=methods,
                strict_slashes=strict,
                defaults=defaults,
                websocket=ws,
            )
        )
    return url_map


def _werkzeug(url_map: Map, path: str, method: str) -> t.Any:
    adapter = url_map.bind("localhost", path_info=path, default_method=method)
    try:
        return adapter.match(return_rule=True)
    except RequestRedirect as e:
        return ("redirect", e.new_url)
    except HTTPException as e:
        return type(e)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    specs=st.lists(rule_specs(), min_size=1, max_size=8, unique_by=lambda s: s[0]),
    path=paths(),
    method=st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
)
def test_compiled_matcher_agrees_with_werkzeug(
    specs: list[tuple[str, bool, frozenset[str], bool]], path: str, method: str
) -> None:
    _agrees(specs, path, method)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    # The same paths several times (flaskr's "/" is two rules): Werkzeug takes
    # the first added that allows the method.
    specs=st.lists(rule_specs(), min_size=2, max_size=8).map(lambda s: s + s[:2]),
    data=st.data(),
    method=st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
)
def test_compiled_matcher_agrees_with_werkzeug_on_repeated_rules(
    specs: list[tuple[str, bool, frozenset[str], bool]], data: t.Any, method: str
) -> None:
    # Mostly the path of one of the rules, so that repeated rules are hit.
    path = data.draw(st.sampled_from([s[0] for s in specs]) | paths())
    _agrees(specs, path, method)


def _agrees(
    specs: list[tuple[str, bool, frozenset[str], bool]], path: str, method: str
) -> None:
    url_map = _build_map(specs)
    expected = _werkzeug(url_map, path, method)
    matcher = CompiledMatcher(url_map)
    got = matcher.match(path, method)
    if got is None and isinstance(expected, tuple) and expected[0] != "redirect":
        # Deferred to Werkzeug, whose answer the app hands back (as
        # Erlen._match does); the matcher may answer by itself from then on.
        matcher.learn(path, method, expected[0])
        got = matcher.match(path, method)
    if got is None:
        return  # deferred to Werkzeug: same answer by construction
    if got is NOT_FOUND:
        assert expected is NotFound, (path, method, expected)
        return
    assert isinstance(expected, tuple) and expected[0] != "redirect", expected
    assert got[0] is expected[0]
    assert got[1] == expected[1]


def test_a_path_two_rules_share_is_werkzeugs_choice_then_the_matchers() -> None:
    # Flaskr's layout: the blueprint's "/" view, then app.add_url_rule("/",
    # endpoint="index") with no view, so that url_for("index") works.
    from erlen import Blueprint, Erlen

    app = Erlen(__name__)
    bp = Blueprint("blog", __name__)

    @bp.route("/")
    def index() -> str:
        return "blog index"

    app.register_blueprint(bp)
    app.add_url_rule("/", endpoint="index")
    client = app.test_client()
    for _ in range(2):
        response = client.get("/")
        assert response.status_code == 200
        assert response.data == b"blog index"
    matcher = app._matcher
    assert matcher is not None
    rule, values = matcher.match("/", "GET")  # type: ignore[misc]
    assert (rule.endpoint, values) == ("blog.index", {})
    assert matcher.match("/", "POST") is None  # not asked yet: Werkzeug's 405
    assert client.post("/").status_code == 405
    assert matcher.match("/", "POST") is None
    # A rule added to the map rebuilds the matcher, and what it learned
    # goes with it.
    app.url_map.add(Rule("/", endpoint="late"))
    assert client.get("/").data == b"blog index"
    assert app._matcher is not matcher


def test_a_static_rule_with_defaults_shares_its_path_with_the_others() -> None:
    # Found by the repeated-rules property test: "/" with defaults (its
    # arguments are the defaults, it has no converter) was left out of the
    # static paths, so the matcher answered the other "/" rule alone.
    url_map = Map(
        [
            Rule("/", endpoint="first", defaults={"page": 1}),
            Rule("/", endpoint="second"),
            Rule("/page/<int:page>", endpoint="paged"),
        ]
    )
    expected = url_map.bind("localhost").match("/", return_rule=True)
    assert (expected[0].endpoint, expected[1]) == ("first", {"page": 1})
    matcher = CompiledMatcher(url_map)
    assert matcher.match("/", "GET") is None  # Werkzeug decides, once
    matcher.learn("/", "GET", expected[0])
    rule, values = matcher.match("/", "GET")  # type: ignore[misc]
    assert (rule, values) == (expected[0], {"page": 1})
    # Alone, such a rule is answered directly, defaults as its values.
    alone = CompiledMatcher(Map([Rule("/", endpoint="only", defaults={"page": 1})]))
    rule, values = alone.match("/", "GET")  # type: ignore[misc]
    assert (rule.endpoint, values) == ("only", {"page": 1})


def test_matcher_answers_common_cases_itself() -> None:
    url_map = Map(
        [
            Rule("/", endpoint="index"),
            Rule("/users/<int:id>", endpoint="user", methods=["GET"]),
            Rule("/users/me", endpoint="me"),
            Rule("/files/<path:name>", endpoint="file"),
        ]
    )
    m = CompiledMatcher(url_map)
    rule, values = m.match("/users/7", "GET")  # type: ignore[misc]
    assert (rule.endpoint, values) == ("user", {"id": 7})
    rule, values = m.match("/users/me", "GET")  # type: ignore[misc]
    assert (rule.endpoint, values) == ("me", {})
    rule, values = m.match("/files/a/b.txt", "GET")  # type: ignore[misc]
    assert (rule.endpoint, values) == ("file", {"name": "a/b.txt"})
    assert m.match("/nothing/here", "GET") is NOT_FOUND
    # Werkzeug decides redirects and 405s.
    assert m.match("/users/7", "POST") is None
    assert m.match("//users/7", "GET") is None


def test_matcher_is_rebuilt_when_rules_are_added_directly() -> None:
    app = Erlen(__name__)

    @app.route("/a")
    def a() -> str:
        return "a"

    client = app.test_client()
    assert client.get("/a").data == b"a"
    assert client.get("/b").status_code == 404
    app.url_map.add(Rule("/b", endpoint="a"))
    assert client.get("/b").data == b"a"


@pytest.mark.parametrize(
    ("path", "status", "location"),
    [
        ("/dir", 308, "http://localhost/dir/"),
        ("/page//1", 308, "http://localhost/page/1"),
        ("/old", 308, "http://localhost/new"),
        ("/page/x", 404, None),
    ],
)
def test_app_routing_falls_back_to_werkzeug(
    path: str, status: int, location: str | None
) -> None:
    app = Erlen(__name__)
    app.add_url_rule("/dir/", "dir", lambda: "dir")
    app.add_url_rule("/page/<int:n>", "page", lambda n: f"page {n}")
    app.add_url_rule("/new", "new", lambda: "new")
    app.add_url_rule("/old", "old", redirect_to="/new")
    response = app.test_client().get(path)
    assert response.status_code == status
    assert response.headers.get("Location") == location


def test_method_not_allowed_from_fallback() -> None:
    app = Erlen(__name__)
    app.add_url_rule("/x", "x", lambda: "x", methods=["POST"])
    response = app.test_client().get("/x")
    assert response.status_code == MethodNotAllowed.code
    assert set(response.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}


def test_rule_added_to_the_map_directly_after_update_is_matched() -> None:
    """Werkzeug's ``update()`` (run by ``iter_rules`` and by building) clears
    the map's ``_remap`` flag; a rule added straight to the map must still be
    matched by the compiled matcher's successor."""
    from werkzeug.routing import Rule

    from erlen import Erlen

    app = Erlen(__name__)
    app.add_url_rule("/a", "a", lambda: "a")
    client = app.test_client()
    assert client.get("/a").data == b"a"
    app.url_map.add(Rule("/b", endpoint="a"))
    list(app.url_map.iter_rules())
    assert client.get("/b").data == b"a"
