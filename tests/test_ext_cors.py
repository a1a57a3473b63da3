"""Flask-Cors, unchanged, on erlen through ``erlen.flask_patch``.

Validated against real Flask with the validation shim and
``ERLEN_VALIDATE_WITH_FLASK=1``, which only relaxes the check that ``flask``
really is erlen (`test_runs_on_erlen`).
"""

from __future__ import annotations

import os

import flask
import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from flask_cors import CORS, cross_origin

import erlen

GOOD = "https://good.example"
BAD = "https://evil.example"


def test_runs_on_erlen() -> None:
    assert flask.Flask is erlen.Erlen
    if os.environ.get("ERLEN_VALIDATE_WITH_FLASK") != "1":
        assert flask.Flask.__module__ == "erlen.app"


def preflight(
    client: FlaskClient, path: str, origin: str, method: str = "POST"
) -> flask.Response:
    return client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "X-Custom, Content-Type",
        },
    )


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.config["TESTING"] = True

    @app.route("/", methods=["GET", "POST"])
    def index() -> str:
        return "index"

    return app


def test_simple_request_gets_allow_origin(app: Flask) -> None:
    CORS(app)
    client = app.test_client()
    response = client.get("/", headers={"Origin": GOOD})
    assert response.status_code == 200
    assert response.text == "index"
    # Any origin is allowed, and echoed back unless send_wildcard is set.
    assert response.headers["Access-Control-Allow-Origin"] == GOOD
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert response.headers["Vary"] == "Origin"


def test_send_wildcard(app: Flask) -> None:
    CORS(app, send_wildcard=True)
    response = app.test_client().get("/", headers={"Origin": GOOD})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_without_origin_header(app: Flask) -> None:
    CORS(app)
    response = app.test_client().get("/")
    assert response.status_code == 200
    # always_send (the default) sends the wildcard even without an Origin.
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_without_origin_header_and_always_send_off(app: Flask) -> None:
    CORS(app, always_send=False)
    response = app.test_client().get("/")
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflight_request(app: Flask) -> None:
    CORS(app, max_age=600)
    response = preflight(app.test_client(), "/", GOOD)
    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Access-Control-Allow-Origin"] == GOOD
    methods = response.headers["Access-Control-Allow-Methods"].split(", ")
    assert "POST" in methods
    assert "DELETE" in methods
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type, X-Custom"
    assert response.headers["Access-Control-Max-Age"] == "600"
    # The automatic OPTIONS response still carries the route's Allow header.
    assert sorted(response.headers["Allow"].split(", ")) == [
        "GET",
        "HEAD",
        "OPTIONS",
        "POST",
    ]


def test_error_responses_get_cors_headers(app: Flask) -> None:
    CORS(app)
    response = app.test_client().get("/missing", headers={"Origin": GOOD})
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == GOOD


@pytest.fixture
def resource_app(app: Flask) -> Flask:
    @app.route("/api/items", methods=["GET", "PUT"])
    def items() -> flask.Response:
        response = flask.jsonify(["a", "b"])
        response.headers["X-Total"] = "2"
        return response

    CORS(
        app,
        resources={
            r"/api/*": {
                "origins": [GOOD, "https://other.example"],
                "supports_credentials": True,
                "expose_headers": ["X-Total"],
            }
        },
    )
    return app


def test_per_resource_config_allowed_origin(resource_app: Flask) -> None:
    response = resource_app.test_client().get("/api/items", headers={"Origin": GOOD})
    assert response.status_code == 200
    assert response.get_json() == ["a", "b"]
    assert response.headers["Access-Control-Allow-Origin"] == GOOD
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Access-Control-Expose-Headers"] == "X-Total"
    # Several allowed origins: caches must key on Origin.
    assert response.headers["Vary"] == "Origin"


def test_per_resource_config_rejected_origin(resource_app: Flask) -> None:
    client = resource_app.test_client()
    response = client.get("/api/items", headers={"Origin": BAD})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
    response = preflight(client, "/api/items", BAD, method="PUT")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_per_resource_preflight(resource_app: Flask) -> None:
    response = preflight(resource_app.test_client(), "/api/items", GOOD, "PUT")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == GOOD
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "PUT" in response.headers["Access-Control-Allow-Methods"].split(", ")


def test_resource_outside_pattern_is_untouched(resource_app: Flask) -> None:
    response = resource_app.test_client().get("/", headers={"Origin": GOOD})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cross_origin_decorator(app: Flask) -> None:
    @app.route("/deco", methods=["GET", "PUT"])
    @cross_origin(origins=[GOOD], methods=["GET", "PUT"])
    def deco() -> str:
        return "deco"

    client = app.test_client()
    response = client.get("/deco", headers={"Origin": GOOD})
    assert response.text == "deco"
    assert response.headers["Access-Control-Allow-Origin"] == GOOD

    response = preflight(client, "/deco", GOOD, method="PUT")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == GOOD
    assert response.headers["Access-Control-Allow-Methods"] == "GET, PUT"

    response = client.get("/deco", headers={"Origin": BAD})
    assert "Access-Control-Allow-Origin" not in response.headers
    # Views without the decorator are not affected.
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/", headers={"Origin": GOOD}).headers
    )


def test_cors_on_a_blueprint(app: Flask) -> None:
    public = Blueprint("public", __name__, url_prefix="/public")

    @public.route("/data")
    def data() -> str:
        return "public data"

    CORS(public)
    app.register_blueprint(public)
    client = app.test_client()
    response = client.get("/public/data", headers={"Origin": BAD})
    assert response.text == "public data"
    assert response.headers["Access-Control-Allow-Origin"] == BAD
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/", headers={"Origin": BAD}).headers
    )
