"""Blinker signals fire with Flask 3.1's names, senders and arguments."""

from __future__ import annotations

import typing as t

import pytest

from erlen import (
    Erlen,
    Response,
    appcontext_popped,
    appcontext_pushed,
    appcontext_tearing_down,
    before_render_template,
    flash,
    got_request_exception,
    message_flashed,
    render_template_string,
    request,
    request_finished,
    request_started,
    request_tearing_down,
    template_rendered,
)
from erlen import signals as erlen_signals


@pytest.fixture
def app() -> Erlen:
    app = Erlen(__name__)
    app.secret_key = "s"

    @app.route("/")
    def index() -> str:
        return "index"

    return app


class Recorder:
    """Collects (sender, kwargs) of one signal while connected."""

    def __init__(self) -> None:
        self.calls: list[tuple[t.Any, dict[str, t.Any]]] = []

    def __call__(self, sender: t.Any, **kwargs: t.Any) -> None:
        self.calls.append((sender, kwargs))


def test_signal_names() -> None:
    assert request_started.name == "request-started"
    assert request_finished.name == "request-finished"
    assert request_tearing_down.name == "request-tearing-down"
    assert got_request_exception.name == "got-request-exception"
    assert appcontext_pushed.name == "appcontext-pushed"
    assert appcontext_popped.name == "appcontext-popped"
    assert appcontext_tearing_down.name == "appcontext-tearing-down"
    assert message_flashed.name == "message-flashed"
    assert template_rendered.name == "template-rendered"
    assert before_render_template.name == "before-render-template"
    assert erlen_signals.request_started is request_started


def test_request_started(app: Erlen) -> None:
    rec = Recorder()
    paths: list[str] = []

    def seen(sender: t.Any, **kw: t.Any) -> None:
        paths.append(request.path)

    with request_started.connected_to(rec, app), request_started.connected_to(seen):
        app.test_client().get("/")
    assert rec.calls == [(app, {})]
    assert paths == ["/"]


def test_request_finished(app: Erlen) -> None:
    rec = Recorder()
    with request_finished.connected_to(rec, app):
        app.test_client().get("/")
    assert len(rec.calls) == 1
    sender, kw = rec.calls[0]
    assert sender is app
    assert set(kw) == {"response"}
    assert isinstance(kw["response"], Response)
    assert kw["response"].get_data() == b"index"


def test_request_finished_sees_after_request_changes(app: Erlen) -> None:
    rec = Recorder()

    @app.after_request
    def after(resp: Response) -> Response:
        resp.headers["X-After"] = "1"
        return resp

    with request_finished.connected_to(rec, app):
        app.test_client().get("/")
    assert rec.calls[0][1]["response"].headers["X-After"] == "1"


def test_request_tearing_down(app: Erlen) -> None:
    rec = Recorder()

    @app.route("/fail")
    def fail() -> str:
        raise ValueError("x")

    app.testing = True
    with request_tearing_down.connected_to(rec, app):
        app.test_client().get("/")
        with pytest.raises(ValueError):
            app.test_client().get("/fail")
    assert rec.calls[0] == (app, {"exc": None})
    assert rec.calls[1][0] is app
    assert isinstance(rec.calls[1][1]["exc"], ValueError)


def test_got_request_exception(app: Erlen) -> None:
    rec = Recorder()
    app.logger.disabled = True

    @app.route("/fail")
    def fail() -> str:
        raise KeyError("k")

    try:
        with got_request_exception.connected_to(rec, app):
            assert app.test_client().get("/fail").status_code == 500
            app.test_client().get("/")
    finally:
        app.logger.disabled = False
    assert len(rec.calls) == 1
    assert rec.calls[0][0] is app
    assert isinstance(rec.calls[0][1]["exception"], KeyError)


def test_got_request_exception_when_propagating(app: Erlen) -> None:
    rec = Recorder()
    app.testing = True

    @app.route("/fail")
    def fail() -> str:
        raise KeyError("k")

    with got_request_exception.connected_to(rec, app), pytest.raises(KeyError):
        app.test_client().get("/fail")
    assert len(rec.calls) == 1


