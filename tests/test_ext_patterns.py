"""The APIs Flask extensions commonly use, exercised through ``import flask``.

A small extension written the way third-party extensions are (``init_app``,
state in ``app.extensions``, context globals, hooks, signals, Jinja globals, URL
converters, custom Request/Response, session interface, JSON provider, CLI
command, test client subclass), run on erlen through ``erlen.flask_patch``.

Validated against real Flask with the validation shim and
``ERLEN_VALIDATE_WITH_FLASK=1``, which only relaxes the check that ``flask``
really is erlen (`test_runs_on_erlen`).
"""

from __future__ import annotations

import os
import typing as t

import click
import flask
import pytest
from flask import Flask, current_app, g, has_app_context, has_request_context
from flask.cli import with_appcontext
from flask.globals import app_ctx, request_ctx
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask.signals import Namespace, request_finished, request_started
from flask.testing import FlaskClient
from flask.wrappers import Request, Response
from werkzeug.routing import BaseConverter

import erlen

_signals = Namespace()
visit_recorded = _signals.signal("visit-recorded")


def test_runs_on_erlen() -> None:
    assert flask.Flask is erlen.Erlen
    if os.environ.get("ERLEN_VALIDATE_WITH_FLASK") != "1":
        assert flask.Flask.__module__ == "erlen.app"


class VisitCounter:
    """A typical extension: configured per app, state in ``app.extensions``."""

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.config.setdefault("VISITS_HEADER", "X-Visits")
        app.extensions["visits"] = {"count": 0, "torn_down": []}
        app.before_request(self._before)
        app.after_request(self._after)
        app.teardown_appcontext(self._teardown)
        app.jinja_env.globals["visit_count"] = self.count
        app.jinja_env.filters["shout"] = lambda s: f"{s.upper()}!"
        app.url_map.converters["upper"] = UpperConverter
        app.cli.add_command(visits_command)

    @staticmethod
    def state() -> dict[str, t.Any]:
        return t.cast(dict[str, t.Any], current_app.extensions["visits"])

    def count(self) -> int:
        return t.cast(int, self.state()["count"])

    def _before(self) -> None:
        self.state()["count"] += 1
        g.visit_number = self.state()["count"]
        # Extensions park per-request data on the request context.
        request_ctx._visit_started = True  # type: ignore[attr-defined]
        visit_recorded.send(current_app._get_current_object(), number=g.visit_number)

    def _after(self, response: Response) -> Response:
        header = current_app.config["VISITS_HEADER"]
        response.headers[header] = str(g.visit_number)
        response.headers["X-Ctx-Flag"] = str(
            getattr(request_ctx, "_visit_started", False)
        )
        return response

    def _teardown(self, exc: BaseException | None) -> None:
        self.state()["torn_down"].append(id(app_ctx._get_current_object()))


class UpperConverter(BaseConverter):
    def to_python(self, value: str) -> str:
        return value.upper()

    def to_url(self, value: str) -> str:
        return value.lower()


@click.command("visits")
@click.option("--reset", is_flag=True)
@with_appcontext
def visits_command(reset: bool) -> None:
    """Show or reset the visit counter."""
    state = current_app.extensions["visits"]
    if reset:
        state["count"] = 0
    click.echo(f"visits: {state['count']}")


class TracingRequest(Request):
    @property
    def trace_id(self) -> str:
        return self.headers.get("X-Trace", "none")


class TracingResponse(Response):
    default_mimetype = "text/plain"


class CountingSession(SecureCookieSession):
    pass


class CountingSessionInterface(SecureCookieSessionInterface):
    session_class = CountingSession
    salt = "counting-session"

    def save_session(self, app: Flask, session: t.Any, response: Response) -> None:
        response.headers["X-Session-Keys"] = ",".join(sorted(session))
        super().save_session(app, session, response)


