"""Reliability and security guarantees (see docs/security.md): one test per
known vulnerability class, named after it, plus a property test over malformed
requests and fault/thread isolation checks."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
import time
import typing as t
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from itsdangerous import URLSafeTimedSerializer
from test_asgi_reliability import live_contexts
from werkzeug.datastructures import Headers

from erlen import Blueprint, Erlen, abort, g, redirect, request, session, websocket
from erlen.globals import _cv_app, _cv_request
from erlen.testing import client_protocol, run_asgi_app


def make_app() -> Erlen:
    app = Erlen("hardening")
    app.secret_key = "k1"

    @app.route("/")
    def index() -> str:
        return "index"

    @app.route("/read-session")
    def read_session() -> str:
        return str(session.get("user"))

    @app.route("/login/<user>")
    def login(user: str) -> str:
        session["user"] = user
        return "ok"

    @app.post("/form")
    def form() -> str:
        return ",".join(sorted(request.form))

    @app.post("/json")
    def json_view() -> dict[str, t.Any]:
        return {"got": request.get_json()}

    @app.route("/items/<int:item>")
    def item(item: int) -> str:
        return str(item)

    @app.route("/boom")
    def boom() -> str:
        raise ValueError("secret-internal-detail at /srv/app/secret.py")

    @app.route("/go")
    def go() -> t.Any:
        return redirect(request.args.get("next", "/"))

    @app.route("/query")
    def query() -> dict[str, t.Any]:
        # What login redirects read (Flask-Login's next=request.full_path).
        return {
            "args": request.args.to_dict(flat=False),
            "full_path": request.full_path,
            "url": request.url,
            "values": list(request.values),
        }

    @app.route("/abort")
    def do_abort() -> str:
        abort(403)

    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @bp.post("/upload")
    def upload() -> str:
        return str(sum(len(f.read()) for f in request.files.values()))

    app.register_blueprint(bp)
    return app


def wsgi(
    app: Erlen, environ: dict[str, t.Any]
) -> tuple[str, list[tuple[str, str]], bytes]:
    """One request from a hand-built environ: through ``app`` (WSGI), or in
    the ASGI pass through ``app.asgi_app`` on a real event loop (the ASGI
    adapter builds its environ from the scope the environ describes)."""
    if client_protocol() == "asgi":
        chunks, status, headers = run_asgi_app(app.asgi_app, environ, buffered=True)
        return status, list(headers.items()), b"".join(chunks)
    seen: dict[str, t.Any] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc: t.Any = None
    ) -> None:
        seen["status"], seen["headers"] = status, headers

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return seen["status"], seen["headers"], body


def base_environ(
    path: str = "/", method: str = "GET", body: bytes = b""
) -> dict[str, t.Any]:
    return {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(body)),
    }


# -- known vulnerability classes --------------------------------------------


def test_vary_cookie_when_session_read() -> None:
    client = make_app().test_client()
    response = client.get("/read-session")
    assert "Cookie" in response.headers.get("Vary", "")
    assert "Cookie" not in client.get("/").headers.get("Vary", "")


def test_multipart_part_count_exhaustion() -> None:
    app = make_app()
    app.config["MAX_FORM_PARTS"] = 10
    data = {f"f{i}": "x" for i in range(50)}
    response = app.test_client().post(
        "/form", data=data, content_type="multipart/form-data"
    )
    assert response.status_code == 413


def test_form_memory_exhaustion() -> None:
    app = make_app()
    app.config["MAX_FORM_MEMORY_SIZE"] = 1000
    # Werkzeug applies the limit to multipart text fields; urlencoded bodies
    # are read whole and are bounded by MAX_CONTENT_LENGTH instead.
    client = app.test_client()
    response = client.post(
        "/form", data={"a": "x" * 5000}, content_type="multipart/form-data"
    )
    assert response.status_code == 413
    small = client.post(
        "/form", data={"a": "x" * 500}, content_type="multipart/form-data"
    )
    assert (small.status_code, small.text) == (200, "a")


def test_content_length_limit_refuses_before_reading_the_body() -> None:
    app = make_app()
    app.config["MAX_CONTENT_LENGTH"] = 100

    class Exploding(io.RawIOBase):
        def readinto(self, b: t.Any) -> int:
            raise AssertionError("the body was read")

    environ = base_environ("/form", "POST")
    environ["wsgi.input"] = Exploding()
    environ["CONTENT_LENGTH"] = "1000000"
    environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    status, _, _ = wsgi(app, environ)
    assert status.startswith("413")


def test_pathological_cookie_header() -> None:
    client = make_app().test_client()
    cookie = (
        "; ".join(f"c{i}={'v' * 50}" for i in range(2000)) + '; =;;; a="unterminated'
    )
    response = client.get("/read-session", headers={"Cookie": cookie})
    assert response.status_code == 200
    assert response.text == "None"


def test_very_long_header_value() -> None:
    response = make_app().test_client().get("/", headers={"X-Long": "a" * 1_000_000})
    assert response.status_code == 200


def test_header_injection_redirect_target() -> None:
    app = make_app()
    environ = base_environ("/go")
    environ["QUERY_STRING"] = "next=/x%0d%0aSet-Cookie:%20pwned=1"
    status, headers, body = wsgi(app, environ)
    # Werkzeug refuses header values with newlines: no injected header, and
    # the failure is a plain 500 page without internals.
    assert not any(k.lower() == "set-cookie" for k, _ in headers)
    assert status.startswith("500")
    assert b"Traceback" not in body


def test_header_injection_header_value_and_cookie_value() -> None:
    app = make_app()

    @app.route("/h")
    def h() -> t.Any:
        response = app.make_response("x")
        response.headers["X-A"] = request.args["v"]
        return response

    @app.route("/c")
    def c() -> t.Any:
        response = app.make_response("x")
        response.set_cookie("name", request.args["v"])
        return response

    client = app.test_client()
    bad = client.get("/h", query_string={"v": "a\r\nX-Injected: 1"})
    assert "X-Injected" not in bad.headers
    assert bad.status_code == 500
    cookie = client.get("/c", query_string={"v": "a\r\nX-Injected: 1"})
    assert "X-Injected" not in cookie.headers
    assert "\n" not in cookie.headers.get("Set-Cookie", "")


def _cookie(key: str, data: dict[str, t.Any], timestamp: int | None = None) -> str:
    from erlen.sessions import SecureCookieSessionInterface

    si = SecureCookieSessionInterface()
    signer = URLSafeTimedSerializer(
        key,
        salt=si.salt,
        serializer=si.serializer,
        signer_kwargs={"key_derivation": "hmac", "digest_method": si.digest_method},
    )
    if timestamp is not None:
        signer.signer_kwargs = dict(signer.signer_kwargs)
        value = signer.dumps(data)
        return value
    return signer.dumps(data)  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", ["tampered", "wrong_key", "garbage"])
def test_session_cookie_tampering_gives_empty_session(case: str) -> None:
    client = make_app().test_client()
    value = _cookie("k1", {"user": "admin"})
    if case == "tampered":
        payload, rest = value.split(".", 1)
        value = (
            payload[:-2]
            + ("A" if payload[-2] != "A" else "B")
            + payload[-1]
            + "."
            + rest
        )
    elif case == "wrong_key":
        value = _cookie("another key", {"user": "admin"})
    else:
        value = "not.a.cookie!!"
    client.set_cookie("session", value)
    response = client.get("/read-session")
    assert (response.status_code, response.text) == (200, "None")


def test_session_expired_and_key_rotation(monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app()
    client = app.test_client()
    client.get("/login/alice")
    assert client.get("/read-session").text == "alice"
    # Rotation without fallbacks: old cookies stop working.
    app.config["SECRET_KEY"] = "k2"
    assert client.get("/read-session").text == "None"
    # With the old key as a fallback they are accepted again.
    app.config["SECRET_KEY_FALLBACKS"] = ["k1"]
    assert client.get("/read-session").text == "alice"
    # Expired: a lifetime of zero seconds rejects any signature from the past.
    app.config["PERMANENT_SESSION_LIFETIME"] = 0
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 5)
    assert client.get("/read-session").text == "None"


def test_session_cookie_flags_honoured() -> None:
    app = make_app()
    app.config.update(
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_PARTITIONED=True,
    )
    cookie = app.test_client().get("/login/a").headers["Set-Cookie"]
    for flag in ("Secure", "HttpOnly", "SameSite=Strict", "Partitioned"):
        assert flag in cookie


def test_debugger_unreachable_without_debug_mode() -> None:
    client = make_app().test_client()
    for query in (
        "__debugger__=yes&cmd=resource&f=style.css",
        "__debugger__=yes&cmd=printpin",
    ):
        response = client.get(f"/?{query}")
        assert b"Werkzeug" not in response.data
        assert b"debugger" not in response.data.lower()
    page = client.get("/console")
    assert page.status_code == 404


def test_production_error_page_reveals_nothing() -> None:
    app = make_app()
    status, _, body = wsgi(app, base_environ("/boom"))
    assert status.startswith("500")
    for leak in (b"secret-internal-detail", b"Traceback", b"/srv/app", b"ValueError"):
        assert leak not in body


def safe_next_url(target: str, host: str) -> str:
    """The pattern docs/security.md recommends: only same-site paths (no
    ``//`` or ``///`` hosts, backslashes or control characters)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def test_open_redirect_protocol_relative() -> None:
    client = make_app().test_client()
    response = client.get("/go", query_string={"next": "//evil.example/x"})
    # redirect() sends what it is given: an app must check user-supplied targets.
    assert response.headers["Location"] == "//evil.example/x"
    assert safe_next_url("//evil.example/x", "localhost") == "/"
    assert safe_next_url("https://evil.example", "localhost") == "/"
    assert safe_next_url("/\\evil.example", "localhost") == "/"
    assert safe_next_url("/account?tab=2", "localhost") == "/account?tab=2"
    for attack in ("///evil.example", "/\t/evil.example", "/\n/x", "/%09/ok"):
        expected = "/%09/ok" if attack == "/%09/ok" else "/"
        assert safe_next_url(attack, "localhost") == expected


# -- malformed input never gives a 5xx ----------------------------------------

PATHS = st.one_of(
    st.sampled_from(
        [
            "/",
            "/items/1",
            "/items/x",
            "/json",
            "/form",
            "/bp/upload",
            "/%2e%2e/x",
            "/query",
        ]
    ),
    # A WSGI server gives the path as latin-1-decoded bytes.
    st.text(min_size=0, max_size=300).map(
        lambda s: "/" + s.encode("utf-8").decode("latin-1")
    ),
    st.binary(max_size=100).map(lambda b: "/" + b.decode("latin-1")),
)
HEADER_VALUES = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=200
)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    method=st.sampled_from(
        ["GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "BREW", "get"]
    ),
    path=PATHS,
    # As a WSGI server gives it: latin-1-decoded bytes, UTF-8 or not (a
    # client may send raw bytes that are not).
    query=st.one_of(
        st.text(max_size=200).map(lambda s: s.encode("utf-8").decode("latin-1")),
        st.binary(max_size=100).map(lambda b: b.decode("latin-1")),
    ),
    body=st.binary(max_size=2000),
    content_type=st.sampled_from(
        [
            None,
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "multipart/form-data",
            "text/plain; charset=bogus",
        ]
    ),
    content_length=st.one_of(st.none(), st.sampled_from(["-1", "abc", "0", "999999"])),
    cookie=st.one_of(st.none(), HEADER_VALUES, st.just("session=" + "A" * 5000)),
    extra=st.dictionaries(
        st.sampled_from(
            ["HTTP_ACCEPT", "HTTP_X_FORWARDED_FOR", "HTTP_RANGE", "HTTP_IF_NONE_MATCH"]
        ),
        HEADER_VALUES,
        max_size=3,
    ),
)
def test_malformed_requests_never_break_the_app(
    method: str,
    path: str,
    query: str,
    body: bytes,
    content_type: str | None,
    content_length: str | None,
    cookie: str | None,
    extra: dict[str, str],
) -> None:
    app = FUZZ_APP
    environ = base_environ(path, method, body)
    environ["QUERY_STRING"] = query
    if content_type:
        environ["CONTENT_TYPE"] = content_type
    if content_length is not None:
        environ["CONTENT_LENGTH"] = content_length
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    environ.update(extra)
    status, _, response_body = wsgi(app, environ)
    code = int(status.split()[0])
    assert 200 <= code < 500, (status, response_body[:200])
    assert b"Traceback" not in response_body
    assert _cv_request.get(None) is None
    assert _cv_app.get(None) is None
    ok = wsgi(app, base_environ("/items/7"))
    assert ok[0] == "200 OK" and ok[2] == b"7"


