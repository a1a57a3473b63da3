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
- The JSON API is exempt: it only accepts ``application/json`` bodies, which a
  cross-site page can only send after a CORS preflight this app never
  grants, and the session cookie is ``SameSite=Lax``.
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


def check_csrf() -> None:
    """Abort with 400 if an unsafe request lacks the session's token."""
    if request.method not in UNSAFE_METHODS:
        return
    if request.blueprint in EXEMPT_BLUEPRINTS:
        return
    if request.routing_exception is not None:
        return  # no view will run: let the 404/405 through instead of a 400
    expected = session.get(SESSION_KEY)
    sent = request.form.get(FIELD_NAME) or request.headers.get(HEADER_NAME)
    if (
        not isinstance(expected, str)
        or not sent
        or not hmac.compare_digest(sent.encode(), expected.encode())
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
