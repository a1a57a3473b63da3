"""View return values and response helpers behave exactly as in Flask 3.1."""

from __future__ import annotations

import typing as t

import pytest
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Response as WerkzeugResponse

from erlen import (
    Erlen,
    Response,
    jsonify,
    make_response,
    request,
    stream_with_context,
)


@pytest.fixture
def app() -> Erlen:
    app = Erlen(__name__)
    app.testing = True
    return app


def _get(app: Erlen, view: t.Callable[[], t.Any], method: str = "GET") -> t.Any:
    app.add_url_rule("/", "index", view)
    return app.test_client().open("/", method=method)


def test_str(app: Erlen) -> None:
    rv = _get(app, lambda: "héllo")
    assert rv.status_code == 200
    assert rv.data == "héllo".encode()
    assert rv.headers["Content-Type"] == "text/html; charset=utf-8"
    assert rv.headers["Content-Length"] == "6"


def test_bytes(app: Erlen) -> None:
    rv = _get(app, lambda: b"\x00raw")
    assert rv.data == b"\x00raw"
    assert rv.headers["Content-Type"] == "text/html; charset=utf-8"
    assert rv.headers["Content-Length"] == "4"


def test_bytearray(app: Erlen) -> None:
    rv = _get(app, lambda: bytearray(b"ba"))
    assert rv.data == b"ba"


def test_dict(app: Erlen) -> None:
    rv = _get(app, lambda: {"b": 1, "a": [1, 2]})
    assert rv.status_code == 200
    assert rv.headers["Content-Type"] == "application/json"
    assert rv.data == b'{"a":[1,2],"b":1}\n'
    assert rv.json == {"a": [1, 2], "b": 1}


def test_list(app: Erlen) -> None:
    rv = _get(app, lambda: [1, "two", None])
    assert rv.headers["Content-Type"] == "application/json"
    assert rv.json == [1, "two", None]


def test_response_object(app: Erlen) -> None:
    rv = _get(app, lambda: Response("made", status=202, mimetype="text/plain"))
    assert rv.status_code == 202
    assert rv.data == b"made"
    assert rv.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_werkzeug_response_is_returned_as_is(app: Erlen) -> None:
    rv = _get(app, lambda: WerkzeugResponse("wz", status=201))
    assert rv.status_code == 201
    assert rv.data == b"wz"


def test_wsgi_callable(app: Erlen) -> None:
    def wsgi_app(environ: dict[str, t.Any], start_response: t.Any) -> list[bytes]:
        start_response("203 NON-AUTHORITATIVE", [("X-Wsgi", environ["PATH_INFO"])])
        return [b"from ", b"wsgi"]

    rv = _get(app, lambda: wsgi_app)
    assert rv.status_code == 203
    assert rv.headers["X-Wsgi"] == "/"
    assert rv.data == b"from wsgi"


def test_generator_is_streamed(app: Erlen) -> None:
    produced: list[int] = []

    def gen() -> t.Iterator[str]:
        for i in range(3):
            produced.append(i)
            yield f"chunk{i};"

    app.add_url_rule("/", "index", lambda: gen())
    rv = app.test_client().get("/", buffered=False)
    assert rv.status_code == 200
    assert "Content-Length" not in rv.headers
    assert rv.is_streamed
    # The test client pulls the first chunk to get the status; no more.
    assert produced == [0]
    assert b"".join(rv.response) == b"chunk0;chunk1;chunk2;"
    assert produced == [0, 1, 2]
    rv.close()


def test_iterator(app: Erlen) -> None:
    rv = _get(app, lambda: iter([b"a", b"b"]))
    assert rv.data == b"ab"
    assert rv.headers["Content-Type"] == "text/html; charset=utf-8"


def test_generator_with_tuple(app: Erlen) -> None:
    def gen() -> t.Iterator[str]:
        yield "x"
        yield "y"

    rv = _get(app, lambda: (gen(), 201, {"X-A": "1"}))
    assert rv.status_code == 201
    assert rv.headers["X-A"] == "1"
    assert rv.data == b"xy"


