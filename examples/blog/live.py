"""Live updates: open index pages show new posts as they are published.

Server-sent events, not websockets: the updates only go one way (server to
browser), an event stream is a plain HTTP response that proxies and load
balancers pass through, and the browser's ``EventSource`` reconnects by
itself, sending the id of the last event it saw in ``Last-Event-ID``.

- Creating a post (the HTML form or the JSON API) publishes it on the
  ``posts`` channel of the app's :class:`~erlen.broadcast.Broadcast`
  (``BROADCAST_URL``: ``memory://`` in one process, ``redis://...`` across
  worker processes and hosts).
- ``GET /live/posts`` streams ``post`` events, one per new post, with the
  post id as the event id. It subscribes first, then sends from the database
  the posts newer than ``Last-Event-ID`` (a reconnect) or ``?after=<id>``
  (the newest post the page showed), so nothing published in between is
  missed, then the live ones.

Over ASGI the stream is an async generator (no thread held per open page);
over WSGI a sync one that wakes every :data:`POLL_SECONDS` so it is closed
soon after its page has gone. A WSGI server with a single thread per worker
(gunicorn's default sync workers) gets ``204 No Content`` instead: one open
page would hold a whole worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

from jinja2.filters import do_truncate
from markupsafe import Markup

from erlen import Blueprint, Erlen, current_app, request, url_for
from erlen.broadcast import Broadcast, BroadcastError
from erlen.sse import Event, last_event_id, sse_response

from . import models
from .db import Row
from .markup import render_markdown

bp = Blueprint("live", __name__)

#: The broadcast channel new posts are published on.
CHANNEL = "posts"
#: The event type of a new post (``addEventListener("post", ...)``).
EVENT = "post"
#: At most this many missed posts are sent to a reconnecting page.
CATCH_UP_LIMIT = 50
#: A WSGI stream checks this often whether its client is still there.
POLL_SECONDS = 1.0
#: The browser's reconnection delay, in milliseconds.
RETRY_MS = 2000


def init_app(app: Erlen) -> None:
    """Give ``app`` its :class:`Broadcast` (``app.extensions["broadcast"]``,
    configured by ``BROADCAST_*``) and the ``/live/posts`` route."""
    Broadcast(app)
    app.register_blueprint(bp)


def get_broadcast() -> Broadcast:
    """The current app's :class:`Broadcast`."""
    broadcast: Broadcast = current_app.extensions["broadcast"]
    return broadcast


def post_event_data(post: Row) -> dict[str, Any]:
    """What a page needs to show a post in its list: plain text, which the
    page's script inserts with ``textContent`` (never as HTML)."""
    text = Markup(render_markdown(post["body"])).striptags()
    return {
        "id": post["id"],
        "title": post["title"],
        "author": post["author"],
        "created": post["created"],
        "excerpt": do_truncate(current_app.jinja_env, text, 180),
        "url": url_for("blog.view", post_id=post["id"]),
    }


def post_event(data: dict[str, Any]) -> Event:
    """The server-sent event for a post's :func:`post_event_data`."""
    return Event(data, event=EVENT, id=data["id"])


def publish_post(post_id: int) -> None:
    """Tell every open page about the new post ``post_id`` (already saved).

    If the broker cannot be reached the post stays published: the failure
    is logged, and pages see the post when they are reloaded.
    """
    post = models.get_post(post_id)
    assert post is not None
    try:
        get_broadcast().publish(CHANNEL, post_event_data(post))
    except BroadcastError:
        current_app.logger.warning(
            "Could not announce post %d to open pages.", post_id, exc_info=True
        )


def _resume_after() -> int | None:
    """The newest post id the page has: ``Last-Event-ID`` when the browser
    reconnects, else ``?after=``; ``None`` if neither is a valid id."""
    value = last_event_id() or request.args.get("after")
    if value is None or not value.isdigit():
        return None
    number = int(value)
    return number if number <= models.MAX_ID else None


def _missed(
    app: Erlen, environ: dict[str, Any], after: int | None
) -> list[dict[str, Any]]:
    """The posts newer than ``after``, read in a context of their own (the
    view's has ended when the stream runs; ``environ`` is for ``url_for``)."""
    if after is None:
        return []
    with app.request_context(environ):
        rows = models.posts_after(after, CATCH_UP_LIMIT)
        return [post_event_data(row) for row in rows]


def _one_thread_per_worker(environ: dict[str, Any]) -> bool:
    """Whether a WSGI server runs one request at a time per worker process
    (gunicorn's default sync workers): a stream would take the worker."""
    return "SERVER_SOFTWARE" in environ and not environ.get("wsgi.multithread")


@bp.get("/live/posts")
def posts() -> Any:
    """``text/event-stream`` of ``post`` events, one per new post.

    Under a WSGI server with one thread per worker the answer is ``204 No
    Content``, which tells ``EventSource`` not to reconnect: the page works,
    without live updates, and no worker is held by an open page.
    """
    if _one_thread_per_worker(request.environ):
        return "", 204
    app: Erlen = current_app._get_current_object()  # type: ignore[attr-defined]
    broadcast = get_broadcast()
    after = _resume_after()
    ping = float(current_app.config["LIVE_PING_SECONDS"])
    environ = dict(request.environ)
    over_asgi = "asgi.scope" in environ

    if over_asgi:

        async def async_events() -> AsyncIterator[Event]:
            async with broadcast.subscribe(CHANNEL) as sub:
                newest = after or 0
                for data in await asyncio.to_thread(_missed, app, environ, after):
                    newest = max(newest, data["id"])
                    yield post_event(data)
                async for data in sub:
                    if data["id"] > newest:
                        yield post_event(data)

        return sse_response(async_events(), ping=ping, retry=RETRY_MS)

    def events() -> Iterator[Event | None]:
        with broadcast.subscribe(CHANNEL) as sub:
            newest = after or 0
            for data in _missed(app, environ, after):
                newest = max(newest, data["id"])
                yield post_event(data)
            for item in sub.listen(POLL_SECONDS):
                if item is None or item["id"] <= newest:
                    yield None
                else:
                    yield post_event(item)

    return sse_response(events(), ping=ping, retry=RETRY_MS)
