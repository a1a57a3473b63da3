"""erlen.json and erlen.json.provider: JSON helpers and the app.json provider."""

from __future__ import annotations

import dataclasses
import decimal
import io
import json
import typing as t
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from markupsafe import Markup

import erlen.json as ejson
from erlen import Erlen, Response
from erlen.json import jsonify
from erlen.json.provider import DefaultJSONProvider, JSONProvider


@pytest.fixture
def app() -> Erlen:
    app = Erlen(__name__)
    app.testing = True
    return app


def _get(app: Erlen, view: t.Callable[[], t.Any]) -> t.Any:
    app.add_url_rule("/", "index", view)
    return app.test_client().get("/")


@dataclasses.dataclass
class Point:
    x: int
    y: int
    tags: list[str]


# jsonify and the default provider through views


def test_jsonify_dict(app: Erlen) -> None:
    rv = _get(app, lambda: jsonify({"b": 2, "a": 1}))
    assert rv.status_code == 200
    assert rv.mimetype == "application/json"
    assert rv.headers["Content-Type"] == "application/json"
    assert rv.data == b'{"a":1,"b":2}\n'
    assert rv.get_json() == {"a": 1, "b": 2}


def test_jsonify_list(app: Erlen) -> None:
    rv = _get(app, lambda: jsonify([1, "two", None, True]))
    assert rv.data == b'[1,"two",null,true]\n'


def test_jsonify_args_become_list(app: Erlen) -> None:
    rv = _get(app, lambda: jsonify(1, "a", [2]))
    assert rv.data == b'[1,"a",[2]]\n'


def test_jsonify_kwargs_become_dict(app: Erlen) -> None:
    rv = _get(app, lambda: jsonify(z=1, a="x"))
    assert rv.data == b'{"a":"x","z":1}\n'


def test_jsonify_no_arguments_is_null(app: Erlen) -> None:
    rv = _get(app, lambda: jsonify())
    assert rv.data == b"null\n"


@pytest.mark.parametrize("value", [0, "text", False, 3.5])
def test_jsonify_single_scalar(app: Erlen, value: t.Any) -> None:
    rv = _get(app, lambda: jsonify(value))
    assert rv.data == f"{json.dumps(value)}\n".encode()


def test_jsonify_args_and_kwargs(app: Erlen) -> None:
    with app.app_context(), pytest.raises(TypeError) as exc_info:
        jsonify(1, a=2)
    assert str(exc_info.value) == (
        "app.json.response() takes either args or kwargs, not both"
    )


def test_jsonify_needs_app_context() -> None:
    with pytest.raises(RuntimeError, match="Working outside of application context"):
        jsonify({"a": 1})


def test_jsonify_returns_response_class(app: Erlen) -> None:
    with app.app_context():
        rv = jsonify(a=1)
    assert isinstance(rv, Response)
    assert rv.status_code == 200


def test_dict_and_list_return_values_match_jsonify(app: Erlen) -> None:
    app.add_url_rule("/d", "d", lambda: {"b": [1, 2], "a": "é"})
    app.add_url_rule("/l", "l", lambda: [{"y": 1, "x": 2}])
    client = app.test_client()
    rv = client.get("/d")
    assert rv.mimetype == "application/json"
    assert rv.data == b'{"a":"\\u00e9","b":[1,2]}\n'
    assert rv.headers["Content-Length"] == str(len(rv.data))
    rv = client.get("/l")
    assert rv.data == b'[{"x":2,"y":1}]\n'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2024, 1, 2, 3, 4, 5), '"Tue, 02 Jan 2024 03:04:05 GMT"'),
        (
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            '"Tue, 02 Jan 2024 01:04:05 GMT"',
        ),
        (date(2024, 1, 2), '"Tue, 02 Jan 2024 00:00:00 GMT"'),
        (
            uuid.UUID("12345678-1234-5678-1234-567812345678"),
            '"12345678-1234-5678-1234-567812345678"',
        ),
        (decimal.Decimal("0.10"), '"0.10"'),
        (Markup("<b>x</b>"), '"<b>x</b>"'),
        (Point(1, 2, ["a"]), '{"tags":["a"],"x":1,"y":2}'),
    ],
)
def test_default_types(app: Erlen, value: t.Any, expected: str) -> None:
    rv = _get(app, lambda: {"v": value})
    assert rv.data == f'{{"v":{expected}}}\n'.encode()
    with app.app_context():
        assert jsonify(value).data == f"{expected}\n".encode()


