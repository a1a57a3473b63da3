"""Flask-Caching (SimpleCache), unchanged, on erlen through ``erlen.flask_patch``.

Validated against real Flask with the validation shim and
``ERLEN_VALIDATE_WITH_FLASK=1``, which only relaxes the check that ``flask``
really is erlen (`test_runs_on_erlen`).
"""

from __future__ import annotations

import collections
import os

import flask
import pytest
from flask import Flask, render_template_string, request
from flask_caching import Cache

import erlen


def test_runs_on_erlen() -> None:
    assert flask.Flask is erlen.Erlen
    if os.environ.get("ERLEN_VALIDATE_WITH_FLASK") != "1":
        assert flask.Flask.__module__ == "erlen.app"


@pytest.fixture
def calls() -> collections.Counter[str]:
    return collections.Counter()


@pytest.fixture
def cache() -> Cache:
    return Cache(config={"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300})


@pytest.fixture
def app(cache: Cache, calls: collections.Counter[str]) -> Flask:
    app = Flask(__name__)
    app.config["TESTING"] = True
    cache.init_app(app)

    @app.route("/expensive")
    @cache.cached()
    def expensive() -> str:
        calls["expensive"] += 1
        return f"computed {calls['expensive']}"

    @app.route("/search")
    @cache.cached(query_string=True)
    def search() -> str:
        calls["search"] += 1
        return f"results for {request.args.get('q')} #{calls['search']}"

    @app.route("/hits")
    @cache.cached(response_hit_indication=True)
    def hits() -> str:
        calls["hits"] += 1
        return "hits"

    @app.route("/json")
    @cache.cached()
    def json_view() -> flask.Response:
        calls["json"] += 1
        response = flask.jsonify(n=calls["json"])
        response.headers["X-Computed"] = str(calls["json"])
        return response

    @app.route("/fragment")
    def fragment() -> str:
        return render_template_string(
            "{% cache 60, 'frag' %}fragment {{ compute() }}{% endcache %}",
            compute=lambda: calls.update(["fragment"]) or calls["fragment"],
        )

    return app


def test_cached_view_is_computed_once(
    app: Flask, calls: collections.Counter[str]
) -> None:
    client = app.test_client()
    first = client.get("/expensive")
    second = client.get("/expensive")
    assert first.status_code == second.status_code == 200
    assert first.text == second.text == "computed 1"
    assert calls["expensive"] == 1


def test_cache_key_includes_query_string(
    app: Flask, calls: collections.Counter[str]
) -> None:
    client = app.test_client()
    assert client.get("/search?q=a").text == "results for a #1"
    assert client.get("/search?q=b").text == "results for b #2"
    assert client.get("/search?q=a").text == "results for a #1"
    assert calls["search"] == 2


def test_cached_response_object_keeps_headers(
    app: Flask, calls: collections.Counter[str]
) -> None:
    client = app.test_client()
    for _ in range(3):
        response = client.get("/json")
        assert response.get_json() == {"n": 1}
        assert response.headers["X-Computed"] == "1"
        assert response.mimetype == "application/json"
    assert calls["json"] == 1


def test_response_hit_indication(app: Flask) -> None:
    client = app.test_client()
    assert "hit_cache" not in client.get("/hits").headers
    assert client.get("/hits").headers["hit_cache"] == "True"


def test_cache_clear(app: Flask, cache: Cache, calls: collections.Counter[str]) -> None:
    client = app.test_client()
    client.get("/expensive")
    with app.app_context():
        assert cache.clear() is True
    assert client.get("/expensive").text == "computed 2"
    assert client.get("/expensive").text == "computed 2"


def test_delete_cached_view(
    app: Flask, cache: Cache, calls: collections.Counter[str]
) -> None:
    client = app.test_client()
    client.get("/expensive")
    with app.test_request_context("/expensive"):
        assert cache.delete("view//expensive") is True
    assert client.get("/expensive").text == "computed 2"


def test_memoize(app: Flask, cache: Cache) -> None:
    computed: list[int] = []

    @cache.memoize()
    def square(n: int) -> int:
        computed.append(n)
        return n * n

    with app.app_context():
        assert square(3) == 9
        assert square(3) == 9
        assert square(4) == 16
        assert computed == [3, 4]

        cache.delete_memoized(square, 3)
        assert square(3) == 9
        assert square(4) == 16
        assert computed == [3, 4, 3]

        cache.clear()
        assert square(4) == 16
        assert computed == [3, 4, 3, 4]


def test_get_set_delete(app: Flask, cache: Cache) -> None:
    with app.app_context():
        assert cache.get("missing") is None
        assert cache.set("answer", 42) is True
        assert cache.get("answer") == 42
        assert cache.get_many("answer", "missing") == [42, None]
        assert cache.delete("answer") is True
        assert cache.get("answer") is None


def test_jinja_cache_fragment(app: Flask, calls: collections.Counter[str]) -> None:
    client = app.test_client()
    assert client.get("/fragment").text == "fragment 1"
    assert client.get("/fragment").text == "fragment 1"
    assert calls["fragment"] == 1


def test_cached_method_view_with_unless(app: Flask, cache: Cache) -> None:
    from flask.views import MethodView

    computed: list[str] = []

    class Report(MethodView):
        decorators = [
            cache.cached(unless=lambda: request.args.get("fresh") == "1"),
        ]

        def get(self) -> str:
            computed.append(request.full_path)
            return f"report {len(computed)}"

    app.add_url_rule("/report", view_func=Report.as_view("report"))
    client = app.test_client()
    assert client.get("/report").text == "report 1"
    assert client.get("/report").text == "report 1"
    # `unless` bypasses the cache entirely (neither read nor written).
    assert client.get("/report?fresh=1").text == "report 2"
    assert client.get("/report").text == "report 1"


def test_hit_indication_on_the_first_request(app: Flask, cache: Cache) -> None:
    # The entry already exists (e.g. a cache shared between processes): the
    # very request that registers Flask-Caching's after_request hook is a hit,
    # and that hook must run on its response.
    with app.test_request_context("/hits"):
        cache.set("view//hits", "from another process")
    response = app.test_client().get("/hits")
    assert response.text == "from another process"
    assert response.headers["hit_cache"] == "True"
