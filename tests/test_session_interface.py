"""erlen.sessions: the session object, SessionInterface and the signed-cookie
interface's rules for Set-Cookie, Vary, deletion, expiry and config keys."""

from __future__ import annotations

import hashlib
import time
import typing as t
from datetime import datetime, timedelta, timezone

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from erlen import Erlen, Response, session
from erlen.json.tag import TaggedJSONSerializer
from erlen.sessions import (
    NullSession,
    SecureCookieSession,
    SecureCookieSessionInterface,
    SessionInterface,
    SessionMixin,
    session_json_serializer,
)

NO_KEY_MSG = (
    "The session is unavailable because no secret key was set.  Set the"
    " secret_key on the application to something unique and secret."
)


@pytest.fixture
def app() -> Erlen:
    app = Erlen(__name__)
    app.secret_key = "test-secret"
    app.testing = True

    @app.get("/set")
    def set_value() -> str:
        session["value"] = 42
        return "set"

    @app.get("/get")
    def get_value() -> str:
        return repr(session.get("value"))

    @app.get("/contains")
    def contains() -> str:
        return str("value" in session)

    @app.get("/clear")
    def clear() -> str:
        session.clear()
        return "cleared"

    @app.get("/permanent")
    def permanent() -> str:
        session["value"] = 1
        session.permanent = True
        return "permanent"

    @app.get("/untouched")
    def untouched() -> str:
        return "untouched"

    return app


def _parse_expires(header: str) -> datetime:
    expires = header.split("Expires=", 1)[1].split(";", 1)[0]
    return datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT").replace(
        tzinfo=timezone.utc
    )


def _cookie_value(header: str) -> str:
    return header.split(";", 1)[0].split("=", 1)[1]


# Through the application


def test_set_and_read_back(app: Erlen) -> None:
    client = app.test_client()
    rv = client.get("/set")
    [header] = rv.headers.getlist("Set-Cookie")
    assert header.startswith("session=")
    assert header.endswith("; HttpOnly; Path=/")
    assert "Expires" not in header
    assert rv.headers["Vary"] == "Cookie"
    assert client.get("/get").data == b"42"


def test_untouched_session_sends_nothing(app: Erlen) -> None:
    client = app.test_client()
    rv = client.get("/untouched")
    assert "Set-Cookie" not in rv.headers
    assert "Vary" not in rv.headers
    client.get("/set")
    rv = client.get("/untouched")
    assert "Set-Cookie" not in rv.headers
    assert "Vary" not in rv.headers


def test_read_adds_vary_without_set_cookie(app: Erlen) -> None:
    client = app.test_client()
    rv = client.get("/get")
    assert rv.data == b"None"
    assert rv.headers["Vary"] == "Cookie"
    assert "Set-Cookie" not in rv.headers
    client.get("/set")
    rv = client.get("/get")
    assert rv.data == b"42"
    assert rv.headers["Vary"] == "Cookie"
    assert "Set-Cookie" not in rv.headers


def test_membership_test_adds_vary(app: Erlen) -> None:
    client = app.test_client()
    rv = client.get("/contains")
    assert rv.data == b"False"
    assert rv.headers["Vary"] == "Cookie"
    assert "Set-Cookie" not in rv.headers


def test_vary_is_appended(app: Erlen) -> None:
    @app.get("/vary")
    def vary() -> Response:
        session.get("x")
        return Response("ok", headers={"Vary": "Accept-Encoding"})

    rv = app.test_client().get("/vary")
    assert rv.headers["Vary"] == "Accept-Encoding, Cookie"


def test_clearing_deletes_cookie(app: Erlen) -> None:
    client = app.test_client()
    client.get("/set")
    assert client.get_cookie("session") is not None
    rv = client.get("/clear")
    [header] = rv.headers.getlist("Set-Cookie")
    assert header == (
        "session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; Path=/"
    )
    assert rv.headers["Vary"] == "Cookie"
    assert client.get_cookie("session") is None
    assert client.get("/get").data == b"None"


