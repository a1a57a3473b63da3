"""erlen.json.tag: the tagged JSON serializer behind session cookies."""

from __future__ import annotations

import json
import subprocess
import sys
import typing as t
from collections import OrderedDict
from datetime import datetime, timezone
from uuid import UUID

import pytest
from markupsafe import Markup

from erlen import Erlen
from erlen.json.tag import JSONTag, PassDict, TaggedJSONSerializer


@pytest.fixture
def s() -> TaggedJSONSerializer:
    return TaggedJSONSerializer()


@pytest.mark.parametrize(
    "data",
    [
        {" t": (1, 2, 3)},
        {" t__": b"a"},
        {" di": " di"},
        {"x": (1, 2, 3), "y": 4},
        (1, 2, 3),
        [(1, 2, 3)],
        b"\xff",
        Markup("<html>"),
        UUID("12345678123456781234567812345678"),
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        {"nested": {"deep": [{" b": b"x"}, ("a", {"u": UUID(int=1)})]}},
        "plain",
        42,
        1.5,
        None,
        True,
        [],
        {},
    ],
)
def test_round_trip(s: TaggedJSONSerializer, data: t.Any) -> None:
    assert s.loads(s.dumps(data)) == data


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ((1, 2), '{" t":[1,2]}'),
        (b"\x00\xff", '{" b":"AP8="}'),
        (Markup("<b>x</b>"), '{" m":"<b>x</b>"}'),
        (UUID(int=0x3039), '{" u":"00000000000000000000000000003039"}'),
        (
            datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
            '{" d":"Tue, 02 Jan 2024 03:04:05 GMT"}',
        ),
        ({" t": 1}, '{" di":{" t__":1}}'),
        ({" t": 1, "other": 2}, '{" t":1,"other":2}'),
        ({"a": [1, (2,)]}, '{"a":[1,{" t":[2]}]}'),
        ("é", '"\\u00e9"'),
    ],
)
def test_wire_format(s: TaggedJSONSerializer, value: t.Any, wire: str) -> None:
    assert s.dumps(value) == wire


def test_types_after_loading(s: TaggedJSONSerializer) -> None:
    loaded = s.loads(s.dumps({"t": (1,), "m": Markup("<i>"), "b": b"z"}))
    assert type(loaded["t"]) is tuple
    assert type(loaded["m"]) is Markup
    assert type(loaded["b"]) is bytes


def test_datetime_whole_seconds_utc(s: TaggedJSONSerializer) -> None:
    naive = datetime(2024, 5, 6, 7, 8, 9, 123456)
    loaded = s.loads(s.dumps(naive))
    assert loaded == datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    assert loaded.tzinfo is timezone.utc


def test_html_objects_load_as_markup(s: TaggedJSONSerializer) -> None:
    class Html:
        def __html__(self) -> str:
            return "<em>hi</em>"

    wire = s.dumps(Html())
    assert wire == '{" m":"<em>hi</em>"}'
    assert s.loads(wire) == Markup("<em>hi</em>")


def test_untag(s: TaggedJSONSerializer) -> None:
    assert s.untag({" t": [1, 2]}) == (1, 2)
    assert s.untag({"unknown": 1}) == {"unknown": 1}
    two = {" t": [1], " b": "eA=="}
    assert s.untag(two) is two
    assert s.tag((1, b"x")) == {" t": [1, {" b": "eA=="}]}
    assert s.tag("text") == "text"


def test_loads_leaves_unknown_keys(s: TaggedJSONSerializer) -> None:
    assert s.loads('{" zz":1}') == {" zz": 1}
    assert s.loads('{" t__":[1]}') == {" t__": [1]}
    assert s.loads('[1,{" t":[2]}]') == [1, (2,)]


def test_duplicate_tag(s: TaggedJSONSerializer) -> None:
    class TagDupe(JSONTag):
        key = " d"

    with pytest.raises(KeyError) as exc_info:
        s.register(TagDupe)
    assert exc_info.value.args == ("Tag ' d' is already registered.",)

    s.register(TagDupe, force=True)
    assert isinstance(s.tags[" d"], TagDupe)
    assert s.order[-1] is s.tags[" d"]


