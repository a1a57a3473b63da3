"""A small CSRF protection: a random token in the session, echoed by every form.

Why not Flask-WTF (which runs on erlen through ``erlen.flask_patch``)? The
example is meant to show erlen itself and stay dependency-free beyond erlen
(and ``markdown``); the whole mechanism is these few lines, which makes it
easy to read. The rules:

- ``csrf_token()`` (a template global) puts a random token in the session on
  first use; forms send it back in a hidden ``csrf_token`` field (or an
  ``X-CSRF-Token`` header).
- A ``before_request`` hook checks it on every POST/PUT/PATCH/DELETE and
  answers 400 when it is missing or wrong.
- The JSON API has its own rule (``api.py``): a write authenticated by the
  session needs the token in an ``X-CSRF-Token`` header (pages of a logged-in
  user carry it in ``<meta name="csrf-token">``); a write authenticated by an
  API token (``Authorization: Bearer``) needs none, since a cross-site page
  can neither read nor send that header. This is on top of the API accepting
  only ``application/json`` bodies and the ``SameSite=Lax`` session cookie.
"""

from __future__ import annotations

import hmac
import secrets

from erlen import Erlen, abort, request, session

SESSION_KEY = "_csrf_token"
FIELD_NAME = "csrf_token"
HEADER_NAME = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXEMPT_BLUEPRINTS = frozenset({"api"})


def csrf_token() -> str:
    """Return this session's CSRF token, creating it if needed."""
    token = session.get(SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session[SESSION_KEY] = token
    return token


def token_matches(sent: str | None) -> bool:
    """Whether ``sent`` is this session's CSRF token (in constant time)."""
    expected = session.get(SESSION_KEY)
    return (
        isinstance(expected, str)
        and bool(expected)
        and bool(sent)
        and hmac.compare_digest(str(sent).encode(), expected.encode())
    )


def check_csrf() -> None:
    """Abort with 400 if an unsafe request lacks the session's token."""
    if request.method not in UNSAFE_METHODS:
        return
    if request.blueprint in EXEMPT_BLUEPRINTS:
        return
    if request.routing_exception is not None:
        return  # no view will run: let the 404/405 through instead of a 400
    if not token_matches(
        request.form.get(FIELD_NAME) or request.headers.get(HEADER_NAME)
    ):
        abort(
            400,
            description="The form's security token is missing or has expired."
            " Reload the page and try again.",
        )


def init_app(app: Erlen) -> None:
    """Install the check and the ``csrf_token`` template global."""
    app.before_request(check_csrf)
    app.add_template_global(csrf_token)
