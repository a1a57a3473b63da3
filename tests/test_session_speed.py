"""The fast session path is exact: the codec signs the bytes itsdangerous
signs and accepts exactly what it accepts, the session cookie is read as
Werkzeug's ``request.cookies`` reads it, the ``Set-Cookie`` header is
Werkzeug's ``dump_cookie`` output, and the response headers (order
included) are those of the general path. A plain-body ``Response`` is built
with Werkzeug's state. Cookies against real Flask: tests/test_sessions_interop.py.
"""

from __future__ import annotations

import io
import time
import typing as t
import warnings
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer
from werkzeug.wrappers import Request as WerkzeugRequest
from werkzeug.wrappers import Response as WerkzeugResponse

from erlen import Erlen, session
from erlen import sessions as S
from erlen.sessions import SecureCookieSessionInterface
from erlen.wrappers import Request, Response

SLOW = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def make_app(**config: t.Any) -> Erlen:
    app = Erlen(__name__)
    app.secret_key = "test secret"
    app.config.update(config)
    return app


def itsdangerous_serializer(
    keys: list[str], stamp: int | None = None
) -> URLSafeTimedSerializer:
    """The serializer Flask builds, optionally signing at a fixed time."""

    class Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) if stamp is None else stamp

    return URLSafeTimedSerializer(
        keys,
        salt="cookie-session",
        serializer=S.session_json_serializer,
        signer=Signer,
        signer_kwargs={"key_derivation": "hmac", "digest_method": S._sha1},
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats()
    | st.text(max_size=12)
    | st.binary(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
session_keys = st.one_of(
    st.text(max_size=6),
    st.sampled_from([" t", " di", " b", " m", " u", " d", "_permanent"]),
)
sessions = st.dictionaries(session_keys, json_values, min_size=1, max_size=4) | (
    st.dictionaries(
        session_keys,
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
        min_size=1,
        max_size=3,
    )
)
providers = st.tuples(st.booleans(), st.booleans())


def configured(app: Erlen, provider: tuple[bool, bool]) -> Erlen:
    app.json.sort_keys, app.json.ensure_ascii = provider  # type: ignore[attr-defined]
    return app


def codec_for(app: Erlen) -> S._SessionCodec:
    signer, codec = app.session_interface._codec(app)  # type: ignore[attr-defined]
    assert signer is not None and codec is not None
    return codec


def dumps_both(codec: S._SessionCodec, data: dict[str, t.Any]) -> tuple[t.Any, t.Any]:
    results: list[t.Any] = []
    for dumps in (
        codec.dumps,
        itsdangerous_serializer(["old key", "test secret"]).dumps,
    ):
        try:
            results.append(dumps(data))
        except (TypeError, ValueError) as e:  # e.g. unsortable keys
            results.append((type(e), str(e)))
    return results[0], results[1]


@SLOW
@given(data=sessions, provider=providers, in_app=st.booleans())
def test_codec_dumps_is_itsdangerous(
    data: dict[str, t.Any], provider: tuple[bool, bool], in_app: bool
) -> None:
    app = configured(make_app(SECRET_KEY_FALLBACKS=["old key"]), provider)
    codec = codec_for(app)
    with app.app_context() if in_app else _nothing():
        # Twice: the second payload comes from the codec's last-payload cache.
        for _ in range(2):
            for _ in range(3):  # the two calls may straddle a second
                ours, theirs = dumps_both(codec, data)
                if (
                    not isinstance(ours, str)
                    or ours.rsplit(".", 2)[1] == theirs.rsplit(".", 2)[1]
                ):
                    break
            assert ours == theirs


class _nothing:
    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: t.Any) -> None:
        pass


def tamper(cookie: str, how: str, where: int, junk: str) -> str:
    where %= len(cookie) + 1
    if how == "insert":
        return cookie[:where] + junk + cookie[where:]
    if how == "delete":
        return cookie[:where] + cookie[where + 1 :]
    if how == "replace":
        return cookie[:where] + junk + cookie[where + len(junk) :]
    if how == "truncate":
        return cookie[:where]
    if how == "swap":
        parts = cookie.split(".")
        return ".".join(reversed(parts))
    return cookie


@SLOW
@given(
    data=sessions,
    age=st.sampled_from([0, 1, 59, 60, 61, 10**6, -1, -100]),
    max_age=st.sampled_from([60, 0, -5, 10**9]),
    signing_key=st.sampled_from(["test secret", "old key", "unknown key"]),
    how=st.sampled_from(["none", "insert", "delete", "replace", "truncate", "swap"]),
    where=st.integers(0, 400),
    junk=st.sampled_from([".", "A", "-", "=", "é", "!", "..", "aGk", "\x00"]),
    raw=st.one_of(st.none(), st.text(max_size=30)),
    provider=providers,
)
def test_codec_loads_accepts_what_itsdangerous_accepts(
    data: dict[str, t.Any],
    age: int,
    max_age: int,
    signing_key: str,
    how: str,
    where: int,
    junk: str,
    raw: str | None,
    provider: tuple[bool, bool],
) -> None:
    app = configured(make_app(SECRET_KEY_FALLBACKS=["old key"]), provider)
    codec = codec_for(app)
    stamp = int(time.time()) - age
    with app.app_context():
        if raw is None:
            try:
                cookie = itsdangerous_serializer([signing_key], stamp).dumps(data)
            except (TypeError, ValueError):
                return  # not serializable with these settings
            cookie = tamper(cookie, how, where, junk)
        else:
            cookie = raw
        try:
            expected = itsdangerous_serializer(["old key", "test secret"]).loads(
                cookie, max_age=max_age
            )
        except BadData:
            expected = S._INVALID
        got = codec.loads(cookie, max_age)
    if expected is S._INVALID or got is S._INVALID:
        assert got is expected
    else:
        assert repr(got) == repr(expected)  # types too (tuple, bytes), and NaN


class RawJSON:
    """A serializer that signs JSON text as given, to make signed payloads
    no tagged serializer would write."""

    @staticmethod
    def dumps(text: str) -> str:
        return text

    @staticmethod
    def loads(text: str) -> str:
        return text


@pytest.mark.parametrize(
    "payload",
    [
        '{" t":5}',
        '{" t":[1,2]}',
        '{" b":"aGk="}',
        '{" b":"not base64!"}',
        '{" di":"x"}',
        '{" t__":1}',
        '{" m":"<b>"}',
        '{" u":"12345678123456781234567812345678"}',
        '{" d":"Wed, 02 Jan 2030 03:04:05 GMT"}',
        '{" x":1}',
        '{"a":1," t":2}',
        "[1,2]",
        '"text"',
        '{"a":{" t":[1]}}',
        "{bad json",
        '{"n":NaN}',
    ],
)
def test_codec_loads_untags_like_the_serializer(payload: str) -> None:
    app = make_app()
    codec = codec_for(app)
    raw = URLSafeTimedSerializer(
        "test secret",
        salt="cookie-session",
        serializer=RawJSON,
        signer_kwargs={"key_derivation": "hmac", "digest_method": S._sha1},
    )
    cookie = raw.dumps(payload)
    with app.app_context():
        try:
            expected = itsdangerous_serializer(["test secret"]).loads(cookie)
        except BadData:
            expected = S._INVALID
        assert repr(codec.loads(cookie, 60)) == repr(expected)


@settings(max_examples=200, deadline=None)
@given(
    key=st.binary(max_size=200),
    message=st.binary(max_size=300),
    digest=st.sampled_from(["sha1", "sha256", "sha512", "md5"]),
)
def test_keyed_mac_is_hmac(key: bytes, message: bytes, digest: str) -> None:
    import hashlib
    import hmac

    method = getattr(hashlib, digest)
    mac = S._KeyedMac(key, method)
    assert mac._inner is not None  # the precomputed path, not the fallback
    assert mac.sign(message) == hmac.new(key, message, method).digest()
    assert mac.sign(message) == mac.sign(message)  # the states are not consumed


def test_keyed_mac_falls_back_to_hmac_for_other_digests() -> None:
    import hashlib
    import hmac

    class NoBlockSize:
        # A digest object without block_size: hmac assumes 64 (and warns);
        # the precomputed path cannot be sure, so hmac's object is used.
        def __init__(self, data: bytes = b"") -> None:
            self._h = hashlib.sha1(data)
            self.digest_size = self._h.digest_size

        def update(self, data: bytes) -> None:
            self._h.update(data)

        def copy(self) -> NoBlockSize:
            other = NoBlockSize()
            other._h = self._h.copy()
            return other

        def digest(self) -> bytes:
            return self._h.digest()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mac = S._KeyedMac(b"k", NoBlockSize)
        expected = hmac.new(b"k", b"m", NoBlockSize).digest()
    assert mac._inner is None
    assert mac.sign(b"m") == expected == hmac.new(b"k", b"m", hashlib.sha1).digest()


def test_codec_is_used_and_rotation_works() -> None:
    app = make_app(SECRET_KEY_FALLBACKS=["old key"])
    codec = codec_for(app)
    old = itsdangerous_serializer(["old key"]).dumps({"a": 1})
    assert codec.loads(old, 60) == {"a": 1}
    # Signed with the current key only.
    assert itsdangerous_serializer(["test secret"]).loads(codec.dumps({"b": 2})) == {
        "b": 2
    }
    # A subclass building its own serializer gets no codec.

    class Custom(SecureCookieSessionInterface):
        def get_signing_serializer(self, app: Erlen) -> URLSafeTimedSerializer | None:
            return super().get_signing_serializer(app)

    assert Custom()._codec(app)[1] is None


cookie_text = st.lists(
    st.sampled_from([*' \t=";\\,abs\u00e9\u2603', "session", "x=1"]),
    max_size=14,
).map("".join)


def environ_with(cookie: str | None, **extra: t.Any) -> dict[str, t.Any]:
    environ: dict[str, t.Any] = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
    }
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    environ.update(extra)
    return environ


