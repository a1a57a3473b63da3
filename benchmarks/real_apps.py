"""Real applications for the benchmarks: Flask's tutorial app and the example blog.

*flaskr* is Flask's own tutorial application, taken unchanged from the Flask
3.1.3 sdist, which is downloaded into ``build/flask-suite/`` at run time (the
same place ``scripts/flask-suite.sh`` puts it); none of Flask's code is
committed here. On erlen it runs through ``erlen.flask_patch``.

The example blog (``examples/blog``) is written against ``erlen``. On Flask it
runs through :func:`install_flask_as_erlen`, a shim that makes ``import erlen``
and ``import erlen.cli`` give Flask's modules (with ``Erlen = Flask``), so both
sides run the same source.

Each benchmark app gets a fresh SQLite database in a temporary directory
(``/dev/shm`` when it exists, so commits do not wait on a disk), seeded with
the same rows and fixed timestamps on both sides so that pages are
byte-identical. Logged-in requests carry a session cookie signed with the
app's own session serializer.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import types
import typing as t

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLASK_VERSION = "3.1.3"
SDIST_DIR = os.path.join(ROOT, "build", "flask-suite")
TUTORIAL_DIR = os.path.join(SDIST_DIR, f"flask-{FLASK_VERSION}", "examples", "tutorial")
POSTS = 20
CSRF_TOKEN = "benchmark-csrf-token"
#: Session contents of the logged-in scenarios, by app.
SESSIONS: dict[str, dict[str, t.Any]] = {
    "flaskr": {"user_id": 1},
    "blog": {"user_id": 1, "_csrf_token": CSRF_TOKEN},
}


def ensure_flaskr() -> str:
    """Download and unpack Flask's sdist if needed; return the tutorial dir."""
    if os.path.isdir(os.path.join(TUTORIAL_DIR, "flaskr")):
        return TUTORIAL_DIR
    os.makedirs(SDIST_DIR, exist_ok=True)
    archive = os.path.join(SDIST_DIR, f"flask-{FLASK_VERSION}.tar.gz")
    if not os.path.exists(archive):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"flask=={FLASK_VERSION}",
                "-d",
                SDIST_DIR,
            ],
            check=True,
            timeout=300,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(SDIST_DIR, filter="data")
    return TUTORIAL_DIR


def _tempdir() -> str:
    """A temporary directory removed when the process exits."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
    path = tempfile.mkdtemp(prefix="erlen-bench-", dir=base)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _cheap_hash(password: str) -> str:
    # The login scenario measures the framework, not scrypt: a one-iteration
    # PBKDF2 hash, which check_password_hash reads from the stored string.
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password, method="pbkdf2:sha256:1")


def _created(i: int) -> str:
    return f"2026-01-{1 + i % 28:02d} 12:{i % 60:02d}:00"


def create_flaskr() -> t.Any:
    """flaskr on a fresh database: user ``bench`` and 20 posts by it."""
    sys.path.insert(0, ensure_flaskr())
    import flaskr  # type: ignore[import-not-found]
    from flaskr.db import init_db  # type: ignore[import-not-found]

    path = os.path.join(_tempdir(), "flaskr.sqlite")
    app = flaskr.create_app({"TESTING": False, "DATABASE": path})
    with app.app_context():
        init_db()
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO user (username, password) VALUES (?, ?)",
        ("bench", _cheap_hash("right")),
    )
    conn.executemany(
        "INSERT INTO post (author_id, created, title, body) VALUES (1, ?, ?, ?)",
        [
            (_created(i), f"Post number {i}", f"The body of post {i}.\nSecond line.")
            for i in range(POSTS)
        ],
    )
    conn.commit()
    conn.close()
    return app


def install_flask_as_erlen() -> None:
    """Make ``import erlen`` (and ``erlen.cli``) give Flask, for the blog on Flask."""
    import flask
    import flask.cli

    if getattr(sys.modules.get("erlen"), "Erlen", None) is flask.Flask:
        return  # installed already
    if "erlen" in sys.modules:
        raise RuntimeError("erlen is already imported: the shim would not take")
    shim = types.ModuleType("erlen", "Flask, under erlen's names (benchmark shim).")
    shim.__dict__.update(
        {k: v for k, v in vars(flask).items() if not k.startswith("__")}
    )
    shim.Erlen = flask.Flask  # type: ignore[attr-defined]
    shim.cli = flask.cli  # type: ignore[attr-defined]
    # The blog's live page uses erlen.sse and erlen.broadcast, which Flask has
    # no counterpart of: they load from erlen's own files as the shim's
    # submodules, reading Flask's context variables (erlen.globals → Flask's).
    shim.__path__ = [os.path.join(ROOT, "src", "erlen")]  # type: ignore[attr-defined]
    sys.modules["erlen"] = shim
    sys.modules["erlen.cli"] = flask.cli
    sys.modules["erlen.globals"] = flask.globals


def create_blog(framework: str) -> t.Any:
    """The example blog on a fresh database: user ``bench`` and 20 posts."""
    if framework == "flask":
        install_flask_as_erlen()
    from examples.blog import create_app

    path = os.path.join(_tempdir(), "blog.sqlite")
    app = create_app({"SECRET_KEY": "benchmark secret", "DATABASE": path})
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO user (username, password_hash, created) VALUES (?, ?, ?)",
        ("bench", _cheap_hash("right"), _created(0)),
    )
    conn.executemany(
        "INSERT INTO post (author_id, title, body, created) VALUES (1, ?, ?, ?)",
        [
            (
                f"Post number {i}",
                f"The *body* of post {i}, in Markdown.\n\n- a list\n- `code`",
                _created(i),
            )
            for i in range(POSTS)
        ],
    )
    conn.commit()
    conn.close()
    return app


def session_cookie(app: t.Any, name: str) -> str:
    """A ``Cookie`` header value carrying the logged-in session of ``name``."""
    serializer = app.session_interface.get_signing_serializer(app)
    value = serializer.dumps(dict(SESSIONS[name]))
    return f"{app.config['SESSION_COOKIE_NAME']}={value}"
