"""The request object behaves exactly as Flask 3.1's."""

from __future__ import annotations

import io
import typing as t

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import BadRequest, NotFound
from werkzeug.wrappers import Request as WerkzeugRequest

import erlen.wrappers
from erlen import Blueprint, Erlen, Request, request


@pytest.fixture
def app() -> Erlen:
    app = Erlen(__name__)
    app.testing = True
    return app


def test_request_is_werkzeug_request(app: Erlen) -> None:
    assert issubclass(Request, WerkzeugRequest)
    assert app.request_class is Request
    with app.test_request_context():
        assert isinstance(request._get_current_object(), Request)  # type: ignore[attr-defined]


def test_args_form_values(app: Erlen) -> None:
    @app.route("/", methods=["POST"])
    def index() -> dict[str, t.Any]:
        return {
            "args": request.args.getlist("a"),
            "form": request.form.getlist("a"),
            "values": request.values.getlist("a"),
            "get_default": request.args.get("missing", "d"),
            "typed": request.args.get("n", type=int),
        }

    rv = app.test_client().post("/?a=q1&a=q2&n=5", data={"a": "f1"})
    assert rv.json == {
        "args": ["q1", "q2"],
        "form": ["f1"],
        "values": ["q1", "q2", "f1"],
        "get_default": "d",
        "typed": 5,
    }


def test_values_ignores_form_on_get(app: Erlen) -> None:
    @app.route("/")
    def index() -> str:
        return ",".join(request.values.getlist("a"))

    assert app.test_client().get("/?a=1").data == b"1"


def test_files(app: Erlen) -> None:
    @app.route("/", methods=["POST"])
    def index() -> dict[str, t.Any]:
        f = request.files["doc"]
        return {
            "filename": f.filename,
            "content": f.read().decode(),
            "mimetype": f.mimetype,
            "many": [x.filename for x in request.files.getlist("many")],
        }

    rv = app.test_client().post(
        "/",
        data={
            "doc": (io.BytesIO(b"contents"), "doc.txt"),
            "many": [(io.BytesIO(b"1"), "one.bin"), (io.BytesIO(b"2"), "two.bin")],
        },
    )
    assert rv.json == {
        "filename": "doc.txt",
        "content": "contents",
        "mimetype": "text/plain",
        "many": ["one.bin", "two.bin"],
    }


def test_json(app: Erlen) -> None:
    @app.route("/", methods=["POST"])
    def index() -> dict[str, t.Any]:
        return {"json": request.json, "is_json": request.is_json}

    rv = app.test_client().post("/", json={"x": [1, 2]})
    assert rv.json == {"json": {"x": [1, 2]}, "is_json": True}


def test_json_content_type_variants(app: Erlen) -> None:
    @app.route("/", methods=["POST"])
    def index() -> t.Any:
        return {"is_json": request.is_json, "data": request.get_json()}

    c = app.test_client()
    for ct in ("application/json", "application/vnd.api+json", "application/json; x=1"):
        rv = c.post("/", data='{"a": 1}', content_type=ct)
        assert rv.json == {"is_json": True, "data": {"a": 1}}, ct


def test_json_wrong_content_type_is_415(app: Erlen) -> None:
    @app.route("/", methods=["POST"])
    def index() -> t.Any:
        return {"json": request.json}

    rv = app.test_client().post("/", data='{"a": 1}', content_type="text/plain")
    assert rv.status_code == 415
    assert b"Did not attempt to load JSON data" in rv.data


def test_json_missing_body_get_is_415(app: Erlen) -> None:
    @app.route("/")
    def index() -> t.Any:
        return {"json": request.json}

    assert app.test_client().get("/").status_code == 415


def test_invalid_json_is_400(app: Erlen) -> None:
    @app.route("/", methods=["POST"])
    def index() -> t.Any:
        return {"json": request.get_json()}

    rv = app.test_client().post("/", data="{not json", content_type="application/json")
    assert rv.status_code == 400
    # Outside debug the decoding error is not shown.
    assert b"could not understand" in rv.data
    assert b"Failed to decode JSON object" not in rv.data


def test_invalid_json_in_debug_shows_error(app: Erlen) -> None:
    app.debug = True

    @app.route("/", methods=["POST"])
    def index() -> t.Any:
        return {"json": request.get_json()}

    rv = app.test_client().post("/", data="{bad", content_type="application/json")
    assert rv.status_code == 400
    assert b"Failed to decode JSON object: Expecting property name" in rv.data


