"""Malformed HTTP over real sockets, under gunicorn and granian: no 5xx, the
server survives, and a normal request works afterwards."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from examples.blog import create_app
from examples.blog.db import seed_demo

from ._support import SERVERS, free_port, running, server_command

GOOD = b"GET /api/posts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /%ZZ%00%ff/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n",
    b"POST /api/posts HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/posts HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
    b'Content-Type: application/json\r\n\r\n{"trunc',
    b"POST /api/posts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Type: application/json\r\n\r\nzz\r\nnot-hex\r\n0\r\n\r\n",
    b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
    b"boundary=b\r\nContent-Length: 20\r\n\r\n--b\r\nbroken",
    b"GET /posts/99999999999999999999999 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/posts?page=-1&per_page=999999 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nCookie: session=" + b"A" * 5000 + b"\r\n\r\n",
]


def exchange(port: int, raw: bytes, half_close: bool = True) -> bytes:
    """Send ``raw``, then read until the server closes the connection.

    Half-closing after a malformed request tells the server no more is coming
    (truncated bodies); a well-formed request asks for ``Connection: close``.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(raw)
        if half_close:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        chunks = []
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def serves_normally(port: int, seconds: float) -> bool:
    """Whether a well-formed request gets a 200 within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if exchange(port, GOOD, half_close=False).startswith(b"HTTP/1.1 200"):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("server", SERVERS)
def test_malformed_requests_over_http(server: str, tmp_path: Path) -> None:
    database = tmp_path / "m.sqlite"
    app = create_app({"DATABASE": str(database), "SECRET_KEY": "seed"})
    with app.app_context():
        seed_demo()
    port = free_port()
    env = {"BLOG_DATABASE": str(database), "BLOG_SECRET_KEY": "m-secret"}
    with running(server_command(server, port), port, tmp_path / "log", env) as proc:
        # The port may open before a worker is ready to answer.
        assert serves_normally(port, 20), "the server never answered"
        for raw in MALFORMED:
            answer = exchange(port, raw)
            status_line = answer.split(b"\r\n", 1)[0]
            if status_line:
                assert status_line.startswith(b"HTTP/"), (raw[:60], answer[:200])
                code = int(status_line.split()[1])
                assert code < 500, (raw[:60], answer[:300])
                assert b"Traceback" not in answer
            assert proc.poll() is None, "the server died"
            ok = exchange(port, GOOD, half_close=False)
            assert ok.startswith(b"HTTP/1.1 200"), ok[:200]
