"""Routing and URL building behave exactly as in Flask 3.1."""

from __future__ import annotations

import typing as t
import uuid
import warnings

import pytest
from werkzeug.routing import BaseConverter, BuildError, ValidationError

from erlen import Blueprint, Erlen, g, request, url_for


@pytest.fixture
def app() -> Erlen:
    return Erlen(__name__)


# --- registration ---------------------------------------------------------


def test_route_and_method_shortcuts(app: Erlen) -> None:
    @app.route("/r")
    def r() -> str:
        return "r"

    @app.get("/m")
    def m_get() -> str:
        return "get"

    @app.post("/m")
    def m_post() -> str:
        return "post"

    @app.put("/m")
    def m_put() -> str:
        return "put"

    @app.patch("/m")
    def m_patch() -> str:
        return "patch"

    @app.delete("/m")
    def m_delete() -> str:
        return "delete"

    c = app.test_client()
    assert c.get("/r").data == b"r"
    assert c.post("/r").status_code == 405
    for method in ("get", "post", "put", "patch", "delete"):
        rv = getattr(c, method)("/m")
        assert rv.status_code == 200
        assert rv.data == method.encode()
    assert app.url_map._rules_by_endpoint["m_put"][0].methods == {"PUT", "OPTIONS"}


def test_shortcut_rejects_methods_argument(app: Erlen) -> None:
    with pytest.raises(TypeError, match="Use the 'route' decorator"):
        app.get("/x", methods=["POST"])


def test_route_methods_string_is_type_error(app: Erlen) -> None:
    with pytest.raises(TypeError, match="Allowed methods must be a list of strings"):
        app.add_url_rule("/x", "x", lambda: "", methods="POST")


def test_add_url_rule_infers_endpoint(app: Erlen) -> None:
    def some_view() -> str:
        return "v"

    app.add_url_rule("/v", view_func=some_view)
    assert app.view_functions["some_view"] is some_view
    assert app.url_map._rules_by_endpoint["some_view"][0].rule == "/v"
    assert app.test_client().get("/v").data == b"v"


def test_add_url_rule_without_view_func_and_endpoint_decorator(app: Erlen) -> None:
    app.add_url_rule("/e", "ep")
    assert "ep" not in app.view_functions

    @app.endpoint("ep")
    def handler() -> str:
        return "from endpoint"

    assert app.view_functions["ep"] is handler
    assert app.test_client().get("/e").data == b"from endpoint"


def test_endpoint_from_view_attribute_methods(app: Erlen) -> None:
    def v() -> str:
        return request.method

    v.methods = ["POST"]  # type: ignore[attr-defined]
    app.add_url_rule("/v", view_func=v)
    c = app.test_client()
    assert c.post("/v").data == b"POST"
    assert c.get("/v").status_code == 405


def test_provide_automatic_options_false(app: Erlen) -> None:
    app.add_url_rule(
        "/no", "no", lambda: "x", methods=["GET"], provide_automatic_options=False
    )
    rv = app.test_client().options("/no")
    assert rv.status_code == 405
    # Werkzeug builds Allow from a set: the order is not part of the contract.
    assert sorted(rv.headers["Allow"].split(", ")) == ["GET", "HEAD"]


def test_provide_automatic_options_view_attribute(app: Erlen) -> None:
    def v() -> str:
        return "custom options" if request.method == "OPTIONS" else "get"

    v.provide_automatic_options = False  # type: ignore[attr-defined]
    app.add_url_rule("/v", view_func=v, methods=["GET", "OPTIONS"])
    rv = app.test_client().options("/v")
    assert rv.data == b"custom options"
    assert "Allow" not in rv.headers


def test_automatic_head(app: Erlen) -> None:
    @app.route("/")
    def index() -> str:
        return "hello world"

    c = app.test_client()
    get = c.get("/")
    head = c.head("/")
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"] == "11"
    assert head.headers["Content-Type"] == "text/html; charset=utf-8"


