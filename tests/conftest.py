"""Shared fixtures.

``erlen.flask_patch`` is imported first, before anything can import ``flask``:
the extension tests run real Flask extensions on erlen in this process. Real
Flask itself is only ever used in subprocesses (cookie interoperability, the
Flask-app suite run against Flask, benchmarks).
"""

from __future__ import annotations

import os
import typing as t

import pytest

import erlen.flask_patch  # noqa: F401  (must come before any `import flask`)


@pytest.fixture(autouse=True)
def _restore_environ() -> t.Iterator[None]:
    """Undo environment changes a test leaves behind.

    The CLI sets ``ERLEN_RUN_FROM_CLI`` / ``FLASK_RUN_FROM_CLI`` for good (the
    reloader's child process needs it), which would turn a later test's
    ``app.run()`` in a subprocess into a no-op.
    """
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