def test_tuple_body_status(app: Erlen) -> None:
    rv = _get(app, lambda: ("created", 201))
    assert rv.status_code == 201
    assert rv.status == "201 CREATED"
    assert rv.data == b"created"


def test_tuple_status_string(app: Erlen) -> None:
    rv = _get(app, lambda: ("x", "201 CREATED"))
    assert rv.status == "201 CREATED"
    assert rv.status_code == 201


@pytest.mark.wsgi_only("ASGI carries the status code only, not its reason phrase")
def test_tuple_status_custom_string(app: Erlen) -> None:
    rv = _get(app, lambda: ("x", "299 WHATEVER"))
    assert rv.status == "299 WHATEVER"
    assert rv.status_code == 299


def test_tuple_status_numeric_string(app: Erlen) -> None:
    rv = _get(app, lambda: ("x", "418"))
    assert rv.status_code == 418
    assert rv.status == "418 I'M A TEAPOT"


def test_tuple_body_headers_dict(app: Erlen) -> None:
    rv = _get(app, lambda: ("x", {"X-Foo": "bar", "Content-Type": "text/plain"}))
    assert rv.status_code == 200
    assert rv.headers["X-Foo"] == "bar"
    assert rv.headers["Content-Type"] == "text/plain"


def test_tuple_body_headers_list(app: Erlen) -> None:
    rv = _get(app, lambda: ("x", [("X-Foo", "a"), ("X-Foo", "b")]))
    assert rv.status_code == 200
    assert rv.headers.getlist("X-Foo") == ["a", "b"]


def test_tuple_body_headers_object(app: Erlen) -> None:
    rv = _get(app, lambda: ("x", Headers({"X-H": "h"})))
    assert rv.headers["X-H"] == "h"


def test_tuple_body_status_headers(app: Erlen) -> None:
    rv = _get(app, lambda: ("gone", 410, {"X-Reason": "old"}))
    assert rv.status_code == 410
    assert rv.headers["X-Reason"] == "old"
    assert rv.data == b"gone"


def test_tuple_status_headers_list(app: Erlen) -> None:
    rv = _get(app, lambda: ("x", "202 ACCEPTED", [("X-L", "1")]))
    assert rv.status == "202 ACCEPTED"
    assert rv.headers["X-L"] == "1"


def test_tuple_dict_body_with_status(app: Erlen) -> None:
    rv = _get(app, lambda: ({"error": "nope"}, 400))
    assert rv.status_code == 400
    assert rv.json == {"error": "nope"}
    assert rv.mimetype == "application/json"


def test_tuple_response_body_extends_headers(app: Erlen) -> None:
    def view() -> t.Any:
        resp = Response("r", headers={"X-A": "1"})
        return resp, 404, {"X-A": "2", "X-B": "3"}

    rv = _get(app, view)
    assert rv.status_code == 404
    # Headers from the tuple update (replace) the response's headers.
    assert rv.headers.getlist("X-A") == ["2"]
    assert rv.headers["X-B"] == "3"


def test_tuple_wrong_length_is_type_error(app: Erlen) -> None:
    app.add_url_rule("/", "index", lambda: ("a", 200, {}, "extra"))
    with pytest.raises(TypeError) as exc:
        app.test_client().get("/")
    assert str(exc.value) == (
        "The view function did not return a valid response tuple. The tuple"
        " must have the form (body, status, headers), (body, status), or"
        " (body, headers)."
    )


def test_none_is_type_error_naming_the_view(app: Erlen) -> None:
    @app.route("/")
    def my_view() -> None:
        pass

    with pytest.raises(TypeError) as exc:
        app.test_client().get("/")
    assert str(exc.value) == (
        "The view function for 'my_view' did not return a valid response. The"
        " function either returned None or ended without a return statement."
    )


