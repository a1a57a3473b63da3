"""Application and request contexts behave exactly as in Flask 3.1."""

from __future__ import annotations

import threading
import typing as t

import pytest

import erlen.globals
from erlen import (
    Erlen,
    Response,
    after_this_request,
    copy_current_request_context,
    current_app,
    g,
    has_app_context,
    has_request_context,
    request,
    session,
)
from erlen.ctx import _AppCtxGlobals


@pytest.fixture
def app() -> Erlen:
    app = Erlen(__name__)
    app.testing = True
    app.secret_key = "test"
    return app


APP_MSG = "Working outside of application context."
REQ_MSG = "Working outside of request context."


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0]


def test_proxies_outside_context() -> None:
    with pytest.raises(RuntimeError) as exc:
        current_app.name  # noqa: B018
    assert _first_line(exc.value) == APP_MSG
    assert "app.app_context()" in str(exc.value)
    with pytest.raises(RuntimeError) as exc:
        g.x = 1
    assert _first_line(exc.value) == APP_MSG
    with pytest.raises(RuntimeError) as exc:
        request.args  # noqa: B018
    assert _first_line(exc.value) == REQ_MSG
    assert "Consult the documentation on testing" in str(exc.value)
    with pytest.raises(RuntimeError) as exc:
        session.get("x")
    assert _first_line(exc.value) == REQ_MSG
    assert not has_app_context()
    assert not has_request_context()
    assert not current_app
    assert not request


def test_request_outside_request_but_inside_app_context(app: Erlen) -> None:
    with app.app_context():
        assert current_app._get_current_object() is app  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError) as exc:
            request.path  # noqa: B018
        assert _first_line(exc.value) == REQ_MSG


def test_app_context(app: Erlen) -> None:
    with app.app_context() as ctx:
        assert has_app_context()
        assert not has_request_context()
        assert current_app.name == app.name
        assert ctx.app is app
        assert erlen.globals.app_ctx._get_current_object() is ctx  # type: ignore[attr-defined]
        g.value = 1
        assert ctx.g.value == 1
    assert not has_app_context()


def test_app_context_nesting_gets_fresh_g(app: Erlen) -> None:
    with app.app_context():
        g.a = 1
        with app.app_context():
            assert "a" not in g
            g.a = 2
        assert g.a == 1


def test_request_context_pushes_app_context(app: Erlen) -> None:
    with app.test_request_context("/p?x=1") as ctx:
        assert has_app_context()
        assert has_request_context()
        assert request.path == "/p"
        assert request.args["x"] == "1"
        assert erlen.globals.request_ctx._get_current_object() is ctx  # type: ignore[attr-defined]
        assert ctx.request is request._get_current_object()  # type: ignore[attr-defined]
        assert current_app._get_current_object() is app  # type: ignore[attr-defined]
    assert not has_app_context()
    assert not has_request_context()


def test_request_context_reuses_existing_app_context(app: Erlen) -> None:
    with app.app_context():
        g.outer = True
        with app.test_request_context():
            assert g.outer is True
        assert g.outer is True


def test_request_context_new_app_context_for_other_app(app: Erlen) -> None:
    other = Erlen("other")
    with app.app_context():
        g.outer = True
        with other.test_request_context():
            assert current_app.name == "other"
            assert "outer" not in g
        assert current_app.name == app.name


def test_nested_request_contexts(app: Erlen) -> None:
    with app.test_request_context("/a"):
        assert request.path == "/a"
        with app.test_request_context("/b"):
            assert request.path == "/b"
        assert request.path == "/a"


def test_manual_push_pop(app: Erlen) -> None:
    ctx = app.test_request_context("/m")
    ctx.push()
    try:
        assert request.path == "/m"
    finally:
        ctx.pop()
    assert not has_request_context()
    actx = app.app_context()
    actx.push()
    assert current_app.name == app.name
    actx.pop()
    assert not has_app_context()


def test_nested_app_contexts_pop_in_order(app: Erlen) -> None:
    other = Erlen("other")
    with app.app_context():
        with other.app_context():
            assert current_app.name == "other"
        assert current_app.name == app.name
    assert not has_app_context()


def test_request_context_via_environ(app: Erlen) -> None:
    from werkzeug.test import EnvironBuilder

    env = EnvironBuilder(path="/env", method="POST").get_environ()
    with app.request_context(env):
        assert request.path == "/env"
        assert request.method == "POST"


