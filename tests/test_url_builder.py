"""The compiled URL builder gives Werkzeug's answer for every map and value.

Property-based, as ``tests/test_routing_matcher.py`` proves the matcher:
random rule sets (static text, every built-in converter with options, custom
converters, defaults, methods, several rules per endpoint, build-only rules,
and the rule kinds the builder leaves to Werkzeug), random values (ints,
strings that need quoting, floats, UUIDs, lists, sets, ``None``), methods,
schemes, ``force_external`` and adapters bound in many ways are built both by
``erlen.urlbuild.CompiledBuilder`` and by Werkzeug's ``MapAdapter.build``.
When the builder answers, the URL must be the same string, and an exception
the same exception; where Werkzeug raises ``BuildError`` the builder defers.

Then ``url_for`` through the app: in a request, in an app context with
``SERVER_NAME``, external URLs, schemes, anchors, methods, blueprints,
``url_defaults`` and build error handlers, against expected strings.
"""

from __future__ import annotations

import typing as t
import uuid

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from werkzeug.routing import BuildError, Map, MapAdapter, Rule, ValidationError
from werkzeug.routing.converters import BaseConverter, UnicodeConverter

from erlen import Blueprint, Erlen, url_for
from erlen.urlbuild import CompiledBuilder


class UpperConverter(BaseConverter):
    """A custom ``to_url`` that refuses one value (Werkzeug then tries the
    endpoint's next rule)."""

    def to_url(self, value: t.Any) -> str:
        if value == "no":
            raise ValidationError()
        return str(value).upper()


class LowerOnly(UnicodeConverter):
    """A subclass that keeps the default ``to_url``."""

    regex = "[a-z]+"


CONVERTERS = {"upper": UpperConverter, "lower": LowerOnly}
ARGS = ["v", "w"]
PLACEHOLDERS = [
    "<{}>",
    "<string:{}>",
    "<int:{}>",
    "<int(fixed_digits=3):{}>",
    "<int(signed=True):{}>",
    "<float:{}>",
    "<path:{}>",
    "<uuid:{}>",
    "<any(a, 'b c', '7'):{}>",
    "<upper:{}>",
    "<lower:{}>",
    "p-{{}}",  # placeholder inside a segment, filled below
]
SEGMENTS = ["a", "users", "x y", "é", "a%2Fb", "~t", "it's", "1"]
KEYS = ["v", "w", "d", "page", "q", "x y", "é", "_x", ".self"]
VALUES: list[t.Any] = [
    0,
    7,
    -3,
    1234,
    True,
    "a",
    "A7",
    "",
    "a b",
    "a/b",
    "é/ü",
    "%41",
    "-1",
    "no",
    "b c",
    3.5,
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    None,
    [1, "a"],
    [None],
    [],
    ("t", 2),
    {"s"},
]


@st.composite
def rule_specs(draw: st.DrawFn) -> dict[str, t.Any]:
    parts = draw(st.lists(st.sampled_from(SEGMENTS), max_size=3))
    for name in draw(st.lists(st.sampled_from(ARGS), max_size=2, unique=True)):
        placeholder = draw(st.sampled_from(PLACEHOLDERS))
        if placeholder == "p-{{}}":
            placeholder = "p-<{}>"
        parts.insert(draw(st.integers(0, len(parts))), placeholder.format(name))
    path = "/" + "/".join(parts)
    if parts and draw(st.booleans()):
        path += "/"
    arguments = [a for a in ARGS if f":{a}>" in path or f"<{a}>" in path]
    default_keys = draw(
        st.lists(st.sampled_from(["d", "page", *arguments]), max_size=2)
    )
    # Defaults for arguments must suit every converter's to_url ("7" does).
    defaults = {
        k: draw(st.sampled_from(["7", 7] if k in arguments else [1, "x", 7, "a"]))
        for k in default_keys
    }
    kind = draw(
        st.sampled_from(
            ["plain"] * 30
            + ["build_only"] * 3
            + ["alias", "redirect", "subdomain", "ws"]
        )
    )
    methods = draw(st.sampled_from([None, ["GET"], ["POST"], ["GET", "POST"]]))
    return {
        "path": path,
        "endpoint": draw(st.sampled_from(["e0", "e0", "e1"])),
        "defaults": defaults or None,
        "methods": methods,
        "kind": kind,
    }


