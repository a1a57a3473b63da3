"""The JSON API: ``/api/posts`` and ``/api/posts/<id>``.

Reads are public. Writes need a JSON object body and either an API token,
``Authorization: Bearer <token>`` (see ``tokens.py``; for scripts and curl),
or the browser session with its CSRF token in an ``X-CSRF-Token`` header.
``/api/tokens`` lists (GET), creates (POST, from a session only) and revokes
(DELETE ``/api/tokens/<id>``) the user's tokens. Every error is JSON:
``{"error": {"status": 422, "title": "...", "message": "...", "fields": {...}}}``.

Status codes: 200/201/204 success, 400 malformed JSON or not an object or a
session write without its CSRF token, 401 not logged in or a wrong or revoked
token (with ``WWW-Authenticate: Bearer``), 403 not the author, 404 unknown
post, 405 wrong method, 415 body not declared as ``application/json``, 422
validation failed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from erlen import Blueprint, Response, current_app, g, jsonify, request, url_for

from . import csrf, live, models, tokens
from .auth import login_required
from .db import Row
from .errors import json_error
from .markup import render_markdown

bp = Blueprint("api", __name__, url_prefix="/api")


F = TypeVar("F", bound=Callable[..., Any])

#: The keys a post's JSON body may have.
POST_FIELDS = frozenset({"title", "body"})


class ApiError(Exception):
    """Raised by helpers to end the request with a JSON error."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


@bp.errorhandler(ApiError)
def handle_api_error(error: ApiError) -> Response:
    """Turn an :class:`ApiError` into its JSON response."""
    return json_error(error.status, error.message, **error.extra)


def post_to_json(post: Row) -> dict[str, Any]:
    """The public representation of a post."""
    return {
        "id": post["id"],
        "title": post["title"],
        "body": post["body"],
        "html": str(render_markdown(post["body"])),
        "author": {"id": post["author_id"], "username": post["author"]},
        "created": post["created"],
        "updated": post["updated"],
        "url": url_for("blog.view", post_id=post["id"], _external=True),
        "api_url": url_for("api.get_post", post_id=post["id"], _external=True),
    }


