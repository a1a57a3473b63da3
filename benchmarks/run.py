"""Compare erlen with Flask, Falcon, Bottle and a bare WSGI callable, run two
real Flask applications on both, and compare erlen's ASGI side with Starlette,
FastAPI, Quart and Falcon's ASGI app; then websocket echo round trips and
server-sent events per second under uvicorn for erlen, Starlette and Quart
(:mod:`benchmarks.realtime`).

``python -m benchmarks.run [--quick] [--no-servers] [--scenarios a,b]
[--frameworks a,b] [--asgi-frameworks a,b] [--rounds N] [--seconds S]
[--output docs/benchmarks.md] [--only micro,scaling]``

Beside whole requests it times ``url_for`` per call and template renders
against the number of rows (:mod:`benchmarks.micro`), and routing and
``url_for`` against the number of routes (``--only micro`` or ``--only
scaling`` runs just those and prints their tables).

``BENCH_QUICK=1`` (or ``--quick``) is the development mode: few rounds and
requests, in-process only (requests, ``url_for``, template rows), JSON
written, docs/benchmarks.md left alone
(``python -m benchmarks.realtime --quick`` is the websocket/SSE section's).

Each framework runs in its own subprocess; rounds are interleaved across
frameworks and the median of the rounds is reported. Only ratios within one
run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import typing as t
from importlib import metadata

from . import chart
from . import realtime as realtime_bench
from .asgi_worker import ASGI_SCENARIOS, ERLEN_ASGI_SCENARIOS
from .real_apps import ensure_flaskr
from .scenarios import REAL, SCENARIOS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMEWORKS = ("erlen", "flask", "falcon", "bottle", "bare")
ASGI_FRAMEWORKS = ("erlen", "starlette", "fastapi", "quart", "falcon", "bare")
ASGI_NAMES = {
    "erlen": "erlen (asgi_app)",
    "starlette": "Starlette",
    "fastapi": "FastAPI",
    "quart": "Quart",
    "falcon": "Falcon ASGI",
    "bare": "bare ASGI",
}
WSGI_TARGETS = {
    "erlen": "benchmarks.wsgi_targets:erlen_app",
    "flask": "benchmarks.wsgi_targets:flask_app",
    "falcon": "benchmarks.wsgi_targets:falcon_app",
    "bottle": "benchmarks.wsgi_targets:bottle_app",
    "bare": "benchmarks.wsgi_targets:bare_app",
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # Compiled bytecode for erlen too, as installed packages have.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_worker(
    framework: str, n: int, scenarios: list[str], module: str = "benchmarks.worker"
) -> dict[str, t.Any]:
    out = subprocess.run(
        [sys.executable, "-m", module, framework, str(n), *scenarios],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def interleaved(
    frameworks: list[str],
    rounds: int,
    measure: t.Callable[[str], dict[str, t.Any] | None],
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, t.Any]]]:
    """Run ``measure(framework)`` for every framework in each round, rotating
    the order; returns the median µs per framework and scenario, and each
    framework's last worker result (``measure`` returns ``None`` to skip)."""
    samples: dict[str, dict[str, list[float]]] = {f: {} for f in frameworks}
    last: dict[str, dict[str, t.Any]] = {}
    for r in range(rounds):
        order = frameworks[r % len(frameworks) :] + frameworks[: r % len(frameworks)]
        for fw in order:
            result = measure(fw)
            if result is None:
                continue
            for s, us in result["us"].items():
                samples[fw].setdefault(s, []).append(us)
            last[fw] = result
    medians = {
        fw: {s: statistics.median(v) for s, v in per.items()}
        for fw, per in samples.items()
    }
    return medians, last


def in_process(
    frameworks: list[str], scenarios: list[str], rounds: int, n: int
) -> dict[str, t.Any]:
    """Median µs/request per framework and scenario, and the responses seen."""

    def measure(fw: str) -> dict[str, t.Any] | None:
        mine = [s for s in scenarios if fw in SCENARIOS[s][5]]
        return run_worker(fw, n, mine) if mine else None

    medians, last = interleaved(frameworks, rounds, measure)
    return {
        "us": medians,
        "responses": {fw: r["responses"] for fw, r in last.items()},
        "max_rss_kb": {fw: r["max_rss_kb"] for fw, r in last.items()},
        "skipped": {fw: r["skipped"] for fw, r in last.items() if r.get("skipped")},
    }


