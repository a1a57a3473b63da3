"""The test client and test helpers behave exactly as Flask 3.1's."""

from __future__ import annotations

import io
import typing as t

import pytest
from werkzeug.test import TestResponse

from erlen import Erlen, Response, redirect, request, session, url_for
from erlen.testing import ErlenClient


@pytest.fixture
def app() -> Erlen:
    app = Erlen(__name__)
    app.testing = True
    app.secret_key = "testing-secret"

    @app.route("/echo", methods=["GET", "POST", "PUT"])
    def echo() -> dict[str, t.Any]:
        return {
            "method": request.method,
            "args": request.args.to_dict(flat=False),
            "form": request.form.to_dict(flat=False),
            "json": request.get_json(silent=True),
            "files": {
                k: [f.filename, f.read().decode(), f.mimetype]
                for k, f in request.files.items()
            },
            "headers": {k: v for k, v in request.headers.items() if k.startswith("X-")},
            "remote_addr": request.remote_addr,
            "host": request.host,
            "cookies": request.cookies.to_dict(),
            "content_type": request.content_type,
        }

    return app


def test_get_with_query_string(app: Erlen) -> None:
    c = app.test_client()
    assert c.get("/echo?a=1&a=2").json["args"] == {"a": ["1", "2"]}
    assert c.get("/echo", query_string={"q": "x y"}).json["args"] == {"q": ["x y"]}
    assert c.get("/echo", query_string="b=3").json["args"] == {"b": ["3"]}


def test_json_argument(app: Erlen) -> None:
    rv = app.test_client().post("/echo", json={"k": [1, 2]})
    assert rv.json["json"] == {"k": [1, 2]}
    assert rv.json["content_type"] == "application/json"


def test_data_dict_is_form(app: Erlen) -> None:
    rv = app.test_client().post("/echo", data={"a": "1", "b": ["2", "3"]})
    assert rv.json["form"] == {"a": ["1"], "b": ["2", "3"]}
    assert rv.json["content_type"] == "application/x-www-form-urlencoded"


def test_data_with_files(app: Erlen) -> None:
    rv = app.test_client().post(
        "/echo",
        data={
            "name": "n",
            "upload": (io.BytesIO(b"file body"), "a.txt"),
            "typed": (io.BytesIO(b"{}"), "b.json", "application/json"),
        },
    )
    body = rv.json
    assert body["form"] == {"name": ["n"]}
    assert body["files"] == {
        "upload": ["a.txt", "file body", "text/plain"],
        "typed": ["b.json", "{}", "application/json"],
    }
    assert body["content_type"].startswith("multipart/form-data; boundary=")


def test_raw_data_and_content_type(app: Erlen) -> None:
    @app.route("/raw", methods=["POST"])
    def raw() -> str:
        return f"{request.content_type}:{request.get_data(as_text=True)}"

    rv = app.test_client().post("/raw", data="plain text", content_type="text/plain")
    assert rv.data == b"text/plain:plain text"


def test_headers_and_environ_base(app: Erlen) -> None:
    c = app.test_client()
    rv = c.get(
        "/echo",
        headers={"X-Custom": "v"},
        environ_base={"REMOTE_ADDR": "10.1.2.3"},
    )
    assert rv.json["headers"] == {"X-Custom": "v"}
    assert rv.json["remote_addr"] == "10.1.2.3"
    assert c.get("/echo").json["remote_addr"] == "127.0.0.1"
    c.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    assert c.get("/echo").json["remote_addr"] == "10.9.9.9"


def test_environ_base_defaults(app: Erlen) -> None:
    c = app.test_client()
    assert c.environ_base["REMOTE_ADDR"] == "127.0.0.1"
    assert c.environ_base["HTTP_USER_AGENT"].startswith("Werkzeug/")

    @app.route("/ua")
    def ua() -> str:
        return request.user_agent.string

    assert c.get("/ua").data.startswith(b"Werkzeug/")


def test_base_url_and_server_name(app: Erlen) -> None:
    c = app.test_client()
    assert c.get("/echo", base_url="https://h.test").json["host"] == "h.test"
    app.config["SERVER_NAME"] = "srv.test"
    assert c.get("/echo").json["host"] == "srv.test"


