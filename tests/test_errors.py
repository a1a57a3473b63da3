"""abort, redirect, error handlers and propagation behave exactly as in Flask 3.1."""

from __future__ import annotations

import io
import logging
import typing as t

import pytest
from werkzeug.exceptions import (
    BadRequest,
    BadRequestKeyError,
    Forbidden,
    HTTPException,
    InternalServerError,
    NotFound,
)
from werkzeug.routing import RequestRedirect

from erlen import (
    Blueprint,
    Erlen,
    Response,
    abort,
    got_request_exception,
    redirect,
    request,
)


@pytest.fixture
def app() -> Erlen:
    return Erlen(__name__)


@pytest.fixture
def quiet(app: Erlen) -> t.Iterator[Erlen]:
    """The app with its logger silenced (unhandled errors log a traceback)."""
    # The logger is named after the module, so it is shared by every test here.
    app.logger.disabled = True
    yield app
    app.logger.disabled = False


def test_abort_code(app: Erlen) -> None:
    @app.route("/<int:code>")
    def index(code: int) -> str:
        abort(code)

    c = app.test_client()
    for code, text in ((400, b"Bad Request"), (403, b"Forbidden"), (418, b"teapot")):
        rv = c.get(f"/{code}")
        assert rv.status_code == code
        assert text in rv.data
        assert rv.mimetype == "text/html"


def test_abort_with_description(app: Erlen) -> None:
    @app.route("/")
    def index() -> str:
        abort(404, description="No such <thing>")

    rv = app.test_client().get("/")
    assert rv.status_code == 404
    assert b"No such &lt;thing&gt;" in rv.data


def test_abort_response(app: Erlen) -> None:
    @app.route("/")
    def index() -> str:
        abort(Response("custom body", status=409, headers={"X-A": "1"}))

    rv = app.test_client().get("/")
    assert rv.status_code == 409
    assert rv.data == b"custom body"
    assert rv.headers["X-A"] == "1"


def test_abort_unknown_code_is_lookup_error(app: Erlen) -> None:
    with app.app_context(), pytest.raises(LookupError, match="no exception for 299"):
        abort(299)


def test_abort_outside_context_raises_http_exception() -> None:
    with pytest.raises(Forbidden):
        abort(403)


def test_app_aborter(app: Erlen) -> None:
    assert app.aborter.mapping[404] is NotFound
    with app.app_context(), pytest.raises(NotFound):
        abort(404)


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_codes(app: Erlen, code: int) -> None:
    @app.route("/")
    def index() -> Response:
        return redirect("/target?a=1", code=code)

    rv = app.test_client().get("/")
    assert rv.status_code == code
    assert rv.headers["Location"] == "/target?a=1"
    assert b"/target?a=1" in rv.data


def test_redirect_default_302_and_external(app: Erlen) -> None:
    with app.app_context():
        rv = redirect("https://example.org/x")
    assert rv.status_code == 302
    assert rv.location == "https://example.org/x"
    # Outside a context, werkzeug's redirect is used.
    assert redirect("/y", 301).status_code == 301


def test_redirect_follow(app: Erlen) -> None:
    @app.route("/")
    def index() -> Response:
        return redirect("/there")

    @app.route("/there")
    def there() -> str:
        return "there"

    rv = app.test_client().get("/", follow_redirects=True)
    assert rv.data == b"there"
    assert rv.request.path == "/there"


def test_errorhandler_by_code(app: Erlen) -> None:
    @app.errorhandler(404)
    def not_found(e: HTTPException) -> t.Any:
        assert isinstance(e, NotFound)
        return f"nothing at {request.path}", 404

    rv = app.test_client().get("/missing")
    assert rv.status_code == 404
    assert rv.data == b"nothing at /missing"


def test_errorhandler_status_defaults_to_200(app: Erlen) -> None:
    @app.errorhandler(404)
    def not_found(e: HTTPException) -> str:
        return "handled"

    rv = app.test_client().get("/missing")
    assert rv.status_code == 200