def test_test_request_context_arguments(app: Erlen) -> None:
    with app.test_request_context(
        "/x",
        method="PUT",
        json={"a": 1},
        headers={"X-H": "h"},
        base_url="http://h.test",
    ):
        assert request.method == "PUT"
        assert request.get_json() == {"a": 1}
        assert request.headers["X-H"] == "h"
        assert request.host == "h.test"
        assert request.url == "http://h.test/x"


def test_test_request_context_uses_server_name(app: Erlen) -> None:
    app.config.update(SERVER_NAME="srv.test", APPLICATION_ROOT="/root")
    with app.test_request_context("/x"):
        assert request.url == "http://srv.test/root/x"


# --- g --------------------------------------------------------------------


def test_g_api(app: Erlen) -> None:
    with app.app_context():
        assert g.get("missing") is None
        assert g.get("missing", 5) == 5
        assert "x" not in g
        g.x = 1
        assert "x" in g
        assert g.get("x") == 1
        assert g.setdefault("x", 2) == 1
        assert g.setdefault("y", 3) == 3
        assert sorted(g) == ["x", "y"]
        assert g.pop("x") == 1
        assert "x" not in g
        assert g.pop("x", "dflt") == "dflt"
        with pytest.raises(KeyError):
            g.pop("x")
        with pytest.raises(AttributeError) as exc:
            g.nope  # noqa: B018
        assert "nope" in str(exc.value)
        assert repr(g) == f"<flask.g of '{app.name}'>"
        del g.y
        assert list(g) == []


def test_g_repr_outside_context() -> None:
    assert "unbound" in repr(g)


def test_app_ctx_globals_class(app: Erlen) -> None:
    class MyGlobals(_AppCtxGlobals):
        def hello(self) -> str:
            return "hi"

        def __getattr__(self, name: str) -> t.Any:
            return f"default-{name}"

    app.app_ctx_globals_class = MyGlobals
    with app.app_context():
        assert isinstance(g._get_current_object(), MyGlobals)  # type: ignore[attr-defined]
        assert g.hello() == "hi"
        assert g.unknown == "default-unknown"


def test_g_is_per_request(app: Erlen) -> None:
    @app.route("/")
    def index() -> str:
        assert "count" not in g
        g.count = 1
        return "ok"

    c = app.test_client()
    assert c.get("/").data == b"ok"
    assert c.get("/").data == b"ok"


# --- helpers --------------------------------------------------------------


def test_copy_current_request_context_in_thread(app: Erlen) -> None:
    results: dict[str, t.Any] = {}

    @app.route("/")
    def index() -> str:
        g.marker = "m"

        @copy_current_request_context
        def work() -> None:
            results["path"] = request.path
            results["arg"] = request.args.get("a")
            results["app"] = current_app.name
            results["g"] = g.get("marker")

        th = threading.Thread(target=work)
        th.start()
        th.join()
        return "done"

    app.add_url_rule("/t", "t", index)
    assert app.test_client().get("/t?a=1").data == b"done"
    # Flask 3.1 copies the request, not g: the thread gets a fresh app context.
    assert results == {"path": "/t", "arg": "1", "app": app.name, "g": None}


def test_copy_current_request_context_outside_request() -> None:
    with pytest.raises(RuntimeError) as exc:
        copy_current_request_context(lambda: None)
    assert "can only be used when a request context is active" in str(exc.value)


def test_after_this_request(app: Erlen) -> None:
    @app.route("/")
    def index() -> str:
        @after_this_request
        def add_header(resp: Response) -> Response:
            resp.headers["X-After"] = "yes"
            return resp

        return "body"

    @app.route("/plain")
    def plain() -> str:
        return "plain"

    c = app.test_client()
    assert c.get("/").headers["X-After"] == "yes"
    assert "X-After" not in c.get("/plain").headers


def test_after_this_request_outside_request() -> None:
    with pytest.raises(RuntimeError) as exc:
        after_this_request(lambda r: r)
    assert "can only be used when a request context is active" in str(exc.value)


def test_contexts_popped_after_unhandled_error(app: Erlen) -> None:
    @app.route("/")
    def index() -> str:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        app.test_client().get("/")
    assert erlen.globals._cv_request.get(None) is None
    assert erlen.globals._cv_app.get(None) is None


def test_contexts_popped_after_handled_500(app: Erlen) -> None:
    app.testing = False

    @app.route("/")
    def index() -> str:
        raise ValueError("boom")

    assert app.test_client().get("/").status_code == 500
    assert erlen.globals._cv_request.get(None) is None
    assert erlen.globals._cv_app.get(None) is None