@settings(max_examples=1500, deadline=None)
@given(
    before=cookie_text,
    value=st.sampled_from(["abc.def-_", "", '"quo\\"ted\\101"', "a b", "x;y"]),
    after=cookie_text,
    sep=st.sampled_from(["=", " = ", "", "\t=", '="']),
    name=st.sampled_from(["session", "s", "x", "sess\u00e9"]),
)
def test_session_cookie_is_werkzeugs(
    before: str, value: str, after: str, sep: str, name: str
) -> None:
    header = f"{before}session{sep}{value}{after}"
    for environ in (
        environ_with(header),
        environ_with(header, HTTP_Cookie="session=other"),
        environ_with(None),
    ):
        expected = WerkzeugRequest(environ).cookies.get(name)
        assert S._session_cookie(Request(environ), name) == expected
    # Already parsed: the parsed cookies are used.
    req = Request(environ_with(header))
    assert S._session_cookie(req, name) == req.cookies.get(name)


attrs = st.tuples(
    st.sampled_from([None, "", "example.com", ".Example.COM:8080", "b\u00fccher.de"]),
    st.sampled_from([None, "/", "/app", "/a b;c%2F", "/\u00e9"]),
    st.sampled_from([False, True, 0, 1]),
    st.sampled_from([False, True, 0, 1]),
    st.sampled_from([None, "Lax", "strict", "None", "bogus", ""]),
    st.sampled_from([False, True, 0, 1]),
)


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(["session", "s\u00e9ss", "__Host-s"]),
    attrs=attrs,
    expires=st.sampled_from([None, datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)]),
    size=st.sampled_from([4093, 0, 30]),
)
def test_set_cookie_header_is_dump_cookies(
    name: str, attrs: S._CookieAttrs, expires: datetime | None, size: int
) -> None:
    value = "eyJhIjoxfQ.aw8vaQ.ofmjCPfOiMTnhKYA_QFQxVolDtE"
    domain, path, secure, httponly, samesite, partitioned = attrs

    def ours(response: Response) -> None:
        S._set_session_cookie(response, name, value, expires, attrs, True)

    def theirs(response: Response) -> None:
        response.set_cookie(
            name,
            value,
            expires=expires,
            httponly=httponly,
            domain=domain,
            path=path,
            secure=secure,
            partitioned=partitioned,
            samesite=samesite,
        )

    results = []
    for set_cookie in (ours, theirs):
        response = Response()
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            try:
                with make_app(MAX_COOKIE_SIZE=size).app_context():
                    set_cookie(response)
                error = None
            except ValueError as e:
                error = str(e)
        results.append(
            (
                error,
                response.headers.to_wsgi_list(),
                [(w.category, str(w.message)) for w in seen],
            )
        )
    assert results[0] == results[1]