def test_errorhandler_by_class_mro(quiet: Erlen) -> None:
    app = quiet

    class Base(Exception):
        pass

    class Child(Base):
        pass

    class GrandChild(Child):
        pass

    @app.errorhandler(Base)
    def base(e: Exception) -> t.Any:
        return "base", 500

    @app.errorhandler(Child)
    def child(e: Exception) -> t.Any:
        return f"child:{type(e).__name__}", 501

    @app.route("/<kind>")
    def index(kind: str) -> str:
        raise {"base": Base, "child": Child, "grand": GrandChild}[kind]()

    c = app.test_client()
    assert c.get("/base").data == b"base"
    rv = c.get("/child")
    assert (rv.status_code, rv.data) == (501, b"child:Child")
    assert c.get("/grand").data == b"child:GrandChild"


def test_code_and_class_handler_share_a_slot(app: Erlen) -> None:
    @app.errorhandler(403)
    def by_code(e: HTTPException) -> t.Any:
        return "code", 403

    @app.errorhandler(Forbidden)
    def by_class(e: HTTPException) -> t.Any:
        return "class", 403

    @app.route("/")
    def index() -> str:
        abort(403)

    # 403 and Forbidden are the same key: the later registration wins.
    assert app.test_client().get("/").data == b"class"


def test_http_exception_handler(app: Erlen) -> None:
    @app.errorhandler(HTTPException)
    def any_http(e: HTTPException) -> t.Any:
        return {"code": e.code, "name": e.name}, e.code

    @app.route("/")
    def index() -> str:
        abort(409)

    c = app.test_client()
    rv = c.get("/")
    assert rv.status_code == 409
    assert rv.json == {"code": 409, "name": "Conflict"}
    assert c.get("/missing").json == {"code": 404, "name": "Not Found"}
    rv = c.post("/")
    assert rv.json == {"code": 405, "name": "Method Not Allowed"}


def test_exception_handler_catches_http_exceptions(app: Erlen) -> None:
    @app.errorhandler(Exception)
    def everything(e: Exception) -> t.Any:
        return f"caught {type(e).__name__}", 599

    @app.route("/")
    def index() -> str:
        raise ValueError()

    c = app.test_client()
    assert c.get("/").data == b"caught ValueError"
    # Flask passes HTTP exceptions to an Exception handler too.
    assert c.get("/missing").data == b"caught NotFound"


def test_handler_can_return_http_exception(app: Erlen) -> None:
    @app.errorhandler(Exception)
    def everything(e: Exception) -> t.Any:
        if isinstance(e, HTTPException):
            return e
        return "other", 500

    rv = app.test_client().get("/missing")
    assert rv.status_code == 404
    assert b"Not Found" in rv.data


def test_internal_server_error_original_exception(quiet: Erlen) -> None:
    app = quiet
    seen: dict[str, t.Any] = {}

    @app.errorhandler(500)
    def ise(e: InternalServerError) -> t.Any:
        seen["type"] = type(e)
        seen["original"] = e.original_exception
        return "handled 500", 500

    @app.route("/")
    def index() -> str:
        raise ValueError("the cause")

    @app.route("/direct")
    def direct() -> str:
        abort(500)

    c = app.test_client()
    rv = c.get("/")
    assert (rv.status_code, rv.data) == (500, b"handled 500")
    assert seen["type"] is InternalServerError
    assert isinstance(seen["original"], ValueError)
    assert str(seen["original"]) == "the cause"
    c.get("/direct")
    assert seen["original"] is None


def test_unhandled_500_page(quiet: Erlen) -> None:
    app = quiet

    @app.route("/")
    def index() -> str:
        raise ValueError("secret detail")

    rv = app.test_client().get("/")
    assert rv.status_code == 500
    assert b"Internal Server Error" in rv.data
    assert b"Traceback" not in rv.data
    assert b"secret detail" not in rv.data
    assert rv.mimetype == "text/html"