def asgi_in_process(
    frameworks: list[str], scenarios: list[str], rounds: int, n: int
) -> dict[str, t.Any]:
    """Median µs/request over ASGI per framework and scenario (one event loop)."""
    available: dict[str, bool] = {}

    def measure(fw: str) -> dict[str, t.Any] | None:
        if available.get(fw) is False:
            return None  # this erlen has no asgi_app: asked once
        result = run_worker(fw, n, scenarios, "benchmarks.asgi_worker")
        available[fw] = result["available"]
        return result

    medians, last = interleaved(frameworks, rounds, measure)
    return {
        "us": medians,
        "responses": {fw: r["responses"] for fw, r in last.items()},
        "available": available,
        "lifespan": {fw: r["lifespan"] for fw, r in last.items() if "lifespan" in r},
        "max_rss_kb": {fw: r["max_rss_kb"] for fw, r in last.items()},
    }


def asgi_mismatches(
    asgi_responses: dict[str, t.Any], wsgi_responses: dict[str, t.Any]
) -> list[str]:
    """Scenarios where erlen's ASGI response differs from the same app over WSGI
    (Flask's when it was measured, else erlen's own WSGI response)."""
    out = []
    mine = asgi_responses.get("erlen", {})
    ref_name = "flask" if "flask" in wsgi_responses else "erlen"
    ref = wsgi_responses.get(ref_name, {})
    for s, got in mine.items():
        if s not in ref:
            continue
        want = {
            "status": int(ref[s]["status"].split()[0]),
            "content_type": ref[s]["content_type"],
            "body_sha256": ref[s]["body_sha256"],
            "body_len": ref[s]["body_len"],
        }
        if got != want:
            out.append(f"{s}: erlen ASGI {got} != {ref_name} WSGI {want}")
    return out


def mismatches(responses: dict[str, t.Any]) -> list[str]:
    """Scenarios where erlen's response differs from Flask's."""
    out = []
    erlen, flask = responses.get("erlen", {}), responses.get("flask", {})
    for s in erlen:
        if s in flask and erlen[s] != flask[s]:
            out.append(f"{s}: erlen {erlen[s]} != flask {flask[s]}")
    return out


def import_times(frameworks: list[str], runs: int = 9) -> dict[str, float]:
    modules = {
        "erlen": "erlen",
        "flask": "flask",
        "falcon": "falcon",
        "bottle": "bottle",
    }
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", os.path.join(ROOT, "src")],
        env=_env(),
        check=False,
    )
    out = {}
    for fw in frameworks:
        if fw not in modules:
            continue
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", f"import {modules[fw]}"], env=_env(), check=True
            )
            times.append((time.perf_counter() - start) * 1000)
        out[fw] = statistics.median(times)
    return out


SCALING = """
import sys, time, json
if sys.argv[1] == "erlen":
    import erlen.flask_patch
from flask import Flask
n, kind = int(sys.argv[2]), sys.argv[3]
t0 = time.perf_counter()
app = Flask("scale")
for i in range(n):
    rule = f"/r{i}" if kind == "static" else f"/r{i}/<v>"
    app.add_url_rule(rule, f"e{i}", lambda **kw: "x")
build = time.perf_counter() - t0
client = app.test_client()
path = f"/r{n-1}" if kind == "static" else f"/r{n-1}/x"
assert client.get(path).data == b"x"
env = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "SERVER_NAME": "localhost",
       "SERVER_PORT": "80", "wsgi.url_scheme": "http", "HTTP_HOST": "localhost"}
if sys.argv[1] == "erlen":
    from erlen.ctx import RequestContext
    def match():
        ctx = RequestContext(app, env); app._match(ctx)
else:
    def match():
        app.url_map.bind_to_environ(env).match(return_rule=True)
def best_us(fn, count=5000, batches=5):
    for _ in range(200): fn()
    best = float("inf")
    for _ in range(batches):
        t0 = time.perf_counter()
        for _ in range(count // batches): fn()
        best = min(best, time.perf_counter() - t0)
    return best / (count // batches) * 1e6
match_us = best_us(match)
from flask import url_for
endpoint = f"e{n-1}"
with app.test_request_context("/"):
    if kind == "static":
        assert url_for(endpoint) == path
        url_for_us = best_us(lambda: url_for(endpoint))
    else:
        assert url_for(endpoint, v="x") == path
        url_for_us = best_us(lambda: url_for(endpoint, v="x"))
print(json.dumps({"build_ms": build * 1000, "match_us": match_us,
                  "url_for_us": url_for_us}))
"""


def scaling() -> dict[str, t.Any]:
    out: dict[str, t.Any] = {}
    for fw in ("erlen", "flask"):
        for kind in ("static", "dynamic"):
            for n in (10, 1000, 10000):
                res = subprocess.run(
                    [sys.executable, "-c", SCALING, fw, str(n), kind],
                    env=_env(),
                    capture_output=True,
                    text=True,
                    check=True,
                )
                out[f"{fw}/{kind}/{n}"] = json.loads(res.stdout)
    return out


MICRO_FRAMEWORKS = ("erlen", "flask", "jinja")
MICRO_SECTIONS = ("url_for", "templates")