def test_automatic_options(app: Erlen) -> None:
    @app.route("/", methods=["GET", "POST", "PUT"])
    def index() -> str:
        return "x"

    rv = app.test_client().options("/")
    assert rv.status_code == 200
    assert rv.data == b""
    assert sorted(rv.allow) == ["GET", "HEAD", "OPTIONS", "POST", "PUT"]


def test_options_merges_methods_of_all_rules_on_path(app: Erlen) -> None:
    @app.get("/same")
    def a() -> str:
        return "a"

    @app.delete("/same")
    def b() -> str:
        return "b"

    rv = app.test_client().options("/same")
    assert sorted(rv.allow) == ["DELETE", "GET", "HEAD", "OPTIONS"]


def test_405_allow_header(app: Erlen) -> None:
    @app.route("/", methods=["POST", "PUT"])
    def index() -> str:
        return "x"

    rv = app.test_client().delete("/")
    assert rv.status_code == 405
    assert sorted(rv.headers["Allow"].split(", ")) == ["OPTIONS", "POST", "PUT"]
    assert b"Method Not Allowed" in rv.data


def test_405_exact_allow_for_get_only(app: Erlen) -> None:
    @app.get("/")
    def index() -> str:
        return "x"

    rv = app.test_client().post("/")
    assert rv.status_code == 405
    assert sorted(rv.headers["Allow"].split(", ")) == ["GET", "HEAD", "OPTIONS"]


def test_404(app: Erlen) -> None:
    rv = app.test_client().get("/nothing")
    assert rv.status_code == 404
    assert b"Not Found" in rv.data
    assert rv.mimetype == "text/html"


# --- converters -----------------------------------------------------------


def test_default_and_string_converters(app: Erlen) -> None:
    @app.route("/d/<name>")
    def d(name: str) -> str:
        return f"d:{name}"

    @app.route("/s/<string(minlength=2, maxlength=4):name>")
    def s(name: str) -> str:
        return f"s:{name}"

    @app.route("/l/<string(length=3):name>")
    def length(name: str) -> str:
        return f"l:{name}"

    c = app.test_client()
    assert c.get("/d/h%C3%A9llo").data == "d:héllo".encode()
    assert c.get("/d/a/b").status_code == 404
    assert c.get("/s/ab").data == b"s:ab"
    assert c.get("/s/abcd").data == b"s:abcd"
    assert c.get("/s/a").status_code == 404
    assert c.get("/s/abcde").status_code == 404
    assert c.get("/l/abc").data == b"l:abc"
    assert c.get("/l/ab").status_code == 404
    assert c.get("/l/abcd").status_code == 404


def test_int_converter(app: Erlen) -> None:
    @app.route("/i/<int:n>")
    def i(n: int) -> str:
        return repr(n)

    @app.route("/signed/<int(signed=True):n>")
    def signed(n: int) -> str:
        return repr(n)

    @app.route("/range/<int(min=5, max=10):n>")
    def rng(n: int) -> str:
        return repr(n)

    @app.route("/fixed/<int(fixed_digits=3):n>")
    def fixed(n: int) -> str:
        return repr(n)

    c = app.test_client()
    assert c.get("/i/42").data == b"42"
    assert c.get("/i/-1").status_code == 404
    assert c.get("/i/abc").status_code == 404
    assert c.get("/i/1.5").status_code == 404
    assert c.get("/signed/-7").data == b"-7"
    assert c.get("/signed/7").data == b"7"
    assert c.get("/range/5").data == b"5"
    assert c.get("/range/10").data == b"10"
    assert c.get("/range/4").status_code == 404
    assert c.get("/range/11").status_code == 404
    assert c.get("/fixed/007").data == b"7"
    assert c.get("/fixed/07").status_code == 404
    with app.test_request_context():
        assert url_for("fixed", n=7) == "/fixed/007"
        assert url_for("signed", n=-3) == "/signed/-3"


def test_float_converter(app: Erlen) -> None:
    @app.route("/f/<float:x>")
    def f(x: float) -> str:
        return repr(x)

    @app.route("/sf/<float(signed=True):x>")
    def sf(x: float) -> str:
        return repr(x)

    c = app.test_client()
    assert c.get("/f/1.5").data == b"1.5"
    assert c.get("/f/1").status_code == 404
    assert c.get("/f/-1.5").status_code == 404
    assert c.get("/sf/-1.5").data == b"-1.5"