def test_clearing_empty_session_still_deletes(app: Erlen) -> None:
    rv = app.test_client().get("/clear")
    [header] = rv.headers.getlist("Set-Cookie")
    assert header.startswith("session=; Expires=Thu, 01 Jan 1970 00:00:00 GMT")


def test_delete_cookie_carries_flags(app: Erlen) -> None:
    app.config.update(
        SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_PATH="/sub",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PARTITIONED=True,
    )
    rv = app.test_client().get("/clear", "https://www.example.com/")
    [header] = rv.headers.getlist("Set-Cookie")
    assert header == (
        "session=; Domain=example.com; Expires=Thu, 01 Jan 1970 00:00:00 GMT;"
        " Max-Age=0; Secure; HttpOnly; Path=/sub; SameSite=Strict; Partitioned"
    )


def test_cookie_config(app: Erlen) -> None:
    app.config.update(
        SESSION_COOKIE_NAME="sid",
        SESSION_COOKIE_DOMAIN="example.com",
        SESSION_COOKIE_PATH="/app",
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PARTITIONED=True,
    )
    rv = app.test_client().get("/set", "https://www.example.com/")
    [header] = rv.headers.getlist("Set-Cookie")
    name, value = header.split(";", 1)[0].split("=", 1)
    assert name == "sid"
    assert header == (
        f"sid={value}; Domain=example.com; Secure; Path=/app; SameSite=Lax; Partitioned"
    )


def test_cookie_path_falls_back_to_application_root(app: Erlen) -> None:
    app.config["APPLICATION_ROOT"] = "/root"
    rv = app.test_client().get("/set")
    assert rv.headers["Set-Cookie"].endswith("; HttpOnly; Path=/root")


def test_custom_cookie_name_round_trip(app: Erlen) -> None:
    app.config["SESSION_COOKIE_NAME"] = "my_session"
    client = app.test_client()
    client.get("/set")
    assert client.get_cookie("my_session") is not None
    assert client.get_cookie("session") is None
    assert client.get("/get").data == b"42"


def test_permanent_session_expires(app: Erlen) -> None:
    client = app.test_client()
    rv = client.get("/permanent")
    header = rv.headers["Set-Cookie"]
    expected = datetime.now(timezone.utc) + timedelta(days=31)
    assert abs(_parse_expires(header) - expected) < timedelta(minutes=1)


def test_permanent_session_lifetime_config(app: Erlen) -> None:
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=2)
    rv = app.test_client().get("/permanent")
    expected = datetime.now(timezone.utc) + timedelta(hours=2)
    assert abs(_parse_expires(rv.headers["Set-Cookie"]) - expected) < timedelta(
        minutes=1
    )


def test_permanent_session_lifetime_seconds(app: Erlen) -> None:
    app.config["PERMANENT_SESSION_LIFETIME"] = 600
    rv = app.test_client().get("/permanent")
    expected = datetime.now(timezone.utc) + timedelta(seconds=600)
    assert abs(_parse_expires(rv.headers["Set-Cookie"]) - expected) < timedelta(
        minutes=1
    )


def test_permanent_refreshed_each_request(app: Erlen) -> None:
    client = app.test_client()
    first = client.get("/permanent").headers["Set-Cookie"]
    for url in ("/get", "/untouched"):
        rv = client.get(url)
        [header] = rv.headers.getlist("Set-Cookie")
        assert header.startswith("session=")
        assert "Expires=" in header
        assert rv.headers["Vary"] == "Cookie"
    assert _parse_expires(header) >= _parse_expires(first)


def test_refresh_each_request_off(app: Erlen) -> None:
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    client = app.test_client()
    assert "Set-Cookie" in client.get("/permanent").headers
    rv = client.get("/get")
    assert "Set-Cookie" not in rv.headers
    assert rv.headers["Vary"] == "Cookie"
    assert "Set-Cookie" not in client.get("/untouched").headers


