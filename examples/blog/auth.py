"""Accounts: register, log in, log out; ``g.user`` and ``login_required``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from werkzeug.security import check_password_hash

from erlen import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from . import models, tokens
from .db import IntegrityError, create_user
from .errors import json_error

bp = Blueprint("auth", __name__, url_prefix="/auth")

F = TypeVar("F", bound=Callable[..., Any])


#: ``WWW-Authenticate`` of the API's 401 answers (RFC 6750).
BEARER_CHALLENGE = 'Bearer realm="blog"'


def unauthorized(message: str, error: str | None = None) -> Response:
    """The API's 401: JSON, with the challenge naming the Bearer scheme."""
    response = json_error(401, message)
    challenge = BEARER_CHALLENGE + (f', error="{error}"' if error else "")
    response.headers["WWW-Authenticate"] = challenge
    return response


@bp.before_app_request
def load_logged_in_user() -> Response | None:
    """Put the user's row (or ``None``) on ``g.user`` and how they proved who
    they are on ``g.auth`` (``"session"``, ``"token"`` or ``None``).

    The API reads an ``Authorization`` header, if there is one, instead of the
    session: a valid ``Bearer`` token or a 401, whatever the endpoint, so a
    mistyped or revoked token never passes for an anonymous reader.
    """
    g.user = None
    g.auth = None
    if request.blueprint == "api" and "Authorization" in request.headers:
        token = tokens.bearer_token()
        if token is None:
            return unauthorized(
                "Send an API token as 'Authorization: Bearer <token>'.",
                "invalid_request",
            )
        user = tokens.user_for_token(token)
        if user is None:
            return unauthorized(
                "The API token is wrong or has been revoked.", "invalid_token"
            )
        g.user, g.auth = user, "token"
        return None
    user_id = session.get("user_id")
    if isinstance(user_id, int):
        g.user = models.get_user(user_id)
        g.auth = "session" if g.user is not None else None
    return None


def login_required(view: F) -> F:
    """Redirect anonymous visitors to the login page (401 JSON for the API)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.user is None:
            if request.blueprint == "api":
                return unauthorized(
                    "Log in first, or send an API token:"
                    " 'Authorization: Bearer <token>'."
                )
            flash("Please log in to continue.", "warning")
            return redirect(url_for("auth.login", next=current_path()))
        return view(*args, **kwargs)

    return cast(F, wrapped)


def current_path() -> str:
    """This request's path with its query string, if it has one (unlike
    ``request.full_path``, no lone ``?`` at the end)."""
    return request.full_path if request.query_string else request.path


def safe_next_url(target: str, default: str) -> str:
    """``target`` if it is a path on this site, else ``default`` (no open redirect).

    The recipe of docs/security.md (no scheme, no host, a leading ``/``, no
    backslash), made strict about what browsers do with a ``Location``: they
    drop tabs and newlines anywhere (``?next=/%09/evil.example``, a tab once
    decoded, becomes ``//evil.example``), read a backslash as a slash, and take
    ``///host`` as ``//host``. So a target must not start with two slashes or
    contain a backslash or any control character (which could not go in a
    header either: ``/%0a/x`` would otherwise be a 500).
    """
    if not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


@bp.route("/register", methods=("GET", "POST"))
def register() -> Any:
    """Show and handle the registration form."""
    values = {"username": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        confirm = request.form.get("confirm", "")
        values["username"] = username
        errors = models.validate_registration(username, password, confirm)
        if not errors:
            try:
                create_user(username, password)
            except IntegrityError:
                # Someone took the name since it was checked (another server?).
                errors["username"] = models.username_taken(username)
            else:
                flash(f"Welcome, {username}! Please log in.", "success")
                return redirect(url_for("auth.login"))
        flash("Please correct the errors below.", "error")
    status = 422 if errors else 200
    return render_template("auth/register.html", values=values, errors=errors), status


@bp.route("/login", methods=("GET", "POST"))
def login() -> Any:
    """Show and handle the login form."""
    values = {"username": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        values["username"] = username
        if not username:
            errors["username"] = "Username is required."
        if not password:
            errors["password"] = "Password is required."
        if not errors:
            user = models.get_user_by_name(username)
            if user is None or not check_password_hash(user["password_hash"], password):
                flash("Incorrect username or password.", "error")
                return render_template("auth/login.html", values=values, errors={}), 422
            session.clear()
            session["user_id"] = user["id"]
            flash(f"Logged in as {user['username']}.", "success")
            next_url = request.args.get("next", "")
            return redirect(safe_next_url(next_url, default=url_for("blog.index")))
        flash("Please correct the errors below.", "error")
    status = 422 if errors else 200
    return render_template("auth/login.html", values=values, errors=errors), status


@bp.post("/logout")
def logout() -> Any:
    """Forget the session (a POST, so it is CSRF-protected like other changes)."""
    session.clear()
    flash("You have been logged out.", "info")
    return redirect(url_for("blog.index"))


@bp.route("/tokens", methods=("GET", "POST"))
@login_required
def api_tokens() -> Any:
    """List the user's API tokens; a POST creates one and shows it, once."""
    name = ""
    error = None
    new_token = None
    status = 200
    if request.method == "POST":
        name = request.form.get("name", "")
        error = tokens.validate_name(name)
        if error is None:
            _, new_token = tokens.create_token(g.user["id"], name)
            flash(f"Created the token {name.strip()!r}: copy it now.", "success")
            name = ""
            status = 201
        else:
            status = 422
    return render_template(
        "auth/tokens.html",
        tokens=tokens.list_tokens(g.user["id"]),
        name=name,
        errors={"name": error} if error else {},
        new_token=new_token,
    ), status


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_api_token(token_id: int) -> Any:
    """Revoke one of the user's tokens (a 404 for anyone else's)."""
    token = tokens.get_token(g.user["id"], token_id)
    if token is None:
        abort(404, description=f"You have no API token {token_id}.")
    tokens.revoke_token(g.user["id"], token_id)
    flash(f"Revoked the token {token['name']!r}.", "info")
    return redirect(url_for("auth.api_tokens"))