def _rule(spec: dict[str, t.Any]) -> Rule:
    kind = spec["kind"]
    return Rule(
        spec["path"],
        endpoint=spec["endpoint"],
        defaults=spec["defaults"],
        methods=["GET"] if kind == "ws" else spec["methods"],
        build_only=kind == "build_only",
        alias=kind == "alias",
        redirect_to="/elsewhere" if kind == "redirect" else None,
        subdomain="api" if kind == "subdomain" else None,
        websocket=kind == "ws",
    )


def _map(specs: list[dict[str, t.Any]], options: dict[str, t.Any]) -> Map | None:
    url_map = Map(converters=CONVERTERS, **options)
    for spec in specs:
        try:
            url_map.add(_rule(spec))
        except (ValueError, LookupError, AssertionError):
            return None  # a rule Werkzeug refuses (e.g. a default it can't format)
    return url_map


def _outcome(build: t.Callable[[], str | None]) -> t.Any:
    try:
        return build()
    except BuildError:
        return BuildError
    except Exception as e:  # the same exception, raised by the same code
        return (type(e), str(e))


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    specs=st.lists(rule_specs(), min_size=1, max_size=6),
    map_options=st.fixed_dictionaries(
        {
            "sort_parameters": st.booleans(),
            "sort_key": st.sampled_from([None, lambda item: item[0]]),
            "merge_slashes": st.booleans(),
        }
    ),
    endpoint=st.sampled_from(["e0"] * 6 + ["e1"] * 3 + ["missing"]),
    values=st.builds(
        lambda args, drop, extra: {
            **extra,
            **{k: v for k, v in args.items() if k not in drop},
        },
        # The rules' own arguments most of the time, so that most builds fill
        # a rule; then other keys, which become the query string.
        st.fixed_dictionaries({a: st.sampled_from(VALUES[:-6]) for a in ARGS}),
        st.sampled_from([(), (), (), ("v",), ("w",)]),
        st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3),
    ),
    method=st.sampled_from([None, None, "GET", "POST", "PUT"]),
    force_external=st.booleans(),
    url_scheme=st.sampled_from([None, "http", "https", "ws", "wss", "ftp", ""]),
    bind=st.fixed_dictionaries(
        {
            "server_name": st.sampled_from(["localhost", "Example.com:8080", "ü.test"]),
            "script_name": st.sampled_from([None, "/", "/app", "/app/", "/a b", "//"]),
            "subdomain": st.sampled_from([None, "", "api"]),
            "url_scheme": st.sampled_from(["http", "https", "ws", ""]),
            "default_method": st.sampled_from(["GET", "POST"]),
        }
    ),
)
def test_compiled_builder_agrees_with_werkzeug(
    specs: list[dict[str, t.Any]],
    map_options: dict[str, t.Any],
    endpoint: str,
    values: dict[str, t.Any],
    method: str | None,
    force_external: bool,
    url_scheme: str | None,
    bind: dict[str, t.Any],
) -> None:
    url_map = _map(specs, map_options)
    if url_map is None:
        event("a rule Werkzeug refuses")
        return
    adapter = url_map.bind(**bind)
    builder = CompiledBuilder(url_map)
    given_values = dict(values)
    got = _outcome(
        lambda: builder.build(
            adapter, endpoint, values, method, force_external, url_scheme
        )
    )
    assert values == given_values  # the builder never changes the values
    expected = _outcome(
        lambda: adapter.build(
            endpoint,
            values,
            method=method,
            force_external=force_external,
            url_scheme=url_scheme,
        )
    )
    if got is None:
        event(
            "deferred: Werkzeug gave "
            + ("a URL" if isinstance(expected, str) else "an error")
        )
        return  # deferred to Werkzeug: the same answer by construction
    event("answered: " + ("error" if isinstance(got, tuple) else "url"))
    assert got is not BuildError
    assert got == expected