def test_path_converter(app: Erlen) -> None:
    @app.route("/p/<path:rest>")
    def p(rest: str) -> str:
        return rest

    @app.route("/p2/<path:rest>/edit")
    def p2(rest: str) -> str:
        return f"edit {rest}"

    c = app.test_client()
    assert c.get("/p/a/b/c.txt").data == b"a/b/c.txt"
    assert c.get("/p2/x/y/edit").data == b"edit x/y"
    with app.test_request_context():
        assert url_for("p", rest="a/b c") == "/p/a/b%20c"


def test_uuid_converter(app: Erlen) -> None:
    @app.route("/u/<uuid:u>")
    def u(u: uuid.UUID) -> str:
        return f"{type(u).__name__}:{u}"

    value = uuid.UUID("12345678-1234-5678-1234-567812345678")
    c = app.test_client()
    assert c.get(f"/u/{value}").data == f"UUID:{value}".encode()
    assert c.get("/u/not-a-uuid").status_code == 404
    with app.test_request_context():
        assert url_for("u", u=value) == f"/u/{value}"


def test_any_converter(app: Erlen) -> None:
    @app.route("/<any(about, help, 'x y'):page>")
    def page(page: str) -> str:
        return page

    c = app.test_client()
    assert c.get("/about").data == b"about"
    assert c.get("/help").data == b"help"
    assert c.get("/other").status_code == 404
    with app.test_request_context():
        assert url_for("page", page="help") == "/help"


class ListConverter(BaseConverter):
    def to_python(self, value: str) -> list[str]:
        if value == "bad":
            raise ValidationError()
        return value.split(",")

    def to_url(self, value: t.Any) -> str:
        return ",".join(BaseConverter.to_url(self, v) for v in value)


def test_custom_converter(app: Erlen) -> None:
    app.url_map.converters["list"] = ListConverter

    @app.route("/c/<list:items>")
    def c(items: list[str]) -> str:
        return "|".join(items)

    client = app.test_client()
    assert client.get("/c/a,b,c").data == b"a|b|c"
    assert client.get("/c/bad").status_code == 404
    with app.test_request_context():
        assert url_for("c", items=["x", "y"]) == "/c/x,y"


def test_custom_converter_in_constructor_kwargs(app: Erlen) -> None:
    class Hex(BaseConverter):
        regex = "[0-9a-f]+"

        def to_python(self, value: str) -> int:
            return int(value, 16)

        def to_url(self, value: t.Any) -> str:
            return format(value, "x")

    app.url_map.converters["hex"] = Hex

    @app.route("/h/<hex:n>")
    def h(n: int) -> str:
        return str(n)

    c = app.test_client()
    assert c.get("/h/ff").data == b"255"
    assert c.get("/h/zz").status_code == 404
    with app.test_request_context():
        assert url_for("h", n=255) == "/h/ff"


# --- defaults, slashes, redirects -----------------------------------------


def test_defaults(app: Erlen) -> None:
    @app.route("/users/", defaults={"page": 1})
    @app.route("/users/page/<int:page>")
    def users(page: int) -> str:
        return f"page {page}"

    c = app.test_client()
    assert c.get("/users/").data == b"page 1"
    assert c.get("/users/page/3").data == b"page 3"
    # The URL with the default value redirects to the canonical one.
    rv = c.get("/users/page/1")
    assert rv.status_code == 308
    assert rv.headers["Location"] == "http://localhost/users/"
    with app.test_request_context():
        assert url_for("users") == "/users/"
        assert url_for("users", page=1) == "/users/"
        assert url_for("users", page=2) == "/users/page/2"


def test_strict_slashes_redirect(app: Erlen) -> None:
    @app.route("/folder/")
    def folder() -> str:
        return "folder"

    @app.route("/file")
    def file() -> str:
        return "file"

    c = app.test_client()
    rv = c.get("/folder")
    assert rv.status_code == 308
    assert rv.headers["Location"] == "http://localhost/folder/"
    rv = c.get("/folder?a=1")
    assert rv.headers["Location"] == "http://localhost/folder/?a=1"
    assert c.get("/folder/").data == b"folder"
    assert c.get("/file/").status_code == 404
    assert c.get("/folder", follow_redirects=True).data == b"folder"
    # Werkzeug only redirects when the method matches too.
    assert c.post("/folder").status_code == 404