class StockSessions(SecureCookieSessionInterface):
    """The general path: itsdangerous' serializer and ``set_cookie``."""

    def get_signing_serializer(self, app: Erlen) -> URLSafeTimedSerializer | None:
        return super().get_signing_serializer(app)


class StockVaryResponse(Response):
    """Werkzeug's own ``vary`` property (a new property object with the same
    getter), so ``vary.add`` parses and rewrites as Werkzeug does."""

    vary = property(Response.vary.fget, Response.vary.fset)  # type: ignore[attr-defined]


def make_session_app(
    stock: bool, config: dict[str, t.Any], view: t.Callable[[], t.Any]
) -> Erlen:
    app = make_app(**config)
    if stock:
        app.session_interface = StockSessions()
        app.response_class = StockVaryResponse
    app.add_url_rule("/", "view", view)
    app.add_url_rule(
        "/set", "set", lambda: session.update(user=7, items=[1, 2]) or "ok"
    )
    return app


def views() -> dict[str, t.Callable[[], t.Any]]:
    def modify() -> str:
        session["n"] = session.get("n", 0) + 1
        return "n"

    def permanent() -> str:
        session.permanent = True
        return "p"

    def clear() -> str:
        session.clear()
        return "c"

    def read() -> str:
        return str(session.get("user"))

    def untouched() -> str:
        return "u"

    def vary_first() -> t.Any:
        session["x"] = 1
        return "v", {"Vary": "Accept-Encoding"}

    def vary_cookie() -> t.Any:
        session["x"] = 1
        return "v", {"Vary": "accept, cookie"}

    return {
        "modify": modify,
        "permanent": permanent,
        "clear": clear,
        "read": read,
        "untouched": untouched,
        "vary_first": vary_first,
        "vary_cookie": vary_cookie,
    }


