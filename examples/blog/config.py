"""Default configuration of the blog, overridden by the instance folder and env.

Order (later wins): this object, ``<instance>/config.py`` (optional), then every
``BLOG_*`` environment variable (``BLOG_SECRET_KEY``, ``BLOG_DATABASE_URL``,
``BLOG_POSTS_PER_PAGE=10``; values are parsed as JSON when they can be).
"""

from __future__ import annotations


class DefaultConfig:
    """Settings suitable for development and production alike."""

    #: Signs the session cookie. Unset (the default), a random key is generated
    #: on first run into ``SECRET_KEY_FILE``, so no public key signs sessions.
    SECRET_KEY: str | None = None
    #: Where that generated key is kept; ``None`` means ``<instance>/secret_key``.
    SECRET_KEY_FILE: str | None = None
    #: Where posts, users and API tokens live (``BLOG_DATABASE_URL``): unset,
    #: the SQLite file ``DATABASE``, for one host; a PostgreSQL URL such as
    #: ``postgresql://blog:password@db.internal/blog`` for servers on several
    #: hosts (needs ``pip install "psycopg[binary]"``). See :mod:`examples.blog.db`.
    DATABASE_URL: str | None = None
    #: Path of the SQLite database file; ``None`` means ``<instance>/blog.sqlite``.
    DATABASE: str | None = None
    #: Posts per page on the HTML index.
    POSTS_PER_PAGE = 5
    #: Default and maximum ``per_page`` of the JSON API.
    API_PER_PAGE = 10
    API_MAX_PER_PAGE = 100
    #: Length limits enforced by the forms and the API.
    TITLE_MAX_LENGTH = 120
    BODY_MAX_LENGTH = 20_000
    SESSION_COOKIE_SAMESITE = "Lax"
    #: Number of reverse proxies in front of the app (nginx: 1). When > 0,
    #: Werkzeug's ProxyFix trusts that many X-Forwarded-For/-Proto/-Host/-Prefix
    #: values, so client addresses and external URLs are right. Leave 0 when
    #: clients connect directly: they could forge those headers.
    PROXY_HOPS = 0
    #: Where new posts are announced to open pages (``BLOG_BROADCAST_URL``):
    #: ``memory://`` reaches the pages served by this process only (enough for
    #: ``make demo`` and one worker); ``redis://host:6379/0`` reaches every
    #: worker on every host. See :mod:`examples.blog.live`.
    BROADCAST_URL = "memory://"
    #: Seconds between keep-alive comments on an idle live stream; proxies
    #: keep the connection open, and a WSGI server notices a page has gone.
    LIVE_PING_SECONDS = 15.0
    #: Reject request bodies larger than 1 MiB (413).
    MAX_CONTENT_LENGTH = 1024 * 1024
