"""WSGI entry points for the server benchmarks (one per framework).

Each is imported by its own server process; the erlen one patches ``flask``
first, so it must never be imported together with the Flask one.
"""

from __future__ import annotations

import typing as t


def __getattr__(name: str) -> t.Any:
    if name == "erlen_app":
        import erlen.flask_patch  # noqa: F401

        from .flask_app import create_app

        return create_app()
    if name == "flask_app":
        from .flask_app import create_app

        return create_app()
    from . import other_apps

    if name == "falcon_app":
        return other_apps.falcon_app()
    if name == "bottle_app":
        return other_apps.bottle_app()
    if name == "bare_app":
        return other_apps.bare_app
    raise AttributeError(name)