def micro(
    rounds: int, n: int, sections: t.Sequence[str] = MICRO_SECTIONS
) -> dict[str, t.Any]:
    """``url_for`` per call and template renders per row count
    (:mod:`benchmarks.micro`): erlen, Flask and stock Jinja2 beside erlen's
    FastEnvironment, each in its own process, rounds interleaved, medians."""

    def measure(fw: str) -> dict[str, t.Any] | None:
        if fw == "jinja" and "templates" not in sections:
            return None
        return run_worker(fw, n, list(sections), "benchmarks.micro")

    medians, last = interleaved(list(MICRO_FRAMEWORKS), rounds, measure)
    outputs = {fw: r["outputs"] for fw, r in last.items()}
    return {
        "sections": list(sections),
        "us": {fw: v for fw, v in medians.items() if v},
        "outputs": outputs,
        "mismatches": micro_mismatches(outputs),
    }


def micro_mismatches(outputs: dict[str, dict[str, str]]) -> list[str]:
    """Outputs that differ: erlen's ``url_for`` results from Flask's, and any
    renderer's page from stock Jinja2's (else Flask's) at the same size."""
    out = []
    erlen, flask = outputs.get("erlen", {}), outputs.get("flask", {})
    for k, got in erlen.items():
        if k.startswith("url_for/") and k in flask and got != flask[k]:
            out.append(f"{k}: erlen {got[:80]!r} != flask {flask[k][:80]!r}")
    pages: dict[str, dict[str, str]] = {}
    for fw, per in outputs.items():
        for k, digest in per.items():
            kind, _, size = k.partition("/")
            if kind in ("render", "jinja2", "fast"):
                name = fw if kind == "render" else kind
                pages.setdefault(size, {})[name] = digest
    for size, by in pages.items():
        ref = "jinja2" if "jinja2" in by else "flask"
        for name, digest in by.items():
            if ref in by and digest != by[ref]:
                out.append(f"{size} rows: {name} page differs from {ref}'s")
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError("server did not start")