FUZZ_APP = make_app()


@pytest.mark.parametrize(
    ("raw", "args", "full_path"),
    [
        # Raw bytes that are not UTF-8 stay percent-encoded, as Werkzeug
        # leaves invalid percent-escapes (it raised UnicodeDecodeError: 500).
        (b"a=\xff\xfe", {"a": ["%FF%FE"]}, "/query?a=%FF%FE"),
        (b"a=%ff%fe", {"a": ["%FF%FE"]}, "/query?a=%ff%fe"),
        (
            b"next=/x&e=\xc3\xa9",
            {"next": ["/x"], "e": ["\u00e9"]},
            "/query?next=/x&e=\u00e9",
        ),
        (b"q=%C3%A9&q=2", {"q": ["\u00e9", "2"]}, "/query?q=%C3%A9&q=2"),
    ],
)
def test_query_strings_that_are_not_utf8_are_read_not_a_500(
    raw: bytes, args: dict[str, list[str]], full_path: str
) -> None:
    environ = base_environ("/query", "GET", b"")
    environ["QUERY_STRING"] = raw.decode("latin-1")
    status, _, body = wsgi(FUZZ_APP, environ)
    assert status == "200 OK", body
    got = json.loads(body)
    assert got["args"] == args
    assert got["full_path"] == full_path


