"""Websocket echo round trips and server-sent events per second under uvicorn.

``python -m benchmarks.realtime [--quick] [--seconds S] [--frameworks a,b]``
runs the section alone and prints its table (``--quick``: one round of one
second per measurement); ``make bench`` runs it as part of
:mod:`benchmarks.run`.

Each framework's app (:mod:`benchmarks.realtime_apps`) is served by uvicorn
(1 worker, loopback, its default loop and websocket implementation, access
log off). The load comes from a separate Python process
(``python -m benchmarks.realtime load ...``, uvloop when installed):

- **websocket echo**: ``WS_CONNECTIONS`` connections through the
  ``websockets`` library (no compression), each sending a 32-byte text
  message and waiting for its echo, over and over; every echo is checked.
- **SSE**: ``SSE_CONNECTIONS`` ``GET /sse`` streams read as fast as they
  come (HTTP/1.1, chunked decoding by hand); the first events' data is
  checked to be ``{"n": 0}``, ``{"n": 1}``, ...

Both count only what arrives within the measured window (after a short
warm-up). Rounds rotate the order of the frameworks and the best round
counts, the least disturbed by other processes on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import typing as t

WS_CONNECTIONS = 32
SSE_CONNECTIONS = 8
WARMUP = 0.5
#: ``make bench``'s measurement time (seconds) and rounds: about 60 s in all.
SECONDS, ROUNDS = 2.0, 2
MESSAGE = "0123456789abcdef0123456789abcdef"
FRAMEWORKS = ("erlen", "starlette", "quart")
NAMES = {"erlen": "erlen (asgi_app)", "starlette": "Starlette", "quart": "Quart"}


# -- the load generator (its own process) ----------------------------------------


async def _ws_load(port: int, n: int, seconds: float) -> dict[str, t.Any]:
    from websockets.asyncio.client import connect

    start = time.monotonic()
    window = (start + WARMUP, start + WARMUP + seconds)
    counted = [0] * n
    total = [0] * n
    errors: list[str] = []

    async def one(i: int) -> None:
        try:
            async with connect(
                f"ws://127.0.0.1:{port}/echo",
                compression=None,
                open_timeout=10,
                close_timeout=5,
            ) as conn:
                while True:
                    now = time.monotonic()
                    if now >= window[1]:
                        return
                    await conn.send(MESSAGE)
                    reply = await asyncio.wait_for(conn.recv(), 10)
                    if reply != MESSAGE:
                        errors.append(f"echo {reply!r}")
                        return
                    total[i] += 1
                    if time.monotonic() >= window[0] and now < window[1]:
                        counted[i] += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:120])

    await asyncio.gather(*(one(i) for i in range(n)))
    return _summary(counted, total, seconds, errors)


def _summary(
    counted: list[int], total: list[int], seconds: float, errors: list[str]
) -> dict[str, t.Any]:
    return {
        "count": sum(counted),
        "total": sum(total),
        "rate": sum(counted) / seconds,
        "errors": errors,
    }


async def _sse_load(
    port: int, n: int, seconds: float, path: str = "/sse"
) -> dict[str, t.Any]:
    start = time.monotonic()
    window = (start + WARMUP, start + WARMUP + seconds)
    counted = [0] * n
    total = [0] * n
    errors: list[str] = []

    async def one(i: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
                + b"Accept: text/event-stream\r\n\r\n"
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            lower = head.lower()
            if not head.startswith(b"HTTP/1.1 200") or b"text/event-stream" not in (
                lower
            ):
                errors.append(f"response {head[:80]!r}")
                return
            if b"transfer-encoding: chunked" not in lower:
                errors.append("not chunked")
                return
            first = b""
            tail = b""
            while time.monotonic() < window[1]:
                size = int((await asyncio.wait_for(reader.readline(), 10)).strip(), 16)
                chunk = await reader.readexactly(size + 2)
                data = tail + chunk[:-2]
                events = data.count(b"\n\n")
                tail = data[-1:]
                if len(first) < 400:
                    first += chunk[:-2]
                total[i] += events
                if time.monotonic() >= window[0]:
                    counted[i] += events
            if not _first_events_ok(first):
                errors.append(f"events {first[:120]!r}")
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:120])
        finally:
            writer.close()

    await asyncio.gather(*(one(i) for i in range(n)))
    return _summary(counted, total, seconds, errors)


def _first_events_ok(stream: bytes) -> bool:
    """The first complete events' data are ``{"n": 0}``, ``{"n": 1}``, ...
    (comments such as ``: ping`` skipped)."""
    blocks = stream.split(b"\n\n")[:-1]
    datas = [b[6:] for b in blocks if b.startswith(b"data: ")]
    return len(datas) >= 3 and all(
        json.loads(d) == {"n": k} for k, d in enumerate(datas)
    )


def load_main(argv: list[str]) -> None:
    kind, port, n, seconds = argv[0], int(argv[1]), int(argv[2]), float(argv[3])
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if kind == "ws":
        result = asyncio.run(_ws_load(port, n, seconds))
    else:
        path = "/sse-no-ping" if kind == "sse_no_ping" else "/sse"
        result = asyncio.run(_sse_load(port, n, seconds, path))
    json.dump(result, sys.stdout)


# -- the harness -------------------------------------------------------------------


def _client(kind: str, port: int, n: int, seconds: float) -> dict[str, t.Any]:
    from .run import ROOT, _env

    args = ["load", kind, str(port), str(n), str(seconds)]
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.realtime", *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=seconds + 40,
        check=False,
    )
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1][:100]}
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(framework: str, seconds: float) -> dict[str, t.Any]:
    """One uvicorn server for ``framework``: the echo load, then the SSE load."""
    from .run import _free_port, _serve_and_load

    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--host=127.0.0.1",
        f"--port={port}",
        "--workers=1",
        "--no-access-log",
        "--log-level=warning",
        f"benchmarks.realtime_apps:{framework}_app",
    ]

    def load(port: int, pid: int) -> dict[str, t.Any]:
        kinds = {"ws": WS_CONNECTIONS, "sse": SSE_CONNECTIONS}
        if framework == "erlen":
            kinds["sse_no_ping"] = SSE_CONNECTIONS
        out = {}
        for kind, n in kinds.items():
            cpu = _cpu_seconds(pid)
            result = out[kind] = _client(kind, port, n, seconds)
            if result.get("total"):
                used = _cpu_seconds(pid) - cpu
                result["server_cpu_us"] = used / result["total"] * 1e6
        return out

    out = _serve_and_load(cmd, port, 0, load)
    if "error" in out:  # the server did not start
        return {"ws": out, "sse": out}
    return out


def realtime(
    frameworks: t.Sequence[str], seconds: float, rounds: int
) -> dict[str, t.Any]:
    """Rounds over ``frameworks`` (order rotated); per framework and kind the
    best round's rate, every round's rates, and any errors seen."""
    fws = [f for f in frameworks if f in FRAMEWORKS]
    runs: dict[str, dict[str, list[dict[str, t.Any]]]] = {f: {} for f in fws}
    for r in range(rounds):
        order = fws[r % len(fws) :] + fws[: r % len(fws)] if fws else []
        for fw in order:
            for kind, result in measure(fw, seconds).items():
                runs[fw].setdefault(kind, []).append(result)
    out: dict[str, t.Any] = {
        "seconds": seconds,
        "rounds": rounds,
        "ws_connections": WS_CONNECTIONS,
        "sse_connections": SSE_CONNECTIONS,
        "results": {},
    }
    for fw, kinds in runs.items():
        entry: dict[str, t.Any] = {}
        for kind, results in kinds.items():
            rates = [r["rate"] for r in results if "rate" in r and not r["errors"]]
            problems = [e for r in results for e in r.get("errors", [])]
            problems += [r["error"] for r in results if "error" in r]
            cpu = [r["server_cpu_us"] for r in results if "server_cpu_us" in r]
            entry[kind] = {
                "best": max(rates) if rates else None,
                "rates": [round(r, 1) for r in rates],
                "server_cpu_us": min(cpu) if cpu else None,
                "errors": problems[:5],
            }
        out["results"][fw] = entry
    return out


def render(rt: dict[str, t.Any]) -> list[str]:
    """The docs/benchmarks.md section for :func:`realtime`'s results."""
    res = rt["results"]
    lines = [
        "## Websockets and server-sent events under uvicorn",
        "",
        "uvicorn, 1 worker on loopback, its default loop and websocket",
        "implementation (`benchmarks/realtime_apps.py`); the load generator",
        "(`benchmarks/realtime.py`) is one Python process on the same machine.",
        f"Websocket echo: {rt['ws_connections']} connections (`websockets`"
        " library, no compression),",
        "each sending a 32-byte text message and waiting for its echo, in a loop.",
        f'SSE: {rt["sse_connections"]} streams of `data: {{"n": i}}` events'
        " from an async generator",
        "that awaits `asyncio.sleep(0)` before each event, read as fast as they",
        f"come. {rt['seconds']:g} s per measurement after a {WARMUP:g} s warm-up,"
        f" best of {rt['rounds']} round(s),",
        "framework order rotated. The Python client shares the machine and is",
        "often the bottleneck, so rates swing between runs; the server's CPU",
        "time per message (user + system time of the uvicorn process over the",
        "whole client run, divided by the messages it carried; lowest of the",
        "rounds) is the steadier comparison.",
        "",
        "| framework | websocket echo round trips/s | server CPU µs per round trip"
        " | SSE events/s | server CPU µs per event | errors |",
        "|---|---:|---:|---:|---:|---|",
    ]

    def rate(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    def cpu(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    for fw, entry in res.items():
        errors = [e for kind in entry.values() for e in kind["errors"]]
        ws, sse = entry["ws"], entry["sse"]
        lines.append(
            f"| {NAMES.get(fw, fw)} | {rate(ws['best'])} | "
            f"{cpu(ws.get('server_cpu_us'))} | {rate(sse['best'])} | "
            f"{cpu(sse.get('server_cpu_us'))} | "
            + ("; ".join(e.replace("|", "/") for e in errors[:2]) or "none")
            + " |"
        )
    lines.append("")
    no_ping = (res.get("erlen") or {}).get("sse_no_ping")
    if no_ping:
        lines += [
            "erlen's SSE with `sse_response(..., ping=None)` (no keep-alive"
            f" timer per event): {rate(no_ping['best'])} events/s,"
            f" {cpu(no_ping.get('server_cpu_us'))} µs of server CPU per event.",
            "",
        ]
    erlen, star = res.get("erlen"), res.get("starlette")
    if erlen and star:
        parts = []
        for kind, label in (("ws", "websocket echo"), ("sse", "SSE")):
            e, s = erlen[kind]["best"], star[kind]["best"]
            ec, sc = erlen[kind].get("server_cpu_us"), star[kind].get("server_cpu_us")
            if e and s:
                text = f"{label} {e / s:.2f}x the rate"
                if ec and sc:
                    text += f", {sc / ec:.2f}x Starlette's CPU efficiency"
                parts.append(text)
        if parts:
            lines += ["erlen vs Starlette: " + "; ".join(parts) + ".", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["load"]:
        load_main(argv[1:])
        return 0
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
    )
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--rounds", type=int, default=None)
    p.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    args = p.parse_args(argv)
    seconds = args.seconds or (1.0 if args.quick else SECONDS)
    rounds = args.rounds or (1 if args.quick else ROUNDS)
    rt = realtime([f for f in args.frameworks.split(",") if f], seconds, rounds)
    print("\n".join(render(rt)))
    print(json.dumps(rt, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
