"""Where a real page's time goes: one scenario under cProfile; JSON on stdout.

``python -m benchmarks.profile FRAMEWORK N SCENARIO`` (the workers' arguments)

The shares are of the profiled time, grouped by the library that owns the
code (erlen, Werkzeug, Jinja2 with the compiled templates, MarkupSafe,
itsdangerous, sqlite3, the application, the standard library). cProfile's own
overhead inflates small functions, so read the shares, not the absolute times.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import re
import sys
import sysconfig
import typing as t

from .real_apps import session_cookie
from .scenarios import LOGGED_IN, REAL, SCENARIOS, environ, fresh
from .worker import call, load

STDLIB = sysconfig.get_paths()["stdlib"]
LIBRARIES = ("erlen", "flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous")


def owner(filename: str, function: str) -> str:
    """The library a profiled function belongs to."""
    path = filename.replace("\\", "/")
    for lib in LIBRARIES:
        if f"/{lib}/" in path:
            return lib
    if path.endswith(".html") or "/templates/" in path:
        return "jinja2"  # compiled template code
    if "sqlite3" in function or "/sqlite3/" in path:
        return "sqlite3"
    if "markdown" in path:
        return "markdown"
    if "/flaskr/" in path or "/examples/" in path or "/benchmarks/" in path:
        return "application"
    if path == "~" or path.startswith(STDLIB):
        return "stdlib/builtins"
    return "other"


def main() -> None:
    framework, n, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    app_name = SCENARIOS[name][0]
    app = load(framework)[app_name]
    cookie = None
    if name in REAL:
        app = app()
        if name in LOGGED_IN:
            cookie = session_cookie(app, app_name)
    env, body = environ(name, cookie)
    for _ in range(50):
        call(app, fresh(env, body))
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        call(app, fresh(env, body))
    profiler.disable()
    stats = pstats.Stats(profiler)
    raw: dict[t.Any, t.Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    by_lib: dict[str, float] = {}
    functions = []
    for (filename, line, function), (_, ncalls, tottime, _, _) in raw.items():
        lib = owner(filename, function)
        by_lib[lib] = by_lib.get(lib, 0.0) + tottime
        functions.append(
            {
                "function": re.sub(r" at 0x[0-9a-f]+", "", function),
                "where": f"{os.path.basename(filename)}:{line}",
                "library": lib,
                "share": tottime / total,
                "calls_per_request": ncalls / n,
            }
        )
    functions.sort(key=lambda f: -f["share"])
    out = {
        "scenario": name,
        "framework": framework,
        "requests": n,
        "by_library": {
            k: v / total for k, v in sorted(by_lib.items(), key=lambda kv: -kv[1])
        },
        "top": functions[:15],
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