# -- faults and isolation ------------------------------------------------------


def test_teardown_runs_and_error_logged_once_on_faults(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    torn: list[BaseException | None] = []
    app.teardown_request(lambda exc: torn.append(exc))

    @app.after_request
    def broken_after(response: t.Any) -> t.Any:
        if request.path == "/after-fails":
            raise RuntimeError("after failed")
        return response

    @app.route("/after-fails")
    def after_fails() -> str:
        return "never sent"

    client = app.test_client()
    with caplog.at_level("ERROR", logger=app.logger.name):
        response = client.get("/after-fails")
    assert response.status_code == 500
    assert (
        len([r for r in caplog.records if "Exception on /after-fails" in r.message])
        == 1
    )
    assert isinstance(torn[-1], RuntimeError)
    assert client.get("/").text == "index"
    assert torn[-1] is None


def test_threads_never_see_each_others_request_g_or_session() -> None:
    app = make_app()

    @app.route("/who/<name>")
    def who(name: str) -> str:
        g.name = name
        session["name"] = name
        time.sleep(0.001)
        return f"{request.view_args['name']}|{g.name}|{session['name']}"  # type: ignore[index]

    errors: list[str] = []

    def worker(n: int) -> None:
        client = app.test_client()
        for i in range(20):
            name = f"t{n}-{i}"
            text = client.get(f"/who/{name}").text
            if text != f"{name}|{name}|{name}":
                errors.append(text)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_abort_gives_its_status() -> None:
    assert make_app().test_client().get("/abort").status_code == 403


def test_client_disconnect_mid_stream_closes_the_generator() -> None:
    app = make_app()
    events: list[str] = []

    @app.route("/stream")
    def stream() -> t.Any:
        def gen() -> t.Iterator[str]:
            try:
                for i in range(1000):
                    yield f"chunk {i}\n"
            finally:
                events.append("closed")

        return gen()

    seen: dict[str, t.Any] = {}
    if client_protocol() == "asgi":
        # Closing the body disconnects the client; close() waits for the app.
        result, seen["status"], _ = run_asgi_app(app.asgi_app, base_environ("/stream"))
    else:
        result = app(
            base_environ("/stream"), lambda s, h, e=None: seen.update(status=s)
        )
    chunks = iter(result)
    assert next(chunks) == b"chunk 0\n"
    result.close()  # type: ignore[attr-defined]  # the server gives up
    assert events == ["closed"]
    assert seen["status"] == "200 OK"
    assert wsgi(app, base_environ("/"))[2] == b"index"


def test_memory_stays_flat_over_100k_requests() -> None:
    import gc
    import tracemalloc

    app = make_app()
    environs = [base_environ("/items/5"), base_environ("/missing"), base_environ("/")]

    def run(n: int) -> None:
        for i in range(n):
            environ = dict(environs[i % 3])
            environ["wsgi.input"] = io.BytesIO()
            wsgi(app, environ)

    run(5_000)  # warm-up: caches, plans, error pages
    gc.collect()
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        run(100_000)
        gc.collect()
        end, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert end - start < 256 * 1024, f"grew by {end - start} bytes"


def test_content_length_limit_applies_to_chunked_bodies() -> None:
    app = make_app()
    app.config["MAX_CONTENT_LENGTH"] = 100
    environ = base_environ("/form", "POST", b"a=" + b"x" * 10_000)
    del environ["CONTENT_LENGTH"]  # a chunked body: the server says it is terminated
    environ["wsgi.input_terminated"] = True
    environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
    status, _, _ = wsgi(app, environ)
    assert status.startswith("413")


def test_oversized_cookie_warns() -> None:
    app = make_app()

    @app.route("/big-cookie")
    def big_cookie() -> t.Any:
        response = app.make_response("x")
        response.set_cookie("big", "v" * 5000)
        return response

    with pytest.warns(UserWarning, match="cookie is too large"):
        app.test_client().get("/big-cookie")


@pytest.mark.parametrize(
    "where",
    [
        "before_request",
        "view",
        "after_request",
        "errorhandler",
        "teardown",
        "generator",
    ],
)
def test_faults_anywhere_leave_the_app_serving(
    where: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    torn: list[str] = []

    def fail(*args: t.Any) -> t.Any:
        raise RuntimeError(f"fault in {where}")

    @app.teardown_request
    def record(exc: BaseException | None) -> None:
        torn.append(type(exc).__name__)

    if where == "before_request":
        app.before_request(lambda: fail() if request.path == "/f" else None)
    elif where == "after_request":
        app.after_request(lambda r: fail() if request.path == "/f" else r)
    elif where == "teardown":
        app.teardown_request(lambda exc: fail() if request.path == "/f" else None)
    elif where == "errorhandler":
        app.register_error_handler(LookupError, fail)

    @app.route("/f")
    def faulty() -> t.Any:
        if where == "view":
            fail()
        if where == "errorhandler":
            raise LookupError("handled by a broken handler")
        if where == "generator":

            def gen() -> t.Iterator[str]:
                yield "start"
                fail()

            return gen()
        return "fine"

    environ = base_environ("/f")
    with caplog.at_level("ERROR", logger=app.logger.name):
        if where == "generator":
            # Headers are already sent: the error reaches the server, which
            # closes the connection; teardown has run already.
            with pytest.raises(RuntimeError, match="fault in generator"):
                wsgi(app, environ)
        elif where == "teardown":
            # Teardown runs after the response was made: the error propagates
            # to the server, as in Flask.
            with pytest.raises(RuntimeError, match="fault in teardown"):
                wsgi(app, environ)
        else:
            status, _, body = wsgi(app, environ)
            assert status.startswith("500")
            assert b"fault in" not in body
            logged = [r for r in caplog.records if "Exception on /f" in r.message]
            assert len(logged) == 1
    if where != "teardown":  # there the failing teardown stops the rest, as in Flask
        assert torn, "teardown did not run"
    assert _cv_request.get(None) is None and _cv_app.get(None) is None
    assert wsgi(app, base_environ("/"))[2] == b"index"


# -- websockets ----------------------------------------------------------------
#
# Handshakes and messages from a misbehaving client, driven through
# app.asgi_app with hand-written ASGI messages (as a server passes them on) or
# the websocket test client. tests/test_websocket.py covers the normal
# behaviour, tests/test_websocket_reliability.py what a real server does with
# invalid frames (non-UTF-8 text is refused there, with 1007, before the app
# sees it).


class LogLines(logging.Handler):
    """A logger's records as text lines, ``"LEVEL message | ErrorType"``: a
    whole record would keep its traceback and, through it, the frames and
    request context of the error (which a leak check would then find)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = f"{record.levelname} {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            line += f" | {type(record.exc_info[1]).__name__}"
        self.lines.append(line)

    def take(self) -> list[str]:
        """The lines so far, forgotten here."""
        lines, self.lines = self.lines, []
        return lines


@contextmanager
def log_lines(logger: logging.Logger) -> t.Iterator[LogLines]:
    """What ``logger`` logs meanwhile (warnings and up), kept from the
    loggers above it (pytest's capture keeps whole records)."""
    handler = LogLines()
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield handler
    finally:
        logger.propagate = propagate
        logger.removeHandler(handler)


def make_websocket_app() -> tuple[Erlen, list[str]]:
    """``make_app()`` with websocket routes; the list gets the path of each
    connection's teardown and, for an error it saw, the error."""
    app = make_app()
    torn: list[str] = []

    @app.teardown_request
    def record(exc: BaseException | None) -> None:
        torn.append(request.path if exc is None else f"{request.path} {exc!r}")

    @app.websocket("/ws/<name>")
    async def hello(name: str) -> None:
        await websocket.accept()
        await websocket.send_json(
            {
                "name": name,
                "args": request.args.to_dict(flat=False),
                "cookies": request.cookies.to_dict(flat=False),
                "user": session.get("user"),
                "offered": websocket.requested_subprotocols,
                "url": websocket.url,
            }
        )

    @app.websocket("/json")
    async def json_echo() -> None:
        while True:
            await websocket.send_json({"got": await websocket.receive_json()})

    @app.websocket("/json-tolerant")
    async def json_tolerant() -> None:
        while True:
            try:
                message = await websocket.receive_json()
            except ValueError:
                await websocket.send("not JSON")
                continue
            await websocket.send_json({"got": message})

    return app, torn


def websocket_exchange(
    app: Erlen, scope: dict[str, t.Any], messages: t.Sequence[dict[str, t.Any]] = ()
) -> list[dict[str, t.Any]]:
    """One websocket connection through ``app.asgi_app``: the handshake,
    then ``messages`` from the client, then a disconnect (1006) whenever
    the app reads again; what the app sent. Bounded to 10 seconds."""
    incoming = [{"type": "websocket.connect"}, *messages]
    sent: list[dict[str, t.Any]] = []

    async def receive() -> dict[str, t.Any]:
        if incoming:
            return incoming.pop(0)
        return {"type": "websocket.disconnect", "code": 1006}

    async def send(message: t.MutableMapping[str, t.Any]) -> None:
        sent.append(dict(message))

    full = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": "/ws/ann",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 5555),
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}},
        **scope,
    }

    async def main() -> None:
        await asyncio.wait_for(app.asgi_app(full, receive, send), 10)
        assert _cv_request.get(None) is None and _cv_app.get(None) is None

    asyncio.run(main())
    return sent