def test_cookies(app: Erlen) -> None:
    @app.route("/set")
    def set_cookie() -> Response:
        resp = Response("set")
        resp.set_cookie("flavor", "oat", path="/", httponly=True)
        return resp

    @app.route("/del")
    def del_cookie() -> Response:
        resp = Response("del")
        resp.delete_cookie("flavor")
        return resp

    c = app.test_client()
    assert c.get_cookie("flavor") is None
    c.get("/set")
    cookie = c.get_cookie("flavor")
    assert cookie is not None
    assert cookie.value == "oat"
    assert cookie.http_only
    assert c.get("/echo").json["cookies"] == {"flavor": "oat"}
    c.get("/del")
    assert c.get_cookie("flavor") is None
    c.set_cookie("manual", "1")
    assert c.get("/echo").json["cookies"] == {"manual": "1"}
    c.delete_cookie("manual")
    assert c.get("/echo").json["cookies"] == {}


def test_cookie_domain_and_path(app: Erlen) -> None:
    c = app.test_client()
    c.set_cookie("scoped", "s", path="/other")
    assert c.get("/echo").json["cookies"] == {}
    assert c.get_cookie("scoped", path="/other") is not None
    c.set_cookie("dom", "d", domain="elsewhere.test")
    assert "dom" not in c.get("/echo").json["cookies"]


def test_use_cookies_false(app: Erlen) -> None:
    @app.route("/set")
    def set_cookie() -> Response:
        resp = Response("set")
        resp.set_cookie("a", "b")
        return resp

    c = app.test_client(use_cookies=False)
    c.get("/set")
    assert c.get("/echo").json["cookies"] == {}
    with pytest.raises(TypeError, match="Cookies are disabled"):
        c.get_cookie("a")


def test_follow_redirects_history(app: Erlen) -> None:
    @app.route("/one")
    def one() -> Response:
        return redirect(url_for("two"))

    @app.route("/two")
    def two() -> Response:
        return redirect("/three", 301)

    @app.route("/three")
    def three() -> str:
        return "end"

    c = app.test_client()
    rv = c.get("/one", follow_redirects=True)
    assert rv.data == b"end"
    assert rv.request.path == "/three"
    assert [r.status_code for r in rv.history] == [302, 301]
    assert [r.request.path for r in rv.history] == ["/one", "/two"]
    rv = c.get("/one")
    assert rv.status_code == 302
    assert rv.history == ()


def test_follow_redirect_307_keeps_method_and_body(app: Erlen) -> None:
    @app.route("/post", methods=["POST"])
    def post() -> Response:
        return redirect("/echo", 307)

    rv = app.test_client().post("/post", data={"k": "v"}, follow_redirects=True)
    assert rv.json["method"] == "POST"
    assert rv.json["form"] == {"k": ["v"]}


def test_follow_redirect_302_post_becomes_get(app: Erlen) -> None:
    @app.route("/post", methods=["POST"])
    def post() -> Response:
        return redirect("/echo")

    rv = app.test_client().post("/post", data={"k": "v"}, follow_redirects=True)
    assert rv.json["method"] == "GET"
    assert rv.json["form"] == {}


def test_response_object(app: Erlen) -> None:
    rv = app.test_client().get("/echo")
    assert isinstance(rv, TestResponse)
    assert rv.get_json()["method"] == "GET"
    assert rv.text.startswith("{")
    assert rv.request.path == "/echo"


def test_open_with_method_and_builder(app: Erlen) -> None:
    from werkzeug.test import EnvironBuilder

    c = app.test_client()
    assert c.open("/echo", method="PUT").json["method"] == "PUT"
    builder = EnvironBuilder(path="/echo", method="POST", json={"b": 1})
    assert c.open(builder).json["json"] == {"b": 1}


def test_with_client_semantics(app: Erlen) -> None:
    with app.test_client() as c:
        c.get("/echo?x=1")
        assert request.args["x"] == "1"
        assert request.path == "/echo"
    with pytest.raises(RuntimeError, match="Working outside of request context"):
        request.path  # noqa: B018


def test_session_transaction(app: Erlen) -> None:
    @app.route("/read")
    def read() -> str:
        return str(session.get("user"))

    @app.route("/write")
    def write() -> str:
        session["user"] = "from view"
        return "w"

    c = app.test_client()
    assert c.get("/read").data == b"None"
    with c.session_transaction() as sess:
        sess["user"] = "alice"
    assert c.get("/read").data == b"alice"
    c.get("/write")
    with c.session_transaction() as sess:
        assert sess["user"] == "from view"
        sess.clear()
    assert c.get("/read").data == b"None"


def test_session_transaction_needs_secret_key() -> None:
    app = Erlen(__name__)
    c = app.test_client()
    with pytest.raises(RuntimeError) as exc, c.session_transaction():
        pass
    assert str(exc.value) == "Session backend did not open a session."