def test_non_permanent_not_refreshed(app: Erlen) -> None:
    client = app.test_client()
    client.get("/set")
    assert "Set-Cookie" not in client.get("/get").headers


def test_permanent_flag_round_trip(app: Erlen) -> None:
    @app.get("/is-permanent")
    def is_permanent() -> str:
        return str(session.permanent)

    client = app.test_client()
    assert client.get("/is-permanent").data == b"False"
    client.get("/permanent")
    assert client.get("/is-permanent").data == b"True"


def test_nested_mutation_needs_modified(app: Erlen) -> None:
    @app.get("/init")
    def init() -> str:
        session["items"] = []
        return ""

    @app.get("/append")
    def append() -> str:
        session["items"].append(1)
        return ""

    @app.get("/append-modified")
    def append_modified() -> str:
        session["items"].append(2)
        session.modified = True
        return ""

    @app.get("/items")
    def items() -> str:
        return repr(session["items"])

    client = app.test_client()
    client.get("/init")
    rv = client.get("/append")
    assert "Set-Cookie" not in rv.headers
    assert client.get("/items").data == b"[]"
    rv = client.get("/append-modified")
    assert "Set-Cookie" in rv.headers
    assert client.get("/items").data == b"[2]"


def test_tagged_types_round_trip(app: Erlen) -> None:
    import uuid

    from markupsafe import Markup

    values = {
        "t": (1, 2),
        "b": b"\x00bytes",
        "m": Markup("<b>x</b>"),
        "u": uuid.UUID(int=7),
        "d": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    }
    seen: list[dict[str, t.Any]] = []

    @app.get("/store")
    def store() -> str:
        session.update(values)
        return ""

    @app.get("/load")
    def load() -> str:
        seen.append(dict(session))
        return ""

    client = app.test_client()
    client.get("/store")
    client.get("/load")
    assert seen[0] == values
    assert {k: type(v) for k, v in seen[0].items()} == {
        k: type(v) for k, v in values.items()
    }


@pytest.mark.parametrize(
    "cookie",
    ["garbage", "eyJ2YWx1ZSI6NDJ9.Zz.bad", "", ".eJyrVipLzClNVbJSMjFSqgUAJaoEfQ.x.y"],
)
def test_bad_cookie_gives_empty_session(app: Erlen, cookie: str) -> None:
    client = app.test_client()
    client.set_cookie("session", cookie)
    rv = client.get("/get")
    assert rv.status_code == 200
    assert rv.data == b"None"
    assert "Set-Cookie" not in rv.headers


def test_tampered_cookie_gives_empty_session(app: Erlen) -> None:
    client = app.test_client()
    client.get("/set")
    value = client.get_cookie("session").value  # type: ignore[union-attr]
    payload, ts, sig = value.rsplit(".", 2)
    # Change the first character: the last one carries base64 padding bits.
    flipped = ("A" if sig[0] != "A" else "B") + sig[1:]
    client.set_cookie("session", f"{payload}.{ts}.{flipped}")
    assert client.get("/get").data == b"None"
    # The signature covers the payload text, so any change to it is caught.
    other = "x" if payload[-1] != "x" else "y"
    client.set_cookie("session", f"{payload[:-1]}{other}.{ts}.{sig}")
    assert client.get("/get").data == b"None"


def test_other_key_gives_empty_session(app: Erlen) -> None:
    client = app.test_client()
    client.get("/set")
    app.secret_key = "another-secret"
    assert client.get("/get").data == b"None"


