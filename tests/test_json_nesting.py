"""JSON nested too deeply for the parser is a 400, never a 500 (erlen goes
beyond Flask, where the RecursionError becomes an internal server error)."""

from __future__ import annotations

import pytest

from erlen import Erlen, request

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def app() -> Erlen:
    app = Erlen(__name__)

    @app.post("/get_json")
    def get_json() -> object:
        return {"type": type(request.get_json()).__name__}

    @app.post("/json")
    def json_property() -> object:
        return {"type": type(request.json).__name__}

    @app.post("/silent")
    def silent() -> object:
        return {"value": request.get_json(silent=True)}

    return app


@pytest.mark.parametrize("path", ["/get_json", "/json"])
def test_deeply_nested_json_is_bad_request(app: Erlen, path: str) -> None:
    response = app.test_client().post(path, data=DEEP, content_type="application/json")
    assert response.status_code == 400
    assert b"Bad Request" in response.data
    assert b"Recursion" not in response.data


def test_deeply_nested_json_silent_is_none(app: Erlen) -> None:
    response = app.test_client().post(
        "/silent", data=DEEP, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json == {"value": None}


def test_ordinary_nesting_still_parses(app: Erlen) -> None:
    response = app.test_client().post(
        "/get_json", data="[" * 50 + "]" * 50, content_type="application/json"
    )
    assert response.json == {"type": "list"}