def test_on_json_loading_failed_override(app: Erlen) -> None:
    class MyRequest(Request):
        def on_json_loading_failed(self, e: ValueError | None) -> t.Any:
            return {"fallback": e is None}

    app.request_class = MyRequest

    @app.route("/", methods=["POST"])
    def index() -> t.Any:
        return {"json": request.get_json()}

    c = app.test_client()
    rv = c.post("/", data="{bad", content_type="application/json")
    assert rv.json == {"json": {"fallback": False}}
    rv = c.post("/", data="x", content_type="text/plain")
    assert rv.json == {"json": {"fallback": True}}


def test_get_json_silent_force_cache(app: Erlen) -> None:
    with app.test_request_context(
        "/", method="POST", data='{"a": 1}', content_type="text/plain"
    ):
        assert request.get_json(silent=True) is None
        assert request.get_json(force=True) == {"a": 1}
        assert request.is_json is False
    with app.test_request_context(
        "/", method="POST", data="{bad", content_type="application/json"
    ):
        assert request.get_json(silent=True) is None
        with pytest.raises(BadRequest):
            request.get_json()
    with app.test_request_context("/", method="POST", json={"c": 1}):
        first = request.get_json()
        assert request.get_json() is first
        assert request.get_json(cache=False) is not first
        assert request.get_json(cache=False) == {"c": 1}


def test_get_data(app: Erlen) -> None:
    with app.test_request_context("/", method="POST", data=b"raw body"):
        assert request.get_data() == b"raw body"
        assert request.get_data(as_text=True) == "raw body"
        assert request.data == b"raw body"


def test_get_data_then_form(app: Erlen) -> None:
    with app.test_request_context("/", method="POST", data={"a": "b"}):
        assert request.get_data(parse_form_data=True) == b""
        assert request.form["a"] == "b"


def test_endpoint_view_args_url_rule(app: Erlen) -> None:
    @app.route("/u/<int:uid>")
    def user(uid: int) -> dict[str, t.Any]:
        assert request.url_rule is not None
        return {
            "endpoint": request.endpoint,
            "view_args": request.view_args,
            "rule": request.url_rule.rule,
            "blueprint": request.blueprint,
            "blueprints": request.blueprints,
            "routing_exception": request.routing_exception,
        }

    assert app.test_client().get("/u/7").json == {
        "endpoint": "user",
        "view_args": {"uid": 7},
        "rule": "/u/<int:uid>",
        "blueprint": None,
        "blueprints": [],
        "routing_exception": None,
    }


def test_blueprint_attributes(app: Erlen) -> None:
    parent = Blueprint("parent", __name__, url_prefix="/p")
    child = Blueprint("child", __name__, url_prefix="/c")

    @child.route("/")
    def index() -> dict[str, t.Any]:
        return {
            "endpoint": request.endpoint,
            "blueprint": request.blueprint,
            "blueprints": request.blueprints,
        }

    parent.register_blueprint(child)
    app.register_blueprint(parent)
    assert app.test_client().get("/p/c/").json == {
        "endpoint": "parent.child.index",
        "blueprint": "parent.child",
        "blueprints": ["parent.child", "parent"],
    }


def test_routing_exception(app: Erlen) -> None:
    seen: dict[str, t.Any] = {}

    @app.before_request
    def before() -> None:
        seen["exc"] = request.routing_exception
        seen["endpoint"] = request.endpoint
        seen["url_rule"] = request.url_rule
        seen["view_args"] = request.view_args

    assert app.test_client().get("/nope").status_code == 404
    assert isinstance(seen["exc"], NotFound)
    assert seen["endpoint"] is None
    assert seen["url_rule"] is None
    assert seen["view_args"] is None