CONFIGS = [
    {},
    {"SESSION_COOKIE_DOMAIN": ".example.com", "SESSION_COOKIE_SAMESITE": "Lax"},
    {"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_PARTITIONED": True},
    {"SESSION_COOKIE_PATH": "/x y", "SESSION_COOKIE_HTTPONLY": False},
    {"SESSION_REFRESH_EACH_REQUEST": False, "SESSION_COOKIE_NAME": "s\u00e9"},
    {"PERMANENT_SESSION_LIFETIME": timedelta(hours=1)},
]


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("name", sorted(views()))
def test_response_headers_match_the_general_path(
    config: dict[str, t.Any], name: str
) -> None:
    clients = []
    for stock in (False, True):
        client = make_session_app(stock, config, views()[name]).test_client()
        client.get("/set")
        client.get("/")  # e.g. make it permanent, then look again
        clients.append(client)
    for _ in range(3):  # both apps' requests inside one second (the stamps)
        start = int(time.time())
        responses = [client.get("/") for client in clients]
        if int(time.time()) == start:
            break
    results = [(r.status, r.headers.to_wsgi_list(), r.data) for r in responses]
    assert results[0] == results[1]


def test_permanent_session_is_refreshed_when_only_read() -> None:
    app = make_session_app(False, {}, lambda: "x")
    app.add_url_rule(
        "/perm", "perm", lambda: setattr(session, "permanent", True) or "p"
    )
    client = app.test_client()
    client.get("/set")
    client.get("/perm")
    r = client.get("/")
    assert "Expires=" in r.headers["Set-Cookie"]
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    assert "Set-Cookie" not in client.get("/").headers


class Plain(WerkzeugResponse):
    default_mimetype = "text/html"


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"default_mimetype": "text/plain"},
        {"default_mimetype": None},
        {"automatically_set_content_length": False},
        {"default_status": 201},
        {"set_data": lambda self, value: WerkzeugResponse.set_data(self, value * 2)},
    ],
)
@given(body=st.one_of(st.text(max_size=20), st.binary(max_size=20)))
@settings(max_examples=50, deadline=None)
def test_plain_response_is_werkzeugs(
    attrs: dict[str, t.Any], body: str | bytes
) -> None:
    ours = type("Ours", (Response,), dict(attrs))(body)
    theirs = type("Theirs", (Plain,), dict(attrs))(body)
    assert vars(ours).keys() == vars(theirs).keys()
    assert ours.headers.to_wsgi_list() == theirs.headers.to_wsgi_list()
    assert (ours.status, ours.status_code, ours.response) == (
        theirs.status,
        theirs.status_code,
        theirs.response,
    )
    assert ours._on_close == [] and ours.direct_passthrough is False
    ours.headers["X"] = "1"  # a working Headers object of its own
    assert ours.headers.to_wsgi_list()[-1] == ("X", "1")
    assert type(ours)(body).headers.get("X") is None


def test_plain_response_follows_class_attribute_changes() -> None:
    """A class attribute changed after responses were made is honoured."""

    class Changing(Response):
        pass

    assert Changing("x").headers["Content-Type"] == "text/html; charset=utf-8"
    Changing.default_mimetype = "text/plain"
    Changing.automatically_set_content_length = False
    assert Changing("x").headers.to_wsgi_list() == [
        ("Content-Type", "text/plain; charset=utf-8")
    ]
    Changing.default_status = 202
    assert Changing("x").status == "202 ACCEPTED"
