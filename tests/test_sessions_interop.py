"""Session cookies move between real Flask and erlen, in both directions.

Real Flask runs in a subprocess (this pytest process has ``erlen.flask_patch``
loaded, so ``import flask`` here would give erlen). The subprocess signs or
reads a session cookie through a real Flask app and test client and reports
back; erlen does the same through its own test client. Values are built from
the same source in both processes and compared including their types.
"""

from __future__ import annotations

import base64
import json
import pickle
import subprocess
import sys
import typing as t
from datetime import datetime, timedelta, timezone

import pytest

from erlen import Erlen, session

VALUES_SRC = r"""
import datetime
import uuid

from markupsafe import Markup


def make_values():
    return {
        "str": "h\u00e9llo \u2603 \"quoted\"",
        "int": 42,
        "neg": -7,
        "float": 1.5,
        "bool": True,
        "none": None,
        "tuple": (1, "two", (3, b"four")),
        "bytes": b"\x00\xffbin",
        "markup": Markup("<b>bold</b> &amp;"),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "dt": datetime.datetime(
            2024, 2, 29, 12, 30, 45, tzinfo=datetime.timezone.utc
        ),
        "nested": {"a": {"b": [1, {"c": (2,)}]}, "list": [b"x", Markup("<i>")]},
        " t": "a key that looks like a tag",
        " di": " m",
        "tagdict": {" t": [1, 2]},
        "tagdict2": {" b": "not base64 bytes"},
        "user_id": 7,
    }
"""

_ns: dict[str, t.Any] = {}
exec(VALUES_SRC, _ns)
make_values: t.Callable[[], dict[str, t.Any]] = _ns["make_values"]

FLASK_SCRIPT = (
    VALUES_SRC
    + r"""
import base64
import json
import pickle
import sys

cmd = json.loads(sys.stdin.read())

if cmd.get("age"):
    # Sign as if the cookie had been written ``age`` seconds ago.
    import itsdangerous.timed

    _real_ts = itsdangerous.timed.TimestampSigner.get_timestamp
    itsdangerous.timed.TimestampSigner.get_timestamp = (
        lambda self: _real_ts(self) - cmd["age"]
    )

from flask import Flask, session

assert "erlen" not in sys.modules, "the Flask side must be real Flask"
assert Flask.__module__ == "flask.app", Flask.__module__

app = Flask("flask_side")
app.config.update(cmd.get("config", {}))
app.secret_key = cmd["secret_key"]


@app.get("/write")
def write():
    session.update(make_values())
    session.permanent = cmd.get("permanent", True)
    return "written"


@app.get("/read")
def read():
    return base64.b64encode(pickle.dumps(dict(session))).decode()


client = app.test_client()
if cmd["mode"] == "write":
    rv = client.get("/write")
    header = rv.headers["Set-Cookie"]
    out = {
        "cookie": header.split(";", 1)[0].split("=", 1)[1],
        "set_cookie": rv.headers.getlist("Set-Cookie"),
    }
else:
    client.set_cookie("session", cmd["cookie"])
    rv = client.get("/read")
    out = {"session": rv.get_data(as_text=True)}
print(json.dumps(out))
"""
)