def test_expired_cookie_gives_empty_session(
    app: Erlen, monkeypatch: pytest.MonkeyPatch
) -> None:
    si = app.session_interface
    assert isinstance(si, SecureCookieSessionInterface)
    signer = si.get_signing_serializer(app)
    assert signer is not None
    with monkeypatch.context() as m:
        m.setattr(TimestampSigner, "get_timestamp", lambda self: int(time.time()) - 120)
        old = signer.dumps({"value": 1})

    client = app.test_client()
    client.set_cookie("session", old)
    assert client.get("/get").data == b"1"
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=60)
    rv = client.get("/get")
    assert rv.status_code == 200
    assert rv.data == b"None"


def test_secret_key_fallbacks(app: Erlen) -> None:
    client = app.test_client()
    client.get("/set")
    app.secret_key = "new-secret"
    assert client.get("/get").data == b"None"
    app.config["SECRET_KEY_FALLBACKS"] = ["unrelated", "test-secret"]
    assert client.get("/get").data == b"42"

    # A new cookie is signed with the current key only.
    client.get("/set")
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/get").data == b"42"
    app.secret_key = "test-secret"
    app.config["SECRET_KEY_FALLBACKS"] = ["new-secret"]
    assert client.get("/get").data == b"42"
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/get").data == b"None"


def test_permanent_refresh_re_signs_with_current_key(app: Erlen) -> None:
    client = app.test_client()
    client.get("/permanent")
    app.secret_key = "new-secret"
    app.config["SECRET_KEY_FALLBACKS"] = ["test-secret"]
    rv = client.get("/untouched")
    assert "Set-Cookie" in rv.headers
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/get").data == b"1"


def test_bytes_secret_key(app: Erlen) -> None:
    app.secret_key = b"\x00binary-key"
    client = app.test_client()
    client.get("/set")
    assert client.get("/get").data == b"42"


def test_no_secret_key(app: Erlen) -> None:
    app.secret_key = None
    client = app.test_client()
    rv = client.get("/get")
    assert rv.status_code == 200
    assert rv.data == b"None"
    assert "Set-Cookie" not in rv.headers
    with pytest.raises(RuntimeError) as exc_info:
        client.get("/set")
    assert str(exc_info.value) == NO_KEY_MSG


def test_no_secret_key_is_500_when_not_testing(app: Erlen) -> None:
    app.secret_key = None
    app.testing = False
    assert app.test_client().get("/set").status_code == 500


def test_session_in_request_context(app: Erlen) -> None:
    with app.test_request_context():
        assert isinstance(session._get_current_object(), SecureCookieSession)  # type: ignore[attr-defined]
        assert session.get("x") is None
        session["x"] = 1
        assert session.modified
    app.secret_key = None
    with app.test_request_context():
        assert isinstance(session._get_current_object(), NullSession)  # type: ignore[attr-defined]


def test_session_transaction(app: Erlen) -> None:
    client = app.test_client()
    with client.session_transaction() as sess:
        assert isinstance(sess, SecureCookieSession)
        assert dict(sess) == {}
        sess["value"] = "from-transaction"
    assert client.get("/get").data == b"'from-transaction'"
    client.get("/set")
    with client.session_transaction() as sess:
        assert sess["value"] == 42


# The session classes


def test_secure_cookie_session_writes_set_modified() -> None:
    s = SecureCookieSession({"a": 1, "b": [2]})
    assert (s.modified, s.new) == (False, False)
    s["a"]
    s.get("b")
    assert "a" in s
    assert s.modified is False
    for write in (
        lambda: s.__setitem__("c", 3),
        lambda: s.__delitem__("c"),
        lambda: s.update(d=4),
        lambda: s.pop("d"),
        lambda: s.setdefault("e", 5),
        lambda: s.popitem(),
        lambda: s.clear(),
    ):
        s.modified = False
        write()
        assert s.modified, write


def test_accessed_is_set_by_the_request_context() -> None:
    """As in Flask 3.1.3: reading the session object does not mark it, getting
    it from the request context (the ``session`` proxy) does."""
    s = SecureCookieSession({"a": 1})
    assert s.accessed is False
    s["a"]
    s.get("a")
    assert "a" in s
    s["b"] = 2
    assert s.accessed is False

    app = Erlen(__name__)
    app.secret_key = "k"
    with app.test_request_context() as ctx:
        session.modified  # noqa: B018
        assert ctx.session.accessed is True


