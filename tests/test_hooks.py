"""Request hooks run in Flask 3.1's order with Flask 3.1's semantics."""

from __future__ import annotations

import typing as t

import pytest

from erlen import (
    Blueprint,
    Erlen,
    Response,
    after_this_request,
    g,
    request,
)


@pytest.fixture
def app() -> Erlen:
    app = Erlen(__name__)
    app.testing = True
    return app


def test_before_request_runs_before_view(app: Erlen) -> None:
    events: list[str] = []

    @app.before_request
    def one() -> None:
        events.append("before1")
        g.user = "ada"

    @app.before_request
    def two() -> None:
        events.append("before2")

    @app.route("/")
    def index() -> str:
        events.append("view")
        return g.user

    assert app.test_client().get("/").data == b"ada"
    assert events == ["before1", "before2", "view"]


def test_before_request_short_circuits(app: Erlen) -> None:
    events: list[str] = []

    @app.before_request
    def stop() -> t.Any:
        events.append("stop")
        if request.args.get("stop"):
            return "stopped", 403
        return None

    @app.before_request
    def later() -> None:
        events.append("later")

    @app.after_request
    def after(resp: Response) -> Response:
        events.append("after")
        return resp

    @app.route("/")
    def index() -> str:
        events.append("view")
        return "view"

    c = app.test_client()
    rv = c.get("/?stop=1")
    assert (rv.status_code, rv.data) == (403, b"stopped")
    # The view and later before_request functions are skipped; after_request runs.
    assert events == ["stop", "after"]
    events.clear()
    assert c.get("/").data == b"view"
    assert events == ["stop", "later", "view", "after"]


def test_before_request_runs_for_404(app: Erlen) -> None:
    events: list[str] = []

    @app.before_request
    def before() -> None:
        events.append(f"before {request.endpoint}")

    assert app.test_client().get("/missing").status_code == 404
    assert events == ["before None"]


def test_after_request_reverse_order(app: Erlen) -> None:
    events: list[str] = []

    @app.after_request
    def first(resp: Response) -> Response:
        events.append("first")
        return resp

    @app.after_request
    def second(resp: Response) -> Response:
        events.append("second")
        return resp

    app.add_url_rule("/", "index", lambda: "x")
    app.test_client().get("/")
    assert events == ["second", "first"]


def test_after_request_replaces_response(app: Erlen) -> None:
    @app.after_request
    def replace(resp: Response) -> Response:
        return Response(f"replaced {resp.get_data(as_text=True)}", status=299)

    @app.after_request
    def header(resp: Response) -> Response:
        resp.headers["X-Seen"] = "1"
        return resp

    app.add_url_rule("/", "index", lambda: "orig")
    rv = app.test_client().get("/")
    assert rv.status_code == 299
    assert rv.data == b"replaced orig"
    # `header` ran first (reverse order) on the original, then it was replaced.
    assert "X-Seen" not in rv.headers


def test_after_request_runs_for_error_responses(app: Erlen) -> None:
    @app.after_request
    def header(resp: Response) -> Response:
        resp.headers["X-After"] = str(resp.status_code)
        return resp

    rv = app.test_client().get("/missing")
    assert rv.headers["X-After"] == "404"


def test_after_request_runs_on_the_500_response(app: Erlen) -> None:
    app.testing = False
    app.logger.disabled = True
    events: list[int] = []

    @app.after_request
    def after(resp: Response) -> Response:
        events.append(resp.status_code)
        return resp

    @app.route("/")
    def index() -> str:
        raise ValueError()

    try:
        assert app.test_client().get("/").status_code == 500
    finally:
        app.logger.disabled = False
    # The 500 response built for an unhandled error is finalized with after_request.
    assert events == [500]


def test_teardown_request_receives_exception(app: Erlen) -> None:
    seen: list[t.Any] = []

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        seen.append(exc)

    @app.route("/")
    def ok() -> str:
        return "ok"

    @app.route("/fail")
    def fail() -> str:
        raise ValueError("broken")

    c = app.test_client()
    c.get("/")
    with pytest.raises(ValueError):
        c.get("/fail")
    assert seen[0] is None
    assert isinstance(seen[1], ValueError)
    assert str(seen[1]) == "broken"


def test_teardown_request_exception_when_handled_500(app: Erlen) -> None:
    app.testing = False
    app.logger.disabled = True
    seen: list[t.Any] = []

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        seen.append(exc)

    @app.route("/")
    def fail() -> str:
        raise KeyError("k")

    try:
        assert app.test_client().get("/").status_code == 500
    finally:
        app.logger.disabled = False
    assert len(seen) == 1
    assert isinstance(seen[0], KeyError)


