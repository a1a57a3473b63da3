"""ASGI entry points for the server benchmarks (one per framework).

Each is imported by its own server process (uvicorn or granian's ASGI
interface). ``erlen_app`` is the Flask-API app's ``app.asgi_app``; it is an
``AttributeError`` while erlen has no ASGI adapter.
"""

from __future__ import annotations

import typing as t

from .asgi_apps import FACTORIES


def __getattr__(name: str) -> t.Any:
    framework = name.removesuffix("_app")
    if name.endswith("_app") and framework in FACTORIES:
        app = FACTORIES[framework]()
        if app is None:
            raise AttributeError(f"{name}: this erlen has no app.asgi_app")
        return app
    raise AttributeError(name)