def refusal(sent: list[dict[str, t.Any]]) -> tuple[int, bytes]:
    """The status and body of a refused handshake."""
    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ], sent
    return sent[0]["status"], sent[1]["body"]


def test_websocket_to_an_unknown_path_is_refused_404_and_leaks_nothing() -> None:
    app, torn = make_websocket_app()
    before = live_contexts()
    with log_lines(app.logger) as log:
        status, body = refusal(websocket_exchange(app, {"path": "/nowhere"}))
        # A path that is an HTTP route is no websocket endpoint: 400.
        status_http, _ = refusal(websocket_exchange(app, {"path": "/items/3"}))
    assert status == 404 and b"Not Found" in body
    assert status_http == 400
    assert b"Traceback" not in body
    assert torn == ["/nowhere", "/items/3"]  # teardown ran once for each
    assert log.take() == []
    assert live_contexts() == before


HANDSHAKE_HEADERS = [
    "cookie",
    "host",
    "origin",
    "sec-websocket-protocol",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "x-forwarded-for",
    "accept-language",
    "content-length",
    "content-type",
    "connection",
    "upgrade",
    "authorization",
]
# What a server passes on of the request target: printable ASCII (any byte
# percent-encoded); uvicorn answers raw non-ASCII bytes there with a 400.
URL_BYTES = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=80
).map(str.encode)
# Bytes a server's HTTP parser passes on in a header value: no CR or LF.
HEADER_BYTES = st.binary(max_size=200).filter(
    lambda b: b"\r" not in b and b"\n" not in b
)
SIGNED_SESSION = (
    make_app().session_interface.get_signing_serializer(make_app()).dumps({"user": "x"})  # type: ignore[attr-defined]
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    path=st.one_of(
        st.sampled_from(
            ["/ws/ann", "/ws/caf\u00e9", "/ws/a%00b", "/ws/", "//ws/x", "/nowhere"]
        ),
        st.text(max_size=40).map(lambda s: "/ws/" + s),
    ),
    raw_path=st.one_of(st.none(), URL_BYTES.map(lambda b: b"/ws/" + b)),
    query=URL_BYTES,
    headers=st.lists(
        st.tuples(st.sampled_from(HANDSHAKE_HEADERS).map(str.encode), HEADER_BYTES),
        max_size=6,
    ),
    subprotocols=st.lists(st.text(max_size=12), max_size=3),
    session_cookie=st.booleans(),
)
def test_malformed_websocket_handshakes_never_break_the_app(
    path: str,
    raw_path: bytes | None,
    query: bytes,
    headers: list[tuple[bytes, bytes]],
    subprotocols: list[str],
    session_cookie: bool,
) -> None:
    """Whatever the handshake carries (paths, query strings, header bytes,
    subprotocols, cookies), the app accepts it and answers, or refuses it
    with a 4xx (or a redirect): never a 5xx, never an error logged, never a
    context left."""
    app = WEBSOCKET_FUZZ_APP
    if session_cookie:
        headers = [*headers, (b"cookie", f"session={SIGNED_SESSION}".encode())]
    scope: dict[str, t.Any] = {
        "path": path,
        "query_string": query,
        "headers": [(b"host", b"localhost"), *headers],
        "subprotocols": subprotocols,
    }
    if raw_path is not None:
        scope["raw_path"] = raw_path
    with log_lines(app.logger) as log:
        sent = websocket_exchange(app, scope)
    assert log.take() == []
    if sent[0]["type"] == "websocket.accept":
        assert [m["type"] for m in sent] == [
            "websocket.accept",
            "websocket.send",
            "websocket.close",
        ], sent
        assert sent[2]["code"] == 1000
        assert '"name"' in sent[1]["text"]
    else:
        # Refused: a 4xx, or a redirect to the canonical URL ("/ws//x").
        status, body = refusal(sent)
        assert 300 <= status < 500, (status, body[:200])
        assert b"Traceback" not in body
    # The app goes on serving.
    ok = websocket_exchange(app, {"path": "/ws/ok"})
    assert ok[0]["type"] == "websocket.accept"