def test_teardown_request_no_exception_when_handled(app: Erlen) -> None:
    seen: list[t.Any] = []

    @app.errorhandler(ValueError)
    def handle(e: ValueError) -> t.Any:
        return "handled", 400

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        seen.append(exc)

    @app.route("/")
    def fail() -> str:
        raise ValueError()

    assert app.test_client().get("/").status_code == 400
    assert seen == [None]


def test_teardown_runs_when_before_request_raises(app: Erlen) -> None:
    events: list[str] = []

    @app.before_request
    def boom() -> None:
        raise RuntimeError("before")

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        events.append(f"teardown {type(exc).__name__}")

    @app.teardown_appcontext
    def tda(exc: BaseException | None) -> None:
        events.append(f"teardown_app {type(exc).__name__}")

    app.add_url_rule("/", "index", lambda: "x")
    with pytest.raises(RuntimeError):
        app.test_client().get("/")
    assert events == ["teardown RuntimeError", "teardown_app RuntimeError"]


def test_teardown_runs_when_after_request_raises(app: Erlen) -> None:
    events: list[str] = []

    @app.after_request
    def boom(resp: Response) -> Response:
        raise RuntimeError("after")

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        events.append(type(exc).__name__)

    app.add_url_rule("/", "index", lambda: "x")
    with pytest.raises(RuntimeError):
        app.test_client().get("/")
    assert events == ["RuntimeError"]


def test_teardown_order_and_errors_in_teardown(app: Erlen) -> None:
    events: list[str] = []

    @app.teardown_request
    def first(exc: BaseException | None) -> None:
        events.append("first")

    @app.teardown_request
    def second(exc: BaseException | None) -> None:
        events.append("second")

    @app.teardown_appcontext
    def app_first(exc: BaseException | None) -> None:
        events.append("app_first")

    @app.teardown_appcontext
    def app_second(exc: BaseException | None) -> None:
        events.append("app_second")

    app.add_url_rule("/", "index", lambda: "x")
    app.test_client().get("/")
    assert events == ["second", "first", "app_second", "app_first"]


def test_teardown_appcontext_on_plain_app_context(app: Erlen) -> None:
    seen: list[t.Any] = []

    @app.teardown_appcontext
    def tda(exc: BaseException | None) -> None:
        seen.append(exc)

    with app.app_context():
        pass
    with pytest.raises(KeyError), app.app_context():
        raise KeyError("k")
    assert seen[0] is None
    assert isinstance(seen[1], KeyError)


def test_teardown_request_return_value_ignored(app: Erlen) -> None:
    @app.teardown_request
    def td(exc: BaseException | None) -> str:
        return "ignored"

    app.add_url_rule("/", "index", lambda: "body")
    assert app.test_client().get("/").data == b"body"


def test_blueprint_hooks_scoped(app: Erlen) -> None:
    events: list[str] = []
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.before_request
    def bp_before() -> None:
        events.append("bp_before")

    @bp.after_request
    def bp_after(resp: Response) -> Response:
        events.append("bp_after")
        return resp

    @bp.teardown_request
    def bp_teardown(exc: BaseException | None) -> None:
        events.append("bp_teardown")

    @bp.before_app_request
    def bp_app_before() -> None:
        events.append("app_before_from_bp")

    @bp.after_app_request
    def bp_app_after(resp: Response) -> Response:
        events.append("app_after_from_bp")
        return resp

    @app.before_request
    def app_before() -> None:
        events.append("app_before")

    @app.after_request
    def app_after(resp: Response) -> Response:
        events.append("app_after")
        return resp

    @bp.route("/")
    def bp_index() -> str:
        events.append("bp_view")
        return "bp"

    @app.route("/")
    def index() -> str:
        events.append("app_view")
        return "app"

    app.register_blueprint(bp)
    c = app.test_client()
    c.get("/")
    # The blueprint's app-wide hooks are added when it is registered (last).
    assert events == [
        "app_before",
        "app_before_from_bp",
        "app_view",
        "app_after_from_bp",
        "app_after",
    ]
    events.clear()
    c.get("/bp/")
    assert events == [
        "app_before",
        "app_before_from_bp",
        "bp_before",
        "bp_view",
        "bp_after",
        "app_after_from_bp",
        "app_after",
        "bp_teardown",
    ]


def test_nested_blueprint_hooks(app: Erlen) -> None:
    events: list[str] = []
    parent = Blueprint("parent", __name__, url_prefix="/p")
    child = Blueprint("child", __name__, url_prefix="/c")

    @parent.before_request
    def p_before() -> None:
        events.append("parent_before")

    @child.before_request
    def c_before() -> None:
        events.append("child_before")

    @parent.after_request
    def p_after(resp: Response) -> Response:
        events.append("parent_after")
        return resp

    @child.after_request
    def c_after(resp: Response) -> Response:
        events.append("child_after")
        return resp

    @child.route("/")
    def index() -> str:
        events.append(f"view {request.blueprint} {request.blueprints}")
        return "x"

    parent.register_blueprint(child)
    app.register_blueprint(parent)
    app.test_client().get("/p/c/")
    assert events == [
        "parent_before",
        "child_before",
        "view parent.child ['parent.child', 'parent']",
        "child_after",
        "parent_after",
    ]


