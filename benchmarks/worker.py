"""Time scenarios in-process for one framework; prints JSON on stdout.

``python -m benchmarks.worker FRAMEWORK N SCENARIO...``
"""

from __future__ import annotations

import hashlib
import json
import resource
import sys
import time
import typing as t

from .scenarios import LOGGED_IN, REAL, SCENARIOS, environ, fresh

#: Requests per scenario are ``n // DIVISOR``: these cost far more than a route.
DIVISOR = {s: 5 for s in REAL} | {"blog_index": 15, "upload_1m": 20}
#: The requests are timed in batches; the fastest batch is kept (the one least
#: disturbed by other processes on a shared machine).
BATCHES = 5


def load(framework: str) -> dict[str, t.Any]:
    """The WSGI callables by app name for ``framework`` (real apps: factories)."""
    if framework == "erlen":
        import erlen.flask_patch  # noqa: F401  (before the app imports flask)
    if framework in ("erlen", "flask"):
        from . import real_apps
        from .flask_app import create_app, create_hooks_app

        return {
            "main": create_app(),
            "hooks": create_hooks_app(),
            # A fresh app and database for each scenario (blog_create writes).
            "flaskr": real_apps.create_flaskr,
            "blog": lambda: real_apps.create_blog(framework),
        }
    from . import other_apps

    app = {
        "falcon": other_apps.falcon_app,
        "bottle": other_apps.bottle_app,
        "bare": lambda: other_apps.bare_app,
    }[framework]()
    return {"main": app, "hooks": app}


def call(app: t.Any, env: dict[str, t.Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    seen: dict[str, t.Any] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc: t.Any = None
    ) -> None:
        seen["status"] = status
        seen["headers"] = headers

    result = app(env, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return seen["status"], seen["headers"], body


def describe(
    status: str, headers: list[tuple[str, str]], body: bytes
) -> dict[str, t.Any]:
    """What must match between erlen and Flask (cookies compared by shape:
    their signatures carry a timestamp)."""
    names = {k.lower(): v for k, v in headers}
    return {
        "status": status,
        "content_type": names.get("content-type"),
        "content_length": names.get("content-length"),
        "vary": names.get("vary"),
        "set_cookie": "set-cookie" in names,
        "x_bench": names.get("x-bench"),
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_len": len(body),
    }


def main() -> None:
    framework, n = sys.argv[1], int(sys.argv[2])
    scenarios = sys.argv[3:]
    apps = load(framework)
    out: dict[str, t.Any] = {"us": {}, "responses": {}, "skipped": {}}
    for name in scenarios:
        app_name = SCENARIOS[name][0]
        app = apps[app_name]
        cookie = None
        if name in REAL:
            from .real_apps import session_cookie

            try:
                app = app()
            except ImportError as exc:  # e.g. the blog uses erlen-only modules
                out["skipped"][name] = f"{type(exc).__name__}: {exc}"
                continue
            if name in LOGGED_IN:
                cookie = session_cookie(app, app_name)
        if name == "session":
            env, body = environ(name)
            _, headers, _ = call(app, fresh(env, body))
            cookie = next(v for k, v in headers if k.lower() == "set-cookie").split(
                ";"
            )[0]
        env, body = environ(name, cookie)
        out["responses"][name] = describe(*call(app, fresh(env, body)))
        count = max(20, n // DIVISOR.get(name, 1))
        for _ in range(min(count, 200)):
            call(app, fresh(env, body))
        best = float("inf")
        for _ in range(BATCHES):
            start = time.perf_counter()
            for _ in range(count // BATCHES):
                call(app, fresh(env, body))
            best = min(best, time.perf_counter() - start)
        out["us"][name] = best / (count // BATCHES) * 1e6
    out["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