def test_custom_tag_ordered_dict(s: TaggedJSONSerializer) -> None:
    class TagOrderedDict(JSONTag):
        __slots__ = ()
        key = " od"

        def check(self, value: t.Any) -> bool:
            return isinstance(value, OrderedDict)

        def to_json(self, value: t.Any) -> t.Any:
            return [[k, self.serializer.tag(v)] for k, v in value.items()]

        def to_python(self, value: t.Any) -> t.Any:
            return OrderedDict(value)

    data = OrderedDict([("b", 1), ("a", (2,))])
    # Appended after PassDict, the new tag never sees an OrderedDict.
    s.register(TagOrderedDict)
    assert type(s.loads(s.dumps(data))) is dict

    s2 = TaggedJSONSerializer()
    s2.register(TagOrderedDict, index=0)
    assert s2.dumps(data) == '{" od":[["b",1],["a",{" t":[2]}]]}'
    loaded = s2.loads(s2.dumps(data))
    assert type(loaded) is OrderedDict
    assert list(loaded.items()) == [("b", 1), ("a", (2,))]


def test_keyless_tag_only_transforms(s: TaggedJSONSerializer) -> None:
    class TagSet(JSONTag):
        __slots__ = ()

        def check(self, value: t.Any) -> bool:
            return isinstance(value, set)

        def to_json(self, value: t.Any) -> t.Any:
            return sorted(value)

        def tag(self, value: t.Any) -> t.Any:
            return self.to_json(value)

    s.register(TagSet)
    assert "" not in s.tags
    assert s.dumps({"s": {3, 1, 2}}) == '{"s":[1,2,3]}'


def test_tag_interface() -> None:
    s = TaggedJSONSerializer()
    tag = JSONTag(s)
    assert tag.serializer is s
    with pytest.raises(NotImplementedError):
        tag.check(None)
    with pytest.raises(NotImplementedError):
        tag.to_json(None)
    with pytest.raises(NotImplementedError):
        tag.to_python(None)
    assert PassDict(s).tag({"a": (1,)}) == {"a": {" t": [1]}}


def test_default_tags_order() -> None:
    names = [cls.__name__ for cls in TaggedJSONSerializer.default_tags]
    assert names == [
        "TagDict",
        "PassDict",
        "TagTuple",
        "PassList",
        "TagBytes",
        "TagMarkup",
        "TagUUID",
        "TagDateTime",
    ]
    s = TaggedJSONSerializer()
    assert sorted(s.tags) == [" b", " d", " di", " m", " t", " u"]


def test_unserializable_value(s: TaggedJSONSerializer) -> None:
    with pytest.raises(TypeError):
        s.dumps({"x": object()})


def test_uses_app_json_inside_app_context(s: TaggedJSONSerializer) -> None:
    value = {"b": 1, "a": (2,)}
    # Outside an app context: plain json.dumps, insertion order.
    assert s.dumps(value) == '{"b":1,"a":{" t":[2]}}'
    app = Erlen(__name__)
    with app.app_context():
        # Inside: app.json.dumps, whose default sorts keys.
        assert s.dumps(value) == '{"a":{" t":[2]},"b":1}'
        app.json.sort_keys = False  # type: ignore[attr-defined]
        assert s.dumps(value) == '{"b":1,"a":{" t":[2]}}'


_FLASK_SCRIPT = """
import sys, json, uuid, datetime
from markupsafe import Markup
from flask import Flask
from flask.json.tag import TaggedJSONSerializer
s = TaggedJSONSerializer()
value = {
    "s": "h\\u00e9llo", "i": 3, "t": (1, (2, b"x")), "b": b"\\x00\\xff",
    "m": Markup("<b>x</b>"), "u": uuid.UUID(int=12345),
    "d": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
    "n": {"a": {" t": [1]}}, " t": "x", "l": [{" di": 1}, {" m": "z"}],
}
out = {"plain": s.dumps(value)}
with Flask("x").app_context():
    out["app"] = s.dumps(value)
print(json.dumps(out))
"""


def test_wire_format_matches_real_flask(s: TaggedJSONSerializer) -> None:
    """Real Flask (in a subprocess) and erlen produce byte-identical JSON."""
    proc = subprocess.run(
        [sys.executable, "-c", _FLASK_SCRIPT],
        capture_output=True,
        text=True,
        check=True,
    )
    flask_out = json.loads(proc.stdout)
    value = {
        "s": "h\u00e9llo",
        "i": 3,
        "t": (1, (2, b"x")),
        "b": b"\x00\xff",
        "m": Markup("<b>x</b>"),
        "u": UUID(int=12345),
        "d": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
        "n": {"a": {" t": [1]}},
        " t": "x",
        "l": [{" di": 1}, {" m": "z"}],
    }
    assert s.dumps(value) == flask_out["plain"]
    with Erlen("x").app_context():
        assert s.dumps(value) == flask_out["app"]
    assert s.loads(flask_out["app"]) == value
