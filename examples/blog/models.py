"""Posts and users: queries and validation shared by the HTML views and the API."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from erlen import current_app

from .db import Row, get_db, timestamp

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,32}$")
PASSWORD_MIN_LENGTH = 8
#: The largest id either database stores (SQLite's integer, PostgreSQL's
#: ``bigint``); URLs and sessions can carry any ``int``.
MAX_ID = 2**63 - 1

_POST_SELECT = (
    "SELECT p.id, p.title, p.body, p.created, p.updated, p.author_id,"
    ' u.username AS author FROM post p JOIN "user" u ON u.id = p.author_id'
)


@dataclass(frozen=True)
class Page:
    """One page of posts and what is needed to link its neighbours."""

    items: list[Row]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1, so an empty blog has a page 1)."""
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        """Whether a newer page exists."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Whether an older page exists."""
        return self.page < self.pages


def get_user_by_name(username: str) -> Row | None:
    """The user row named ``username``, or ``None``."""
    row: Row | None = (
        get_db()
        .execute('SELECT * FROM "user" WHERE username = ?', (username,))
        .fetchone()
    )
    return row


def get_user(user_id: int) -> Row | None:
    """The user row with ``user_id``, or ``None``."""
    if not 0 < user_id <= MAX_ID:
        return None  # a session from another database; no driver binds more
    row: Row | None = (
        get_db().execute('SELECT * FROM "user" WHERE id = ?', (user_id,)).fetchone()
    )
    return row


def username_taken(username: str) -> str:
    """The message for a registration under a name someone has."""
    return f"The username {username!r} is already taken."


def validate_registration(username: str, password: str, confirm: str) -> dict[str, str]:
    """Field name -> message for every problem with a registration form."""
    errors: dict[str, str] = {}
    if not username:
        errors["username"] = "Username is required."
    elif not USERNAME_RE.match(username):
        errors["username"] = "Use 3 to 32 letters, digits, dots, dashes or underscores."
    elif get_user_by_name(username) is not None:
        errors["username"] = username_taken(username)
    if not password:
        errors["password"] = "Password is required."
    elif len(password) < PASSWORD_MIN_LENGTH:
        errors["password"] = (
            f"Password must be at least {PASSWORD_MIN_LENGTH} characters long."
        )
    elif password != confirm:
        errors["confirm"] = "The two passwords do not match."
    return errors


def validate_post(data: dict[str, Any], partial: bool = False) -> dict[str, str]:
    """Field name -> message for every problem with post ``data``.

    With ``partial`` (PATCH), missing fields are allowed; present ones are
    still checked.
    """
    errors: dict[str, str] = {}
    limits = {
        "title": current_app.config["TITLE_MAX_LENGTH"],
        "body": current_app.config["BODY_MAX_LENGTH"],
    }
    for field, limit in limits.items():
        if field not in data:
            if not partial:
                errors[field] = f"{field.capitalize()} is required."
            continue
        value = data[field]
        if not isinstance(value, str):
            errors[field] = f"{field.capitalize()} must be a string."
        elif not value.strip():
            errors[field] = f"{field.capitalize()} is required."
        elif len(value) > limit:
            errors[field] = (
                f"{field.capitalize()} must be at most {limit} characters"
                f" (it has {len(value)})."
            )
    return errors


def get_post(post_id: int) -> Row | None:
    """The post with ``post_id`` joined with its author's name, or ``None``."""
    if not 0 < post_id <= MAX_ID:
        return None  # no such row; neither database can even bind a larger id
    row: Row | None = (
        get_db().execute(f"{_POST_SELECT} WHERE p.id = ?", (post_id,)).fetchone()
    )
    return row


def list_posts(page: int, per_page: int) -> Page:
    """Posts newest first, ``per_page`` at a time."""
    conn = get_db()
    total: int = conn.execute("SELECT COUNT(*) AS n FROM post").fetchone()["n"]
    rows = conn.execute(
        f"{_POST_SELECT} ORDER BY p.created DESC, p.id DESC LIMIT ? OFFSET ?",
        (per_page, (page - 1) * per_page),
    ).fetchall()
    return Page(items=rows, page=page, per_page=per_page, total=total)


def newest_post_id() -> int:
    """The highest post id (0 if there are none): where a live page starts."""
    row = get_db().execute("SELECT MAX(id) AS newest FROM post").fetchone()
    newest: int | None = row["newest"]
    return newest or 0


def posts_after(post_id: int, limit: int) -> list[Row]:
    """The posts with an id above ``post_id``, oldest first: the newest
    ``limit`` of them (what a reconnecting live page missed)."""
    rows = (
        get_db()
        .execute(
            f"{_POST_SELECT} WHERE p.id > ? ORDER BY p.id DESC LIMIT ?",
            (post_id, limit),
        )
        .fetchall()
    )
    return rows[::-1]


def create_post(author_id: int, title: str, body: str) -> int:
    """Insert a post; returns its id."""
    conn = get_db()
    post_id: int = conn.execute(
        "INSERT INTO post (author_id, title, body, created) VALUES (?, ?, ?, ?)"
        " RETURNING id",
        (author_id, title.strip(), body, timestamp()),
    ).fetchone()["id"]
    conn.commit()
    return post_id


def update_post(post_id: int, title: str, body: str) -> None:
    """Replace a post's title and body and stamp it as updated."""
    conn = get_db()
    conn.execute(
        "UPDATE post SET title = ?, body = ?, updated = ? WHERE id = ?",
        (title.strip(), body, timestamp(), post_id),
    )
    conn.commit()


def delete_post(post_id: int) -> None:
    """Delete a post."""
    conn = get_db()
    conn.execute("DELETE FROM post WHERE id = ?", (post_id,))
    conn.commit()