def test_testing_propagates(app: Erlen) -> None:
    app.testing = True

    @app.route("/")
    def index() -> str:
        raise ValueError("propagated")

    with pytest.raises(ValueError, match="propagated"):
        app.test_client().get("/")


def test_propagate_exceptions_config(app: Erlen) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = True

    @app.route("/")
    def index() -> str:
        raise ValueError("p")

    with pytest.raises(ValueError):
        app.test_client().get("/")


def test_propagate_false_overrides_testing(quiet: Erlen) -> None:
    app = quiet
    app.testing = True
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/")
    def index() -> str:
        raise ValueError("p")

    assert app.test_client().get("/").status_code == 500


def test_debug_propagates(app: Erlen) -> None:
    app.debug = True

    @app.route("/")
    def index() -> str:
        raise ValueError("d")

    with pytest.raises(ValueError):
        app.test_client().get("/")


def test_http_exceptions_not_propagated_in_testing(app: Erlen) -> None:
    app.testing = True

    @app.route("/")
    def index() -> str:
        abort(403)

    assert app.test_client().get("/").status_code == 403


def test_handled_exception_not_propagated_in_testing(app: Erlen) -> None:
    app.testing = True

    @app.errorhandler(ValueError)
    def handle(e: ValueError) -> t.Any:
        return "handled", 400

    @app.route("/")
    def index() -> str:
        raise ValueError()

    assert app.test_client().get("/").status_code == 400


def test_trap_http_exceptions(app: Erlen) -> None:
    app.config["TRAP_HTTP_EXCEPTIONS"] = True
    app.testing = True

    @app.route("/")
    def index() -> str:
        abort(404)

    with pytest.raises(NotFound):
        app.test_client().get("/")


def test_trap_http_exceptions_traps_routing_redirects(app: Erlen) -> None:
    app.config["TRAP_HTTP_EXCEPTIONS"] = True
    app.testing = True

    @app.route("/dir/")
    def index() -> str:
        return "x"

    with pytest.raises(RequestRedirect):
        app.test_client().get("/dir")


def test_bad_request_key_error_plain(app: Erlen) -> None:
    @app.route("/", methods=["POST"])
    def index() -> str:
        return request.form["missing"]

    rv = app.test_client().post("/", data={"other": "1"})
    assert rv.status_code == 400
    assert b"missing" not in rv.data


def test_trap_bad_request_errors(app: Erlen) -> None:
    app.config["TRAP_BAD_REQUEST_ERRORS"] = True
    app.testing = True

    @app.route("/")
    def index() -> str:
        return request.args["key"]

    with pytest.raises(BadRequestKeyError) as exc:
        app.test_client().get("/")
    assert "key" in str(exc.value)
    assert exc.value.args == ("key",)


def test_debug_traps_bad_request_key_errors_with_key(app: Erlen) -> None:
    # TRAP_BAD_REQUEST_ERRORS=None traps key errors in debug mode.
    app.debug = True

    @app.route("/")
    def index() -> str:
        return request.args["thekey"]

    with pytest.raises(BadRequestKeyError) as exc:
        app.test_client().get("/")
    assert "thekey" in str(exc.value)


def test_trap_bad_request_errors_false_in_debug(app: Erlen) -> None:
    app.debug = True
    app.config["TRAP_BAD_REQUEST_ERRORS"] = False

    @app.route("/")
    def index() -> str:
        return request.args["thekey"]

    rv = app.test_client().get("/")
    assert rv.status_code == 400
    assert b"thekey" in rv.data


def test_bad_request_handler(app: Erlen) -> None:
    @app.errorhandler(BadRequest)
    def bad(e: BadRequest) -> t.Any:
        return f"bad: {type(e).__name__}", 400

    @app.route("/")
    def index() -> str:
        return request.args["k"]

    assert app.test_client().get("/").data == b"bad: BadRequestKeyError"


