"""The storage layer (examples/blog/db.py): one code path for SQLite and
PostgreSQL, chosen by ``DATABASE_URL``. Tests taking ``database`` or ``app``
run on both (see conftest.py); the PostgreSQL server is real."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from examples.blog import create_app, models, tokens
from examples.blog.db import (
    TABLES,
    IntegrityError,
    create_user,
    get_db,
    location,
    timestamp,
)

if TYPE_CHECKING:
    from postgres_fixture import PostgresServer

    from erlen import Erlen
    from erlen.testing import ErlenClient

STORED_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def test_blog_database_url_from_the_environment_selects_postgresql(
    monkeypatch: pytest.MonkeyPatch, postgres_server: PostgresServer
) -> None:
    url = postgres_server.fresh_url()
    monkeypatch.setenv("BLOG_DATABASE_URL", url)
    monkeypatch.setenv("BLOG_SECRET_KEY", "env")
    app = create_app()
    assert app.config["DATABASE_URL"] == url
    assert app.config["DATABASE"] is None  # no SQLite file is made or used
    with app.app_context():
        assert get_db().dialect == "postgresql"
        assert get_db().table_names() == set(TABLES)
        create_user("erin", "erin-secret")
    # The data is in PostgreSQL: a second app on the same URL sees it.
    other = create_app({"DATABASE_URL": url, "SECRET_KEY": "k"})
    with other.app_context():
        assert models.get_user_by_name("erin") is not None


def test_without_database_url_the_sqlite_file_is_used(tmp_path: Path) -> None:
    app = create_app({"DATABASE": str(tmp_path / "b.sqlite"), "SECRET_KEY": "k"})
    assert app.config["DATABASE_URL"] is None
    with app.app_context():
        assert get_db().dialect == "sqlite"
        assert get_db().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert (tmp_path / "b.sqlite").is_file()


@pytest.mark.parametrize(
    "url", ["mysql://db/blog", "sqlite:///blog.sqlite", "postgresql-ish://x"]
)
def test_an_unknown_database_url_is_refused_at_startup(url: str) -> None:
    with pytest.raises(ValueError, match=r"DATABASE_URL must be a postgresql:// URL"):
        create_app({"DATABASE_URL": url, "SECRET_KEY": "k"})


def test_location_never_shows_the_password() -> None:
    assert location({"DATABASE_URL": None, "DATABASE": "/srv/b.sqlite"}) == (
        "/srv/b.sqlite"
    )
    assert (
        location({"DATABASE_URL": "postgresql://blog:s3cret@db.internal:5433/blog"})
        == "postgresql://blog:***@db.internal:5433/blog"
    )
    assert location({"DATABASE_URL": "postgresql://db/blog"}) == "postgresql://db/blog"


def test_a_taken_username_is_one_integrity_error_and_the_connection_lives_on(
    app: Erlen,
) -> None:
    with app.app_context():
        with pytest.raises(IntegrityError):
            create_user("alice", "another-password")
        # Rolled back: the same connection keeps working (on PostgreSQL a
        # failed statement would otherwise abort the whole transaction).
        user_id = create_user("carol", "carol-secret")
        assert models.get_user(user_id)["username"] == "carol"
        count = get_db().execute('SELECT COUNT(*) AS n FROM "user"').fetchone()
        assert count["n"] == 3


def test_rows_and_timestamps_look_the_same_on_both(app: Erlen) -> None:
    before = timestamp()
    with app.app_context():
        post_id = models.create_post(1, "  Spaced  ", "b")
        post = models.get_post(post_id)
        assert post is not None
        assert post["title"] == "Spaced"
        assert post["author"] == "alice"
        assert STORED_TIME.match(post["created"])
        assert before <= post["created"] <= timestamp()
        assert post["updated"] is None
        models.update_post(post_id, "T", "B")
        updated = models.get_post(post_id)
        assert updated is not None and STORED_TIME.match(updated["updated"])
        token_id, _ = tokens.create_token(1, "t")
        row = tokens.get_token(1, token_id)
        assert row is not None and STORED_TIME.match(row["created"])


def test_a_page_shows_the_stored_time_to_the_minute(
    app: Erlen, client: ErlenClient
) -> None:
    with app.app_context():
        created = models.get_post(1)["created"]  # type: ignore[index]
    html = client.get("/posts/1").get_data(as_text=True)
    assert f'<time datetime="{created}">{created[:16]}</time>' in html


@pytest.mark.parametrize("post_id", [2**31, 2**63 - 1, 2**63, 10**30])
def test_ids_beyond_32_bits_are_just_missing(client: ErlenClient, post_id: int) -> None:
    assert client.get(f"/posts/{post_id}").status_code == 404
    assert client.get(f"/api/posts/{post_id}").status_code == 404


def test_workers_starting_together_create_the_schema_once(
    database: dict[str, Any],
) -> None:
    """Four apps (as four server workers would) start at once on an empty
    database; each finds or creates the whole schema."""
    config = {"SECRET_KEY": "k", **database}
    with ThreadPoolExecutor(4) as pool:
        apps = list(pool.map(lambda _: create_app(config), range(4)))
    for app in apps:
        with app.app_context():
            assert set(TABLES) <= get_db().table_names()
    with apps[0].app_context():
        create_user("only", "only-secret")
    with apps[3].app_context():
        assert models.get_user_by_name("only") is not None


def test_init_db_drop_empties_the_tables(app: Erlen) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["init-db", "--drop"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert models.list_posts(1, 5).total == 0
        # Ids start again at 1 in the new tables.
        assert create_user("first", "first-secret") == 1