def test_none_body_in_tuple_is_type_error(app: Erlen) -> None:
    @app.route("/")
    def my_view() -> t.Any:
        return None, 200

    with pytest.raises(TypeError, match="The view function for 'my_view'"):
        app.test_client().get("/")


def test_none_returns_500_when_not_propagating(app: Erlen) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/")
    def my_view() -> None:
        pass

    rv = app.test_client().get("/")
    assert rv.status_code == 500


def test_unsupported_type_is_type_error(app: Erlen) -> None:
    @app.route("/")
    def my_view() -> int:
        return 42

    with pytest.raises(TypeError) as exc:
        app.test_client().get("/")
    assert str(exc.value) == (
        "The view function did not return a valid response. The return type"
        " must be a string, dict, list, tuple with headers or status, Response"
        " instance, or WSGI callable, but it was a int."
    )


def test_unsupported_object_type_error(app: Erlen) -> None:
    class Thing:
        pass

    app.add_url_rule("/", "index", lambda: Thing())
    with pytest.raises(TypeError, match="but it was a Thing"):
        app.test_client().get("/")


# --- make_response --------------------------------------------------------


def test_make_response_forms(app: Erlen) -> None:
    with app.test_request_context():
        rv = make_response()
        assert rv.status_code == 200
        assert rv.data == b""
        assert rv.mimetype == "text/html"
        assert isinstance(rv, Response)

        rv = make_response("body")
        assert rv.data == b"body"

        rv = make_response("body", 404)
        assert rv.status_code == 404

        rv = make_response("body", 201, {"X-A": "a"})
        assert (rv.status_code, rv.headers["X-A"]) == (201, "a")

        rv = make_response(("tuple", 202))
        assert (rv.data, rv.status_code) == (b"tuple", 202)

        rv = make_response({"k": "v"})
        assert rv.json == {"k": "v"}

        rv = make_response([1, 2], 400)
        assert rv.json == [1, 2]
        assert rv.status_code == 400

        original = Response("orig")
        rv = make_response(original)
        assert rv is original

        rv = make_response(original, 500, {"X-B": "b"})
        assert rv is original
        assert rv.status_code == 500
        assert rv.headers["X-B"] == "b"


def test_make_response_in_view_sets_cookie(app: Erlen) -> None:
    @app.route("/")
    def index() -> Response:
        resp = make_response("with cookie")
        resp.set_cookie("k", "v")
        resp.headers["X-Extra"] = "1"
        return resp

    c = app.test_client()
    rv = c.get("/")
    assert rv.headers["X-Extra"] == "1"
    cookie = c.get_cookie("k")
    assert cookie is not None
    assert cookie.value == "v"


def test_app_make_response(app: Erlen) -> None:
    with app.test_request_context():
        rv = app.make_response(("x", 203, [("X-T", "t")]))
        assert rv.status_code == 203
        assert rv.headers["X-T"] == "t"
        with pytest.raises(TypeError, match="did not return a valid response"):
            app.make_response(None)  # type: ignore[arg-type]


def test_make_response_needs_only_app_context(app: Erlen) -> None:
    with app.app_context():
        assert make_response("x", 201).status_code == 201
    with pytest.raises(RuntimeError, match="Working outside of application context"):
        make_response("x")


# --- streaming ------------------------------------------------------------


def test_stream_with_context(app: Erlen) -> None:
    @app.route("/")
    def index() -> Response:
        def gen() -> t.Iterator[str]:
            yield "hello "
            yield request.args["name"]
            yield "!"

        return Response(stream_with_context(gen()))

    rv = app.test_client().get("/?name=ada")
    assert rv.data == b"hello ada!"


def test_stream_with_context_as_decorator(app: Erlen) -> None:
    @app.route("/")
    def index() -> Response:
        @stream_with_context
        def gen() -> t.Iterator[str]:
            yield request.method
            yield " "
            yield request.path

        return Response(gen())

    assert app.test_client().get("/").data == b"GET /"


