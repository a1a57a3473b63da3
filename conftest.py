"""Protocol markers shared by every test directory.

``make test`` runs the suite twice: over WSGI, and with
``ERLEN_TEST_PROTOCOL=asgi``, where every test client sends its requests
through ``app.asgi_app`` on a real event loop. A test that can only make sense
under one protocol says why in its marker:

- ``@pytest.mark.wsgi_only("reason")``
- ``@pytest.mark.asgi_only("reason")``
"""

from __future__ import annotations

import pytest

from erlen.testing import client_protocol


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "wsgi_only(reason): the test only makes sense over WSGI"
    )
    config.addinivalue_line(
        "markers", "asgi_only(reason): the test only makes sense over ASGI"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    protocol = client_protocol()
    other = "asgi" if protocol == "wsgi" else "wsgi"
    marker = item.get_closest_marker(f"{other}_only")
    if marker is not None:
        reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
        pytest.skip(f"{other.upper()} only: {reason}")
