"""Storage: SQLite (the default) or PostgreSQL, one code path, plus the CLI commands.

``DATABASE_URL`` chooses: unset, the SQLite file ``DATABASE`` through the
standard ``sqlite3`` module (nothing to install, one host); a
``postgresql://user:password@host/dbname`` URL, a PostgreSQL server through
psycopg 3 (``pip install "psycopg[binary]"``), which every app server of a
deployment on several hosts shares.

The models talk to a :class:`Database`, which looks the same whichever it is:
queries are written once, with ``?`` placeholders; rows are read by column
name (``row["title"]``); an insert says ``RETURNING id`` (SQLite 3.35+);
timestamps are computed here (:func:`timestamp`) and stored as UTC text, so
they sort, show and serialise the same on both; a broken constraint (a taken
username) raises :class:`IntegrityError` on both. The schema is one file,
``schema.sql``, in the SQL both understand, but for the id columns.

One connection per application context (stored on ``g``), closed on teardown.
The schema is created automatically when the app starts and finds no tables,
so a fresh checkout (or a fresh PostgreSQL database) just runs.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

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

#: The URL schemes of :data:`DATABASE_URL` that mean PostgreSQL.
POSTGRES_SCHEMES = frozenset({"postgresql", "postgres"})
#: The tables of the schema, in the order they can be dropped.
TABLES = ("api_token", "post", "user")
#: How stored timestamps look: SQLite's ``CURRENT_TIMESTAMP``, in UTC.
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


class Row(Protocol):
    """A result row, read by column name: ``sqlite3.Row`` or a ``dict``."""

    def __getitem__(self, key: str, /) -> Any: ...


class Cursor(Protocol):
    """What :meth:`Database.execute` returns: both drivers' cursors are one."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class IntegrityError(Exception):
    """A constraint refused a write (a duplicate username, say), whichever the
    database; the transaction has been rolled back, the connection is usable."""


def timestamp(offset: timedelta = timedelta()) -> str:
    """The current UTC time plus ``offset``, as stored (``2026-01-31 09:30:00``:
    text that sorts like the time and shows the same from either database)."""
    return (datetime.now(timezone.utc) + offset).strftime(TIMESTAMP_FORMAT)


def is_postgres(url: str | None) -> bool:
    """Whether ``url`` (a ``DATABASE_URL``) names a PostgreSQL database."""
    return bool(url) and urlsplit(url or "").scheme in POSTGRES_SCHEMES


def check_url(url: str | None) -> None:
    """Refuse a ``DATABASE_URL`` the blog cannot use, at startup."""
    if url and not is_postgres(url):
        raise ValueError(
            f"DATABASE_URL must be a postgresql:// URL, not {url!r}; leave it"
            " unset to use the SQLite file DATABASE."
        )


