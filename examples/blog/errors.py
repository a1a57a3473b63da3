"""Error pages: HTML for the site, JSON under ``/api/``."""

from __future__ import annotations

from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from erlen import Erlen, Response, jsonify, render_template, request

TEMPLATES = {404: "errors/404.html", 500: "errors/500.html"}


def wants_json() -> bool:
    """Whether the failing request was meant for the JSON API."""
    return request.blueprint == "api" or request.path.startswith("/api/")


def json_error(status: int, message: str, **extra: object) -> Response:
    """A JSON error response: ``{"error": {"status", "title", "message", ...}}``."""
    title = HTTP_STATUS_CODES.get(status, "Error")
    response = jsonify(
        {"error": {"status": status, "title": title, "message": message, **extra}}
    )
    response.status_code = status
    return response


def handle_http_exception(error: HTTPException) -> Response:
    """Render any HTTP error (unhandled exceptions arrive as 500) for its audience."""
    status = error.code or 500
    if wants_json():
        response = json_error(status, error.description or "")
    else:
        template = TEMPLATES.get(status, "errors/error.html")
        html = render_template(template, error=error, status=status)
        response = Response(html, status=status)
    # Keep headers the exception carries, such as Allow on a 405.
    for key, value in error.get_headers():
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def init_app(app: Erlen) -> None:
    """Register the handler for every HTTP error, 500 included."""
    app.register_error_handler(HTTPException, handle_http_exception)
