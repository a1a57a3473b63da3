"""Flaskr: a small blog written the way Flask's tutorial writes applications."""

from __future__ import annotations

import os
import typing as t

from flask import Flask, render_template
from werkzeug.exceptions import NotFound


def create_app(test_config: dict[str, t.Any] | None = None) -> Flask:
    """Application factory: configure the app, then attach the blueprints."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        SECRET_KEY="dev",
        DATABASE=os.path.join(app.instance_path, "flaskr.sqlite"),
    )

    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
    else:
        app.config.from_mapping(test_config)

    os.makedirs(app.instance_path, exist_ok=True)

    @app.route("/hello")
    def hello() -> str:
        return "Hello, World!"

    @app.errorhandler(404)
    def not_found(error: NotFound) -> tuple[str, int]:
        return render_template("404.html", error=error), 404

    from . import auth, blog, db

    db.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(blog.bp)
    app.add_url_rule("/", endpoint="index")

    return app