def test_strict_slashes_false(app: Erlen) -> None:
    @app.route("/loose/", strict_slashes=False)
    def loose() -> str:
        return "loose"

    c = app.test_client()
    assert c.get("/loose").data == b"loose"
    assert c.get("/loose/").data == b"loose"


def test_strict_slashes_false_on_map() -> None:
    app = Erlen(__name__)
    app.url_map.strict_slashes = False

    @app.route("/x/")
    def x() -> str:
        return "x"

    assert app.test_client().get("/x").data == b"x"


def test_merge_slashes(app: Erlen) -> None:
    @app.route("/a/b")
    def ab() -> str:
        return "ab"

    @app.route("/keep//slashes", merge_slashes=False)
    def keep() -> str:
        return "keep"

    c = app.test_client()
    rv = c.get("/a//b")
    assert rv.status_code == 308
    assert rv.headers["Location"] == "http://localhost/a/b"
    assert c.get("/keep//slashes").data == b"keep"


def test_merge_slashes_disabled_on_map() -> None:
    app = Erlen(__name__)
    app.url_map.merge_slashes = False

    @app.route("/a/b")
    def ab() -> str:
        return "ab"

    assert app.test_client().get("/a//b").status_code == 404


def test_redirect_to(app: Erlen) -> None:
    @app.route("/new/<int:id>")
    def new(id: int) -> str:
        return f"new {id}"

    app.add_url_rule("/old/<int:id>", "old", redirect_to="/new/<id>")
    app.add_url_rule(
        "/callable/<int:id>",
        "callable",
        redirect_to=lambda adapter, id: f"/new/{id * 2}",
    )
    c = app.test_client()
    rv = c.get("/old/5")
    assert rv.status_code == 308
    assert rv.headers["Location"] == "http://localhost/new/5"
    rv = c.get("/callable/5")
    assert rv.status_code == 308
    assert rv.headers["Location"] == "http://localhost/new/10"
    assert c.get("/old/5", follow_redirects=True).data == b"new 5"


# --- subdomains and hosts -------------------------------------------------


def test_subdomain_matching() -> None:
    app = Erlen(__name__, subdomain_matching=True)
    app.config["SERVER_NAME"] = "example.test"

    @app.route("/")
    def index() -> str:
        return "main"

    @app.route("/", subdomain="<user>")
    def user(user: str) -> str:
        return f"user {user}"

    @app.route("/api", subdomain="api")
    def api() -> str:
        return "api"

    c = app.test_client()
    assert c.get("/", base_url="http://example.test").data == b"main"
    assert c.get("/", base_url="http://bob.example.test").data == b"user bob"
    assert c.get("/api", base_url="http://api.example.test").data == b"api"
    assert c.get("/api", base_url="http://example.test").status_code == 404
    with app.test_request_context():
        assert url_for("user", user="amy") == "http://amy.example.test/"
        assert url_for("index") == "/"
    with app.app_context():
        assert url_for("api") == "http://api.example.test/api"


def test_blueprint_subdomain() -> None:
    app = Erlen(__name__, subdomain_matching=True)
    app.config["SERVER_NAME"] = "example.test"
    bp = Blueprint("admin", __name__, subdomain="admin")

    @bp.route("/")
    def index() -> str:
        return "admin"

    app.register_blueprint(bp)
    c = app.test_client()
    assert c.get("/", base_url="http://admin.example.test").data == b"admin"
    assert c.get("/", base_url="http://example.test").status_code == 404


def test_server_name_without_subdomain_matching_ignores_other_hosts() -> None:
    app = Erlen(__name__)
    app.config["SERVER_NAME"] = "example.test"

    @app.route("/")
    def index() -> str:
        return "main"

    c = app.test_client()
    assert c.get("/", base_url="http://example.test").data == b"main"
    # Flask 3.1: without subdomain_matching, SERVER_NAME does not restrict hosts.
    assert c.get("/", base_url="http://other.test").data == b"main"