def test_appcontext_signals(app: Erlen) -> None:
    events: list[tuple[str, t.Any, dict[str, t.Any]]] = []

    def make(name: str) -> t.Callable[..., None]:
        def receiver(sender: t.Any, **kw: t.Any) -> None:
            events.append((name, sender, kw))

        return receiver

    pushed = make("pushed")
    tearing = make("tearing")
    popped = make("popped")
    with (
        appcontext_pushed.connected_to(pushed, app),
        appcontext_tearing_down.connected_to(tearing, app),
        appcontext_popped.connected_to(popped, app),
    ):
        with app.app_context():
            assert [e[0] for e in events] == ["pushed"]
        with pytest.raises(ZeroDivisionError), app.app_context():
            1 / 0  # noqa: B018
    assert events[0] == ("pushed", app, {})
    assert events[1] == ("tearing", app, {"exc": None})
    assert events[2] == ("popped", app, {})
    assert events[3][0] == "pushed"
    assert events[4][0] == "tearing"
    assert isinstance(events[4][2]["exc"], ZeroDivisionError)
    assert events[5][0] == "popped"


def test_appcontext_signals_during_request(app: Erlen) -> None:
    events: list[str] = []

    def pushed(sender: t.Any, **kw: t.Any) -> None:
        events.append("pushed")

    def popped(sender: t.Any, **kw: t.Any) -> None:
        events.append("popped")

    def started(sender: t.Any, **kw: t.Any) -> None:
        events.append("started")

    def finished(sender: t.Any, **kw: t.Any) -> None:
        events.append("finished")

    def tearing(sender: t.Any, **kw: t.Any) -> None:
        events.append("tearing")

    with (
        appcontext_pushed.connected_to(pushed, app),
        appcontext_popped.connected_to(popped, app),
        request_started.connected_to(started, app),
        request_finished.connected_to(finished, app),
        request_tearing_down.connected_to(tearing, app),
    ):
        app.test_client().get("/")
    assert events == ["pushed", "started", "finished", "tearing", "popped"]


def test_appcontext_pushed_can_set_g(app: Erlen) -> None:
    from erlen import g

    def set_user(sender: t.Any, **kw: t.Any) -> None:
        g.user = "signal-user"

    @app.route("/user")
    def user() -> str:
        return str(g.user)

    with appcontext_pushed.connected_to(set_user, app):
        assert app.test_client().get("/user").data == b"signal-user"


def test_message_flashed(app: Erlen) -> None:
    rec = Recorder()

    @app.route("/flash")
    def flash_view() -> str:
        flash("hello", "info")
        flash("plain")
        return "f"

    with message_flashed.connected_to(rec, app):
        app.test_client().get("/flash")
    assert rec.calls == [
        (app, {"message": "hello", "category": "info"}),
        (app, {"message": "plain", "category": "message"}),
    ]


def test_template_signals(app: Erlen) -> None:
    before = Recorder()
    rendered = Recorder()

    @app.route("/t")
    def tmpl() -> str:
        return render_template_string("Hi {{ name }}!", name="ada")

    with (
        before_render_template.connected_to(before, app),
        template_rendered.connected_to(rendered, app),
    ):
        assert app.test_client().get("/t").data == b"Hi ada!"
    for rec in (before, rendered):
        assert len(rec.calls) == 1
        sender, kw = rec.calls[0]
        assert sender is app
        assert set(kw) == {"template", "context"}
        assert kw["context"]["name"] == "ada"
        assert "request" in kw["context"]
        assert "g" in kw["context"]


def test_before_render_template_can_change_context(app: Erlen) -> None:
    def change(sender: t.Any, template: t.Any, context: dict[str, t.Any]) -> None:
        context["name"] = "changed"

    with before_render_template.connected_to(change, app), app.test_request_context():
        assert render_template_string("{{ name }}", name="x") == "changed"


def test_signals_scoped_to_sender(app: Erlen) -> None:
    other = Erlen("other")
    other.add_url_rule("/", "index", lambda: "o")
    rec = Recorder()
    with request_started.connected_to(rec, app):
        other.test_client().get("/")
        app.test_client().get("/")
    assert [c[0] for c in rec.calls] == [app]
