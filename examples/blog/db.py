"""SQLite storage through the standard ``sqlite3`` module, plus the CLI commands.

One connection per application context (stored on ``g``), closed on teardown.
The schema is created automatically when the app starts and the file has no
tables yet, so a fresh checkout just runs.
"""

from __future__ import annotations

import sqlite3
from importlib import resources

import click
from werkzeug.security import generate_password_hash

from erlen import Erlen, current_app, g
from erlen.cli import with_appcontext

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"

DEMO_POSTS: list[tuple[str, str]] = [
    (
        "Welcome to the erlen blog",
        "This site is the **flagship example** of erlen: an app factory, blueprints,"
        " Jinja2 templates, sessions, flash messages, CSRF protection, SQLite and a"
        " JSON API at `/api/posts`.\n\nLog in as `demo` / `demo` to write a post.",
    ),
    (
        "Markdown, safely",
        "Posts are written in *Markdown*:\n\n- lists\n- `code`\n- [links](https://"
        "example.com)\n\n> Raw HTML such as `<script>` is shown as text, never run.",
    ),
    (
        "Pagination",
        "The front page shows a few posts per page; older ones are one click away.",
    ),
    (
        "The JSON API",
        "```\ncurl http://127.0.0.1:5000/api/posts?per_page=2\n```\n\nWrites need a"
        " logged-in session and a JSON body.",
    ),
    (
        "Deploying",
        "The development server is for development. `docs/deploying.md` shows the"
        " same app under gunicorn and granian behind nginx.",
    ),
    (
        "Fast by design",
        "erlen keeps Flask's API and plans each request path once, so the same"
        " views cost less per request.",
    ),
    (
        "Hello from page two",
        "If you can read this on the front page, pagination is broken.",
    ),
]


def connect(path: str) -> sqlite3.Connection:
    """Open ``path`` with rows addressable by column name, foreign keys on,
    and write-ahead logging, so that the many connections of several worker
    processes (each with threads, as under an ASGI server) read while one
    writes."""
    conn = sqlite3.connect(path, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    if path != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
    return conn


def get_db() -> sqlite3.Connection:
    """The current application context's connection, opened on first use."""
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    conn: sqlite3.Connection = g.db
    return conn


def close_db(exc: BaseException | None = None) -> None:
    """Close the context's connection, if one was opened."""
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def init_db(drop: bool = False) -> None:
    """Create the tables (dropping existing ones first if ``drop``)."""
    conn = get_db()
    if drop:
        conn.executescript(
            "DROP TABLE IF EXISTS api_token; DROP TABLE IF EXISTS post;"
            " DROP TABLE IF EXISTS user;"
        )
    schema = resources.files(__package__).joinpath("schema.sql").read_text("utf-8")
    conn.executescript(schema)
    conn.commit()


def create_user(username: str, password: str) -> int:
    """Insert a user with a hashed password; returns the new id."""
    conn = get_db()
    cur = conn.execute(
        "INSERT INTO user (username, password_hash) VALUES (?, ?)",
        (username, generate_password_hash(password)),
    )
    conn.commit()
    assert cur.lastrowid is not None
    return cur.lastrowid


def seed_demo() -> tuple[bool, int]:
    """Create the demo user and its posts unless they exist.

    Returns whether the user was created and how many posts were added.
    """
    conn = get_db()
    row = conn.execute(
        "SELECT id FROM user WHERE username = ?", (DEMO_USERNAME,)
    ).fetchone()
    if row is not None:
        return False, 0
    user_id = create_user(DEMO_USERNAME, DEMO_PASSWORD)
    # Newest first, one minute apart, so the index order is deterministic.
    for minutes, (title, body) in enumerate(DEMO_POSTS):
        offset = f"-{minutes} minutes"
        conn.execute(
            "INSERT INTO post (author_id, title, body, created)"
            " VALUES (?, ?, ?, datetime('now', ?))",
            (user_id, title, body, offset),
        )
    conn.commit()
    return True, len(DEMO_POSTS)


def _has_schema() -> bool:
    names = {
        row[0]
        for row in get_db().execute("SELECT name FROM sqlite_master WHERE type='table'")
    }
    # api_token came later: a database from an older version gets it too.
    return {"user", "post", "api_token"} <= names


@click.command("init-db")
@click.option("--drop", is_flag=True, help="Delete all existing data first.")
@with_appcontext
def init_db_command(drop: bool) -> None:
    """Create the database tables (keeps existing data unless --drop)."""
    init_db(drop=drop)
    click.echo(f"Initialised the database at {current_app.config['DATABASE']}.")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Add the demo user (demo / demo) and a few posts."""
    init_db()
    created, posts = seed_demo()
    if created:
        click.echo(
            f"Created user {DEMO_USERNAME!r} (password {DEMO_PASSWORD!r})"
            f" with {posts} posts."
        )
    else:
        click.echo(f"User {DEMO_USERNAME!r} already exists; nothing to do.")


def init_app(app: Erlen) -> None:
    """Register teardown and CLI commands, and create the schema if missing."""
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
    app.cli.add_command(seed_demo_command)
    with app.app_context():
        if not _has_schema():
            init_db()