def test_got_request_exception_signal(quiet: Erlen) -> None:
    app = quiet
    recorded: list[tuple[t.Any, BaseException]] = []

    def record(sender: t.Any, exception: BaseException, **kw: t.Any) -> None:
        recorded.append((sender, exception))

    @app.route("/")
    def index() -> str:
        raise ZeroDivisionError("zero")

    @app.route("/handled")
    def handled() -> str:
        raise KeyError("k")

    @app.errorhandler(KeyError)
    def ke(e: KeyError) -> t.Any:
        return "ke", 400

    with got_request_exception.connected_to(record, app):
        c = app.test_client()
        assert c.get("/").status_code == 500
        assert c.get("/handled").status_code == 400
        assert c.get("/missing").status_code == 404
    assert len(recorded) == 1
    assert recorded[0][0] is app
    assert isinstance(recorded[0][1], ZeroDivisionError)


def test_errors_logged_once(app: Erlen) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    app.logger.addHandler(handler)
    try:

        @app.route("/")
        def index() -> str:
            raise ValueError("logged error")

        rv = app.test_client().get("/")
    finally:
        app.logger.removeHandler(handler)
    assert rv.status_code == 500
    out = stream.getvalue()
    assert out.count("Exception on / [GET]") == 1
    assert "Traceback" in out
    assert "ValueError: logged error" in out


def test_log_exception_records_exc_info(app: Erlen) -> None:
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    cap = Capture()
    app.logger.addHandler(cap)
    try:

        @app.route("/p", methods=["POST"])
        def p() -> str:
            raise RuntimeError("x")

        app.test_client().post("/p")
    finally:
        app.logger.removeHandler(cap)
    assert [r.getMessage() for r in records] == ["Exception on /p [POST]"]
    assert records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None
    assert records[0].exc_info[0] is RuntimeError


def test_handled_and_http_errors_not_logged(app: Erlen) -> None:
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    cap = Capture()
    app.logger.addHandler(cap)
    try:

        @app.errorhandler(KeyError)
        def ke(e: KeyError) -> t.Any:
            return "ke", 400

        @app.route("/")
        def index() -> str:
            raise KeyError()

        c = app.test_client()
        c.get("/")
        c.get("/missing")
    finally:
        app.logger.removeHandler(cap)
    assert records == []


def test_error_handler_that_raises_gives_500(quiet: Erlen) -> None:
    app = quiet

    @app.errorhandler(ValueError)
    def broken(e: ValueError) -> str:
        raise RuntimeError("handler failed")

    @app.route("/")
    def index() -> str:
        raise ValueError()

    rv = app.test_client().get("/")
    assert rv.status_code == 500
    assert b"Internal Server Error" in rv.data


def test_error_handler_that_raises_handled_by_500_handler(quiet: Erlen) -> None:
    app = quiet

    @app.errorhandler(ValueError)
    def broken(e: ValueError) -> str:
        raise RuntimeError("handler failed")

    @app.errorhandler(500)
    def ise(e: InternalServerError) -> t.Any:
        return f"500 from {type(e.original_exception).__name__}", 500

    @app.route("/")
    def index() -> str:
        raise ValueError()

    assert app.test_client().get("/").data == b"500 from RuntimeError"


def test_register_error_handler(app: Erlen) -> None:
    def teapot(e: HTTPException) -> t.Any:
        return "short and stout", 418

    app.register_error_handler(418, teapot)

    @app.route("/")
    def index() -> str:
        abort(418)

    rv = app.test_client().get("/")
    assert (rv.status_code, rv.data) == (418, b"short and stout")


def test_register_error_handler_invalid_code(app: Erlen) -> None:
    with pytest.raises(ValueError) as exc:
        app.register_error_handler(999, lambda e: "")
    assert str(exc.value) == (
        "'999' is not a recognized HTTP error code. Use a subclass of"
        " HTTPException with that code instead."
    )