def test_max_content_length_413_without_reading_body(app: Erlen) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 10
    reads: list[int] = []

    class Tracking(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            reads.append(size or -1)
            return super().read(size)

    @app.route("/", methods=["POST"])
    def index() -> str:
        assert request.max_content_length == 10
        return request.form.get("a", "")

    c = app.test_client()
    rv = c.post(
        "/",
        input_stream=Tracking(b"a=" + b"x" * 100),
        content_length=102,
        content_type="application/x-www-form-urlencoded",
    )
    assert rv.status_code == 413
    assert reads == []
    assert c.post("/", data={"a": "short"}).data == b"short"


def test_max_content_length_get_data(app: Erlen) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 4

    @app.route("/", methods=["POST"])
    def index() -> str:
        return str(len(request.get_data()))

    c = app.test_client()
    assert c.post("/", data=b"12345").status_code == 413
    assert c.post("/", data=b"1234").data == b"4"


def test_max_content_length_per_request(app: Erlen) -> None:
    @app.route("/", methods=["POST"])
    def index() -> str:
        request.max_content_length = 3
        return request.form.get("a", "")

    rv = app.test_client().post("/", data={"a": "long value"})
    assert rv.status_code == 413


def test_request_limits_outside_app_context() -> None:
    req = Request.from_values()
    assert req.max_content_length is None
    assert req.max_form_memory_size == 500_000
    assert req.max_form_parts == 1000


def test_max_form_memory_size(app: Erlen) -> None:
    app.config["MAX_FORM_MEMORY_SIZE"] = 1000

    @app.route("/", methods=["POST"])
    def index() -> str:
        assert request.max_form_memory_size == 1000
        return request.form.get("a", "")

    c = app.test_client()
    rv = c.post(
        "/",
        data={"a": "x" * 2000, "f": (io.BytesIO(b"y"), "f.txt")},
    )
    assert rv.status_code == 413
    rv = c.post("/", data={"a": "ok", "f": (io.BytesIO(b"y"), "f.txt")})
    assert rv.data == b"ok"


def test_max_form_parts(app: Erlen) -> None:
    app.config["MAX_FORM_PARTS"] = 3

    @app.route("/", methods=["POST"])
    def index() -> str:
        assert request.max_form_parts == 3
        return str(len(request.form))

    c = app.test_client()
    data: dict[str, t.Any] = {f"k{i}": "v" for i in range(5)}
    data["f"] = (io.BytesIO(b"y"), "f.txt")
    assert c.post("/", data=data).status_code == 413
    data = {"k": "v", "f": (io.BytesIO(b"y"), "f.txt")}
    assert c.post("/", data=data).data == b"1"


def test_config_defaults_for_limits(app: Erlen) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] is None
    assert app.config["MAX_FORM_MEMORY_SIZE"] == 500_000
    assert app.config["MAX_FORM_PARTS"] == 1_000
    with app.test_request_context():
        assert request.max_content_length is None
        assert request.max_form_memory_size == 500_000
        assert request.max_form_parts == 1_000


def test_headers_cookies_remote_addr(app: Erlen) -> None:
    @app.route("/")
    def index() -> dict[str, t.Any]:
        return {
            "header": request.headers.get("X-Thing"),
            "lower": request.headers.get("x-thing"),
            "missing": request.headers.get("X-None"),
            "cookie": request.cookies.get("c"),
            "remote_addr": request.remote_addr,
            "method": request.method,
            "scheme": request.scheme,
            "url": request.url,
            "base_url": request.base_url,
            "url_root": request.url_root,
            "full_path": request.full_path,
            "script_root": request.script_root,
        }

    c = app.test_client()
    c.set_cookie("c", "cookie-value")
    rv = c.get(
        "/?z=1",
        headers={"X-Thing": "t"},
        environ_base={"REMOTE_ADDR": "192.0.2.1"},
    )
    assert rv.json == {
        "header": "t",
        "lower": "t",
        "missing": None,
        "cookie": "cookie-value",
        "remote_addr": "192.0.2.1",
        "method": "GET",
        "scheme": "http",
        "url": "http://localhost/?z=1",
        "base_url": "http://localhost/",
        "url_root": "http://localhost/",
        "full_path": "/?z=1",
        "script_root": "",
    }


def test_is_json(app: Erlen) -> None:
    with app.test_request_context(json={"a": 1}):
        assert request.is_json
        assert request.mimetype == "application/json"
    with app.test_request_context(data="x", content_type="text/plain"):
        assert not request.is_json


def test_request_class_subclass(app: Erlen) -> None:
    class MyRequest(Request):
        @property
        def shout(self) -> str:
            return self.path.upper()

    app.request_class = MyRequest

    @app.route("/hello")
    def index() -> str:
        return request.shout  # type: ignore[attr-defined, no-any-return]

    assert app.test_client().get("/hello").data == b"/HELLO"
    with app.test_request_context("/x"):
        assert isinstance(request._get_current_object(), MyRequest)  # type: ignore[attr-defined]


