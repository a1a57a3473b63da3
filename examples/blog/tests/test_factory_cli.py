"""Configuration layers, the database bootstrap, CLI commands and the hello app."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from examples.blog import create_app, models
from examples.blog.config import DefaultConfig
from examples.blog.db import DEMO_POSTS, create_user, get_db, location
from examples.blog.keys import load_or_create_secret_key

from .conftest import csrf_token

if TYPE_CHECKING:
    from erlen import Erlen

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


def table_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("user", "post")
        }


def test_defaults_and_test_config(app: Erlen) -> None:
    assert app.config["POSTS_PER_PAGE"] == DefaultConfig.POSTS_PER_PAGE == 5
    assert app.config["SECRET_KEY"] == "test-secret"
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.testing is True
    assert set(app.blueprints) == {"auth", "blog", "api", "live"}
    assert app.config["BROADCAST_URL"] == "memory://"
    assert app.extensions["broadcast"].backend_name == "memory"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    database = tmp_path / "from-env.sqlite"
    monkeypatch.setenv("BLOG_DATABASE", str(database))
    monkeypatch.setenv("BLOG_SECRET_KEY", "from-env")
    monkeypatch.setenv("BLOG_POSTS_PER_PAGE", "2")  # JSON-decoded to an int
    monkeypatch.setenv("BLOG_BROADCAST_URL", "redis://127.0.0.1:1/0")
    app = create_app()
    assert app.config["DATABASE"] == str(database)
    # Not connected until a post is published or a page subscribes.
    assert app.extensions["broadcast"].url == "redis://127.0.0.1:1/0"
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["POSTS_PER_PAGE"] == 2
    assert app.testing is False
    # The database is created on startup, with empty tables.
    assert table_counts(database) == {"user": 0, "post": 0}


def test_test_config_ignores_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BLOG_POSTS_PER_PAGE", "2")
    app = create_app({"DATABASE": str(tmp_path / "x.sqlite"), "SECRET_KEY": "k"})
    assert app.config["POSTS_PER_PAGE"] == 5


@pytest.mark.parametrize(
    ("hops", "expected"), [(0, "http://localhost"), (1, "https://blog.example")]
)
def test_proxy_hops(tmp_path: Path, hops: int, expected: str) -> None:
    """Behind nginx (PROXY_HOPS=1) external URLs use the forwarded scheme and host."""
    app = create_app(
        {"DATABASE": str(tmp_path / "p.sqlite"), "PROXY_HOPS": hops, "SECRET_KEY": "k"}
    )
    with app.app_context():
        models.create_post(create_user("u", "password1"), "t", "b")
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "blog.example"}
    data = app.test_client().get("/api/posts/1", headers=forwarded).get_json()
    assert data["url"] == f"{expected}/posts/1"


def test_default_database_is_in_the_instance_folder(app: Erlen) -> None:
    # The fixture sets DATABASE; the default is computed from the instance path.
    assert DefaultConfig.DATABASE is None
    assert app.instance_path.endswith("instance")


def app_table_counts(app: Erlen) -> dict[str, int]:
    """Rows per table, through the app's own connection (either database)."""
    with app.app_context():
        return {
            table: get_db()
            .execute(f'SELECT COUNT(*) AS n FROM "{table}"')
            .fetchone()["n"]
            for table in ("user", "post")
        }


def test_init_db_and_seed_demo_commands(app: Erlen) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    assert result.output == "Created user 'demo' (password 'demo') with 7 posts.\n"
    assert app_table_counts(app) == {"user": 3, "post": 2 + len(DEMO_POSTS)}
    # A minute apart, the first one now: the fixture's posts come second.
    posts = app.test_client().get("/api/posts").get_json()["posts"]
    assert [post["title"] for post in posts[:4]] == [
        DEMO_POSTS[0][0],
        "Alice's second",
        "Alice's first",
        DEMO_POSTS[1][0],
    ]

    again = runner.invoke(args=["seed-demo"])
    assert again.exit_code == 0
    assert again.output == "User 'demo' already exists; nothing to do.\n"

    keep = runner.invoke(args=["init-db"])
    assert keep.exit_code == 0
    assert keep.output == f"Initialised the database at {location(app.config)}.\n"
    assert app_table_counts(app)["user"] == 3

    dropped = runner.invoke(args=["init-db", "--drop"])
    assert dropped.exit_code == 0
    assert app_table_counts(app) == {"user": 0, "post": 0}


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "erlen"), *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_erlen_command_line(tmp_path: Path) -> None:
    """erlen-only (the `erlen` executable, ERLEN_APP): it runs the app's commands."""
    database = tmp_path / "cli.sqlite"
    key_file = tmp_path / "instance" / "secret_key"
    env = {
        "BLOG_DATABASE": str(database),
        "BLOG_SECRET_KEY_FILE": str(key_file),
        "ERLEN_APP": "examples.blog:create_app()",
    }
    seeded = run_cli("seed-demo", env=env)
    assert seeded.returncode == 0, seeded.stderr
    # No BLOG_SECRET_KEY: a key was generated for this instance.
    assert len(key_file.read_text().strip()) == 64
    assert "Created user 'demo' (password 'demo')" in seeded.stdout
    assert table_counts(database) == {"user": 1, "post": len(DEMO_POSTS)}

    routes = run_cli("routes", env=env)
    assert routes.returncode == 0, routes.stderr
    for endpoint in ("auth.login", "blog.index", "blog.edit", "api.update_post"):
        assert endpoint in routes.stdout

    helptext = run_cli("--help", env=env)
    assert "init-db" in helptext.stdout and "seed-demo" in helptext.stdout