def _simple_map() -> Map:
    return Map(
        [
            Rule("/", endpoint="index"),
            Rule("/blog/<int:id>/update", endpoint="update", methods=["GET", "POST"]),
            Rule("/files/<path:name>", endpoint="file"),
            Rule("/u/<name>", endpoint="user"),
            # Pagination: the first page without its number.
            Rule("/posts/", endpoint="posts", defaults={"page": 1}),
            Rule("/posts/page/<int:page>", endpoint="posts"),
            Rule("/item/<int(fixed_digits=4):n>", endpoint="item"),
            Rule("/by/<uuid:u>", endpoint="by_uuid"),
            Rule("/form", endpoint="form_get", methods=["GET"]),
            Rule("/save", endpoint="save", methods=["POST"]),
            Rule("/old", endpoint="old", redirect_to="/new"),
        ]
    )


@pytest.mark.parametrize(
    ("endpoint", "values", "options", "url"),
    [
        ("index", {}, {}, "/"),
        ("update", {"id": 7}, {}, "/blog/7/update"),
        ("update", {"id": 7, "next": "/a b"}, {}, "/blog/7/update?next=/a+b"),
        ("update", {"id": 7, "x": 1, "y": "é"}, {}, "/blog/7/update?x=1&y=%C3%A9"),
        ("update", {"id": 7, "tag": ["a", "b"]}, {}, "/blog/7/update?tag=a&tag=b"),
        ("update", {"id": 7, "skip": None}, {}, "/blog/7/update"),
        ("file", {"name": "a/b c.txt"}, {}, "/files/a/b%20c.txt"),
        ("user", {"name": "a/b"}, {}, "/u/a/b"),
        ("user", {"name": "Zoë"}, {}, "/u/Zo%C3%AB"),
        ("posts", {}, {}, "/posts/"),
        ("posts", {"page": 1}, {}, "/posts/"),
        ("posts", {"page": 3}, {}, "/posts/page/3"),
        ("item", {"n": 42}, {}, "/item/0042"),
        (
            "by_uuid",
            {"u": uuid.UUID("12345678-1234-5678-1234-567812345678")},
            {},
            "/by/12345678-1234-5678-1234-567812345678",
        ),
        ("save", {}, {}, "/save"),
        ("update", {"id": 7}, {"force_external": True}, "http://x.test/blog/7/update"),
        (
            "update",
            {"id": 7},
            {"force_external": True, "url_scheme": "https"},
            "https://x.test/blog/7/update",
        ),
        ("update", {"id": 7}, {"method": "POST"}, "/blog/7/update"),
    ],
)
def test_builder_answers_common_cases_itself(
    endpoint: str, values: dict[str, t.Any], options: dict[str, t.Any], url: str
) -> None:
    url_map = _simple_map()
    adapter = url_map.bind("x.test")
    got = CompiledBuilder(url_map).build(adapter, endpoint, values, **options)
    assert got == url
    assert adapter.build(endpoint, values, **options) == url


def test_builder_defers_what_it_does_not_replicate() -> None:
    url_map = _simple_map()
    adapter = url_map.bind("x.test")
    builder = CompiledBuilder(url_map)
    assert builder.build(adapter, "nothing", {}) is None  # BuildError
    assert builder.build(adapter, "update", {}) is None  # missing id
    assert builder.build(adapter, "save", {}, method="GET") is None
    assert builder.build(adapter, "old", {}) is None  # redirect_to
    assert builder.build(adapter, "index", MultiDict({"a": "b"})) is None  # type: ignore[arg-type]
    assert builder.build(adapter, "index", {".self": 1}) is None  # TypeError there
    with pytest.raises(TypeError):
        adapter.build("index", {".self": 1})
    other = Map([Rule("/", endpoint="index")]).bind("x.test")
    assert builder.build(other, "index", {}) is None  # another map's adapter
    hosts = Map([Rule("/", endpoint="index", host="a.test")], host_matching=True)
    assert CompiledBuilder(hosts).build(hosts.bind("a.test"), "index", {}) is None