WEBSOCKET_FUZZ_APP = make_websocket_app()[0]


@pytest.mark.parametrize(
    "message",
    [
        {"text": "{not json"},
        {"text": ""},
        {"text": "[1, 2"},
        {"bytes": b"\xff\xfe\xfd"},  # binary, not UTF-8
        {"bytes": b""},
    ],
)
def test_websocket_invalid_json_message_is_a_client_error(
    message: dict[str, t.Any],
) -> None:
    """``receive_json()`` on a message that is not JSON raises a 400 (a
    ``ValueError`` too): unhandled, the connection closes with 1008, not
    1011, and nothing is logged as an error — a client cannot fill the
    error log; a handler may catch it and go on."""
    app, torn = make_websocket_app()
    frame = {"type": "websocket.receive", **message}
    with log_lines(app.logger) as log:
        sent = websocket_exchange(app, {"path": "/json"}, [frame])
        tolerant = websocket_exchange(
            app,
            {"path": "/json-tolerant"},
            [frame, {"type": "websocket.receive", "text": '{"a": 1}'}],
        )
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    assert sent[1]["code"] == 1008
    assert log.take() == []
    assert torn == ["/json", "/json-tolerant"]
    assert [m.get("text") for m in tolerant[1:3]] == ["not JSON", '{"got": {"a": 1}}']


