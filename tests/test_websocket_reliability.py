"""Websocket reliability under a real uvicorn server (one worker, loopback).

One server (``--ws-max-size=65536``) serves the tests here, started once
for the module for each of uvicorn's websocket implementations
(``websockets-sansio``, what ``--ws auto`` picks; the legacy
``websockets``; ``wsproto``); the app (``SERVER_APP``) counts, per path, the handlers
running and the teardowns that ran, and serves them at ``GET /stats``: the
side channel the tests read to see what the server did (the memory test
starts a fresh server per case). Each test also
checks the server's log from its own start for errors that leaked.

- 1,000 concurrent connections with the server's memory bounded;
- an oversized message closes its connection with 1009, others go on;
- invalid frames (sent raw after a real handshake) close the connection,
  and the server serves the next client;
- a client vanishing (TCP reset) while the server streams to it: the
  handler ends, teardown runs, nothing is logged as an error;
- an exception after accepting closes with 1011, is logged once, and the
  server keeps serving;
- a client gone before the handler accepts: the handler ends as on a
  disconnect, not with an error.

Every wait is bounded; the client side is the ``websockets`` library, or a
raw socket where the client must misbehave.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import resource
import socket
import struct
import sys
import time
import typing as t
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import websockets.sync.client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from examples.blog.tests._support import free_port, running

CONCURRENT = 1000
MAX_SIZE = 65536
#: Resident memory the server may add per open connection, without
#: compression (measured 25-35 KiB, by uvicorn implementation: its protocol
#: object and tasks, erlen's request context and the handler's coroutine)
#: and with permessage-deflate, which browsers always offer and uvicorn
#: accepts by default (measured 70-135 KiB: zlib's state per connection).
PER_CONNECTION_BOUND_KIB = {"none": 64, "deflate": 256}

SERVER_APP = """
import asyncio
import collections

from erlen import Erlen, request, websocket

app = Erlen(__name__)
RUNNING = collections.Counter()
STARTED = collections.Counter()
TEARDOWNS = collections.Counter()
ERRORS = []
STREAMED = []


@app.teardown_request
def count_teardown(exc):
    if request.path != "/stats":
        TEARDOWNS[request.path] += 1
        if exc is not None:
            ERRORS.append(f"{request.path}: {exc!r}")


@app.before_websocket
async def count_start():
    # async def: a sync before_websocket function would hold one of the
    # ASGI_THREADS worker threads for each open connection.
    STARTED[request.path] += 1


@app.get("/stats")
def stats():
    return {
        "started": STARTED,
        "running": RUNNING,
        "teardowns": TEARDOWNS,
        "errors": ERRORS,
        "streamed": STREAMED,
    }


@app.websocket("/echo")
async def echo():
    RUNNING["/echo"] += 1
    try:
        await websocket.accept()
        while True:
            await websocket.send(await websocket.receive())
    finally:
        RUNNING["/echo"] -= 1


@app.websocket("/stream")
async def stream():
    # 4 KiB messages until the client goes away (at most 400 MiB).
    RUNNING["/stream"] += 1
    sent = 0
    try:
        while sent < 100_000:
            await websocket.send("x" * 4096)
            sent += 1
    finally:
        RUNNING["/stream"] -= 1
        STREAMED.append(sent)


@app.websocket("/late-accept")
async def late_accept():
    await asyncio.sleep(0.5)
    await websocket.accept()
    await websocket.send("too late")


@app.websocket("/fault")
async def fault():
    await websocket.accept()
    await websocket.send("about to fail")
    raise RuntimeError("secret detail")