def test_hello_app(tmp_path: Path) -> None:
    """examples/hello/app.py loads by file path, as ``erlen --app ... run`` does."""
    routes = run_cli("--app", "examples/hello/app.py", "routes", env={})
    assert routes.returncode == 0, routes.stderr
    assert "/hello/<name>" in routes.stdout

    code = (
        "import sys; sys.path.insert(0, 'examples/hello'); from app import app\n"
        "c = app.test_client()\n"
        "r = c.get('/hello/erlen', headers={'User-Agent': 'probe'})\n"
        "print(r.status_code, r.get_json())\n"
        "print(c.get('/').get_json()['hello'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "200 {'agent': 'probe', 'hello': 'erlen'}\nworld\n"


# -- the session key ----------------------------------------------------------


def key_config(tmp_path: Path) -> dict[str, str]:
    """Production-like settings (not TESTING, no SECRET_KEY) in ``tmp_path``."""
    return {
        "DATABASE": str(tmp_path / "k.sqlite"),
        "SECRET_KEY_FILE": str(tmp_path / "instance" / "secret_key"),
    }


def test_no_public_default_key() -> None:
    assert DefaultConfig.SECRET_KEY is None


def test_without_a_key_one_is_generated_once(tmp_path: Path) -> None:
    config = key_config(tmp_path)
    first = create_app(config)
    assert first.testing is False
    key_file = Path(config["SECRET_KEY_FILE"])
    key = key_file.read_text().strip()
    assert len(key) == 64 and int(key, 16) >= 0  # 32 random bytes, hex
    assert key != "dev"
    assert first.config["SECRET_KEY"] == key
    assert key_file.stat().st_mode & 0o777 == 0o600
    # The next start (or another worker) reads the same key...
    second = create_app(config)
    assert second.config["SECRET_KEY"] == key
    # ...so a login signed by one app is accepted by the other.
    with first.app_context():
        create_user("carol", "carol-secret")
    client = first.test_client()
    token = csrf_token(client)
    response = client.post(
        "/auth/login",
        data={"username": "carol", "password": "carol-secret", "csrf_token": token},
    )
    assert response.status_code == 302
    cookie = client.get_cookie("session")
    assert cookie is not None
    other = second.test_client()
    other.set_cookie("session", cookie.value)
    assert "Signed in as <strong>carol</strong>" in other.get("/").get_data(
        as_text=True
    )
    # A different instance folder means a different key.
    elsewhere = create_app(
        {**config, "SECRET_KEY_FILE": str(tmp_path / "other" / "secret_key")}
    )
    assert elsewhere.config["SECRET_KEY"] != key


def test_generated_key_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # create_app() as gunicorn's workers call it, configured by BLOG_* only.
    key_file = tmp_path / "secret_key"
    monkeypatch.delenv("BLOG_SECRET_KEY", raising=False)
    monkeypatch.setenv("BLOG_DATABASE", str(tmp_path / "env.sqlite"))
    monkeypatch.setenv("BLOG_SECRET_KEY_FILE", str(key_file))
    app = create_app()
    assert app.testing is False and app.debug is False
    assert app.config["SECRET_KEY"] == key_file.read_text().strip()
    # An explicit key wins and no file is needed.
    monkeypatch.setenv("BLOG_SECRET_KEY", "from-env")
    monkeypatch.setenv("BLOG_SECRET_KEY_FILE", str(tmp_path / "unused"))
    assert create_app().config["SECRET_KEY"] == "from-env"
    assert not (tmp_path / "unused").exists()


def test_workers_starting_together_share_one_key(tmp_path: Path) -> None:
    path = str(tmp_path / "race" / "secret_key")
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = set(pool.map(lambda _: load_or_create_secret_key(path), range(32)))
    assert found == {Path(path).read_text().strip()}
    assert sorted(p.name for p in (tmp_path / "race").iterdir()) == ["secret_key"]


def test_empty_key_file_is_refused(tmp_path: Path) -> None:
    config = key_config(tmp_path)
    Path(config["SECRET_KEY_FILE"]).parent.mkdir()
    Path(config["SECRET_KEY_FILE"]).write_text("\n")
    with pytest.raises(RuntimeError, match=r"is empty.*set BLOG_SECRET_KEY"):
        create_app(config)


def test_database_from_before_api_tokens_gets_the_table(tmp_path: Path) -> None:
    database = tmp_path / "old.sqlite"
    with sqlite3.connect(database) as conn:
        conn.executescript(
            "CREATE TABLE user (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " username TEXT UNIQUE NOT NULL, password_hash TEXT NOT NULL,"
            " created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);"
            "CREATE TABLE post (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " author_id INTEGER NOT NULL REFERENCES user (id), title TEXT NOT NULL,"
            " body TEXT NOT NULL, created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,"
            " updated TEXT);"
            "INSERT INTO user (username, password_hash) VALUES ('old', 'x');"
        )
    conn.close()
    create_app({"DATABASE": str(database), "SECRET_KEY": "k"})
    with sqlite3.connect(database) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        users = conn.execute("SELECT username FROM user").fetchall()
    conn.close()
    assert {"user", "post", "api_token"} <= tables
    assert users == [("old",)]