@pytest.mark.parametrize(
    ("method", "status"),
    [("GET", 400), ("HEAD", 400), ("POST", 405), ("PUT", 405), ("OPTIONS", 405)],
)
def test_websocket_route_over_plain_http_is_a_clear_4xx(
    method: str, status: int
) -> None:
    """An HTTP request (WSGI, or ASGI's ``http``) to a websocket route, with
    or without the upgrade headers: 400 for GET and HEAD (with the upgrade
    headers, saying to serve over ASGI), 405 with ``Allow: GET, HEAD``
    otherwise; the handler never runs."""
    app, torn = make_websocket_app()
    for upgrade in (False, True):
        environ = base_environ("/ws/ann", method)
        if upgrade:
            environ.update(HTTP_CONNECTION="Upgrade", HTTP_UPGRADE="websocket")
        got, headers, body = wsgi(app, environ)
        assert int(got.split()[0]) == status, (got, body[:200])
        if status == 405:
            allow = Headers(headers)["Allow"].split(", ")
            assert sorted(allow) == ["GET", "HEAD"]
        elif method == "GET" and upgrade:
            assert b"this request is not a websocket connection" in body
        elif method == "GET":
            # Werkzeug's websocket rule does not match a plain GET: its 400.
            assert b"<title>400 Bad Request</title>" in body
    assert torn == ["/ws/ann", "/ws/ann"]
    assert _cv_request.get(None) is None and _cv_app.get(None) is None


def test_websocket_client_gone_before_the_handshake_is_passed_on() -> None:
    """A disconnect instead of ``websocket.connect``: nothing runs, nothing
    is sent, no context is made."""
    app, torn = make_websocket_app()
    sent: list[t.Any] = []

    async def receive() -> dict[str, t.Any]:
        return {"type": "websocket.disconnect", "code": 1006}

    async def send(message: t.Any) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws/ann", "headers": [], "query_string": b""}
    asyncio.run(asyncio.wait_for(app.asgi_app(scope, receive, send), 10))
    assert sent == [] and torn == []