def test_contexts_popped_after_before_request_error(app: Erlen) -> None:
    @app.before_request
    def fail() -> None:
        raise KeyError("before")

    app.add_url_rule("/", "index", lambda: "x")
    with pytest.raises(KeyError):
        app.test_client().get("/")
    assert erlen.globals._cv_request.get(None) is None
    assert not has_app_context()


def test_contextvars_isolated_across_threads(app: Erlen) -> None:
    barrier = threading.Barrier(2)
    seen: dict[str, t.Any] = {}

    def worker(name: str) -> None:
        with app.test_request_context(f"/{name}"):
            g.name = name
            barrier.wait()
            seen[name] = (request.path, g.name)
            barrier.wait()

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for th in threads:
        th.start()
    with app.test_request_context("/main"):
        for th in threads:
            th.join()
        assert request.path == "/main"
        assert "name" not in g
    assert seen == {"a": ("/a", "a"), "b": ("/b", "b")}


def test_new_thread_has_no_context(app: Erlen) -> None:
    seen: list[bool] = []
    with app.test_request_context():
        th = threading.Thread(
            target=lambda: seen.extend([has_app_context(), has_request_context()])
        )
        th.start()
        th.join()
    assert seen == [False, False]


def test_with_client_keeps_last_request_context(app: Erlen) -> None:
    @app.route("/a")
    def a() -> str:
        g.which = "a"
        return "a"

    @app.route("/b")
    def b() -> str:
        g.which = "b"
        return "b"

    with app.test_client() as c:
        c.get("/a?x=1")
        assert request.path == "/a"
        assert request.args["x"] == "1"
        assert g.which == "a"
        c.get("/b")
        assert request.path == "/b"
        assert g.which == "b"
    assert not has_request_context()
    assert not has_app_context()


def test_with_client_teardown_ran_but_request_stays_readable(app: Erlen) -> None:
    events: list[str] = []

    @app.teardown_request
    def td(exc: BaseException | None) -> None:
        events.append("teardown")

    app.add_url_rule("/", "index", lambda: "x")
    with app.test_client() as c:
        c.get("/?n=1")
        # Teardown ran, yet the request stays readable until the block exits.
        assert "teardown" in events
        assert request.args["n"] == "1"
    assert not has_request_context()


def test_with_client_nested_is_error(app: Erlen) -> None:
    c = app.test_client()
    with c, pytest.raises(RuntimeError, match="Cannot nest client invocations"), c:
        pass


def test_request_ctx_and_app_ctx_globals(app: Erlen) -> None:
    from erlen.globals import app_ctx, request_ctx

    with app.test_request_context("/rc"):
        assert request_ctx.request.path == "/rc"
        assert app_ctx.app is app
        assert app_ctx.g is g._get_current_object()  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match="request context"):
        request_ctx.request  # noqa: B018
    with pytest.raises(RuntimeError, match="application context"):
        app_ctx.app  # noqa: B018


def test_request_ctx_copy(app: Erlen) -> None:
    with app.test_request_context("/copy") as ctx:
        copied = ctx.copy()
    with copied:
        assert request.path == "/copy"


def test_session_proxy_in_request(app: Erlen) -> None:
    @app.route("/set")
    def set_() -> str:
        session["k"] = "v"
        return "set"

    @app.route("/get")
    def get() -> str:
        return str(session.get("k"))

    c = app.test_client()
    c.get("/set")
    assert c.get("/get").data == b"v"


def test_session_interface_subclass_runs_every_request(app: Erlen) -> None:
    """Flask opens and saves the session on every request, touched or not."""
    from erlen.sessions import SecureCookieSessionInterface

    calls: list[str] = []

    class Tracking(SecureCookieSessionInterface):
        def open_session(self, app: t.Any, request: t.Any) -> t.Any:
            calls.append("open")
            return super().open_session(app, request)

        def save_session(self, app: t.Any, session: t.Any, response: t.Any) -> None:
            calls.append("save")
            response.set_cookie("seen", "1")
            super().save_session(app, session, response)

    app.session_interface = Tracking()
    app.add_url_rule("/", "index", lambda: "plain")
    app.add_url_rule("/json", "json", lambda: {"a": 1})
    c = app.test_client()
    for path in ("/", "/json"):
        calls.clear()
        rv = c.get(path)
        assert calls == ["open", "save"], path
        assert rv.headers["Set-Cookie"].startswith("seen=1")