def location(config: Mapping[str, Any]) -> str:
    """Where the data is, for messages: the SQLite path or the URL (without
    its password)."""
    url: str | None = config.get("DATABASE_URL")
    if not url:
        return str(config["DATABASE"])
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class Database:
    """One connection, to SQLite or PostgreSQL, with one interface.

    :meth:`execute` takes ``?`` placeholders and returns the driver's cursor,
    whose rows are read by column name; :meth:`commit` ends a transaction
    (closing without it rolls back).
    """

    #: ``"sqlite"`` or ``"postgresql"``.
    dialect: str
    #: The driver's exception for a broken constraint.
    driver_integrity_error: type[Exception]

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def sql(self, query: str) -> str:
        """``query`` in the driver's placeholder style."""
        return query

    def execute(self, query: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement with ``params`` bound to its ``?`` placeholders."""
        try:
            cursor: Cursor = self.conn.execute(self.sql(query), params)
        except self.driver_integrity_error as error:
            self.conn.rollback()
            raise IntegrityError(str(error)) from error
        return cursor

    def executescript(self, script: str) -> None:
        """Run several statements (no parameters), then commit."""
        raise NotImplementedError

    def table_names(self) -> set[str]:
        """The tables in the database (the current schema, for PostgreSQL)."""
        raise NotImplementedError

    def lock_schema(self) -> None:
        """Keep other processes from changing the schema until :meth:`commit`."""

    def commit(self) -> None:
        """Make the transaction's writes visible to every other connection."""
        self.conn.commit()

    def rollback(self) -> None:
        """Forget the transaction's writes."""
        self.conn.rollback()

    def close(self) -> None:
        """Close the connection (an uncommitted transaction is rolled back)."""
        self.conn.close()


class SQLiteDatabase(Database):
    """A SQLite file through ``sqlite3``."""

    dialect = "sqlite"
    driver_integrity_error = sqlite3.IntegrityError

    def executescript(self, script: str) -> None:
        self.conn.executescript(script)
        self.conn.commit()

    def table_names(self) -> set[str]:
        rows = self.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {row["name"] for row in rows.fetchall()}


@functools.lru_cache(maxsize=256)
def _pyformat(query: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (and a literal ``%`` doubled)."""
    return query.replace("%", "%%").replace("?", "%s")


#: Any constant key for ``pg_advisory_xact_lock``: "blog" in ASCII.
SCHEMA_LOCK = 0x626C6F67


class PostgresDatabase(Database):
    """A PostgreSQL database through psycopg 3."""

    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        import psycopg

        super().__init__(conn)
        self.driver_integrity_error = psycopg.IntegrityError

    def sql(self, query: str) -> str:
        return _pyformat(query)

    def executescript(self, script: str) -> None:
        # psycopg sends a query without parameters as one simple query,
        # which may hold several statements.
        self.conn.execute(script)
        self.conn.commit()

    def table_names(self) -> set[str]:
        rows = self.execute(
            "SELECT tablename AS name FROM pg_tables"
            " WHERE schemaname = current_schema()"
        )
        return {row["name"] for row in rows.fetchall()}

    def lock_schema(self) -> None:
        # Two workers starting at once on an empty database would otherwise
        # both CREATE TABLE IF NOT EXISTS, and one could fail on the catalog.
        self.execute("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))


def connect_sqlite(path: str) -> SQLiteDatabase:
    """Open ``path`` with rows addressable by column name, foreign keys on,
    and write-ahead logging, so that the many connections of several worker
    processes (each with threads, as under an ASGI server) read while one
    writes."""
    conn = sqlite3.connect(path, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")  # (a setting of each connection)
    if path != ":memory:" and path not in _WAL_PATHS:
        # The journal mode is stored in the file: once per file and process
        # is enough, not a statement per request.
        _set_wal(conn)
        _WAL_PATHS.add(path)
    return SQLiteDatabase(conn)


def _set_wal(conn: sqlite3.Connection, wait: float = 10.0) -> None:
    """Switch the file to write-ahead logging. Switching takes an exclusive
    lock and SQLite answers "database is locked" at once, without its busy
    timeout, when another connection holds one (workers starting together
    on a new file): try again for up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


_WAL_PATHS: set[str] = set()


def connect_postgres(url: str) -> PostgresDatabase:
    """Connect to the PostgreSQL database at ``url``, rows as dicts."""
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError as error:  # pragma: no cover - psycopg is a dev dependency
        raise RuntimeError(
            'DATABASE_URL names PostgreSQL: pip install "psycopg[binary]"'
            " (or erlen[postgres])."
        ) from error
    return PostgresDatabase(psycopg.connect(url, row_factory=dict_row))


def connect(config: Mapping[str, Any]) -> Database:
    """A new connection to the database that ``config`` names."""
    url = config.get("DATABASE_URL")
    if url:
        check_url(url)
        return connect_postgres(url)
    return connect_sqlite(config["DATABASE"])


def get_db() -> Database:
    """The current application context's connection, opened on first use."""
    if "db" not in g:
        g.db = connect(current_app.config)
    conn: Database = g.db
    return conn


def close_db(exc: BaseException | None = None) -> None:
    """Close the context's connection, if one was opened."""
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def schema_sql(dialect: str) -> str:
    """``schema.sql`` for ``dialect``: the same but for how ids are generated."""
    schema = resources.files(__package__).joinpath("schema.sql").read_text("utf-8")
    if dialect == "postgresql":
        schema = schema.replace(
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        )
    return schema


def init_db(drop: bool = False) -> None:
    """Create the tables (dropping existing ones first if ``drop``)."""
    conn = get_db()
    conn.lock_schema()
    script = schema_sql(conn.dialect)
    if drop:
        drops = "".join(f'DROP TABLE IF EXISTS "{name}";\n' for name in TABLES)
        script = drops + script
    conn.executescript(script)


def insert_user(username: str, password_hash: str) -> int:
    """Insert a user whose password is already hashed; returns the new id.

    :class:`IntegrityError` if the name is taken.
    """
    conn = get_db()
    user_id: int = conn.execute(
        'INSERT INTO "user" (username, password_hash, created) VALUES (?, ?, ?)'
        " RETURNING id",
        (username, password_hash, timestamp()),
    ).fetchone()["id"]
    conn.commit()
    return user_id


def create_user(username: str, password: str) -> int:
    """Insert a user with a hashed password; returns the new id.

    :class:`IntegrityError` if the name is taken.
    """
    return insert_user(username, generate_password_hash(password))


def seed_demo() -> tuple[bool, int]:
    """Create the demo user and its posts unless they exist.

    Returns whether the user was created and how many posts were added.
    """
    conn = get_db()
    row = conn.execute(
        'SELECT id FROM "user" WHERE username = ?', (DEMO_USERNAME,)
    ).fetchone()
    if row is not None:
        return False, 0
    user_id = create_user(DEMO_USERNAME, DEMO_PASSWORD)
    # Newest first, one minute apart, so the index order is deterministic.
    for minutes, (title, body) in enumerate(DEMO_POSTS):
        conn.execute(
            "INSERT INTO post (author_id, title, body, created) VALUES (?, ?, ?, ?)",
            (user_id, title, body, timestamp(-timedelta(minutes=minutes))),
        )
    conn.commit()
    return True, len(DEMO_POSTS)


def _has_schema() -> bool:
    # api_token came later: a database from an older version gets it too.
    return set(TABLES) <= get_db().table_names()


@click.command("init-db")
@click.option("--drop", is_flag=True, help="Delete all existing data first.")
@with_appcontext
def init_db_command(drop: bool) -> None:
    """Create the database tables (keeps existing data unless --drop)."""
    init_db(drop=drop)
    click.echo(f"Initialised the database at {location(current_app.config)}.")


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
    check_url(app.config.get("DATABASE_URL"))
    app.teardown_appcontext(close_db)
    app.cli.add_command(init_db_command)
    app.cli.add_command(seed_demo_command)
    with app.app_context():
        if not _has_schema():
            init_db()