def test_register_error_handler_non_exception(app: Erlen) -> None:
    with pytest.raises(ValueError) as exc:
        app.register_error_handler(int, lambda e: "")  # type: ignore[arg-type]
    assert str(exc.value) == (
        "'int' is not a subclass of Exception. Handlers can only be"
        " registered for Exception classes or HTTP error codes."
    )


def test_register_error_handler_instance_is_type_error(app: Erlen) -> None:
    with pytest.raises(TypeError) as exc:
        app.register_error_handler(ValueError(), lambda e: "")  # type: ignore[arg-type]
    assert "is an instance, not a class" in str(exc.value)


def test_errorhandler_custom_http_exception_subclass(app: Erlen) -> None:
    class PaymentRequired(HTTPException):
        code = 402
        description = "Pay up."

    @app.errorhandler(PaymentRequired)
    def pay(e: PaymentRequired) -> t.Any:
        return e.description or "", e.code

    @app.route("/")
    def index() -> str:
        raise PaymentRequired()

    rv = app.test_client().get("/")
    assert (rv.status_code, rv.data) == (402, b"Pay up.")


def test_blueprint_error_handlers(quiet: Erlen) -> None:
    app = quiet
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.errorhandler(ValueError)
    def bp_value(e: ValueError) -> t.Any:
        return "bp handler", 400

    @bp.app_errorhandler(404)
    def app_404(e: HTTPException) -> t.Any:
        return "app-wide 404 from bp", 404

    @bp.route("/")
    def index() -> str:
        raise ValueError()

    @app.route("/")
    def root() -> str:
        raise ValueError()

    app.register_blueprint(bp)
    c = app.test_client()
    assert c.get("/bp/").data == b"bp handler"
    assert c.get("/").status_code == 500
    assert c.get("/nowhere").data == b"app-wide 404 from bp"


def test_blueprint_404_not_handled_by_blueprint_handler(app: Erlen) -> None:
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.errorhandler(404)
    def bp_404(e: HTTPException) -> t.Any:
        return "bp 404", 404

    @bp.route("/")
    def index() -> str:
        abort(404)

    app.register_blueprint(bp)
    c = app.test_client()
    assert c.get("/bp/").data == b"bp 404"
    # Routing 404s have no blueprint; the app default applies.
    assert b"Not Found" in c.get("/bp/missing").data


def test_abort_in_before_request_handled(app: Erlen) -> None:
    @app.before_request
    def guard() -> None:
        if request.path == "/secret":
            abort(401)

    @app.errorhandler(401)
    def unauth(e: HTTPException) -> t.Any:
        return "log in", 401

    app.add_url_rule("/secret", "secret", lambda: "s")
    rv = app.test_client().get("/secret")
    assert (rv.status_code, rv.data) == (401, b"log in")


def test_405_handler_sees_valid_methods(app: Erlen) -> None:
    @app.errorhandler(405)
    def mna(e: t.Any) -> t.Any:
        return ",".join(sorted(e.valid_methods)), 405

    app.add_url_rule("/", "index", lambda: "x", methods=["POST"])
    rv = app.test_client().get("/")
    assert rv.status_code == 405
    assert rv.data == b"OPTIONS,POST"


def test_error_page_follows_class_description_changes(
    app: Erlen, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.add_url_rule("/f", "f", lambda: abort(403))
    c = app.test_client()
    assert b"check your spelling" in c.get("/missing").data
    assert b"have the permission to access" in c.get("/f").data
    # Apps may customize Werkzeug's default texts, e.g. when imported later.
    monkeypatch.setattr(NotFound, "description", "Nothing to see here.")
    monkeypatch.setattr(Forbidden, "description", "Go away.")
    assert b"<p>Nothing to see here.</p>" in c.get("/missing").data
    assert b"<p>Go away.</p>" in c.get("/f").data