def run_flask(**cmd: t.Any) -> dict[str, t.Any]:
    """Run the real-Flask script with ``cmd`` and return its JSON output."""
    proc = subprocess.run(
        [sys.executable, "-c", FLASK_SCRIPT],
        input=json.dumps(cmd),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return t.cast("dict[str, t.Any]", json.loads(proc.stdout))


def flask_write(secret_key: str, **cmd: t.Any) -> str:
    """A session cookie written by a real Flask view."""
    return t.cast(str, run_flask(mode="write", secret_key=secret_key, **cmd)["cookie"])


def flask_read(cookie: str, secret_key: str, **cmd: t.Any) -> dict[str, t.Any]:
    """The session a real Flask view sees for ``cookie``."""
    out = run_flask(mode="read", cookie=cookie, secret_key=secret_key, **cmd)
    return t.cast("dict[str, t.Any]", pickle.loads(base64.b64decode(out["session"])))


def assert_same(a: t.Any, b: t.Any, path: str = "session") -> None:
    """Equal values of exactly the same types, recursively."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same(a[key], b[key], f"{path}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


def expected_session(permanent: bool = True) -> dict[str, t.Any]:
    values = make_values()
    if permanent:
        values["_permanent"] = True
    else:
        values["_permanent"] = False
    return values


def make_erlen_app(secret_key: str, **config: t.Any) -> tuple[Erlen, list[t.Any]]:
    """An erlen app with views that write the values and record the session."""
    app = Erlen(__name__)
    app.config.update(config)
    app.secret_key = secret_key
    seen: list[t.Any] = []

    @app.get("/write")
    def write() -> str:
        session.update(make_values())
        session.permanent = True
        return "written"

    @app.get("/read")
    def read() -> str:
        seen.append((dict(session), session.permanent))
        return "read"

    @app.get("/untouched")
    def untouched() -> str:
        return "untouched"

    return app, seen


def erlen_write(secret_key: str, **config: t.Any) -> str:
    """A session cookie written by an erlen view."""
    app, _ = make_erlen_app(secret_key, **config)
    client = app.test_client()
    rv = client.get("/write")
    assert rv.status_code == 200
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def erlen_read(cookie: str, secret_key: str, **config: t.Any) -> dict[str, t.Any]:
    """The session an erlen view sees for ``cookie``."""
    app, seen = make_erlen_app(secret_key, **config)
    client = app.test_client()
    client.set_cookie("session", cookie)
    rv = client.get("/read")
    assert rv.status_code == 200
    data, permanent = seen[-1]
    assert permanent is bool(data.get("_permanent", False))
    return t.cast("dict[str, t.Any]", data)


def payload(cookie: str) -> str:
    """The signed data of a cookie, without its timestamp and signature."""
    return cookie.rsplit(".", 2)[0]


# Flask -> erlen


def test_flask_cookie_read_by_erlen() -> None:
    cookie = flask_write("interop-key")
    assert_same(erlen_read(cookie, "interop-key"), expected_session())


def test_flask_non_permanent_cookie_read_by_erlen() -> None:
    cookie = flask_write("interop-key", permanent=False)
    data = erlen_read(cookie, "interop-key")
    assert_same(data, expected_session(permanent=False))


def test_flask_cookie_with_wrong_key_is_empty_on_erlen() -> None:
    cookie = flask_write("flask-key")
    assert erlen_read(cookie, "other-key") == {}


def test_flask_cookie_expired_on_erlen() -> None:
    cookie = flask_write("interop-key", age=3600)
    assert erlen_read(cookie, "interop-key", PERMANENT_SESSION_LIFETIME=60) == {}
    data = erlen_read(cookie, "interop-key", PERMANENT_SESSION_LIFETIME=7200)
    assert_same(data, expected_session())


def test_flask_old_key_accepted_by_erlen_fallbacks() -> None:
    old_cookie = flask_write("old-key")
    assert erlen_read(old_cookie, "new-key") == {}
    data = erlen_read(old_cookie, "new-key", SECRET_KEY_FALLBACKS=["old-key"])
    assert_same(data, expected_session())


def test_erlen_rotation_rewrites_flask_cookie_with_new_key() -> None:
    old_cookie = flask_write("old-key")
    app = Erlen(__name__)
    app.secret_key = "new-key"
    app.config["SECRET_KEY_FALLBACKS"] = ["older-key", "old-key"]

    @app.get("/touch")
    def touch() -> str:
        session["visits"] = session.get("visits", 0) + 1
        return "ok"

    client = app.test_client()
    client.set_cookie("session", old_cookie)
    assert client.get("/touch").status_code == 200
    new_cookie = client.get_cookie("session")
    assert new_cookie is not None

    # The rewritten cookie is signed with the current key only.
    expected = {**expected_session(), "visits": 1}
    assert_same(flask_read(new_cookie.value, "new-key"), expected)
    assert flask_read(new_cookie.value, "old-key") == {}


# erlen -> Flask


def test_erlen_cookie_read_by_flask() -> None:
    cookie = erlen_write("interop-key")
    assert_same(flask_read(cookie, "interop-key"), expected_session())


def test_erlen_cookie_with_wrong_key_is_empty_on_flask() -> None:
    cookie = erlen_write("erlen-key")
    assert flask_read(cookie, "other-key") == {}


def test_erlen_old_key_accepted_by_flask_fallbacks() -> None:
    cookie = erlen_write("old-key")
    assert flask_read(cookie, "new-key") == {}
    data = flask_read(
        cookie, "new-key", config={"SECRET_KEY_FALLBACKS": ["x", "old-key"]}
    )
    assert_same(data, expected_session())


def test_erlen_signs_with_current_key_not_fallback() -> None:
    cookie = erlen_write("current-key", SECRET_KEY_FALLBACKS=["fallback-key"])
    assert_same(flask_read(cookie, "current-key"), expected_session())
    assert flask_read(cookie, "fallback-key") == {}


# Byte-level and header-level identity


def test_cookie_payload_and_attributes_identical() -> None:
    config = {
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_PATH": "/app",
    }
    out = run_flask(mode="write", secret_key="same-key", config=config)
    flask_cookie = out["cookie"]

    app, _ = make_erlen_app("same-key", **config)
    rv = app.test_client().get("/write", base_url="https://localhost/")
    [header] = rv.headers.getlist("Set-Cookie")
    [flask_header] = out["set_cookie"]

    # Same serialized payload (timestamp and signature differ by time only).
    erlen_value = header.split(";", 1)[0].split("=", 1)[1]
    assert payload(erlen_value) == payload(flask_cookie)

    def attributes(h: str) -> list[str]:
        parts = [p.strip() for p in h.split(";")[1:]]
        return [p for p in parts if not p.startswith("Expires=")]

    assert attributes(header) == attributes(flask_header)
    assert attributes(header) == ["Secure", "HttpOnly", "Path=/app", "SameSite=Lax"]


def test_same_payload_for_same_data_both_ways() -> None:
    erlen_cookie = erlen_write("k")
    flask_cookie = flask_write("k")
    assert payload(erlen_cookie) == payload(flask_cookie)


def test_flask_permanent_cookie_refreshed_by_erlen() -> None:
    cookie = flask_write("interop-key")
    app, _ = make_erlen_app("interop-key")
    client = app.test_client()
    client.set_cookie("session", cookie)
    rv = client.get("/untouched")
    [header] = rv.headers.getlist("Set-Cookie")
    assert header.startswith("session=")
    expires = header.split("Expires=", 1)[1].split(";", 1)[0]
    when = datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT").replace(
        tzinfo=timezone.utc
    )
    assert abs(when - (datetime.now(timezone.utc) + timedelta(days=31))) < timedelta(
        minutes=5
    )
    assert rv.headers["Vary"] == "Cookie"
    refreshed = header.split(";", 1)[0].split("=", 1)[1]
    assert payload(refreshed) == payload(cookie)
    assert_same(flask_read(refreshed, "interop-key"), expected_session())


@pytest.mark.parametrize("direction", ["flask_to_erlen", "erlen_to_flask"])
def test_session_transaction_cookie_interop(direction: str) -> None:
    """A session set up with ``session_transaction`` is a normal cookie."""
    app = Erlen(__name__)
    app.secret_key = "tx-key"
    seen: list[dict[str, t.Any]] = []

    @app.get("/read")
    def read() -> str:
        seen.append(dict(session))
        return "ok"

    client = app.test_client()
    if direction == "erlen_to_flask":
        with client.session_transaction() as sess:
            sess.update(make_values())
        cookie = client.get_cookie("session")
        assert cookie is not None
        assert_same(flask_read(cookie.value, "tx-key"), make_values())
    else:
        client.set_cookie("session", flask_write("tx-key", permanent=False))
        with client.session_transaction() as sess:
            assert_same(dict(sess), expected_session(permanent=False))
            sess["added"] = (1, 2)
        client.get("/read")
        assert_same(seen[-1], {**expected_session(permanent=False), "added": (1, 2)})
