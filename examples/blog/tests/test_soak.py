"""A bounded soak: the blog under gunicorn (2 workers) and granian on loopback,
driven by wrk with a mix of pages, API reads, the login page and post
creations (with the session and its CSRF token, and with an API token).
Nothing may fail or be lost, and worker memory must stay flat.

``SOAK_SECONDS`` sets the duration per server (default 10; ``make soak`` runs
60).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest

from examples.blog import create_app
from examples.blog.db import DEMO_PASSWORD, DEMO_USERNAME, seed_demo

from ._support import SERVERS, Http, free_port, running, server_command

SECONDS = int(os.environ.get("SOAK_SECONDS", "10"))
CONNECTIONS = 16

LUA = """
local paths = {
  {"GET", "/", nil},
  {"GET", "/api/posts?per_page=5", nil},
  {"GET", "/posts/1", nil},
  {"GET", "/auth/login", nil},
  {"POST", "/api/posts", '{"title": "soak", "body": "*soaked*"}'},
}
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  counter = 0
  posts = 0
  created = 0
  server_errors = 0
  unexpected = 0
end
function request()
  counter = counter + 1
  local p = paths[(counter % #paths) + 1]
  local headers = {["Cookie"] = "@COOKIE@"}
  if p[3] then
    -- Posts alternate: the session with its CSRF token, then an API token.
    posts = posts + 1
    if posts % 2 == 0 then
      headers = {["Authorization"] = "Bearer @TOKEN@"}
    else
      headers["X-CSRF-Token"] = "@CSRF@"
    end
  end
  if p[3] then headers["Content-Type"] = "application/json" end
  return wrk.format(p[1], p[2], headers, p[3])
end
function response(status, headers, body)
  if status == 201 then created = created + 1 end
  if status >= 500 then server_errors = server_errors + 1 end
  if status ~= 200 and status ~= 201 then unexpected = unexpected + 1 end
end
function done(summary, latency, requests)
  local c, e, u = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    e = e + t:get("server_errors")
    u = u + t:get("unexpected")
  end
  io.write(string.format("SOAK created=%d server_errors=%d unexpected=%d\\n", c, e, u))
end
"""


def worker_rss_kb(parent: int) -> int:
    """Total resident memory of the server's processes (parent and children)."""
    total = 0
    for pid in [parent, *_children(parent)]:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def _children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    )
    kids = [int(p) for p in out.stdout.split()]
    return kids + [g for k in kids for g in _children(k)]


@pytest.mark.parametrize("server", SERVERS)
def test_soak(server: str, tmp_path: Path) -> None:
    wrk = shutil.which("wrk")
    assert wrk, "wrk is missing: install it: apt-get install wrk"
    database = tmp_path / "soak.sqlite"
    app = create_app({"DATABASE": str(database), "SECRET_KEY": "seed"})
    with app.app_context():
        seed_demo()
    port = free_port()
    env = {"BLOG_DATABASE": str(database), "BLOG_SECRET_KEY": "soak-secret"}
    with running(
        server_command(server, port), port, tmp_path / "server.log", env
    ) as proc:
        base = f"http://127.0.0.1:{port}"
        client = Http(base)
        client.login(DEMO_USERNAME, DEMO_PASSWORD)
        jar = next(
            h.cookiejar
            for h in client.opener.handlers
            if isinstance(h, urllib.request.HTTPCookieProcessor)
        )
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        assert "session=" in cookie
        csrf = client.api_csrf_token()
        status, _, body = client.request(
            "POST",
            "/api/tokens",
            json_body={"name": "wrk"},
            headers={"X-CSRF-Token": csrf},
        )
        assert status == 201, body
        token = json.loads(body)["token"]
        total_before = json.loads(client.request("GET", "/api/posts")[2])["total"]
        # Warm up, then measure memory before and after the load.
        for _ in range(50):
            assert client.request("GET", "/")[0] == 200
        rss_start = worker_rss_kb(proc.pid)
        script = tmp_path / "mix.lua"
        script.write_text(
            LUA.replace("@COOKIE@", cookie)
            .replace("@CSRF@", csrf)
            .replace("@TOKEN@", token)
        )
        result = subprocess.run(
            [wrk, "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "-s", str(script), base],
            capture_output=True,
            text=True,
            timeout=SECONDS + 60,
            check=True,
        )
        rss_end = worker_rss_kb(proc.pid)
        output = result.stdout
        print(f"{server}: RSS start {rss_start} kB, end {rss_end} kB\n{output}")
        assert "Socket errors" not in output, output
        assert "Non-2xx or 3xx" not in output, output
        match = re.search(
            r"SOAK created=(\d+) server_errors=(\d+) unexpected=(\d+)", output
        )
        assert match, output
        created, server_errors, unexpected = map(int, match.groups())
        assert server_errors == 0 and unexpected == 0, output
        assert created > 0
        total_after = json.loads(client.request("GET", "/api/posts")[2])["total"]
        # Every post wrk saw created is there. Requests still in flight when wrk
        # stopped were completed by the server without wrk counting them: at
        # most one per connection.
        in_flight = total_after - (total_before + created)
        assert 0 <= in_flight <= CONNECTIONS, (total_before, created, total_after)
        assert rss_end < rss_start * 2 + 50_000, (rss_start, rss_end)