def positive_int_arg(name: str, default: int) -> int:
    """A query-string integer >= 1, or a 400."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Query parameter {name!r} must be an integer.") from None
    if value < 1:
        raise ApiError(400, f"Query parameter {name!r} must be at least 1.")
    return value


def json_body(fields: frozenset[str] = POST_FIELDS) -> dict[str, Any]:
    """The request's JSON object, or a 415/400 explaining what is wrong (a 422
    for keys other than ``fields``)."""
    if not request.is_json:
        raise ApiError(
            415, "Send the body as JSON with Content-Type: application/json."
        )
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, "The request body is not valid JSON.")
    if not isinstance(data, dict):
        raise ApiError(400, "The JSON body must be an object.")
    unknown = sorted(set(data) - fields)
    if unknown:
        raise ApiError(
            422,
            "Unknown fields.",
            fields={name: "Unknown field." for name in unknown},
        )
    return data


def validated(data: dict[str, Any], partial: bool) -> dict[str, Any]:
    """``data`` if it is a valid post (or partial post), else a 422."""
    errors = models.validate_post(data, partial=partial)
    if errors:
        raise ApiError(422, "The post is not valid.", fields=errors)
    return data


def own_post(post_id: int) -> Row:
    """The post if the user wrote it: 404 if missing, 403 if not theirs."""
    post = models.get_post(post_id)
    if post is None:
        raise ApiError(404, f"There is no post {post_id}.")
    if post["author_id"] != g.user["id"]:
        raise ApiError(403, "Only the author of a post can change or delete it.")
    return post


def authenticated(view: F) -> F:
    """A logged-in user (session or token) for ``view``; a session's unsafe
    request also needs its CSRF token in ``X-CSRF-Token`` (a 400 otherwise)."""

    @functools.wraps(view)
    @login_required
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if (
            g.auth == "session"
            and request.method in csrf.UNSAFE_METHODS
            and not csrf.token_matches(request.headers.get(csrf.HEADER_NAME))
        ):
            raise ApiError(
                400,
                "A write with the session cookie needs the page's CSRF token in"
                f" the {csrf.HEADER_NAME} header (scripts: use an API token,"
                " 'Authorization: Bearer <token>').",
            )
        return view(*args, **kwargs)

    return cast(F, wrapped)


@bp.get("/posts")
def list_posts() -> Any:
    """A page of posts, newest first: ``?page=1&per_page=10``."""
    page = positive_int_arg("page", 1)
    per_page = positive_int_arg("per_page", current_app.config["API_PER_PAGE"])
    per_page = min(per_page, current_app.config["API_MAX_PER_PAGE"])
    result = models.list_posts(page, per_page)
    if page > result.pages:
        raise ApiError(404, f"There is no page {page}; the last is {result.pages}.")

    def link(number: int) -> str:
        return url_for("api.list_posts", page=number, per_page=per_page, _external=True)

    return {
        "posts": [post_to_json(post) for post in result.items],
        "page": result.page,
        "per_page": result.per_page,
        "total": result.total,
        "pages": result.pages,
        "next": link(page + 1) if result.has_next else None,
        "prev": link(page - 1) if result.has_prev else None,
    }


@bp.post("/posts")
@authenticated
def create_post() -> Any:
    """Create a post from ``{"title": ..., "body": ...}``; 201 with its JSON."""
    data = validated(json_body(), partial=False)
    post_id = models.create_post(g.user["id"], data["title"], data["body"])
    live.publish_post(post_id)
    post = models.get_post(post_id)
    assert post is not None
    response = jsonify(post_to_json(post))
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_post", post_id=post_id)
    return response


@bp.get("/posts/<int:post_id>")
def get_post(post_id: int) -> Any:
    """One post."""
    post = models.get_post(post_id)
    if post is None:
        raise ApiError(404, f"There is no post {post_id}.")
    return post_to_json(post)


@bp.route("/posts/<int:post_id>", methods=("PUT", "PATCH"))
@authenticated
def update_post(post_id: int) -> Any:
    """Replace (PUT: both fields) or change (PATCH: any field) a post."""
    post = own_post(post_id)
    data = validated(json_body(), partial=request.method == "PATCH")
    models.update_post(
        post_id, data.get("title", post["title"]), data.get("body", post["body"])
    )
    updated = models.get_post(post_id)
    assert updated is not None
    return post_to_json(updated)


@bp.delete("/posts/<int:post_id>")
@authenticated
def delete_post(post_id: int) -> Any:
    """Delete a post; 204 with no body."""
    own_post(post_id)
    models.delete_post(post_id)
    return "", 204


# -- API tokens -----------------------------------------------------------------


@bp.get("/tokens")
@authenticated
def list_tokens() -> Any:
    """The user's tokens (names and first characters, never the tokens)."""
    return {
        "tokens": [
            tokens.token_to_json(row) for row in tokens.list_tokens(g.user["id"])
        ]
    }


@bp.post("/tokens")
@authenticated
def create_token() -> Any:
    """Create a token from ``{"name": ...}``: 201 with the token, shown only here.

    Only from a logged-in session (with its CSRF token): a token cannot mint
    more tokens, so revoking a leaked one is enough.
    """
    if g.auth != "session":
        raise ApiError(
            403, "Create API tokens from a logged-in session, not with a token."
        )
    data = json_body(frozenset({"name"}))
    error = tokens.validate_name(data.get("name"))
    if error is not None:
        raise ApiError(422, "The token is not valid.", fields={"name": error})
    token_id, token = tokens.create_token(g.user["id"], data["name"])
    row = tokens.get_token(g.user["id"], token_id)
    assert row is not None
    response = jsonify({**tokens.token_to_json(row), "token": token})
    response.status_code = 201
    response.headers["Location"] = url_for("api.list_tokens")
    return response


@bp.delete("/tokens/<int:token_id>")
@authenticated
def revoke_token(token_id: int) -> Any:
    """Revoke one of the user's tokens (this one too, if it is the caller's)."""
    if not tokens.revoke_token(g.user["id"], token_id):
        raise ApiError(404, f"You have no API token {token_id}.")
    return "", 204
