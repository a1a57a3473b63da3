"""Shared fixtures.

``erlen.flask_patch`` is imported first, before anything can import ``flask``:
the extension tests run real Flask extensions on erlen in this process. Real
Flask itself is only ever used in subprocesses (cookie interoperability, the
Flask-app suite run against Flask, benchmarks).
"""

from __future__ import annotations

import erlen.flask_patch  # noqa: F401  (must come before any `import flask`)