def test_without_stream_with_context_request_is_gone(app: Erlen) -> None:
    errors: list[str] = []

    @app.route("/")
    def index() -> Response:
        def gen() -> t.Iterator[str]:
            yield "a"
            try:
                yield request.path
            except RuntimeError as e:
                errors.append(str(e).splitlines()[0])
                yield "gone"

        return Response(gen())

    assert app.test_client().get("/").data == b"agone"
    assert errors == ["Working outside of request context."]


def test_stream_with_context_teardown_after_stream(app: Erlen) -> None:
    events: list[str] = []

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        events.append("teardown")

    @app.route("/")
    def index() -> Response:
        def gen() -> t.Iterator[str]:
            events.append("first")
            yield "a"
            events.append("second")
            yield "b"

        return Response(stream_with_context(gen()))

    rv = app.test_client().get("/")
    assert rv.data == b"ab"
    # The request context stays usable while streaming; teardown ends it.
    assert events[-3:] == ["first", "second", "teardown"]


def test_head_on_generator(app: Erlen) -> None:
    consumed: list[str] = []

    @app.route("/")
    def index() -> t.Any:
        def gen() -> t.Iterator[str]:
            consumed.append("x")
            yield "data"

        return gen()

    rv = app.test_client().head("/")
    assert rv.status_code == 200
    assert rv.data == b""
    assert "Content-Length" not in rv.headers


# --- response_class and jsonify -------------------------------------------


def test_response_class_subclass(app: Erlen) -> None:
    class TextResponse(Response):
        default_mimetype = "text/plain"

    app.response_class = TextResponse

    @app.route("/")
    def index() -> str:
        return "plain"

    @app.route("/json")
    def js() -> dict[str, int]:
        return {"a": 1}

    c = app.test_client()
    rv = c.get("/")
    assert rv.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert c.get("/json").headers["Content-Type"] == "application/json"
    with app.test_request_context():
        assert isinstance(make_response("x"), TextResponse)
        assert isinstance(jsonify(a=1), TextResponse)


def test_response_class_used_for_view_strings(app: Erlen) -> None:
    seen: list[type] = []

    class Tracked(Response):
        pass

    app.response_class = Tracked

    @app.after_request
    def after(resp: Response) -> Response:
        seen.append(type(resp))
        return resp

    app.add_url_rule("/", "index", lambda: "x")
    app.test_client().get("/")
    assert seen == [Tracked]


def test_response_class_with_error_responses(app: Erlen) -> None:
    seen: list[type] = []

    class Tracked(Response):
        pass

    app.response_class = Tracked

    @app.after_request
    def after(resp: Response) -> Response:
        seen.append(type(resp))
        return resp

    app.test_client().get("/missing")
    # HTTPException responses are werkzeug responses passed through after_request.
    assert len(seen) == 1


def test_jsonify(app: Erlen) -> None:
    @app.route("/kw")
    def kw() -> Response:
        return jsonify(b=2, a=1)

    @app.route("/single")
    def single() -> Response:
        return jsonify([1, 2])

    @app.route("/many")
    def many() -> Response:
        return jsonify(1, 2, 3)

    @app.route("/status")
    def status() -> t.Any:
        return jsonify(error="x"), 422

    c = app.test_client()
    rv = c.get("/kw")
    assert rv.data == b'{"a":1,"b":2}\n'
    assert rv.headers["Content-Type"] == "application/json"
    assert c.get("/single").json == [1, 2]
    assert c.get("/many").json == [1, 2, 3]
    rv = c.get("/status")
    assert rv.status_code == 422
    assert rv.json == {"error": "x"}


def test_jsonify_args_and_kwargs_is_type_error(app: Erlen) -> None:
    with (
        app.app_context(),
        pytest.raises(TypeError, match=r"app\.json\.response"),
    ):
        jsonify(1, a=2)