def test_request_class_on_subclassed_app() -> None:
    class MyRequest(Request):
        pass

    class App(Erlen):
        request_class = MyRequest

    app = App(__name__)

    @app.route("/")
    def index() -> str:
        return type(request._get_current_object()).__name__  # type: ignore[attr-defined, no-any-return]

    assert app.test_client().get("/").data == b"MyRequest"


def test_form_empty_for_json(app: Erlen) -> None:
    with app.test_request_context(method="POST", json={"a": 1}):
        assert request.form.to_dict() == {}
        assert request.files.to_dict() == {}


def test_access_route_and_host(app: Erlen) -> None:
    with app.test_request_context(
        "/", base_url="http://example.test:8000", headers={"X-Forwarded-For": "1.1.1.1"}
    ):
        assert request.host == "example.test:8000"
        assert request.access_route == ["1.1.1.1"]


def test_trusted_hosts(app: Erlen) -> None:
    app.config["TRUSTED_HOSTS"] = ["good.test", ".sub.test"]

    @app.route("/")
    def index() -> str:
        return request.host

    c = app.test_client()
    assert c.get("/", base_url="http://good.test").data == b"good.test"
    assert c.get("/", base_url="http://a.sub.test").data == b"a.sub.test"
    rv = c.get("/", base_url="http://evil.test")
    assert rv.status_code == 400
    assert b"Bad Request" in rv.data


def test_bad_host_is_400(app: Erlen) -> None:
    app.add_url_rule("/", "index", lambda: "x")
    rv = app.test_client().get("/", headers={"Host": "a" * 70 + ".test"})
    assert rv.status_code == 400


_wsgi_text = st.text(
    alphabet=st.characters(max_codepoint=255, blacklist_categories=("Cs",)), max_size=12
)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["GET", "post", "Put", "", "OPTIONS"]),
    script=_wsgi_text.map(lambda s: "/" + s if s else s),
    path=_wsgi_text,
    query=_wsgi_text,
    server=st.one_of(st.none(), _wsgi_text),
    port=st.one_of(st.none(), st.sampled_from(["80", "8080", "x", ""])),
    scheme=st.sampled_from([None, "http", "https"]),
    remote=st.one_of(st.none(), st.just("10.0.0.1")),
    shallow=st.booleans(),
)
def test_request_attributes_are_werkzeugs(
    method: str,
    script: str,
    path: str,
    query: str,
    server: str | None,
    port: str | None,
    scheme: str | None,
    remote: str | None,
    shallow: bool,
) -> None:
    # erlen's Request sets Werkzeug's attributes itself (no keyword call):
    # every attribute must be the one Werkzeug's __init__ gives. (The
    # shortcut is on: its check at import agreed with this Werkzeug.)
    assert erlen.wrappers._FAST_INIT
    environ: dict[str, t.Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "HTTP_X_A": "b",
    }
    for key, value in (
        ("SERVER_NAME", server),
        ("SERVER_PORT", port),
        ("wsgi.url_scheme", scheme),
        ("REMOTE_ADDR", remote),
    ):
        if value is not None:
            environ[key] = value
    mine = Request(dict(environ), shallow=shallow)
    stock = WerkzeugRequest(dict(environ), shallow=shallow)
    a, b = vars(mine), vars(stock)
    assert a.keys() == b.keys()
    for name in a:
        if name == "headers":
            assert type(a[name]) is type(b[name])
            assert list(a[name]) == list(b[name])
        elif name == "environ":
            assert a[name].get("werkzeug.request") is (None if shallow else mine)
        else:
            assert (name, a[name]) == (name, b[name])
    assert (mine.base_url, mine.host_url) == (stock.base_url, stock.host_url)


def test_a_class_between_erlen_and_werkzeug_runs_its_own_init() -> None:
    class Tracing(WerkzeugRequest):
        def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
            super().__init__(*args, **kwargs)
            self.traced = True

    class Mixed(Request, Tracing):
        pass

    req = Mixed({"PATH_INFO": "/x", "REQUEST_METHOD": "GET"})
    assert req.traced is True
    assert req.path == "/x"


def test_a_property_on_a_subclass_is_set_as_werkzeug_sets_it() -> None:
    seen: list[str] = []

    class Recording(Request):
        @property
        def path(self) -> str:
            return self.__dict__["_path"]

        @path.setter
        def path(self, value: str) -> None:
            seen.append(value)
            self.__dict__["_path"] = value

    req = Recording({"PATH_INFO": "//a", "REQUEST_METHOD": "GET"})
    assert seen == ["/a"]
    assert req.path == "/a"
