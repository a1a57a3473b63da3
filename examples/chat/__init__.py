"""A tiny chat room over websockets: the smallest erlen app with a live page.

Pick a name at ``/`` (it goes into the session), then open ``/room/<room>``:
the page's script connects to the websocket ``/chat/<room>``, shows every
message of the room as ``name: text`` and sends what you type. The handler
reads the name from the handshake's session cookie, refuses the handshake
(403) without one or from another site's page, and relays through
:class:`erlen.broadcast.Broadcast` (in-process ``memory://`` by default; set
``BROADCAST_URL`` to a Redis URL to chat across workers)::

    uvicorn examples.chat:app.asgi_app --port 8000

Websockets need ASGI: serve ``app.asgi_app`` (uvicorn, hypercorn, granian).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re

from erlen import (
    Erlen,
    abort,
    redirect,
    render_template,
    request,
    session,
    url_for,
    websocket,
)
from erlen.broadcast import Broadcast
from erlen.typing import ResponseReturnValue

__all__ = ["app", "broadcast"]

#: Names and rooms: short, and (rooms) safe in a URL path segment.
NAME_MAX = 32
ROOM_RE = re.compile(r"[A-Za-z0-9_-]{1,32}")

app = Erlen(__name__)
app.config.from_mapping(
    SECRET_KEY=os.environ.get("CHAT_SECRET_KEY", "chat-dev-secret-change-me"),
    BROADCAST_URL=os.environ.get("BROADCAST_URL", "memory://"),
)
broadcast = Broadcast(app)


def channel(room: str) -> str:
    """The broadcast channel of ``room``."""
    return f"chat:{room}"


@app.route("/", methods=["GET", "POST"])
def index() -> ResponseReturnValue:
    """The form that picks a name and a room; a valid POST stores the name in
    the session and redirects to the room."""
    error = None
    name = session.get("name", "")
    room = "tea"
    if request.method == "POST":
        name = request.form.get("name", "").strip()
        room = request.form.get("room", "").strip()
        if not name or len(name) > NAME_MAX:
            error = f"Pick a name of 1 to {NAME_MAX} characters."
        elif not ROOM_RE.fullmatch(room):
            error = "A room is 1 to 32 letters, digits, '-' or '_'."
        else:
            session["name"] = name
            return redirect(url_for("room", room=room))
    return render_template("index.html", name=name, room=room, error=error)


@app.get("/room/<room>")
def room(room: str) -> ResponseReturnValue:
    """The room's page; without a name, back to the form."""
    if "name" not in session:
        return redirect(url_for("index"))
    return render_template("room.html", room=room, name=session["name"])


@app.websocket("/chat/<room>")
async def chat(room: str) -> None:
    """Relay the room: every text a client sends reaches everyone in the room
    as ``{"user": name, "text": text}``.

    Refused with 403 before accepting when the session has no name, or when
    the handshake comes from a page of another origin (browsers send the
    session cookie with a cross-site websocket too)."""
    name = session.get("name")
    if not name:
        abort(403, description="Pick a name first.")
    origin = websocket.headers.get("Origin")
    if origin is not None and origin != request.host_url.rstrip("/"):
        abort(403, description="Cross-origin websocket refused.")
    # Subscribed before accepting: nothing sent after the page sees the
    # connection open is missed.
    async with broadcast.subscribe(channel(room)) as subscription:
        await websocket.accept()

        async def relay() -> None:
            async for message in subscription:
                await websocket.send_json(message)

        task = asyncio.create_task(relay())
        try:
            while True:
                text = await websocket.receive()
                if isinstance(text, str) and text:
                    await broadcast.apublish(
                        channel(room), {"user": name, "text": text}
                    )
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