def test_attribute_only_use_adds_vary(app: Erlen) -> None:
    @app.get("/mark")
    def mark() -> str:
        session.modified = True
        return ""

    client = app.test_client()
    client.get("/set")
    rv = client.get("/mark")
    assert rv.headers["Vary"] == "Cookie"
    assert "Set-Cookie" in rv.headers


def test_permanent_property() -> None:
    s = SecureCookieSession()
    assert s.permanent is False
    assert "_permanent" not in dict(s)
    s.permanent = 1  # type: ignore[assignment]
    assert s["_permanent"] is True
    assert s.permanent is True
    assert s.modified
    s.permanent = False
    assert dict(s) == {"_permanent": False}


def test_session_mixin_defaults() -> None:
    class DictSession(dict, SessionMixin):  # type: ignore[type-arg]
        pass

    s = DictSession()
    assert s.new is False
    assert s.modified is True
    assert s.accessed is False
    assert s.permanent is False
    s.permanent = True
    assert s == {"_permanent": True}


def test_null_session() -> None:
    s = NullSession()
    assert isinstance(s, SecureCookieSession)
    assert s.get("x") is None
    assert "x" not in s
    assert len(s) == 0
    assert s.permanent is False
    for op in (
        lambda: s.__setitem__("x", 1),
        lambda: s.__delitem__("x"),
        lambda: s.clear(),
        lambda: s.pop("x", None),
        lambda: s.popitem(),
        lambda: s.update({"x": 1}),
        lambda: s.setdefault("x", 1),
    ):
        with pytest.raises(RuntimeError) as exc_info:
            op()
        assert str(exc_info.value) == NO_KEY_MSG
    with pytest.raises(RuntimeError):
        s.permanent = True


# The interfaces


def test_secure_cookie_interface_defaults(app: Erlen) -> None:
    si = SecureCookieSessionInterface()
    assert isinstance(app.session_interface, SecureCookieSessionInterface)
    assert si.salt == "cookie-session"
    assert si.key_derivation == "hmac"
    assert si.digest_method().name == "sha1"
    assert si.digest_method(b"abc").digest() == hashlib.sha1(b"abc").digest()
    assert isinstance(si.serializer, TaggedJSONSerializer)
    assert si.serializer is session_json_serializer
    assert si.session_class is SecureCookieSession
    assert si.null_session_class is NullSession
    assert si.pickle_based is False
    assert isinstance(si.make_null_session(app), NullSession)
    assert si.is_null_session(NullSession())
    assert not si.is_null_session(SecureCookieSession())


def test_signing_serializer(app: Erlen) -> None:
    si = SecureCookieSessionInterface()
    s = si.get_signing_serializer(app)
    assert isinstance(s, URLSafeTimedSerializer)
    assert s.salt == b"cookie-session"
    reference = URLSafeTimedSerializer(
        "test-secret",
        salt="cookie-session",
        serializer=TaggedJSONSerializer(),
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha1},
    )
    assert reference.loads(s.dumps({"a": (1,)})) == {"a": (1,)}
    assert s.loads(reference.dumps({"b": b"x"})) == {"b": b"x"}
    app.secret_key = ""
    assert si.get_signing_serializer(app) is None