def test_host_matching_and_static_host(tmp_path: t.Any) -> None:
    static = tmp_path / "static"
    static.mkdir()
    (static / "a.txt").write_text("static file")
    app = Erlen(
        __name__,
        host_matching=True,
        static_host="static.test",
        static_folder=str(static),
    )

    @app.route("/", host="one.test")
    def one() -> str:
        return "one"

    @app.route("/", host="<name>.two.test")
    def two(name: str) -> str:
        return f"two {name}"

    c = app.test_client()
    assert c.get("/", base_url="http://one.test").data == b"one"
    assert c.get("/", base_url="http://x.two.test").data == b"two x"
    assert c.get("/", base_url="http://three.test").status_code == 404
    rv = c.get("/static/a.txt", base_url="http://static.test")
    assert rv.data == b"static file"
    rv.close()
    assert c.get("/static/a.txt", base_url="http://one.test").status_code == 404
    with app.test_request_context("/", base_url="http://one.test"):
        assert url_for("two", name="y") == "http://y.two.test/"
        assert url_for("one") == "/"
        assert url_for("static", filename="a.txt") == "http://static.test/static/a.txt"


def test_static_host_requires_host_matching() -> None:
    with pytest.raises(
        AssertionError, match="Invalid static_host/host_matching combination"
    ):
        Erlen(__name__, static_host="static.test", static_folder="static")


def test_overwriting_endpoint_is_assertion_error(app: Erlen) -> None:
    @app.route("/a")
    def index() -> str:
        return "a"

    # The same function again is fine.
    app.add_url_rule("/a2", "index", index)

    with pytest.raises(AssertionError) as exc:

        @app.route("/b", endpoint="index")
        def other() -> str:
            return "b"

    assert str(exc.value) == (
        "View function mapping is overwriting an existing endpoint function: index"
    )


def test_overwriting_endpoint_in_blueprint(app: Erlen) -> None:
    bp = Blueprint("bp", __name__)

    @bp.route("/a")
    def view() -> str:
        return "a"

    @bp.route("/b", endpoint="view")
    def view2() -> str:
        return "b"

    with pytest.raises(AssertionError, match=r"existing endpoint function: bp\.view"):
        app.register_blueprint(bp)


# --- url_for --------------------------------------------------------------


def _routes(app: Erlen) -> None:
    @app.route("/")
    def index() -> str:
        return "index"

    @app.route("/post/<int:id>", methods=["GET", "POST"])
    def post(id: int) -> str:
        return str(id)

    @app.route("/post/<int:id>/edit", methods=["PUT"])
    def post_put(id: int) -> str:
        return str(id)

    @app.route("/put-only", methods=["PUT"], endpoint="same")
    @app.route("/get-only", methods=["GET"], endpoint="same")
    def same() -> str:
        return request.path


def test_url_for_basic(app: Erlen) -> None:
    _routes(app)
    with app.test_request_context():
        assert url_for("index") == "/"
        assert url_for("post", id=3) == "/post/3"
        assert url_for("post", id=3, q="a b", n=1) == "/post/3?q=a+b&n=1"
        assert url_for("index", tag=["a", "b"]) == "/?tag=a&tag=b"
        assert url_for("index", x=None) == "/"
        assert url_for("post", id=3, _anchor="top") == "/post/3#top"
        assert url_for("index", _anchor="a b/c") == "/#a%20b/c"
        assert url_for("post", id=3, _external=True) == "http://localhost/post/3"
        assert (
            url_for("post", id=3, _external=True, _scheme="https")
            == "https://localhost/post/3"
        )
        assert url_for("same", _method="PUT") == "/put-only"
        assert url_for("same", _method="GET") == "/get-only"