def test_builder_sees_rules_added_later() -> None:
    url_map = Map([Rule("/posts/page/<int:page>", endpoint="posts")])
    adapter = url_map.bind("x.test")
    builder = CompiledBuilder(url_map)
    assert builder.build(adapter, "posts", {"page": 2}) == "/posts/page/2"
    assert builder.build(adapter, "posts", {}) is None  # no page: BuildError
    assert builder.build(adapter, "later", {}) is None
    url_map.add(Rule("/posts/", endpoint="posts", defaults={"page": 1}))
    url_map.add(Rule("/later", endpoint="later"))
    assert builder.build(adapter, "posts", {}) == "/posts/" == adapter.build("posts")
    assert builder.build(adapter, "posts", {"page": 1}) == "/posts/"
    assert builder.build(adapter, "later", {}) == "/later"


def test_query_sorting_follows_the_map() -> None:
    url_map = Map([Rule("/", endpoint="index")], sort_parameters=True)
    adapter = url_map.bind("x.test")
    values = {"b": 1, "a": 2, "c": [3, 0]}
    got = CompiledBuilder(url_map).build(adapter, "index", values)
    assert got == "/?a=2&b=1&c=0&c=3" == adapter.build("index", values)


# -- url_for through the app ----------------------------------------------------


def _blog_app() -> Erlen:
    app = Erlen(__name__)

    @app.route("/")
    def index() -> str:
        return "index"

    blog = Blueprint("blog", __name__, url_prefix="/blog")

    @blog.route("/<int:id>/update", methods=["GET", "POST"])
    def update(id: int) -> str:
        return "update"

    @blog.route("/links")
    def links() -> dict[str, str]:
        return {
            "absolute": url_for("blog.update", id=7),
            "relative": url_for(".update", id=7),
            "app": url_for("index"),
            "query": url_for("index", q="a b", tag=["x", "y"], page=2, skip=None),
            "external": url_for("blog.update", id=7, _external=True),
            "scheme": url_for("blog.update", id=7, _scheme="https", _external=True),
            "anchor": url_for(".update", id=7, _anchor="a b#c"),
            "method": url_for(".update", id=7, _method="POST"),
            "static": url_for("static", filename="site v2.css"),
        }

    app.register_blueprint(blog)
    return app


def test_url_for_in_a_request() -> None:
    client = _blog_app().test_client()
    assert client.get("/blog/links").get_json() == {
        "absolute": "/blog/7/update",
        "relative": "/blog/7/update",
        "app": "/",
        "query": "/?q=a+b&tag=x&tag=y&page=2",
        "external": "http://localhost/blog/7/update",
        "scheme": "https://localhost/blog/7/update",
        "anchor": "/blog/7/update#a%20b#c",
        "method": "/blog/7/update",
        "static": "/static/site%20v2.css",
    }


def test_url_for_follows_the_request_host_script_root_and_scheme() -> None:
    client = _blog_app().test_client()
    links = client.get("/blog/links", base_url="https://Example.test:8443/app/").json
    assert links is not None
    assert links["absolute"] == "/app/blog/7/update"
    assert links["app"] == "/app/"
    assert links["external"] == "https://example.test:8443/app/blog/7/update"
    # Each request builds with its own root, also after another one.
    assert client.get("/blog/links").json["absolute"] == "/blog/7/update"  # type: ignore[index]


def test_url_for_in_an_app_context_uses_server_name() -> None:
    app = _blog_app()
    with app.app_context(), pytest.raises(RuntimeError, match="SERVER_NAME"):
        url_for("index")
    app.config.update(
        SERVER_NAME="example.test",
        APPLICATION_ROOT="/root",
        PREFERRED_URL_SCHEME="https",
    )
    with app.app_context():
        assert url_for("blog.update", id=7) == "https://example.test/root/blog/7/update"
        assert url_for("index", _scheme="http") == "http://example.test/root/"
        assert url_for("index", _external=False) == "/root/"
        assert url_for("index", _anchor="top") == "https://example.test/root/#top"
    with pytest.raises(ValueError, match="_scheme"), app.test_request_context():
        url_for("index", _scheme="https", _external=False)


