"""Flask-Limiter (in-memory storage), unchanged, on erlen through ``erlen.flask_patch``.

Validated against real Flask with the validation shim and
``ERLEN_VALIDATE_WITH_FLASK=1``, which only relaxes the check that ``flask``
really is erlen (`test_runs_on_erlen`).
"""

from __future__ import annotations

import os
import time

import flask
import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

import erlen


def test_runs_on_erlen() -> None:
    assert flask.Flask is erlen.Erlen
    if os.environ.get("ERLEN_VALIDATE_WITH_FLASK") != "1":
        assert flask.Flask.__module__ == "erlen.app"


@pytest.fixture
def limiter() -> Limiter:
    return Limiter(
        get_remote_address,
        default_limits=["3 per minute"],
        storage_uri="memory://",
        headers_enabled=True,
    )


@pytest.fixture
def app(limiter: Limiter) -> Flask:
    app = Flask(__name__)
    app.config["TESTING"] = True

    @app.route("/default")
    def default() -> str:
        return "default"

    @app.route("/limited")
    @limiter.limit("2 per minute")
    def limited() -> str:
        return "limited"

    @app.route("/free")
    @limiter.exempt
    def free() -> str:
        return "free"

    reports = Blueprint("reports", __name__, url_prefix="/reports")

    @reports.route("/a")
    def report_a() -> str:
        return "a"

    @reports.route("/b")
    def report_b() -> str:
        return "b"

    limiter.limit("1 per minute")(reports)
    app.register_blueprint(reports)
    limiter.init_app(app)
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def test_limit_then_429_with_headers(client: FlaskClient) -> None:
    for remaining in (1, 0):
        response = client.get("/limited")
        assert response.status_code == 200
        assert response.text == "limited"
        assert response.headers["X-RateLimit-Limit"] == "2"
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        reset = int(response.headers["X-RateLimit-Reset"])
        assert time.time() - 5 < reset <= time.time() + 61

    response = client.get("/limited")
    assert response.status_code == 429
    assert "<title>429 Too Many Requests</title>" in response.text
    assert "<p>2 per 1 minute</p>" in response.text
    assert response.headers["X-RateLimit-Limit"] == "2"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert 0 < int(response.headers["Retry-After"]) <= 61


def test_default_limits(client: FlaskClient) -> None:
    for _ in range(3):
        assert client.get("/default").status_code == 200
    response = client.get("/default")
    assert response.status_code == 429
    assert "<p>3 per 1 minute</p>" in response.text


def test_exempt_route(client: FlaskClient) -> None:
    for _ in range(10):
        response = client.get("/free")
        assert response.status_code == 200
        assert response.text == "free"
        assert "X-RateLimit-Limit" not in response.headers


def test_limits_are_per_client_address(client: FlaskClient) -> None:
    for _ in range(2):
        client.get("/limited")
    assert client.get("/limited").status_code == 429
    other = client.get("/limited", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other.status_code == 200
    assert other.headers["X-RateLimit-Remaining"] == "1"


def test_blueprint_limit_applies_to_each_route(client: FlaskClient) -> None:
    assert client.get("/reports/a").status_code == 200
    assert client.get("/reports/a").status_code == 429
    # Each route of the blueprint has its own 1/minute budget.
    assert client.get("/reports/b").status_code == 200
    assert client.get("/reports/b").status_code == 429


def test_custom_429_handler(app: Flask, client: FlaskClient) -> None:
    @app.errorhandler(429)
    def too_many(error: RateLimitExceeded) -> tuple[dict[str, str], int]:
        return {"error": "slow down", "limit": error.description or ""}, 429

    for _ in range(2):
        client.get("/limited")
    response = client.get("/limited")
    assert response.status_code == 429
    assert response.get_json() == {"error": "slow down", "limit": "2 per 1 minute"}
    # after_request hooks still add the rate limit headers.
    assert response.headers["X-RateLimit-Remaining"] == "0"


def test_reset(limiter: Limiter, client: FlaskClient) -> None:
    for _ in range(2):
        client.get("/limited")
    assert client.get("/limited").status_code == 429
    limiter.reset()
    assert client.get("/limited").status_code == 200


def test_current_limit_inside_request(app: Flask, limiter: Limiter) -> None:
    seen: list[tuple[int, int]] = []

    @app.route("/peek")
    @limiter.limit("5 per minute")
    def peek() -> str:
        current = limiter.current_limit
        assert current is not None
        seen.append((current.limit.amount, current.remaining))
        return "peek"

    client = app.test_client()
    client.get("/peek")
    client.get("/peek")
    assert seen == [(5, 4), (5, 3)]


def test_method_specific_limit_and_filters(app: Flask, limiter: Limiter) -> None:
    @app.route("/write", methods=["GET", "POST"])
    @limiter.limit("1 per minute", methods=["POST"])
    def write() -> str:
        return flask.request.method

    @app.route("/vip")
    @limiter.limit(
        "1 per minute", exempt_when=lambda: flask.request.args.get("vip") == "1"
    )
    def vip() -> str:
        return "vip"

    limiter.request_filter(lambda: flask.request.headers.get("X-Internal") == "1")
    client = app.test_client()
    # GET falls back to the default limit (3/minute); POST has its own.
    assert client.post("/write").status_code == 200
    assert client.post("/write").status_code == 429
    assert client.get("/write").text == "GET"
    assert client.get("/write").headers["X-RateLimit-Limit"] == "3"
    # Filtered requests are never limited and get no headers.
    response = client.post("/write", headers={"X-Internal": "1"})
    assert response.status_code == 200
    assert "X-RateLimit-Limit" not in response.headers

    assert client.get("/vip").status_code == 200
    assert client.get("/vip").status_code == 429
    assert client.get("/vip?vip=1").status_code == 200