def test_url_for_scheme_requires_external(app: Erlen) -> None:
    _routes(app)
    with app.test_request_context():
        # In a request, a scheme alone makes the URL external.
        assert url_for("index", _scheme="https") == "https://localhost/"
        with pytest.raises(ValueError) as exc:
            url_for("index", _scheme="https", _external=False)
        assert str(exc.value) == "When specifying '_scheme', '_external' must be True."
    app.config["SERVER_NAME"] = "s.test"
    with (
        app.app_context(),
        pytest.raises(ValueError, match="'_external' must be True"),
    ):
        url_for("index", _scheme="https", _external=False)


def test_url_for_external_uses_request_host(app: Erlen) -> None:
    _routes(app)
    with app.test_request_context(base_url="https://example.org:8443/root/"):
        assert url_for("index") == "/root/"
        assert url_for("post", id=1, _external=True) == (
            "https://example.org:8443/root/post/1"
        )


def test_app_url_for_method(app: Erlen) -> None:
    _routes(app)
    with app.test_request_context():
        assert app.url_for("post", id=9) == "/post/9"


def test_url_for_blueprint_relative(app: Erlen) -> None:
    bp = Blueprint("shop", __name__, url_prefix="/shop")
    results: dict[str, str] = {}

    @bp.route("/")
    def home() -> str:
        results["rel"] = url_for(".item", id=2)
        results["abs"] = url_for("shop.item", id=3)
        results["app"] = url_for("index")
        results["ep"] = request.endpoint or ""
        return "home"

    @bp.route("/item/<int:id>")
    def item(id: int) -> str:
        return str(id)

    @app.route("/")
    def index() -> str:
        return "index"

    app.register_blueprint(bp)
    assert app.test_client().get("/shop/").data == b"home"
    assert results == {
        "rel": "/shop/item/2",
        "abs": "/shop/item/3",
        "app": "/",
        "ep": "shop.home",
    }


def test_url_for_relative_in_nested_blueprint(app: Erlen) -> None:
    parent = Blueprint("parent", __name__, url_prefix="/p")
    child = Blueprint("child", __name__, url_prefix="/c")

    @child.route("/")
    def index() -> str:
        return url_for(".other")

    @child.route("/other")
    def other() -> str:
        return "other"

    parent.register_blueprint(child)
    app.register_blueprint(parent)
    assert app.test_client().get("/p/c/").data == b"/p/c/other"


def test_url_for_relative_outside_blueprint(app: Erlen) -> None:
    @app.route("/")
    def index() -> str:
        return url_for(".other")

    @app.route("/other")
    def other() -> str:
        return "o"

    assert app.test_client().get("/").data == b"/other"