"""


class Server:
    def __init__(self, implementation: str, port: int, pid: int, log: Path) -> None:
        self.implementation = implementation
        self.port = port
        self.pid = pid
        self.log = log
        self.url = f"ws://127.0.0.1:{port}"

    def stats(self) -> dict[str, t.Any]:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.port}/stats", timeout=10
        ) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def settled(self) -> dict[str, t.Any]:
        """The stats once every connection that reached a handler has been
        torn down (what an earlier test left is finished)."""
        return self.wait_stats(
            lambda s: all(
                s["teardowns"].get(path, 0) == n for path, n in s["started"].items()
            )
        )

    def wait_stats(
        self, check: t.Callable[[dict[str, t.Any]], bool], timeout: float = 20
    ) -> dict[str, t.Any]:
        deadline = time.monotonic() + timeout
        stats = self.stats()
        while not check(stats) and time.monotonic() < deadline:
            time.sleep(0.05)
            stats = self.stats()
        assert check(stats), stats
        return stats

    def log_size(self) -> int:
        return self.log.stat().st_size

    def log_since(self, offset: int) -> str:
        with self.log.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def echo_works(self) -> None:
        with websockets.sync.client.connect(
            f"{self.url}/echo", open_timeout=10, close_timeout=5
        ) as conn:
            conn.send("still serving")
            assert conn.recv(timeout=10) == "still serving"


def raise_fd_limit(wanted: int) -> None:
    """Raise this process's open-file limit (inherited by the server) to
    ``wanted``, within the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


#: uvicorn's websocket implementations: ``auto`` picks websockets-sansio
#: when the ``websockets`` library is installed, else wsproto.
IMPLEMENTATIONS = ("websockets-sansio", "websockets", "wsproto")


@contextmanager
def uvicorn_server(
    root: Path,
    source: str,
    module: str,
    options: t.Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """uvicorn (one worker, loopback) serving ``app.asgi_app`` of the module
    ``source``, written to ``root/module.py``; ``env`` is added to the
    server's environment."""
    (root / f"{module}.py").write_text(source)
    port = free_port()
    command = [
        str(Path(sys.executable).parent / "uvicorn"),
        "--host=127.0.0.1",
        f"--port={port}",
        "--lifespan=off",
        *options,
        f"{module}:app.asgi_app",
    ]
    implementation = next(
        (o.partition("=")[2] for o in options if o.startswith("--ws=")), "auto"
    )
    log = root / "uvicorn.log"
    env = {"PYTHONPATH": str(root), **(env or {})}
    with running(command, port, log, env) as process:
        yield Server(implementation, port, process.pid, log)


@contextmanager
def serve(root: Path, implementation: str) -> Iterator[Server]:
    """A uvicorn server for ``SERVER_APP`` with ``--ws=implementation``."""
    raise_fd_limit(CONCURRENT * 2 + 512)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert soft == resource.RLIM_INFINITY or soft >= CONCURRENT * 2 + 256, soft
    options = ["--backlog=2048", f"--ws-max-size={MAX_SIZE}", f"--ws={implementation}"]
    with uvicorn_server(root, SERVER_APP, "ws_reliability_app", options) as server:
        yield server


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Server]:
    with serve(tmp_path_factory.mktemp("ws_reliability"), request.param) as server:
        yield server


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def assert_no_leaked_errors(text: str, uvicorn_error: str | None = None) -> None:
    """No error in the server's log ``text``; with ``uvicorn_error``, that
    error (uvicorn's own, logged by its protocol with a traceback) is the
    only one, and the app logged none."""
    if uvicorn_error is not None:
        errors = [line for line in text.splitlines() if line.startswith("ERROR")]
        assert errors == [f"ERROR:    {uvicorn_error}"], text
        assert "Exception on" not in text, text
        assert "Exception in ASGI application" not in text, text
        return
    for bad in ("Traceback", "Exception in ASGI application", "ERROR"):
        assert bad not in text, text


# -- 1,000 connections ---------------------------------------------------------