def test_html_object(app: Erlen) -> None:
    class Html:
        def __html__(self) -> Markup:
            return Markup("<i>hi</i>")

    rv = _get(app, lambda: jsonify(Html()))
    assert rv.data == b'"<i>hi</i>"\n'


def test_unserializable_type_raises(app: Erlen) -> None:
    class Thing:
        pass

    with app.app_context(), pytest.raises(TypeError) as exc_info:
        jsonify(Thing())
    assert str(exc_info.value) == "Object of type Thing is not JSON serializable"

    with pytest.raises(TypeError, match="Object of type set is not JSON"):
        ejson.dumps({1, 2})


def test_unserializable_in_view_is_500(app: Erlen) -> None:
    app.testing = False
    rv = _get(app, lambda: {"x": object()})
    assert rv.status_code == 500


def test_sort_keys_off(app: Erlen) -> None:
    app.json.sort_keys = False  # type: ignore[attr-defined]
    rv = _get(app, lambda: {"b": 1, "a": 2})
    assert rv.data == b'{"b":1,"a":2}\n'


def test_ensure_ascii_off(app: Erlen) -> None:
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    rv = _get(app, lambda: jsonify(name="snö ☃"))
    assert rv.data == '{"name":"snö ☃"}\n'.encode()
    assert rv.get_json() == {"name": "snö ☃"}


def test_ensure_ascii_default(app: Erlen) -> None:
    rv = _get(app, lambda: jsonify("snö ☃"))
    assert rv.data == b'"sn\\u00f6 \\u2603"\n'


def test_debug_indents(app: Erlen) -> None:
    app.debug = True
    app.add_url_rule("/j", "j", lambda: jsonify(b=[1], a=1))
    app.add_url_rule("/d", "d", lambda: {"b": [1], "a": 1})
    client = app.test_client()
    expected = b'{\n  "a": 1,\n  "b": [\n    1\n  ]\n}\n'
    assert client.get("/j").data == expected
    assert client.get("/d").data == expected


def test_compact_true_in_debug(app: Erlen) -> None:
    app.debug = True
    app.json.compact = True  # type: ignore[attr-defined]
    rv = _get(app, lambda: {"a": [1, 2]})
    assert rv.data == b'{"a":[1,2]}\n'


def test_compact_false_outside_debug(app: Erlen) -> None:
    app.json.compact = False  # type: ignore[attr-defined]
    rv = _get(app, lambda: {"a": 1})
    assert rv.data == b'{\n  "a": 1\n}\n'


def test_settings_changed_between_requests(app: Erlen) -> None:
    app.add_url_rule("/d", "d", lambda: {"b": "é", "a": date(2024, 1, 2)})
    client = app.test_client()
    date_text = '"Tue, 02 Jan 2024 00:00:00 GMT"'
    assert client.get("/d").data == f'{{"a":{date_text},"b":"\\u00e9"}}\n'.encode()
    app.json.sort_keys = False  # type: ignore[attr-defined]
    assert client.get("/d").data == f'{{"b":"\\u00e9","a":{date_text}}}\n'.encode()
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    assert client.get("/d").data == f'{{"b":"é","a":{date_text}}}\n'.encode()
    app.debug = True
    assert client.get("/d").data == (
        f'{{\n  "b": "é",\n  "a": {date_text}\n}}\n'.encode()
    )
    app.json.compact = True  # type: ignore[attr-defined]
    assert client.get("/d").data == f'{{"b":"é","a":{date_text}}}\n'.encode()
    app.json.default = lambda o: "DATE"  # type: ignore[attr-defined]
    assert client.get("/d").data == '{"b":"é","a":"DATE"}\n'.encode()


def test_instance_dumps_override(app: Erlen) -> None:
    def dumps(obj: t.Any, **kwargs: t.Any) -> str:
        return "custom"

    app.json.dumps = dumps  # type: ignore[method-assign]
    app.add_url_rule("/d", "d", lambda: {"a": 1})
    app.add_url_rule("/j", "j", lambda: jsonify(a=1))
    client = app.test_client()
    assert client.get("/d").data == b"custom\n"
    assert client.get("/j").data == b"custom\n"


