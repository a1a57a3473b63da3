"""Serve the blog with the development server: ``python -m examples.blog.serve``.

Creates the database if needed, seeds the demo user (demo / demo) and a few
posts, prints the URL and serves on http://127.0.0.1:5000. The development
server is for development only; see docs/deploying.md for production.
"""

from __future__ import annotations

import argparse

from . import create_app
from .db import DEMO_PASSWORD, DEMO_USERNAME, init_db, location, seed_demo


def main(argv: list[str] | None = None) -> None:
    """Prepare the database and run the development server."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--debug", action="store_true", help="reloader + debugger")
    args = parser.parse_args(argv)

    app = create_app()
    with app.app_context():
        init_db()
        created, posts = seed_demo()
    print(f"Database: {location(app.config)}")
    if created:
        print(f"Seeded {posts} demo posts.")
    print(f"Demo account: username {DEMO_USERNAME!r}, password {DEMO_PASSWORD!r}")
    print(f"Serving the erlen blog on http://{args.host}:{args.port}  (Ctrl+C stops)")
    app.run(host=args.host, port=args.port, debug=args.debug)


if __name__ == "__main__":
    main()