def test_url_value_preprocessor_order(app: Erlen) -> None:
    events: list[str] = []
    bp = Blueprint("bp", __name__, url_prefix="/<lang>")

    @app.url_value_preprocessor
    def app_pre(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
        events.append(f"app_pre {endpoint}")

    @bp.url_value_preprocessor
    def bp_pre(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
        assert values is not None
        events.append(f"bp_pre {values.pop('lang')}")

    @app.before_request
    def before() -> None:
        events.append("before")

    @bp.route("/")
    def index() -> str:
        events.append("view")
        return "x"

    app.register_blueprint(bp)
    assert app.test_client().get("/en/").status_code == 200
    # Value preprocessors (app first) run before any before_request function.
    assert events == ["app_pre bp.index", "bp_pre en", "before", "view"]


def test_url_value_preprocessor_on_404(app: Erlen) -> None:
    events: list[t.Any] = []

    @app.url_value_preprocessor
    def pre(endpoint: str | None, values: dict[str, t.Any] | None) -> None:
        events.append((endpoint, values))

    app.test_client().get("/missing")
    assert events == [(None, None)]


def test_after_this_request_runs_before_after_request(app: Erlen) -> None:
    events: list[str] = []

    @app.after_request
    def after(resp: Response) -> Response:
        events.append("after_request")
        return resp

    @app.route("/")
    def index() -> str:
        @after_this_request
        def one(resp: Response) -> Response:
            events.append("this1")
            return resp

        @after_this_request
        def two(resp: Response) -> Response:
            events.append("this2")
            resp.headers["X-This"] = "2"
            return resp

        return "x"

    rv = app.test_client().get("/")
    assert rv.headers["X-This"] == "2"
    assert events == ["this1", "this2", "after_request"]


def test_after_this_request_from_before_request(app: Erlen) -> None:
    @app.before_request
    def before() -> None:
        @after_this_request
        def add(resp: Response) -> Response:
            resp.set_cookie("seen", "yes")
            return resp

    app.add_url_rule("/", "index", lambda: "x")
    c = app.test_client()
    c.get("/")
    cookie = c.get_cookie("seen")
    assert cookie is not None
    assert cookie.value == "yes"


def test_hooks_registered_via_decorator_return_function(app: Erlen) -> None:
    def before() -> None:
        pass

    assert app.before_request(before) is before
    assert app.before_request_funcs[None] == [before]

    def after(resp: Response) -> Response:
        return resp

    assert app.after_request(after) is after
    assert app.after_request_funcs[None] == [after]

    def td(exc: BaseException | None) -> None:
        pass

    assert app.teardown_request(td) is td
    assert app.teardown_request_funcs[None] == [td]
    assert app.teardown_appcontext(td) is td
    assert app.teardown_appcontext_funcs == [td]


def test_hook_added_after_first_request_is_assertion_error(app: Erlen) -> None:
    app.add_url_rule("/", "index", lambda: "x")
    app.test_client().get("/")
    with pytest.raises(AssertionError) as exc:
        app.before_request(lambda: None)
    assert "The setup method 'before_request' can no longer be called" in str(exc.value)


def test_hook_dicts_mutated_directly_after_first_request(app: Erlen) -> None:
    """Extensions sometimes edit the hook dicts directly; Flask reads them per
    request, so such changes apply even after the first request."""
    app.add_url_rule("/", "index", lambda: "view")
    c = app.test_client()
    assert c.get("/").data == b"view"
    events: list[str] = []

    def after(resp: Response) -> Response:
        resp.headers["X-Late"] = "1"
        return resp

    def td(exc: BaseException | None) -> None:
        events.append("teardown")

    app.after_request_funcs.setdefault(None, []).append(after)
    app.teardown_request_funcs.setdefault(None, []).append(td)
    app.before_request_funcs.setdefault(None, []).append(lambda: "short")
    rv = c.get("/")
    assert rv.data == b"short"
    assert rv.headers["X-Late"] == "1"
    assert events == ["teardown"]
    app.before_request_funcs[None].clear()
    app.view_functions["index"] = lambda: "replaced"
    assert c.get("/").data == b"replaced"
    app.url_value_preprocessors.setdefault(None, []).append(
        lambda endpoint, values: events.append(f"pre {endpoint}")
    )
    c.get("/")
    assert events[-2:] == ["pre index", "teardown"]