def test_app_url_defaults_and_value_preprocessor(app: Erlen) -> None:
    seen: list[t.Any] = []

    @app.url_defaults
    def add_lang(endpoint: str, values: dict[str, t.Any]) -> None:
        if "lang" in values or not app.url_map.is_endpoint_expecting(endpoint, "lang"):
            return
        values["lang"] = g.get("lang", "en")

    @app.url_value_preprocessor
    def pull_lang(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
        seen.append((endpoint, dict(values or {})))
        if values is not None:
            g.lang = values.pop("lang", None)

    @app.route("/<lang>/")
    def index() -> str:
        return url_for("about") + " " + url_for("plain")

    @app.route("/<lang>/about")
    def about() -> str:
        return "about"

    @app.route("/plain")
    def plain() -> str:
        return "plain"

    c = app.test_client()
    assert c.get("/de/").data == b"/de/about /plain"
    assert seen == [("index", {"lang": "de"})]
    with app.test_request_context():
        assert url_for("about") == "/en/about"
        assert url_for("about", lang="fr") == "/fr/about"


def test_blueprint_url_defaults_and_value_preprocessor(app: Erlen) -> None:
    bp = Blueprint("bp", __name__, url_prefix="/<lang_code>")
    calls: list[str] = []

    @bp.url_defaults
    def add_lang(endpoint: str, values: dict[str, t.Any]) -> None:
        calls.append(f"defaults {endpoint}")
        values.setdefault("lang_code", g.lang_code)

    @bp.url_value_preprocessor
    def pull_lang(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
        calls.append(f"pre {endpoint}")
        assert values is not None
        g.lang_code = values.pop("lang_code")

    @bp.route("/")
    def index() -> str:
        return url_for(".about")

    @bp.route("/about")
    def about() -> str:
        return g.lang_code

    @app.route("/outside")
    def outside() -> str:
        return "outside"

    app.register_blueprint(bp)
    c = app.test_client()
    assert c.get("/nl/").data == b"/nl/about"
    assert c.get("/nl/about").data == b"nl"
    assert c.get("/outside").data == b"outside"
    assert calls == ["pre bp.index", "defaults bp.about", "pre bp.about"]


def test_build_error_message(app: Erlen) -> None:
    _routes(app)
    with app.test_request_context():
        with pytest.raises(BuildError) as exc:
            url_for("post")
        msg = str(exc.value)
        assert "Could not build url for endpoint 'post'" in msg
        assert "Did you forget to specify values ['id']?" in msg
        with pytest.raises(BuildError) as exc:
            url_for("nope")
        assert "Could not build url for endpoint 'nope'" in str(exc.value)
        with pytest.raises(BuildError) as exc:
            url_for("post_put", id=1, _method="GET")
        assert "Did you mean to use methods ['OPTIONS', 'PUT']?" in str(exc.value)


def test_build_error_suggests_endpoint(app: Erlen) -> None:
    _routes(app)
    with app.test_request_context():
        with pytest.raises(BuildError) as exc:
            url_for("indx")
        assert "Did you mean 'index' instead?" in str(exc.value)


def test_url_build_error_handlers(app: Erlen) -> None:
    _routes(app)
    calls: list[tuple[str, str, dict[str, t.Any]]] = []

    def handler(error: BuildError, endpoint: str, values: dict[str, t.Any]) -> str:
        calls.append((type(error).__name__, endpoint, values))
        if endpoint == "external":
            return "https://elsewhere.test/" + values.get("p", "")
        return None  # type: ignore[return-value]

    app.url_build_error_handlers.append(handler)
    with app.test_request_context():
        assert url_for("external", p="x") == "https://elsewhere.test/x"
        with pytest.raises(BuildError):
            url_for("unknown")
    assert calls[0] == (
        "BuildError",
        "external",
        {
            "p": "x",
            "_anchor": None,
            "_method": None,
            "_scheme": None,
            "_external": False,
        },
    )
    assert calls[1][1] == "unknown"


def test_url_build_error_handler_raising_replaces_error(app: Erlen) -> None:
    class Custom(Exception):
        pass

    def handler(error: BuildError, endpoint: str, values: dict[str, t.Any]) -> str:
        raise Custom(endpoint)

    app.url_build_error_handlers.append(handler)
    with app.test_request_context(), pytest.raises(Custom, match="missing"):
        url_for("missing")


def test_url_for_in_app_context_with_server_name(app: Erlen) -> None:
    _routes(app)
    app.config.update(
        SERVER_NAME="example.test:8080",
        APPLICATION_ROOT="/app",
        PREFERRED_URL_SCHEME="https",
    )
    with app.app_context():
        # Outside a request, URLs are external by default.
        assert url_for("post", id=1) == "https://example.test:8080/app/post/1"
        assert url_for("post", id=1, _external=False) == "/app/post/1"
        assert (
            url_for("index", _external=True, _scheme="http")
            == "http://example.test:8080/app/"
        )


def test_url_for_in_app_context_without_server_name(app: Erlen) -> None:
    _routes(app)
    with app.app_context(), pytest.raises(RuntimeError) as exc:
        url_for("index")
    assert str(exc.value) == (
        "Unable to build URLs outside an active request without 'SERVER_NAME'"
        " configured. Also configure 'APPLICATION_ROOT' and"
        " 'PREFERRED_URL_SCHEME' as needed."
    )


def test_url_for_outside_any_context(app: Erlen) -> None:
    _routes(app)
    with pytest.raises(RuntimeError, match=r"Working outside of application context\."):
        url_for("index")


def test_request_url_rule_and_view_args(app: Erlen) -> None:
    @app.route("/x/<int:a>/<b>", methods=["GET", "POST"])
    def x(a: int, b: str) -> dict[str, t.Any]:
        assert request.url_rule is not None
        return {
            "rule": request.url_rule.rule,
            "endpoint": request.endpoint,
            "view_args": request.view_args,
            "methods": sorted(request.url_rule.methods or ()),
        }

    assert app.test_client().get("/x/1/two").json == {
        "rule": "/x/<int:a>/<b>",
        "endpoint": "x",
        "view_args": {"a": 1, "b": "two"},
        "methods": ["GET", "HEAD", "OPTIONS", "POST"],
    }


def test_url_rule_class_and_url_map_class() -> None:
    from werkzeug.routing import Map, Rule

    class MyRule(Rule):
        pass

    class MyMap(Map):
        pass

    class App(Erlen):
        url_rule_class = MyRule
        url_map_class = MyMap

    app = App(__name__)

    @app.route("/")
    def index() -> str:
        assert isinstance(request.url_rule, MyRule)
        return "ok"

    assert isinstance(app.url_map, MyMap)
    assert isinstance(app.url_map._rules_by_endpoint["index"][0], MyRule)
    assert app.test_client().get("/").data == b"ok"


def test_blueprint_url_prefix_and_static(app: Erlen) -> None:
    bp = Blueprint("bp", __name__, url_prefix="/bp/")

    @bp.route("/")
    def index() -> str:
        return "bp index"

    @bp.route("/x")
    def x() -> str:
        return "x"

    app.register_blueprint(bp)
    app.register_blueprint(bp, name="bp2", url_prefix="/other")
    c = app.test_client()
    assert c.get("/bp/").data == b"bp index"
    assert c.get("/bp/x").data == b"x"
    assert c.get("/other/x").data == b"x"
    with app.test_request_context():
        assert url_for("bp2.x") == "/other/x"
        assert url_for("bp.index") == "/bp/"


def test_provide_automatic_options_config(app: Erlen) -> None:
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False

    @app.route("/")
    def index() -> str:
        return "x"

    rv = app.test_client().options("/")
    assert rv.status_code == 405
    assert sorted(rv.headers["Allow"].split(", ")) == ["GET", "HEAD"]


def test_websocket_scheme_request_on_http_rule(app: Erlen) -> None:
    @app.route("/ws")
    def ws() -> str:
        return "http only"

    c = app.test_client()
    assert c.get("/ws").data == b"http only"
    rv = c.get("/ws", base_url="ws://localhost")
    assert rv.status_code == 400


def test_websocket_upgrade_request_on_http_rule_is_400(app: Erlen) -> None:
    @app.route("/")
    def index() -> str:
        return "http"

    c = app.test_client()
    upgrade = {"Connection": "keep-alive, Upgrade", "Upgrade": "websocket"}
    rv = c.get("/", headers=upgrade)
    assert rv.status_code == 400
    assert c.get("/", headers={"Upgrade": "websocket"}).data == b"http"


def test_websocket_rules(app: Erlen) -> None:
    app.add_url_rule("/ws", "ws", lambda: "ws view", websocket=True)
    app.add_url_rule("/both", "http", lambda: "http view")
    app.add_url_rule("/both", "ws_both", lambda: "ws view", websocket=True)
    c = app.test_client()
    upgrade = {"Connection": "Upgrade", "Upgrade": "websocket"}
    assert c.get("/ws").status_code == 400
    assert c.get("/ws", headers=upgrade).data == b"ws view"
    assert c.get("/both").data == b"http view"
    assert c.get("/both", headers=upgrade).data == b"ws view"


def test_host_not_validated_when_server_name_is_set(app: Erlen) -> None:
    """With SERVER_NAME, Werkzeug binds to the configured name, so an odd Host
    header is not rejected; without it, the Host must be a valid name."""

    @app.route("/")
    def index() -> str:
        return "ok"

    c = app.test_client()
    long_label = "a" * 64 + ".test"
    assert c.get("/", headers={"Host": long_label}).status_code == 400
    assert c.get("/", headers={"Host": "a..b"}).status_code == 400
    app.config["SERVER_NAME"] = "example.test"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert c.get("/", headers={"Host": long_label}).data == b"ok"
        assert c.get("/", headers={"Host": "a..b"}).data == b"ok"