def test_cookie_getters(app: Erlen) -> None:
    si = SessionInterface()
    assert si.get_cookie_name(app) == "session"
    assert si.get_cookie_domain(app) is None
    assert si.get_cookie_path(app) == "/"
    assert si.get_cookie_httponly(app) is True
    assert si.get_cookie_secure(app) is False
    assert si.get_cookie_samesite(app) is None
    assert si.get_cookie_partitioned(app) is False
    app.config.update(
        SESSION_COOKIE_NAME="n",
        SESSION_COOKIE_DOMAIN="d.example",
        SESSION_COOKIE_PATH="/p",
        SESSION_COOKIE_HTTPONLY=False,
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="None",
        SESSION_COOKIE_PARTITIONED=True,
    )
    assert si.get_cookie_name(app) == "n"
    assert si.get_cookie_domain(app) == "d.example"
    assert si.get_cookie_path(app) == "/p"
    assert si.get_cookie_httponly(app) is False
    assert si.get_cookie_secure(app) is True
    assert si.get_cookie_samesite(app) == "None"
    assert si.get_cookie_partitioned(app) is True


def test_expiration_and_should_set_cookie(app: Erlen) -> None:
    si = SessionInterface()
    s = SecureCookieSession({"a": 1})
    assert si.get_expiration_time(app, s) is None
    assert si.should_set_cookie(app, s) is False
    s.permanent = True
    expires = si.get_expiration_time(app, s)
    assert expires is not None
    assert expires.tzinfo is not None
    assert abs(expires - datetime.now(timezone.utc) - timedelta(days=31)) < timedelta(
        seconds=5
    )
    assert si.should_set_cookie(app, s) is True
    s.modified = False
    assert si.should_set_cookie(app, s) is True
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert not si.should_set_cookie(app, s)


def test_base_interface_is_abstract(app: Erlen) -> None:
    si = SessionInterface()
    with app.test_request_context():
        from erlen import request

        with pytest.raises(NotImplementedError):
            si.open_session(app, request)
        with pytest.raises(NotImplementedError):
            si.save_session(app, SecureCookieSession(), Response())


class MemorySession(dict, SessionMixin):  # type: ignore[type-arg]
    def __init__(self, sid: str, data: dict[str, t.Any] | None = None) -> None:
        super().__init__(data or {})
        self.sid = sid


class MemorySessionInterface(SessionInterface):
    """Server-side sessions in a dict, keyed by a cookie with an id."""

    def __init__(self) -> None:
        self.store: dict[str, dict[str, t.Any]] = {}
        self.opened = 0
        self.saved = 0

    def open_session(self, app: t.Any, request: t.Any) -> MemorySession | None:
        self.opened += 1
        if request.args.get("fail"):
            return None
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid and sid in self.store:
            return MemorySession(sid, self.store[sid])
        return MemorySession(f"sid{len(self.store) + 1}")

    def save_session(self, app: t.Any, session: t.Any, response: t.Any) -> None:
        self.saved += 1
        self.store[session.sid] = dict(session)
        response.set_cookie(
            self.get_cookie_name(app),
            session.sid,
            path=self.get_cookie_path(app),
            httponly=self.get_cookie_httponly(app),
        )


def test_custom_session_interface(app: Erlen) -> None:
    si = MemorySessionInterface()
    app.session_interface = si
    client = app.test_client()
    rv = client.get("/set")
    assert rv.headers["Set-Cookie"] == "session=sid1; HttpOnly; Path=/"
    assert si.store == {"sid1": {"value": 42}}
    assert client.get("/get").data == b"42"
    assert si.opened == 2
    assert si.saved == 2
    assert client.get("/untouched").status_code == 200


def test_custom_interface_returning_none_uses_null_session(app: Erlen) -> None:
    app.session_interface = MemorySessionInterface()
    client = app.test_client()
    assert client.get("/get?fail=1").data == b"None"
    with pytest.raises(RuntimeError) as exc_info:
        client.get("/set?fail=1")
    assert str(exc_info.value) == NO_KEY_MSG


def test_app_session_interface_default_is_shared_class_attribute() -> None:
    assert isinstance(Erlen.session_interface, SecureCookieSessionInterface)
    a, b = Erlen("a"), Erlen("b")
    a.session_interface = MemorySessionInterface()
    assert isinstance(b.session_interface, SecureCookieSessionInterface)