def test_session_transaction_needs_cookies(app: Erlen) -> None:
    c = app.test_client(use_cookies=False)
    with (
        pytest.raises(TypeError, match="Cookies are disabled"),
        c.session_transaction(),
    ):
        pass


def test_test_client_class(app: Erlen) -> None:
    class MyClient(ErlenClient):
        def __init__(self, *args: t.Any, marker: str = "", **kwargs: t.Any) -> None:
            super().__init__(*args, **kwargs)
            self.marker = marker

    app.test_client_class = MyClient
    c = app.test_client(marker="m")
    assert isinstance(c, MyClient)
    assert c.marker == "m"
    assert c.get("/echo").status_code == 200


def test_default_client_class() -> None:
    app = Erlen(__name__)
    assert isinstance(app.test_client(), ErlenClient)
    assert app.test_client_class is None


def test_test_request_context_arguments(app: Erlen) -> None:
    with app.test_request_context(
        "/echo?q=1", method="POST", data={"f": "v"}, headers={"X-A": "a"}
    ):
        assert request.method == "POST"
        assert request.path == "/echo"
        assert request.args["q"] == "1"
        assert request.form["f"] == "v"
        assert request.headers["X-A"] == "a"
        # The context matches the URL when it is pushed.
        assert request.endpoint == "echo"
    with app.test_request_context(path="/p", json=[1, 2]):
        assert request.is_json
        assert request.json == [1, 2]
    with app.test_request_context(query_string={"a": "b"}):
        assert request.args["a"] == "b"
        assert request.path == "/"


def test_testing_flag() -> None:
    app = Erlen(__name__)
    assert app.testing is False
    assert app.config["TESTING"] is False
    app.testing = True
    assert app.config["TESTING"] is True
    app.config["TESTING"] = False
    assert app.testing is False


def test_client_app_attribute_and_preserve(app: Erlen) -> None:
    c = app.test_client()
    assert c.application is app


def test_head_and_options_methods(app: Erlen) -> None:
    c = app.test_client()
    assert c.head("/echo").data == b""
    assert sorted(c.options("/echo").allow) == ["GET", "HEAD", "OPTIONS", "POST", "PUT"]


def test_subdomain_and_url_scheme_arguments() -> None:
    app = Erlen(__name__, subdomain_matching=True)
    app.config["SERVER_NAME"] = "example.test"

    @app.route("/", subdomain="api")
    def api() -> str:
        return request.url

    c = app.test_client()
    assert c.get("/", subdomain="api").data == b"http://api.example.test/"
    rv = c.get("/", subdomain="api", url_scheme="https")
    assert rv.data == b"https://api.example.test/"
    with app.test_request_context("/", subdomain="api", url_scheme="https"):
        assert request.url == "https://api.example.test/"
        assert request.endpoint == "api"


def test_response_header_names_and_status_line_as_written(app: Erlen) -> None:
    # Under both protocols the client shows a response as a WSGI server
    # gives it: header names as the app wrote them (ASGI lower-cases them
    # on the wire) and the app's own status line.
    app.secret_key = "k"

    @app.route("/custom")
    def custom() -> tuple[str, str, dict[str, str]]:
        session["seen"] = True
        return "x", "299 CUSTOM", {"X-Custom": "y", "ETag": '"1"'}

    rv = app.test_client().get("/custom")
    assert rv.status == "299 CUSTOM"
    assert [name for name, _ in rv.headers] == [
        "X-Custom",
        "ETag",
        "Content-Type",
        "Content-Length",
        "Vary",
        "Set-Cookie",
    ]
    assert [h for h in rv.headers if h[0] == "Set-Cookie"]


def test_asgi_middleware_changing_headers_is_what_the_client_sees(
    app: Erlen, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The names as written are used only while they are what was sent.
    monkeypatch.setenv("ERLEN_TEST_PROTOCOL", "asgi")

    @app.route("/")
    def index() -> str:
        return "x"

    inner = app.asgi_app

    async def add_header(scope: t.Any, receive: t.Any, send: t.Any) -> None:
        async def sending(message: dict[str, t.Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message["headers"], (b"x-added", b"1")]
            await send(message)

        await inner(scope, receive, sending)

    app.asgi_app = add_header  # type: ignore[assignment,method-assign]
    rv = app.test_client().get("/")
    assert rv.headers["X-Added"] == "1"
    assert rv.status == "200 OK"
    assert [name for name, _ in rv.headers] == [
        "content-type",
        "content-length",
        "x-added",
    ]
