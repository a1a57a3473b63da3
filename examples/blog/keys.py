"""The session-signing key: configured, or generated once into the instance folder.

A blog served with no ``SECRET_KEY`` (``BLOG_SECRET_KEY``) must not sign its
sessions with a key anyone can read in this repository: whoever knows it can
forge a login as any user. So on first start without one, a random key is
written to ``<instance>/secret_key`` (readable by its owner only) and every
later start, and every worker sharing that folder, reads the same file.
``SECRET_KEY_FILE`` (``BLOG_SECRET_KEY_FILE``) moves it. Several hosts must
share one key: set ``BLOG_SECRET_KEY`` on each, or give them the same file.
"""

from __future__ import annotations

import os
import secrets

KEY_FILE_NAME = "secret_key"


def load_or_create_secret_key(path: str) -> str:
    """The key stored at ``path``, after writing a new random one if there is none.

    Safe when several processes start at once (server workers): the key is
    written to a temporary file and linked into place, so exactly one key wins
    and nobody reads a half-written file.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    temporary = os.path.join(folder, f".{KEY_FILE_NAME}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(secrets.token_hex(32) + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process was first: use its key
    finally:
        os.unlink(temporary)
    return _read_key(path)


def _read_key(path: str) -> str:
    with open(path, encoding="utf-8") as file:
        key = file.read().strip()
    if not key:
        raise RuntimeError(
            f"The secret key file {path} is empty. Delete it to have a new key"
            " generated, or set BLOG_SECRET_KEY."
        )
    return key