def test_url_defaults_run_before_building() -> None:
    app = Erlen(__name__)
    shop = Blueprint("shop", __name__, url_prefix="/<lang>/shop")

    @shop.url_defaults
    def add_lang(endpoint: str, values: dict[str, t.Any]) -> None:
        values.setdefault("lang", "en")

    @shop.url_value_preprocessor
    def pull_lang(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
        assert values is not None
        values.pop("lang")

    @shop.route("/item/<int:n>")
    def item(n: int) -> str:
        return url_for(".item", n=n + 1)

    @app.url_defaults
    def add_ref(endpoint: str, values: dict[str, t.Any]) -> None:
        if endpoint == "shop.item":
            values.setdefault("ref", "x")

    app.register_blueprint(shop)
    client = app.test_client()
    assert client.get("/de/shop/item/1").text == "/en/shop/item/2?ref=x"
    with app.test_request_context():
        assert url_for("shop.item", n=3, lang="fr", ref=None) == "/fr/shop/item/3"


def test_build_errors_go_to_the_handlers() -> None:
    app = _blog_app()
    seen: list[tuple[str, dict[str, t.Any]]] = []

    def handler(error: Exception, endpoint: str, values: dict[str, t.Any]) -> str:
        seen.append((endpoint, dict(values)))
        return "/fallback" if endpoint == "nothing" else None  # type: ignore[return-value]

    with app.test_request_context():
        with pytest.raises(BuildError):
            url_for("nothing")
        app.url_build_error_handlers.append(handler)
        assert url_for("nothing", a=1, _anchor="x") == "/fallback"
        with pytest.raises(BuildError):
            url_for("blog.update")  # no id
        with pytest.raises(BuildError):
            url_for("index", _method="POST")
    assert seen[0] == (
        "nothing",
        {"a": 1, "_anchor": "x", "_method": None, "_scheme": None, "_external": False},
    )
    assert seen[1][0] == "blog.update"


def test_url_for_binds_no_adapter_per_request() -> None:
    binds: list[str] = []

    class CountingMap(Map):
        def bind_to_environ(self, *args: t.Any, **kwargs: t.Any) -> MapAdapter:
            binds.append("bind")
            return super().bind_to_environ(*args, **kwargs)

    class App(Erlen):
        url_map_class = CountingMap

    app = App(__name__)

    @app.route("/post/<int:id>")
    def post(id: int) -> str:
        return url_for("post", id=id + 1) + " " + url_for("post", id=id, x="y")

    client = app.test_client()
    for n in range(5):
        assert client.get(f"/post/{n}").text == f"/post/{n + 1} /post/{n}?x=y"
    assert binds == ["bind"]  # the first request's adapter is shared
    assert client.post("/post/1").status_code == 405  # routing still binds


def test_rules_added_after_building_are_seen() -> None:
    app = Erlen(__name__)

    def posts(page: int) -> str:
        return f"page {page}"

    app.add_url_rule("/posts/page/<int:page>", "posts", posts)
    with app.test_request_context():
        assert url_for("posts", page=1) == "/posts/page/1"
        with pytest.raises(BuildError):
            url_for("later")
    app.add_url_rule("/posts/", "posts", posts, defaults={"page": 1})
    app.add_url_rule("/later", "later", lambda: "l")
    with app.test_request_context():
        assert url_for("posts", page=1) == "/posts/"
        assert url_for("posts", page=2) == "/posts/page/2"
        assert url_for("later") == "/later"
    assert app.test_client().get("/later").text == "l"


def test_subdomains_and_hosts_are_built_by_werkzeug() -> None:
    app = Erlen(__name__, subdomain_matching=True)
    app.config["SERVER_NAME"] = "example.test"
    api = Blueprint("api", __name__, subdomain="api")
    api.add_url_rule("/v1", "v1", lambda: "v1")
    app.register_blueprint(api)
    app.add_url_rule("/", "index", lambda: "i")
    with app.test_request_context("/", base_url="http://example.test/"):
        assert url_for("api.v1") == "http://api.example.test/v1"
        assert url_for("index") == "/"
    hosts = Erlen(__name__, host_matching=True, static_host="static.test")
    hosts.add_url_rule("/", "home", lambda: "h", host="www.test")
    with hosts.test_request_context("/", base_url="http://www.test/"):
        assert url_for("home") == "/"
        assert url_for("static", filename="a.css") == "http://static.test/static/a.css"