@pytest.mark.parametrize("compression", ["none", "deflate"])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_1000_concurrent_connections_with_memory_bounded(
    tmp_path: Path, implementation: str, compression: str
) -> None:
    """1,000 websockets open at once on one worker: all open, each sends one
    message and gets its echo while all are open, then all close. The
    server's resident memory (``VmRSS``) grows, with all 1,000 open, by less
    than 64 KiB per connection (62.5 MiB in all) without compression
    (measured 25-35 KiB: wsproto least, the legacy ``websockets``
    implementation most), and by less than 256 KiB per connection (250 MiB)
    with permessage-deflate (measured 70-135 KiB); every handler ends and
    its teardown runs. Each case has a server of its own: memory freed by
    one stays in the process and would hide the next one's growth."""
    with serve(tmp_path, implementation) as server:
        connect_1000(server, compression)


def connect_1000(server: Server, compression: str) -> None:
    bound = PER_CONNECTION_BOUND_KIB[compression]
    log_start = server.log_size()
    server.echo_works()  # everything imported and warmed up first
    before_teardowns = server.settled()["teardowns"].get("/echo", 0)
    before = rss_kib(server.pid)

    async def main() -> tuple[int, list[t.Any]]:
        opened = await asyncio.wait_for(
            asyncio.gather(
                *(
                    connect(
                        f"{server.url}/echo",
                        open_timeout=60,
                        compression=None if compression == "none" else compression,
                    )
                    for _ in range(CONCURRENT)
                )
            ),
            90,
        )
        try:
            deflate = [c.protocol.extensions != [] for c in opened]
            assert deflate == [compression == "deflate"] * CONCURRENT
            for n, conn in enumerate(opened):
                await conn.send(f"hello {n} " * 20)
            replies = await asyncio.wait_for(
                asyncio.gather(*(conn.recv() for conn in opened)), 60
            )
            stats = await asyncio.to_thread(server.stats)
            assert stats["running"]["/echo"] == CONCURRENT
            grown = rss_kib(server.pid) - before
        finally:
            await asyncio.wait_for(
                asyncio.gather(*(conn.close() for conn in opened)), 60
            )
        return grown, replies

    grown, replies = asyncio.run(main())
    assert replies == [f"hello {n} " * 20 for n in range(CONCURRENT)]
    stats = server.wait_stats(
        lambda s: s["teardowns"].get("/echo", 0) - before_teardowns == CONCURRENT
    )
    assert stats["running"]["/echo"] == 0
    assert stats["errors"] == []
    print(
        f"uvicorn ({server.implementation}, {compression}) RSS grew by {grown}"
        f" KiB with {CONCURRENT} websockets open ({grown / CONCURRENT:.1f} KiB"
        " each)"
    )
    assert grown < CONCURRENT * bound
    assert_no_leaked_errors(server.log_since(log_start))


# -- oversized messages --------------------------------------------------------


