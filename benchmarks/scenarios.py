"""Request environs for each scenario."""

from __future__ import annotations

import io
import sys
import typing as t

from .real_apps import CSRF_TOKEN

#: scenario -> (app name, method, path, body, content type, frameworks)
FULL = ("erlen", "flask")
ALL = ("erlen", "flask", "falcon", "bottle", "bare")
BOUNDARY = "benchboundary"
UPLOAD = (
    (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="a.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    + b"u" * (1024 * 1024)
    + f"\r\n--{BOUNDARY}--\r\n".encode()
)

FORM = "application/x-www-form-urlencoded"

SCENARIOS: dict[str, tuple[str, str, str, bytes, str | None, tuple[str, ...]]] = {
    # Real applications (benchmarks/real_apps.py), reported first.
    "flaskr_index": ("flaskr", "GET", "/", b"", None, FULL),
    "flaskr_login_error": (
        "flaskr",
        "POST",
        "/auth/login",
        b"username=bench&password=wrong",
        FORM,
        FULL,
    ),
    "blog_index": ("blog", "GET", "/", b"", None, FULL),
    "blog_create": (
        "blog",
        "POST",
        "/posts/new",
        b"title=A+benchmark+post&body=Some+%2Amarkdown%2A+text.%0A%0A-+a+list"
        b"&csrf_token=" + CSRF_TOKEN.encode(),
        FORM,
        FULL,
    ),
    # Bare routes of benchmarks/flask_app.py.
    "text": ("main", "GET", "/hello/world", b"", None, ALL),
    "json": ("main", "GET", "/json", b"", None, ALL),
    "page": ("main", "GET", "/page", b"", None, FULL),
    "session": ("main", "GET", "/session", b"", None, FULL),
    "form": (
        "main",
        "POST",
        "/form",
        b"name=erlen&email=e%40example.com",
        FORM,
        FULL,
    ),
    "route100": ("main", "GET", "/route99/last", b"", None, FULL),
    "hooks": ("hooks", "GET", "/hooks", b"", None, FULL),
    "async": ("main", "GET", "/async/world", b"", None, FULL),
    # A plain ``def`` endpoint in every ASGI framework (a thread per call).
    "sync": ("main", "GET", "/sync/world", b"", None, FULL),
    "404": ("main", "GET", "/missing/page", b"", None, FULL),
    "blueprint_url_for": ("main", "GET", "/bp/item/41", b"", None, FULL),
    "stream_100k": ("main", "GET", "/stream", b"", None, FULL),
    "upload_1m": (
        "main",
        "POST",
        "/upload",
        UPLOAD,
        f"multipart/form-data; boundary={BOUNDARY}",
        FULL,
    ),
}

#: Scenarios of the real applications, and those sent with a logged-in session.
REAL = frozenset(s for s, v in SCENARIOS.items() if v[0] in ("flaskr", "blog"))
LOGGED_IN = frozenset({"flaskr_index", "blog_index", "blog_create"})


def environ(name: str, cookie: str | None = None) -> tuple[dict[str, t.Any], bytes]:
    _, method, path, body, ctype, _ = SCENARIOS[name]
    env: dict[str, t.Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
        "CONTENT_LENGTH": str(len(body)),
    }
    if ctype:
        env["CONTENT_TYPE"] = ctype
    if cookie:
        env["HTTP_COOKIE"] = cookie
    return env, body


def fresh(env: dict[str, t.Any], body: bytes) -> dict[str, t.Any]:
    out = dict(env)
    out["wsgi.input"] = io.BytesIO(body)
    return out