def test_jsonify_debug_indents(app: Erlen) -> None:
    app.debug = True
    with app.app_context():
        assert jsonify(a=1).data == b'{\n  "a": 1\n}\n'


def test_response_default_mimetype_and_charset() -> None:
    rv = Response("x")
    assert rv.mimetype == "text/html"
    assert rv.headers["Content-Type"] == "text/html; charset=utf-8"
    assert issubclass(Response, WerkzeugResponse)


def test_response_max_cookie_size_from_config(app: Erlen) -> None:
    app.config["MAX_COOKIE_SIZE"] = 123
    with app.app_context():
        assert Response().max_cookie_size == 123
    # Outside a context, Werkzeug's default applies.
    assert Response().max_cookie_size == 4093


def _wsgi_body(app: Erlen, path: str) -> list[t.Any]:
    """The chunks the WSGI server receives (the test client would re-encode)."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    app_iter, _status, _headers = run_wsgi_app(
        app, EnvironBuilder(path=path).get_environ()
    )
    try:
        return list(app_iter)
    finally:
        getattr(app_iter, "close", lambda: None)()


def test_generator_of_str_subclasses_is_encoded(app: Erlen) -> None:
    from markupsafe import Markup

    from erlen import stream_template_string

    class Text(str):
        pass

    @app.route("/raw")
    def raw() -> t.Any:
        return (x for x in [Markup("<b>"), Text("é")])

    @app.route("/wrapped")
    def wrapped() -> Response:
        return Response(x for x in [Markup("<i>"), Text("ü")])

    @app.route("/template")
    def template() -> Response:
        source = "{% for i in r %}{{ i }}{% endfor %}"
        return Response(stream_template_string(source, r="ab"))

    # A WSGI server must only ever get bytes.
    for path, body in (("/raw", "<b>é"), ("/wrapped", "<i>ü"), ("/template", "ab")):
        chunks = _wsgi_body(app, path)
        assert all(type(c) is bytes for c in chunks), path
        assert b"".join(chunks) == body.encode()


def test_streamed_context_lifecycle_over_wsgi(app: Erlen) -> None:
    """What a WSGI server sees: the view's contexts end, the stream re-enters
    them, and an error raised mid-stream reaches teardown and the server."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    events: list[t.Any] = []

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        events.append(("teardown", type(exc).__name__))

    @app.route("/ok")
    def ok() -> Response:
        def gen() -> t.Iterator[str]:
            events.append(("chunk", request.path))
            yield "a"
            yield "b"

        return Response(stream_with_context(gen()))

    @app.route("/fail")
    def fail() -> t.Any:
        @stream_with_context
        def gen() -> t.Iterator[str]:
            yield "a"
            raise ValueError("mid-stream")

        return gen()

    app_iter, status, _ = run_wsgi_app(app, EnvironBuilder("/ok").get_environ())
    assert status == "200 OK"
    assert list(app_iter) == [b"a", b"b"]
    app_iter.close()  # type: ignore[attr-defined]
    assert events == [
        ("teardown", "NoneType"),
        ("chunk", "/ok"),
        ("teardown", "NoneType"),
    ]
    events.clear()
    app_iter, status, _ = run_wsgi_app(app, EnvironBuilder("/fail").get_environ())
    with pytest.raises(ValueError, match="mid-stream"):
        list(app_iter)
    assert events == [("teardown", "NoneType"), ("teardown", "ValueError")]


def test_stream_with_context_outside_request_is_error(app: Erlen) -> None:
    def gen() -> t.Iterator[str]:
        yield "x"

    with pytest.raises(RuntimeError) as exc:
        stream_with_context(gen())
    assert str(exc.value) == (
        "'stream_with_context' can only be used when a request context is"
        " active, such as in a view function."
    )
    with app.app_context(), pytest.raises(RuntimeError, match="request context"):
        stream_with_context(gen())
