"""API tokens: for scripts and ``curl``, which have no browser session.

A logged-in user creates a token (``/auth/tokens`` or ``POST /api/tokens``)
and sends it as ``Authorization: Bearer <token>``. Only a SHA-256 hash of
each token is stored, so a copy of the database gives no working token: the
token is shown once, when it is created. A fast hash is enough (unlike for
passwords) because tokens are 256 random bits, not guessable words. Users can
list their tokens (name, first characters, when created and last used) and
revoke any of them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from erlen import request

from .db import Row, get_db, timestamp

#: Every token starts with this, so a leaked one is easy to recognise.
TOKEN_PREFIX = "blog_"
#: Characters of a token kept in clear, to tell tokens apart in the list.
SHOWN_CHARS = len(TOKEN_PREFIX) + 6
NAME_MAX_LENGTH = 64


def hash_token(token: str) -> str:
    """The stored form of ``token``."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def validate_name(name: object) -> str | None:
    """The problem with a token name, or ``None``."""
    if not isinstance(name, str):
        return "Name must be a string."
    if not name.strip():
        return "Name is required."
    if len(name) > NAME_MAX_LENGTH:
        return f"Name must be at most {NAME_MAX_LENGTH} characters."
    return None


def create_token(user_id: int, name: str) -> tuple[int, str]:
    """Store a new token for ``user_id``; returns its id and the token itself
    (the only time it is available)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    conn = get_db()
    token_id: int = conn.execute(
        "INSERT INTO api_token (user_id, name, token_hash, shown, created)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id",
        (user_id, name.strip(), hash_token(token), token[:SHOWN_CHARS], timestamp()),
    ).fetchone()["id"]
    conn.commit()
    return token_id, token


def list_tokens(user_id: int) -> list[Row]:
    """The user's tokens, newest first (without any secret)."""
    return (
        get_db()
        .execute(
            "SELECT id, name, shown, created, last_used FROM api_token"
            " WHERE user_id = ? ORDER BY id DESC",
            (user_id,),
        )
        .fetchall()
    )


def get_token(user_id: int, token_id: int) -> Row | None:
    """One of the user's tokens, or ``None`` (someone else's is ``None`` too)."""
    row: Row | None = (
        get_db()
        .execute(
            "SELECT id, name, shown, created, last_used FROM api_token"
            " WHERE user_id = ? AND id = ?",
            (user_id, token_id),
        )
        .fetchone()
    )
    return row


def revoke_token(user_id: int, token_id: int) -> bool:
    """Delete one of the user's tokens; whether there was such a token."""
    conn = get_db()
    cur = conn.execute(
        "DELETE FROM api_token WHERE user_id = ? AND id = ?", (user_id, token_id)
    )
    conn.commit()
    return cur.rowcount == 1


#: ``last_used`` is refreshed at most this often, so that a busy script does
#: not turn every read into a database write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def user_for_token(token: str) -> Row | None:
    """The user a valid token belongs to (and note its use), or ``None``."""
    conn = get_db()
    row: Row | None = conn.execute(
        "SELECT t.id AS token_id,"
        " (t.last_used IS NULL OR t.last_used < ?) AS stale,"
        ' u.* FROM api_token t JOIN "user" u ON u.id = t.user_id'
        " WHERE t.token_hash = ?",
        (timestamp(-LAST_USED_RESOLUTION), hash_token(token)),
    ).fetchone()
    if row is None:
        return None
    if row["stale"]:
        conn.execute(
            "UPDATE api_token SET last_used = ? WHERE id = ?",
            (timestamp(), row["token_id"]),
        )
        conn.commit()
    return row


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``
    (no header, another scheme, or no token after ``Bearer``)."""
    auth = request.authorization
    if auth is None or auth.type != "bearer" or not auth.token:
        return None
    return auth.token


def token_to_json(row: Row) -> dict[str, object]:
    """The public representation of a token (never the token itself)."""
    return {
        "id": row["id"],
        "name": row["name"],
        "starts_with": row["shown"],
        "created": row["created"],
        "last_used": row["last_used"],
    }
