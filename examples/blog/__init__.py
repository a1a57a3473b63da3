"""A small publishing site: the flagship erlen example.

Run it with ``python -m examples.blog.serve`` (or ``make demo``); see
``docs/deploying.md`` for production servers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

from erlen import Erlen

from . import keys


def create_app(test_config: Mapping[str, Any] | None = None) -> Erlen:
    """Build and configure the blog application.

    Configuration comes from :class:`~examples.blog.config.DefaultConfig`, then
    ``config.py`` in the instance folder (if present), then ``BLOG_*``
    environment variables. ``test_config`` replaces the last two, so tests are
    not affected by the developer's machine. Without a ``SECRET_KEY`` the key
    is read from (on first run, generated into) ``<instance>/secret_key``; see
    :mod:`examples.blog.keys`.
    """
    app = Erlen(__name__, instance_relative_config=True)
    app.config.from_object("examples.blog.config.DefaultConfig")
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("BLOG")
    else:
        app.config.from_mapping(test_config)
    if not app.config.get("DATABASE") and not app.config.get("DATABASE_URL"):
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["DATABASE"] = os.path.join(app.instance_path, "blog.sqlite")
    if not app.config.get("SECRET_KEY"):
        # Never a public default: a random key kept in the instance folder.
        key_file = app.config.get("SECRET_KEY_FILE") or os.path.join(
            app.instance_path, keys.KEY_FILE_NAME
        )
        app.config["SECRET_KEY"] = keys.load_or_create_secret_key(key_file)

    from . import api, auth, csrf, db, errors, live, markup, posts

    db.init_app(app)
    csrf.init_app(app)
    markup.init_app(app)
    errors.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(posts.bp)
    app.register_blueprint(api.bp)
    live.init_app(app)

    hops = int(app.config["PROXY_HOPS"])
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_prefix=hops
        )
    return app