def test_mimetype(app: Erlen) -> None:
    app.json.mimetype = "application/vnd.api+json"  # type: ignore[attr-defined]
    app.add_url_rule("/j", "j", lambda: jsonify(a=1))
    app.add_url_rule("/d", "d", lambda: {"a": 1})
    client = app.test_client()
    for url in ("/j", "/d"):
        rv = client.get(url)
        assert rv.headers["Content-Type"] == "application/vnd.api+json"
        assert rv.data == b'{"a":1}\n'


def test_provider_defaults() -> None:
    assert DefaultJSONProvider.ensure_ascii is True
    assert DefaultJSONProvider.sort_keys is True
    assert DefaultJSONProvider.compact is None
    assert DefaultJSONProvider.mimetype == "application/json"
    assert issubclass(DefaultJSONProvider, JSONProvider)


def test_provider_is_per_app_and_proxies_app(app: Erlen) -> None:
    other = Erlen("other")
    assert isinstance(app.json, DefaultJSONProvider)
    assert app.json is not other.json
    assert app.json._app.name == app.name  # type: ignore[attr-defined]
    assert Erlen.json_provider_class is DefaultJSONProvider


def test_provider_dumps_kwargs_override(app: Erlen) -> None:
    assert app.json.dumps({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
    assert app.json.dumps({"b": 1, "a": 2}, sort_keys=False) == '{"b": 1, "a": 2}'
    assert app.json.dumps("é", ensure_ascii=False) == '"é"'
    assert app.json.dumps(datetime(2024, 1, 2)) == '"Tue, 02 Jan 2024 00:00:00 GMT"'
    assert app.json.loads('{"a": [1]}') == {"a": [1]}
    assert app.json.loads(b'{"a": 1}') == {"a": 1}


def test_provider_dump_load_files(app: Erlen) -> None:
    buf = io.StringIO()
    app.json.dump({"b": uuid.UUID(int=1), "a": 1}, buf)
    assert buf.getvalue() == '{"a": 1, "b": "00000000-0000-0000-0000-000000000001"}'
    assert app.json.load(io.StringIO('{"x": 1}')) == {"x": 1}
    assert app.json.load(io.BytesIO(b'{"x": 2}')) == {"x": 2}


def test_default_overridden_in_subclass(app: Erlen) -> None:
    class SetProvider(DefaultJSONProvider):
        @staticmethod
        def default(o: t.Any) -> t.Any:
            if isinstance(o, set):
                return sorted(o)
            return DefaultJSONProvider.default(o)

    app.json = SetProvider(app)
    rv = _get(app, lambda: jsonify(s={3, 1}, d=date(2024, 1, 2)))
    assert rv.data == b'{"d":"Tue, 02 Jan 2024 00:00:00 GMT","s":[1,3]}\n'


def test_response_body_matches_response_erlen_only(app: Erlen) -> None:
    """erlen-only: ``_response_body`` is the text ``response()`` sends."""
    provider = app.json
    assert isinstance(provider, DefaultJSONProvider)
    for obj in ({"b": 1, "a": [1, 2]}, [1, "x"], None, "é"):
        assert provider._response_body(obj) == provider.response(obj).get_data(
            as_text=True
        )
    app.debug = True
    assert provider._response_body({"a": 1}) == '{\n  "a": 1\n}\n'
    assert provider.response({"a": 1}).get_data(as_text=True) == '{\n  "a": 1\n}\n'


# Replacing the provider


class ReprJSONProvider(JSONProvider):
    """A provider on another 'library': wraps everything in an envelope."""

    def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        return json.dumps({"envelope": obj}, default=str, separators=(",", ":"))

    def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
        return json.loads(s)["envelope"]


def test_json_provider_class_on_subclass() -> None:
    class MyApp(Erlen):
        json_provider_class = ReprJSONProvider

    app = MyApp(__name__)
    assert isinstance(app.json, ReprJSONProvider)
    app.add_url_rule("/j", "j", lambda: jsonify(a=1))
    app.add_url_rule("/d", "d", lambda: {"a": datetime(2024, 1, 2)})
    app.add_url_rule("/l", "l", lambda: [1, 2])
    client = app.test_client()

    rv = client.get("/j")
    assert rv.mimetype == "application/json"
    # The base class response() adds no newline.
    assert rv.data == b'{"envelope":{"a":1}}'
    assert client.get("/d").data == b'{"envelope":{"a":"2024-01-02 00:00:00"}}'
    assert client.get("/l").data == b'{"envelope":[1,2]}'

    with app.app_context():
        assert ejson.dumps([1]) == '{"envelope":[1]}'
        assert ejson.loads('{"envelope": 5}') == 5


def test_assign_app_json_instance(app: Erlen) -> None:
    app.json = ReprJSONProvider(app)
    app.add_url_rule("/d", "d", lambda: {"b": 1, "a": 2})
    rv = app.test_client().get("/d")
    assert rv.data == b'{"envelope":{"b":1,"a":2}}'
    assert rv.mimetype == "application/json"


def test_request_get_json_uses_provider(app: Erlen) -> None:
    app.json = ReprJSONProvider(app)

    @app.post("/echo")
    def echo() -> t.Any:
        from erlen import request

        return {"got": request.get_json()}

    rv = app.test_client().post(
        "/echo", data='{"envelope": [1, 2]}', content_type="application/json"
    )
    assert rv.data == b'{"envelope":{"got":[1,2]}}'


def test_base_provider_is_abstract(app: Erlen) -> None:
    provider = JSONProvider(app)
    with pytest.raises(NotImplementedError):
        provider.dumps({})
    with pytest.raises(NotImplementedError):
        provider.loads("{}")


# erlen.json module functions


def test_dumps_outside_app_context() -> None:
    # Plain json.dumps (insertion order, default separators) plus extra types.
    assert ejson.dumps({"b": 1, "a": 2}) == '{"b": 1, "a": 2}'
    assert ejson.dumps(date(2024, 1, 2)) == '"Tue, 02 Jan 2024 00:00:00 GMT"'
    assert ejson.dumps(decimal.Decimal("1.5")) == '"1.5"'
    assert ejson.dumps({"p": Point(1, 2, [])}) == (
        '{"p": {"x": 1, "y": 2, "tags": []}}'
    )
    assert ejson.dumps(Markup("<a>")) == '"<a>"'
    assert ejson.dumps([1], separators=(",", ":")) == "[1]"
    assert ejson.loads('{"a": 1}') == {"a": 1}
    assert ejson.loads(b"[1]") == [1]


def test_dumps_inside_app_context_uses_app_json(app: Erlen) -> None:
    with app.app_context():
        assert ejson.dumps({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'
        app.json.sort_keys = False  # type: ignore[attr-defined]
        assert ejson.dumps({"b": 1, "a": 2}) == '{"b": 1, "a": 2}'


def test_dump_and_load_files(app: Erlen) -> None:
    buf = io.StringIO()
    ejson.dump({"b": 1, "a": uuid.UUID(int=2)}, buf)
    assert buf.getvalue() == '{"b": 1, "a": "00000000-0000-0000-0000-000000000002"}'
    assert ejson.load(io.StringIO('{"x": [1]}')) == {"x": [1]}
    assert ejson.load(io.BytesIO(b'{"x": 1}')) == {"x": 1}
    with app.app_context():
        buf = io.StringIO()
        ejson.dump({"b": 1, "a": 2}, buf)
        assert buf.getvalue() == '{"a": 2, "b": 1}'
        assert ejson.load(io.StringIO("[true]")) == [True]


def test_module_functions_delegate_to_current_app(app: Erlen) -> None:
    calls: list[str] = []

    class Recording(DefaultJSONProvider):
        def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
            calls.append("dumps")
            return super().dumps(obj, **kwargs)

        def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
            calls.append("loads")
            return super().loads(s, **kwargs)

    app.json = Recording(app)
    with app.app_context():
        ejson.dumps(1)
        ejson.loads("1")
        ejson.dump(1, io.StringIO())
        ejson.load(io.StringIO("1"))
    assert calls == ["dumps", "loads", "dumps", "loads"]
    ejson.dumps(1)
    assert calls == ["dumps", "loads", "dumps", "loads"]