def test_oversized_message_closes_with_1009_and_others_go_on(server: Server) -> None:
    """A message of ``--ws-max-size`` bytes is echoed; one byte more closes
    that connection with 1009 (message too big) while another connection,
    open all along, keeps working, and new clients are served."""
    log_start = server.log_size()
    before = server.settled()["teardowns"].get("/echo", 0)
    options: dict[str, t.Any] = {"open_timeout": 10, "max_size": 4 * MAX_SIZE}
    with (
        websockets.sync.client.connect(f"{server.url}/echo", **options) as other,
        websockets.sync.client.connect(f"{server.url}/echo", **options) as big,
    ):
        big.send("a" * MAX_SIZE)
        assert big.recv(timeout=10) == "a" * MAX_SIZE
        big.send(b"b" * (MAX_SIZE + 1))
        with pytest.raises(ConnectionClosed) as closed:
            big.recv(timeout=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
        other.send("next")
        assert other.recv(timeout=10) == "next"
    server.echo_works()
    stats = server.wait_stats(lambda s: s["teardowns"].get("/echo", 0) - before == 3)
    assert stats["errors"] == []
    assert_no_leaked_errors(server.log_since(log_start))


# -- invalid frames ------------------------------------------------------------

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def send_handshake(port: int, path: str) -> tuple[socket.socket, str]:
    """A websocket handshake request by hand: the socket and the key."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    return sock, key


def raw_handshake(port: int, path: str) -> tuple[socket.socket, bytes]:
    """A websocket handshake by hand; the socket and what followed the 101."""
    sock, key = send_handshake(port, path)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    headers = dict(
        (name.strip().lower(), value.strip())
        for name, _, value in (line.partition(b":") for line in head.split(b"\r\n"))
    )
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest())
    assert headers[b"sec-websocket-accept"] == accept, head
    return sock, rest


def frame(
    opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bool = True
) -> bytes:
    """One client frame (masked unless ``mask=False``)."""
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    bit = 0x80 if mask else 0
    n = len(payload)
    if n < 126:
        head = bytes([first, bit | n])
    elif n < 65536:
        head = bytes([first, bit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([first, bit | 127]) + struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def read_to_eof(sock: socket.socket, data: bytes, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the TCP connection."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    raise AssertionError(f"the server did not close the connection: {data[:200]!r}")


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(opcode, payload) of each unmasked server frame in ``data``."""
    frames = []
    while len(data) >= 2:
        opcode, n = data[0] & 0x0F, data[1] & 0x7F
        offset = 2
        if n == 126:
            n, offset = struct.unpack("!H", data[2:4])[0], 4
        elif n == 127:
            n, offset = struct.unpack("!Q", data[2:10])[0], 10
        frames.append((opcode, data[offset : offset + n]))
        data = data[offset + n :]
    return frames


#: name -> (the bytes sent, the close code expected, the error uvicorn
#: itself logs for it, if any).
INVALID_FRAMES: dict[str, tuple[bytes, int, str | None]] = {
    "reserved opcode": (frame(0x3, b"x"), 1002, None),
    "unmasked client frame": (frame(0x1, b"hi", mask=False), 1002, None),
    "reserved bits without an extension": (frame(0x1, b"hi", rsv=4), 1002, None),
    "continuation with nothing to continue": (frame(0x0, b"x"), 1002, None),
    "control frame over 125 bytes": (frame(0x9, b"p" * 200), 1002, None),
    "fragmented control frame": (frame(0x9, b"p", fin=False), 1002, None),
    # uvicorn's websockets-sansio protocol logs this one (an ERROR with a
    # traceback); the others log nothing.
    "text frame that is not UTF-8": (
        frame(0x1, b"\xff\xfe\xfd"),
        1007,
        "Invalid UTF-8 sequence received from client.",
    ),
}


@pytest.mark.parametrize("name", INVALID_FRAMES)
def test_invalid_frame_closes_the_connection_and_the_server_survives(
    server: Server, name: str
) -> None:
    """After a valid handshake and a valid message, an invalid frame gets a
    close frame with the protocol's code (1002 protocol error, 1007 invalid
    text; under wsproto, uvicorn sends none) and the TCP connection is
    closed; the handler ends (its teardown runs) and the next client is
    served."""
    raw, code, uvicorn_error = INVALID_FRAMES[name]
    log_start = server.log_size()
    before = server.settled()["teardowns"].get("/echo", 0)
    sock, rest = raw_handshake(server.port, "/echo")
    with sock:
        sock.sendall(frame(0x1, b"valid first"))
        sock.sendall(raw)
        received = server_frames(read_to_eof(sock, rest))
    assert received[0] == (0x1, b"valid first"), received
    codes = [struct.unpack("!H", p[:2])[0] for op, p in received if op == 0x8]
    if server.implementation == "wsproto":
        assert codes == [], received  # wsproto's uvicorn just drops the TCP
    else:
        assert codes == [code], received
    server.wait_stats(lambda s: s["teardowns"].get("/echo", 0) - before == 1)
    server.echo_works()
    if server.implementation != "websockets-sansio":
        uvicorn_error = None
    assert_no_leaked_errors(server.log_since(log_start), uvicorn_error)


def test_garbage_instead_of_frames(server: Server) -> None:
    """Random bytes after the handshake: the connection is closed, the
    handler's teardown runs, the server goes on."""
    log_start = server.log_size()
    before = server.settled()["teardowns"].get("/echo", 0)
    sock, rest = raw_handshake(server.port, "/echo")
    with sock:
        sock.sendall(b"\xff\xff\xff\xff" + os.urandom(256))
        read_to_eof(sock, rest)
    server.wait_stats(lambda s: s["teardowns"].get("/echo", 0) - before == 1)
    server.echo_works()
    assert_no_leaked_errors(server.log_since(log_start))


# -- a client vanishing mid-send -----------------------------------------------


def test_client_vanishing_mid_send_ends_the_handler(server: Server) -> None:
    """The server streams 4 KiB messages; the client reads some, then its
    socket is reset (``SO_LINGER`` 0) while the server is sending. The
    handler ends (its ``finally`` runs), teardown runs with no exception,
    nothing is logged as an error, and the server serves the next client."""
    log_start = server.log_size()
    before = server.settled()
    sock, data = raw_handshake(server.port, "/stream")
    while len(data) < 64 * 1024:
        chunk = sock.recv(65536)
        assert chunk
        data += chunk
    assert server_frames(data)[0] == (0x1, b"x" * 4096)
    server.wait_stats(lambda s: s["running"].get("/stream", 0) == 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    stats = server.wait_stats(
        lambda s: (
            s["teardowns"].get("/stream", 0) - before["teardowns"].get("/stream", 0)
            == 1
        )
    )
    assert stats["running"]["/stream"] == 0
    assert len(stats["streamed"]) == len(before["streamed"]) + 1
    assert 16 <= stats["streamed"][-1] < 100_000
    assert stats["errors"] == before["errors"]
    server.echo_works()
    assert_no_leaked_errors(server.log_since(log_start))


# -- handler faults ------------------------------------------------------------


def test_handler_fault_after_accept_closes_1011(server: Server) -> None:
    """An exception after accepting: the client gets its message, then a
    close with 1011 and no detail; the error is logged once (with its
    traceback) and teardown sees it; the server keeps serving."""
    log_start = server.log_size()
    before = server.settled()
    with websockets.sync.client.connect(f"{server.url}/fault", open_timeout=10) as c:
        assert c.recv(timeout=10) == "about to fail"
        with pytest.raises(ConnectionClosed) as closed:
            c.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1011
    assert "secret" not in closed.value.rcvd.reason
    stats = server.wait_stats(
        lambda s: (
            s["teardowns"].get("/fault", 0) - before["teardowns"].get("/fault", 0) == 1
        )
    )
    assert stats["errors"][len(before["errors"]) :] == [
        "/fault: RuntimeError('secret detail')"
    ]
    server.echo_works()
    log = server.log_since(log_start)
    assert log.count("Exception on /fault [GET]") == 1, log
    assert log.count("RuntimeError: secret detail") == 1, log
    assert "Exception in ASGI application" not in log, log


def test_client_gone_before_accept_is_not_an_error(server: Server) -> None:
    """The client resets its connection while the handler is still working
    before ``accept()``: accepting then finds the client gone, which ends
    the handler like a disconnect (teardown without an exception, nothing
    logged) rather than as an application error."""
    log_start = server.log_size()
    before = server.settled()
    sock, _ = send_handshake(server.port, "/late-accept")
    started = before["started"].get("/late-accept", 0)
    server.wait_stats(lambda s: s["started"].get("/late-accept", 0) == started + 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    stats = server.wait_stats(
        lambda s: (
            s["teardowns"].get("/late-accept", 0)
            - before["teardowns"].get("/late-accept", 0)
            == 1
        )
    )
    assert stats["errors"] == before["errors"]
    server.echo_works()
    assert_no_leaked_errors(server.log_since(log_start))
