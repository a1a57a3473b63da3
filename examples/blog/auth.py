"""Accounts: register, log in, log out; ``g.user`` and ``login_required``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from werkzeug.security import check_password_hash

from erlen import (
    Blueprint,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from . import models
from .db import create_user
from .errors import json_error

bp = Blueprint("auth", __name__, url_prefix="/auth")

F = TypeVar("F", bound=Callable[..., Any])


@bp.before_app_request
def load_logged_in_user() -> None:
    """Put the logged-in user's row (or ``None``) on ``g.user``."""
    user_id = session.get("user_id")
    g.user = models.get_user(user_id) if isinstance(user_id, int) else None


def login_required(view: F) -> F:
    """Redirect anonymous visitors to the login page (401 JSON for the API)."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.user is None:
            if request.blueprint == "api":
                return json_error(401, "Log in first: this needs a session.")
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
            create_user(username, password)
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
