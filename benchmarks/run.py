"""Compare erlen with Flask, Falcon, Bottle and a bare WSGI callable.

``python -m benchmarks.run [--quick] [--no-servers] [--scenarios a,b]
[--frameworks a,b] [--rounds N] [--output docs/benchmarks.md]``

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

from .scenarios import SCENARIOS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMEWORKS = ("erlen", "flask", "falcon", "bottle", "bare")
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


def run_worker(framework: str, n: int, scenarios: list[str]) -> dict[str, t.Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", framework, str(n), *scenarios],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def in_process(
    frameworks: list[str], scenarios: list[str], rounds: int, n: int
) -> dict[str, t.Any]:
    """Median µs/request per framework and scenario, and the responses seen."""
    samples: dict[str, dict[str, list[float]]] = {f: {} for f in frameworks}
    responses: dict[str, dict[str, t.Any]] = {}
    rss: dict[str, int] = {}
    for r in range(rounds):
        order = frameworks[r % len(frameworks) :] + frameworks[: r % len(frameworks)]
        for fw in order:
            mine = [s for s in scenarios if fw in SCENARIOS[s][5]]
            if not mine:
                continue
            result = run_worker(fw, n, mine)
            for s, us in result["us"].items():
                samples[fw].setdefault(s, []).append(us)
            responses[fw] = result["responses"]
            rss[fw] = result["max_rss_kb"]
    medians = {
        fw: {s: statistics.median(v) for s, v in per.items()}
        for fw, per in samples.items()
    }
    return {"us": medians, "responses": responses, "max_rss_kb": rss}


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
for _ in range(200): match()
count = 5000
t0 = time.perf_counter()
for _ in range(count): match()
match_us = (time.perf_counter() - t0) / count * 1e6
print(json.dumps({"build_ms": build * 1000, "match_us": match_us}))
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
    for line in res.stdout.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            rps = float(parts[1])
        elif parts[:1] == ["99%"]:
            value = parts[1]
            unit = 1000.0 if value.endswith("ms") and not value.endswith("us") else 1.0
            if value.endswith("us"):
                p99 = float(value[:-2]) / 1000
            elif value.endswith("ms"):
                p99 = float(value[:-2])
            elif value.endswith("s"):
                p99 = float(value[:-1]) * 1000
            del unit
    return {"rps": rps, "p99_ms": p99}


def servers(frameworks: list[str], seconds: int) -> dict[str, t.Any]:
    """requests/s and p99 under granian (1 worker) and gunicorn (1 sync worker)."""
    bindir = os.path.dirname(sys.executable)
    out: dict[str, t.Any] = {}
    if not shutil.which("wrk"):
        return {"skipped": "wrk is not installed (apt-get install wrk)"}
    for server in ("granian", "gunicorn"):
        for fw in frameworks:
            port = _free_port()
            target = WSGI_TARGETS[fw]
            if server == "granian":
                cmd = [
                    os.path.join(bindir, "granian"),
                    "--interface",
                    "wsgi",
                    "--workers",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    target,
                ]
            else:
                cmd = [
                    os.path.join(bindir, "gunicorn"),
                    "-w",
                    "1",
                    "-k",
                    "sync",
                    "-b",
                    f"127.0.0.1:{port}",
                    target,
                ]
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
                out[f"{server}/{fw}"] = _wrk(port, seconds)
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
    return out


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


def render(results: dict[str, t.Any]) -> str:
    us = results["in_process"]["us"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m benchmarks.run`); raw numbers in",
        "`benchmarks/results/latest.json`. Each framework runs in its own process,",
        "rounds are interleaved, medians are reported. On a shared machine only the",
        "ratios within one run mean anything.",
        "",
        f"- Date: {results['date']}",
        f"- Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()),
        "",
        "## In-process, µs per request (lower is better)",
        "",
        "| scenario | erlen | Flask | Flask / erlen | Falcon | Bottle | bare WSGI |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]

    def cell(fw: str, s: str) -> str:
        v = us.get(fw, {}).get(s)
        return "-" if v is None else f"{v:.1f}"

    for s in results["scenarios"]:
        e, f = us.get("erlen", {}).get(s), us.get("flask", {}).get(s)
        ratio = f"**{f / e:.1f}x**" if e and f else "-"
        lines.append(
            f"| {s} | {cell('erlen', s)} | {cell('flask', s)} | {ratio} | "
            f"{cell('falcon', s)} | {cell('bottle', s)} | {cell('bare', s)} |"
        )
    bad = results["mismatches"]
    lines += [
        "",
        "Response check (status, body, key headers of erlen vs Flask): "
        + ("**all identical**" if not bad else "MISMATCHES: " + "; ".join(bad)),
        "",
    ]
    srv = results.get("servers")
    if srv:
        lines += ["## Under a real server: plain text, wrk -t1 -c32", ""]
        if "skipped" in srv:
            lines.append(srv["skipped"])
        else:
            lines += ["| server / framework | requests/s | p99 ms |", "|---|---:|---:|"]
            for k, v in srv.items():
                lines.append(f"| {k} | {v['rps']:.0f} | {v['p99_ms']:.2f} |")
        lines.append("")
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
            "## Peak RSS of the benchmark process (MB)",
            "",
            "| framework | MB |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v / 1024:.1f} |" for k, v in rss.items()] + [""]
    sc = results.get("scaling")
    if sc:
        lines += [
            "## Scaling with the number of routes (last route matched)",
            "",
            "| framework | kind | routes | app build ms | match µs |",
            "|---|---|---:|---:|---:|",
        ]
        for k, v in sc.items():
            fw, kind, n = k.split("/")
            lines.append(
                f"| {fw} | {kind} | {n} | {v['build_ms']:.1f} | {v['match_us']:.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="few rounds, in-process only")
    p.add_argument("--no-servers", action="store_true")
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--requests", type=int, default=None)
    p.add_argument("--output", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    p.add_argument(
        "--json", default=os.path.join(ROOT, "benchmarks", "results", "latest.json")
    )
    args = p.parse_args(argv)
    scenarios = [s for s in args.scenarios.split(",") if s]
    frameworks = [f for f in args.frameworks.split(",") if f]
    rounds = args.rounds or (3 if args.quick else 5)
    n = args.requests or (300 if args.quick else 3000)
    results: dict[str, t.Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "versions": versions(),
        "scenarios": scenarios,
    }
    results["in_process"] = in_process(frameworks, scenarios, rounds, n)
    results["mismatches"] = mismatches(results["in_process"]["responses"])
    if not args.quick:
        results["import_ms"] = import_times(frameworks)
        results["scaling"] = scaling()
        if not args.no_servers:
            results["servers"] = servers([f for f in frameworks], seconds=5)
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=2)
    if not args.quick:
        with open(args.output, "w") as f:
            f.write(render(results) + "\n")
    print(render(results))
    return 1 if results["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
