"""WSGI entry point for production servers: ``gunicorn examples.blog.wsgi:app``.

Configure it with ``BLOG_*`` environment variables (``BLOG_SECRET_KEY``,
``BLOG_DATABASE`` or ``BLOG_DATABASE_URL``, ``BLOG_BROADCAST_URL``) or
``config.py`` in the instance folder.
"""

from __future__ import annotations

from . import create_app

app = create_app()