class SortedJSONProvider(DefaultJSONProvider):
    sort_keys = False

    def default(self, o: t.Any) -> t.Any:
        if isinstance(o, set):
            return sorted(o)
        return super().default(o)


class TracingClient(FlaskClient):
    def open(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        headers = kwargs.setdefault("headers", {})
        headers.setdefault("X-Trace", "from-client")
        return super().open(*args, **kwargs)


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="patterns", TESTING=True)
    app.request_class = TracingRequest
    app.response_class = TracingResponse
    app.session_interface = CountingSessionInterface()
    app.json_provider_class = SortedJSONProvider
    app.json = SortedJSONProvider(app)
    app.test_client_class = TracingClient
    VisitCounter(app)

    @app.route("/shout/<upper:word>")
    def shout(word: str) -> str:
        assert has_request_context()
        flask.session["word"] = word
        return flask.render_template_string(
            "{{ word | shout }} visit {{ visit_count() }} trace {{ request.trace_id }}",
            word=word,
        )

    @app.route("/data")
    def data() -> Response:
        return flask.jsonify(z=1, a={3, 1, 2})

    return app


def test_extension_state_hooks_and_templates(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/shout/hello")
    assert response.status_code == 200
    assert response.text == "HELLO! visit 1 trace from-client"
    assert response.mimetype == "text/plain"
    assert isinstance(response, TracingResponse)
    assert response.headers["X-Visits"] == "1"
    assert response.headers["X-Ctx-Flag"] == "True"
    assert response.headers["X-Session-Keys"] == "word"
    assert client.get("/shout/x", headers={"X-Trace": "t-9"}).text == (
        "X! visit 2 trace t-9"
    )
    state = app.extensions["visits"]
    assert state["count"] == 2
    # One app context per request, each torn down.
    assert len(state["torn_down"]) == 2


def test_session_interface_and_url_building(app: Flask) -> None:
    client = app.test_client()
    client.get("/shout/word")
    with client.session_transaction() as session:
        assert isinstance(session, CountingSession)
        assert session["word"] == "WORD"
    with app.test_request_context():
        assert flask.url_for("shout", word="LOUD") == "/shout/loud"


def test_json_provider(app: Flask) -> None:
    response = app.test_client().get("/data")
    assert response.mimetype == "application/json"
    assert response.text == '{"z":1,"a":[1,2,3]}\n'
    with app.app_context():
        assert flask.json.dumps({"b": {2, 1}}) == '{"b": [1, 2]}'


def test_signals(app: Flask) -> None:
    seen: list[tuple[str, t.Any]] = []

    def on_started(sender: Flask, **extra: t.Any) -> None:
        seen.append(("started", sender))

    def on_visit(sender: Flask, number: int) -> None:
        seen.append(("visit", number))

    def on_finished(sender: Flask, response: Response) -> None:
        seen.append(("finished", response.status_code))

    with (
        request_started.connected_to(on_started, app),
        visit_recorded.connected_to(on_visit, app),
        request_finished.connected_to(on_finished, app),
    ):
        app.test_client().get("/shout/a")
    assert seen == [("started", app), ("visit", 1), ("finished", 200)]


def test_cli_command_from_extension(app: Flask) -> None:
    runner = app.test_cli_runner()
    app.test_client().get("/shout/a")
    result = runner.invoke(args=["visits"])
    assert result.exit_code == 0
    assert result.output == "visits: 1\n"
    assert runner.invoke(args=["visits", "--reset"]).output == "visits: 0\n"


def test_context_helpers_outside_requests(app: Flask) -> None:
    assert not has_app_context()
    with pytest.raises(RuntimeError, match="Working outside of application context"):
        current_app.extensions  # noqa: B018
    with app.app_context():
        assert has_app_context()
        assert not has_request_context()
        assert current_app._get_current_object() is app  # type: ignore[attr-defined]
        assert app_ctx.app is app
        with pytest.raises(RuntimeError, match="Working outside of request context"):
            request_ctx.request  # noqa: B018