def _wrk(port: int, seconds: int) -> dict[str, float]:
    res = subprocess.run(
        [
            "wrk",
            "-t1",
            "-c32",
            f"-d{seconds}s",
            "--latency",
            f"http://127.0.0.1:{port}/hello/world",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    )
    rps = p99 = float("nan")
    non_2xx = 0
    for line in res.stdout.splitlines():
        parts = line.split()
        if line.strip().startswith("Non-2xx or 3xx responses:"):
            non_2xx = int(parts[-1])
        elif line.startswith("Requests/sec:"):
            rps = float(parts[1])
        elif parts[:1] == ["99%"]:
            value = parts[1]
            if value.endswith("us"):
                p99 = float(value[:-2]) / 1000
            elif value.endswith("ms"):
                p99 = float(value[:-2])
            elif value.endswith("s"):
                p99 = float(value[:-1]) * 1000
    return {"rps": rps, "p99_ms": p99, "non_2xx": non_2xx}


def _serve_and_load(
    cmd: list[str],
    port: int,
    seconds: int,
    load: t.Callable[[int, int], dict[str, t.Any]] | None = None,
) -> dict[str, t.Any]:
    """Start a server (its own process group), load it with wrk (or
    ``load(port, pid)``), stop it."""
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_port(port, proc)
        return load(port, proc.pid) if load is not None else _wrk(port, seconds)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        return {"error": str(exc).splitlines()[0][:80]}
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server and its workers (its own process group)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass  # already gone
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def profiles(scenarios: list[str]) -> dict[str, t.Any]:
    """cProfile of erlen on each real-app scenario (benchmarks/profile.py)."""
    return {s: run_worker("erlen", 300, [s], "benchmarks.profile") for s in scenarios}


def _render_profiles(profiles: dict[str, t.Any]) -> list[str]:
    failed = [f"{k}: {v['error']}" for k, v in profiles.items() if "error" in v]
    prof = {k: v for k, v in profiles.items() if "error" not in v}
    if not prof:
        return ["Profiles not taken: " + "; ".join(failed), ""]
    names = list(prof)
    libs: list[str] = []
    for p in prof.values():
        libs += [lib for lib in p["by_library"] if lib not in libs]
    lines = [
        "## Where erlen's time goes on the real pages (cProfile)",
        "",
        "Share of the profiled time by the library owning the code (Jinja2",
        "includes the compiled templates; cProfile inflates small functions, so",
        "these are proportions, not times). sqlite3 and the standard library are",
        "the same work on Flask: the floor no framework change removes.",
        "",
        "| library | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for lib in libs:
        cells = [f"{p['by_library'].get(lib, 0) * 100:.0f}%" for p in prof.values()]
        lines.append(f"| {lib} | " + " | ".join(cells) + " |")
    first = names[0]
    lines += [
        "",
        f"Top functions on `{first}` (own time):",
        "",
        "| function | where | library | share | calls/request |",
        "|---|---|---|---:|---:|",
    ]
    for f in prof[first]["top"][:12]:
        function = f["function"].replace("|", "\\|")
        lines.append(
            f"| `{function}` | {f['where']} | {f['library']} | "
            f"{f['share'] * 100:.1f}% | {f['calls_per_request']:.0f} |"
        )
    if failed:
        lines += ["", "Profiles not taken: " + "; ".join(failed)]
    return [*lines, ""]


def _server_cmd(server: str, target: str, port: int) -> list[str]:
    """The command line serving ``target`` on loopback with one worker."""
    bindir = os.path.dirname(sys.executable)
    where = ["--host", "127.0.0.1", "--port", str(port)]
    if server == "gunicorn":
        gunicorn = os.path.join(bindir, "gunicorn")
        return [gunicorn, "-w", "1", "-k", "sync", "-b", f"127.0.0.1:{port}", target]
    if server == "uvicorn":
        # asgi3 said outright: uvicorn's guess takes a bound ``async def``
        # method (``app.asgi_app``) for an ASGI 2 application.
        uvicorn = [os.path.join(bindir, "uvicorn"), "--interface", "asgi3"]
        quiet = ["--no-access-log", "--log-level", "warning"]
        return [*uvicorn, "--workers", "1", *quiet, *where, target]
    interface = server.removeprefix("granian-")  # granian-wsgi, granian-asgi
    return [
        os.path.join(bindir, "granian"),
        *("--interface", interface, "--workers", "1"),
        *where,
        target,
    ]


def _load_servers(
    servers: dict[str, str], targets: dict[str, str], seconds: int
) -> dict[str, t.Any]:
    """wrk against each (server, framework); keys ``"<server name>/<framework>"``."""
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    out: dict[str, t.Any] = {}
    for name, server in servers.items():
        for fw, target in targets.items():
            port = _free_port()
            cmd = _server_cmd(server, target, port)
            out[f"{name}/{fw}"] = _serve_and_load(cmd, port, seconds)
    return out


def servers(frameworks: list[str], seconds: int) -> dict[str, t.Any]:
    """requests/s and p99 under granian (1 worker) and gunicorn (1 sync worker)."""
    return _load_servers(
        {"granian": "granian-wsgi", "gunicorn": "gunicorn"},
        {fw: WSGI_TARGETS[fw] for fw in frameworks},
        seconds,
    )


def asgi_servers(frameworks: list[str], seconds: int) -> dict[str, t.Any]:
    """requests/s and p99 under uvicorn (1 worker) and granian's ASGI interface."""
    return _load_servers(
        {"uvicorn": "uvicorn", "granian": "granian-asgi"},
        {fw: f"benchmarks.asgi_targets:{fw}_app" for fw in frameworks},
        seconds,
    )


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in (
        "erlen",
        "werkzeug",
        "flask",
        "falcon",
        "bottle",
        "jinja2",
        "granian",
        "gunicorn",
        "starlette",
        "fastapi",
        "quart",
        "uvicorn",
        "websockets",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "-"
    return out


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


REAL_NOTES = {
    "flaskr_index": "flaskr, logged in: index with 20 posts",
    "flaskr_login_error": "flaskr: login POST, wrong password, form re-rendered",
    "blog_index": "blog, logged in: index (5 of 20 posts, Markdown excerpts)",
    "blog_create": "blog, logged in: create-post form POST with CSRF token → 302",
}
REAL_TEXT = [
    "- **flaskr** is Flask's own tutorial app (`examples/tutorial/flaskr` of the",
    "  Flask 3.1.3 sdist, downloaded into `build/` at run time, nothing of it",
    "  committed), unchanged; on erlen it runs through `import erlen.flask_patch`.",
    "  Its SQLite database is seeded with one user and 20 posts by that user, so",
    "  the logged-in index renders 20 posts, each with an Edit link (`url_for`).",
    "  The user's password hash is a one-iteration PBKDF2 hash, so the",
    "  wrong-password POST measures the framework rather than scrypt.",
    "- **blog** is `examples/blog` (`create_app` with a temporary database, 20",
    "  posts). It is written for erlen; on Flask the same source runs through a",
    "  shim that makes `import erlen` give Flask's modules with `Erlen = Flask`",
    "  (`benchmarks/real_apps.py`). The create POST carries the session's CSRF",
    "  token, stores a post, flashes and redirects. The blog renders Markdown",
    "  with one converter per thread and caches the latest renderings (building",
    "  a converter per excerpt was most of its index page, on both frameworks).",
    "- Logged-in requests carry a session cookie signed by the app's own session",
    "  serializer. Each scenario gets a fresh app and database (in `/dev/shm`).",
]


def _us(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _server_table(srv: dict[str, t.Any]) -> list[str]:
    if "skipped" in srv:
        return [srv["skipped"], ""]
    lines = [
        "| server / framework | requests/s | p99 ms | non-2xx |",
        "|---|---:|---:|---:|",
    ]
    for k, v in srv.items():
        if "error" in v:
            lines.append(f"| {k} | - | - | {v['error']} |")
        else:
            lines.append(
                f"| {k} | {v['rps']:.0f} | {v['p99_ms']:.2f} | {v.get('non_2xx', 0)} |"
            )
    return [*lines, ""]


def _check(what: str, bad: list[str], label: str = "Response check") -> list[str]:
    verdict = "**all identical**" if not bad else "MISMATCHES: " + "; ".join(bad)
    return [f"{label} ({what}): {verdict}", ""]


def render(results: dict[str, t.Any]) -> str:
    us = results["in_process"]["us"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m benchmarks.run`); raw numbers in",
        "`benchmarks/results/latest.json`. Each framework runs in its own process,",
        "rounds are interleaved across frameworks; within a round each scenario is",
        "timed in 5 batches and the fastest batch counts (the least disturbed by",
        "other processes), and the median over the rounds is reported. On a shared",
        "machine only the ratios within one run mean anything. `BENCH_QUICK=1 make",
        "bench` is a short development run (in-process only; this page is not",
        "rewritten).",
        "",
        f"- Date: {results['date']}",
        f"- Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()),
        f"- Run time: {results.get('wall_seconds', 0):.0f} s ("
        + ", ".join(
            f"{k} {v:.0f} s" for k, v in results.get("section_seconds", {}).items()
        )
        + ")",
        "",
        "![How many times faster than Flask erlen serves each scenario, real"
        " pages first](benchmarks.svg)",
        "",
    ]

    def cell(fw: str, s: str) -> str:
        return _us(us.get(fw, {}).get(s))

    def ratio(s: str) -> str:
        e, f = us.get("erlen", {}).get(s), us.get("flask", {}).get(s)
        return f"**{f / e:.2f}x**" if e and f else "-"

    real = [s for s in results["scenarios"] if s in REAL]
    bare = [s for s in results["scenarios"] if s not in REAL]
    if real:
        lines += [
            "## Real applications, in-process µs per request (lower is better)",
            "",
            *REAL_TEXT,
            "",
            "| scenario | what | erlen | Flask | Flask / erlen |",
            "|---|---|---:|---:|---:|",
        ]
        for s in real:
            lines.append(
                f"| {s} | {REAL_NOTES.get(s, '')} | {cell('erlen', s)} | "
                f"{cell('flask', s)} | {ratio(s)} |"
            )
        lines.append("")
    for note in results.get("notes", []):
        lines += [f"Note: {note}", ""]
    if bare:
        lines += [
            "## Bare routes, in-process µs per request (lower is better)",
            "",
            "One Flask-API application (`benchmarks/flask_app.py`) on Flask and on",
            "erlen, beside the same routes on Falcon, Bottle and a bare WSGI callable.",
            "",
            "| scenario | erlen | Flask | Flask / erlen | Falcon | Bottle"
            " | bare WSGI |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for s in bare:
            lines.append(
                f"| {s} | {cell('erlen', s)} | {cell('flask', s)} | {ratio(s)} | "
                f"{cell('falcon', s)} | {cell('bottle', s)} | {cell('bare', s)} |"
            )
        lines.append("")
    lines += _check(
        "status, body, key headers of erlen vs Flask, every scenario above",
        results["mismatches"],
    )
    prof = results.get("profiles")
    if prof:
        lines += _render_profiles(prof)
    asgi = results.get("asgi")
    if asgi:
        lines += _render_asgi(asgi, us)
    srv = results.get("servers")
    if srv:
        lines += ["## WSGI servers: plain text, wrk -t1 -c32", ""]
        lines += _server_table(srv)
    asrv = (asgi or {}).get("servers")
    if asrv:
        lines += [
            "## ASGI servers: plain text, wrk -t1 -c32",
            "",
            "uvicorn `--interface asgi3` (1 worker, its default loop and HTTP",
            "parser: uvloop, httptools) and granian `--interface asgi` (1 worker).",
            "",
        ]
        lines += _server_table(asrv)
    rt = results.get("realtime")
    if rt:
        lines += realtime_bench.render(rt)
    imp = results.get("import_ms")
    if imp:
        lines += [
            "## Import time (ms, median, fresh interpreter, compiled bytecode)",
            "",
            "| framework | ms |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v:.1f} |" for k, v in imp.items()] + [""]
    rss = results["in_process"].get("max_rss_kb")
    if rss:
        lines += [
            "## Peak RSS of the WSGI benchmark process (MB)",
            "",
            "| framework | MB |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v / 1024:.1f} |" for k, v in rss.items()] + [""]
    mic = results.get("micro")
    if mic:
        lines += render_micro(mic)
    sc = results.get("scaling")
    if sc:
        lines += render_scaling(sc)
    return "\n".join(lines)


def _ratio(slow: float | None, fast: float | None) -> str:
    return f"**{slow / fast:.2f}x**" if slow and fast else "-"


def render_micro(mic: dict[str, t.Any]) -> list[str]:
    """The ``url_for`` and template-rows sections (:func:`micro`'s results)."""
    from .micro import LOOP, ROWS, URL_FORMS

    us = mic["us"]
    bad = mic["mismatches"]
    erlen, flask = us.get("erlen", {}), us.get("flask", {})
    lines: list[str] = []
    if "url_for" in mic["sections"]:
        lines += [
            "## `url_for`, µs per call (lower is better)",
            "",
            "Inside a real request to a view of the `blog` blueprint of a Flask-API",
            "app (`benchmarks/micro.py`, on erlen through `erlen.flask_patch`): the",
            "view times the calls, so `.update` resolves against the request's",
            "blueprint. Each form is a loop of that one call written out. The",
            "template row renders `{% for i in r %}{{ url_for('blog.update',",
            f"id=i) }}}}{{% endfor %}}` over {LOOP} values with `render_template`,",
            f"less the same loop printing `i`, divided by {LOOP}. Issue 13's",
            "target: Flask / erlen ≥ 5x.",
            "",
            "| call | erlen | Flask | Flask / erlen |",
            "|---|---:|---:|---:|",
        ]
        calls = [(f"url_for/{k}", v[0]) for k, v in URL_FORMS.items()]
        calls.append(("url_for/template", "from a template, per call"))
        for key, what in calls:
            e, f = erlen.get(key), flask.get(key)
            cells = [f"{v:.2f}" if v is not None else "-" for v in (e, f)]
            lines.append(f"| {what} | " + " | ".join(cells) + f" | {_ratio(f, e)} |")
        lines.append("")
        lines += _check(
            "every `url_for` result and the template's output, erlen vs Flask",
            [b for b in bad if b.startswith("url_for/")],
            "Output check",
        )
    if "templates" in mic["sections"]:
        renderers = [
            ("jinja", "jinja2", "stock `jinja2.Environment`"),
            ("jinja", "fast", "`erlen.jinja.FastEnvironment`"),
            ("flask", "render", "Flask `render_template`"),
            ("erlen", "render", "erlen `render_template`"),
        ]

        def per_row(fw: str, kind: str) -> float | None:
            a = us.get(fw, {}).get(f"{kind}/{ROWS[-2]}")
            b = us.get(fw, {}).get(f"{kind}/{ROWS[-1]}")
            return (b - a) / (ROWS[-1] - ROWS[-2]) if a and b else None

        stock = per_row("jinja", "jinja2")
        lines += [
            "## Template rendering vs number of rows, µs per render (lower is better)",
            "",
            "`benchmarks/templates/rows.html`: one table row per item, a dict",
            "whose fields are printed with autoescape (two need escaping), one",
            "object attribute (`row.author.name`), one filter (`|upper`) and",
            "`loop.index`. Stock Jinja2 and erlen's FastEnvironment (same loader,",
            "autoescape on) render with `Template.render` in one process; the",
            "framework rows are `render_template` inside a request on each app",
            f"(context processors included). Per row: the slope from {ROWS[-2]:,}",
            f"to {ROWS[-1]:,} rows. Issue 13's target: linear in rows, erlen's",
            "per-row cost below stock Jinja2's.",
            "",
            "| renderer | "
            + " | ".join(f"{r:,} rows" for r in ROWS)
            + " | µs per row | Jinja2 per row / this |",
            "|---|" + "---:|" * (len(ROWS) + 2),
        ]
        for fw, kind, what in renderers:
            cells = [_us(us.get(fw, {}).get(f"{kind}/{r}")) for r in ROWS]
            row = per_row(fw, kind)
            slope = f"{row:.2f}" if row is not None else "-"
            lines.append(
                f"| {what} | " + " | ".join(cells) + f" | {slope} | "
                f"{_ratio(stock, row)} |"
            )
        lines.append("")
        lines += _check(
            "the page at every size from all four renderers",
            [b for b in bad if not b.startswith("url_for/")],
            "Output check",
        )
    return lines


def render_scaling(sc: dict[str, t.Any]) -> list[str]:
    lines = [
        "## Scaling with the number of routes (last route matched and built)",
        "",
        "`url_for` builds the last-added endpoint inside a request context",
        "(issue 13's target: flat from 10 to 10,000 routes on erlen). Match and",
        "`url_for` times are the fastest of 5 batches of 1,000 calls.",
        "",
        "| framework | kind | routes | app build ms | match µs | url_for µs |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for k, v in sc.items():
        fw, kind, n = k.split("/")
        url = v.get("url_for_us")
        lines.append(
            f"| {fw} | {kind} | {n} | {v['build_ms']:.1f} | {v['match_us']:.2f} | "
            + (f"{url:.2f}" if url is not None else "-")
            + " |"
        )
    return [*lines, ""]


def _render_asgi(asgi: dict[str, t.Any], wsgi_us: dict[str, t.Any]) -> list[str]:
    ip = asgi["in_process"]
    aus = ip["us"]
    fws = [f for f in ASGI_FRAMEWORKS if f in aus]
    lines = [
        "## ASGI, in-process µs per request (lower is better)",
        "",
        "One event loop (asyncio); each request is a direct `await app(scope,",
        "receive, send)` with a prepared scope, after the app's lifespan startup.",
        "erlen serves the same Flask-API app as above through `app.asgi_app`",
        "(its text and JSON views are plain `def` functions, as in a Flask app);",
        "the peers' endpoints are `async def` there. The async view awaits",
        "`asyncio.sleep(0)`. `sync` is a plain `def` endpoint in every framework",
        "(Starlette, FastAPI and Quart call it in a worker thread, as erlen does;",
        "Falcon's ASGI app takes no sync responder; bare is one",
        "`run_in_executor` call): the thread round trip is most of its time.",
        "The erlen WSGI and Flask WSGI columns are the same app over WSGI.",
        "",
        "| scenario | "
        + " | ".join(ASGI_NAMES[f] for f in fws)
        + " | erlen WSGI | Flask WSGI | Starlette / erlen | Quart / erlen"
        " | Flask WSGI / erlen |",
        "|---|" + "---:|" * (len(fws) + 5),
    ]
    for s in asgi["scenarios"]:
        cells = [_us(aus.get(f, {}).get(s)) for f in fws]

        def over(peer: str, s: str = s) -> str:
            e, p = aus.get("erlen", {}).get(s), aus.get(peer, {}).get(s)
            if peer == "flask-wsgi":
                p = wsgi_us.get("flask", {}).get(s)
            return f"**{p / e:.2f}x**" if e and p else "-"

        lines.append(
            f"| {s} | "
            + " | ".join(cells)
            + f" | {_us(wsgi_us.get('erlen', {}).get(s))}"
            + f" | {_us(wsgi_us.get('flask', {}).get(s))}"
            + f" | {over('starlette')} | {over('quart')} | {over('flask-wsgi')} |"
        )
    lines.append("")
    real = asgi.get("real_scenarios", [])
    if real and ip["available"].get("erlen"):
        lines += [
            "The real applications over ASGI (erlen only: Flask has no ASGI side),",
            "the same requests as in the first table:",
            "",
            "| scenario | erlen ASGI | erlen WSGI | Flask WSGI"
            " | Flask WSGI / erlen ASGI |",
            "|---|---:|---:|---:|---:|",
        ]
        for s in real:
            e = aus.get("erlen", {}).get(s)
            f = wsgi_us.get("flask", {}).get(s)
            lines.append(
                f"| {s} | {_us(e)} | {_us(wsgi_us.get('erlen', {}).get(s))} | "
                f"{_us(f)} | " + (f"**{f / e:.2f}x**" if e and f else "-") + " |"
            )
        lines.append("")
    if ip["available"].get("erlen") is False:
        lines += [
            "erlen's column is `-`: this erlen has no `app.asgi_app` yet (issue 11);",
            "the harness fills it as soon as the Flask-API app has one.",
            "",
        ]
    else:
        lines += _check(
            "status, content type, body of erlen over ASGI vs the same app on"
            " Flask over WSGI",
            asgi["mismatches"],
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
        help="few rounds, in-process only (also BENCH_QUICK=1)",
    )
    p.add_argument("--no-servers", action="store_true")
    p.add_argument("--no-asgi", action="store_true")
    p.add_argument(
        "--no-realtime",
        action="store_true",
        help="skip the websocket/SSE section (alone: python -m benchmarks.realtime)",
    )
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    p.add_argument("--asgi-frameworks", default=",".join(ASGI_FRAMEWORKS))
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--requests", type=int, default=None)
    p.add_argument("--seconds", type=int, default=5, help="wrk run per server")
    p.add_argument("--output", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    p.add_argument(
        "--json",
        default=None,
        help="results file (default benchmarks/results/latest.json; with --only,"
        " none unless given)",
    )
    p.add_argument(
        "--only",
        default="",
        help="run only these sections, comma-separated: micro (url_for and"
        " template rows), scaling; prints their tables, writes no page",
    )
    args = p.parse_args(argv)
    if args.only:
        return only(args.only.split(","), args)
    if args.json is None:
        args.json = os.path.join(ROOT, "benchmarks", "results", "latest.json")
    scenarios = [s for s in args.scenarios.split(",") if s]
    frameworks = [f for f in args.frameworks.split(",") if f]
    asgi_frameworks = [f for f in args.asgi_frameworks.split(",") if f]
    rounds = args.rounds or (3 if args.quick else 5)
    n = args.requests or (300 if args.quick else 3000)
    started = time.monotonic()
    results: dict[str, t.Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "versions": versions(),
        "notes": [],
    }
    if any(SCENARIOS[s][0] == "flaskr" for s in scenarios):
        try:
            ensure_flaskr()
        except (OSError, subprocess.SubprocessError) as exc:
            scenarios = [s for s in scenarios if SCENARIOS[s][0] != "flaskr"]
            results["notes"].append(
                f"flaskr skipped: Flask's sdist unavailable ({exc})"
            )
    results["scenarios"] = scenarios
    sections: dict[str, float] = {}
    mark = [time.monotonic()]

    def lap(section: str) -> None:
        now = time.monotonic()
        sections[section] = round(now - mark[0], 1)
        mark[0] = now

    results["section_seconds"] = sections
    results["in_process"] = in_process(frameworks, scenarios, rounds, n)
    results["mismatches"] = mismatches(results["in_process"]["responses"])
    for fw, skipped in results["in_process"]["skipped"].items():
        for name, why in skipped.items():
            results["notes"].append(f"{name} could not run on {fw}: {why}")
    lap("wsgi in-process")
    if not args.no_asgi and asgi_frameworks:
        asgi_scenarios = list(ASGI_SCENARIOS)
        real = [s for s in ERLEN_ASGI_SCENARIOS if s in REAL and s in scenarios]
        ip = asgi_in_process(asgi_frameworks, real + asgi_scenarios, rounds, n)
        results["asgi"] = {
            "scenarios": asgi_scenarios,
            "real_scenarios": real,
            "in_process": ip,
            "mismatches": asgi_mismatches(
                ip["responses"], results["in_process"]["responses"]
            ),
        }
        lap("asgi in-process")
    if "erlen" in frameworks and "flask" in frameworks:
        results["micro"] = micro(rounds, n)
        lap("url_for, template rows")
    if not args.quick:
        results["import_ms"] = import_times(frameworks)
        results["scaling"] = scaling()
        lap("import time, scaling")
        real = [s for s in scenarios if s in REAL]
        if real and "erlen" in frameworks:
            results["profiles"] = profiles(real)
            lap("profiles")
        if not args.no_servers:
            results["servers"] = servers(frameworks, args.seconds)
            lap("wsgi servers")
            if "asgi" in results:
                available = results["asgi"]["in_process"]["available"]
                served = [f for f in asgi_frameworks if available.get(f)]
                asrv = asgi_servers(served, args.seconds)
                if available.get("erlen") is False:
                    for server in ("uvicorn", "granian"):
                        asrv[f"{server}/erlen"] = {"error": "no app.asgi_app yet"}
                results["asgi"]["servers"] = asrv
                lap("asgi servers")
            if not args.no_realtime:
                results["realtime"] = realtime_bench.realtime(
                    realtime_bench.FRAMEWORKS,
                    realtime_bench.SECONDS,
                    realtime_bench.ROUNDS,
                )
                lap("websockets, sse")
    results["wall_seconds"] = round(time.monotonic() - started, 1)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    if not args.quick:
        chart.draw(
            results, os.path.join(os.path.dirname(args.output), "benchmarks.svg")
        )
        with open(args.output, "w") as f:
            f.write(render(results) + "\n")
    print(render(results))
    bad = results["mismatches"] + results.get("asgi", {}).get("mismatches", [])
    bad += results.get("micro", {}).get("mismatches", [])
    return 1 if bad else 0


def only(sections: list[str], args: argparse.Namespace) -> int:
    """``--only``: run the named sections alone and print their tables."""
    unknown = set(sections) - {"micro", "scaling"}
    if unknown:
        raise SystemExit(f"--only: unknown sections {sorted(unknown)}")
    rounds = args.rounds or (3 if args.quick else 5)
    n = args.requests or (300 if args.quick else 3000)
    results: dict[str, t.Any] = {}
    lines: list[str] = []
    if "micro" in sections:
        results["micro"] = micro(rounds, n)
        lines += render_micro(results["micro"])
    if "scaling" in sections:
        results["scaling"] = scaling()
        lines += render_scaling(results["scaling"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    print("\n".join(lines))
    return 1 if results.get("micro", {}).get("mismatches") else 0


if __name__ == "__main__":
    sys.exit(main())
