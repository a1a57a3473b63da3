"""Publish/subscribe across requests, worker processes and hosts.

::

    from erlen.broadcast import Broadcast

    broadcast = Broadcast()          # reads BROADCAST_URL in init_app
    broadcast.init_app(app)

    @app.post("/posts")
    def create_post():
        ...
        broadcast.publish("posts", {"id": post_id, "title": title})
        return redirect(...)

    @app.get("/posts/live")
    async def live():
        async def events():
            async with broadcast.subscribe("posts") as sub:
                async for post in sub:
                    yield Event(post, event="post")
        return sse_response(events())

Backends, chosen by URL (``BROADCAST_URL``):

- ``memory://`` (the default): the subscribers of this ``Broadcast`` object,
  in this process (two objects do not see each other's messages). Publishing
  from any thread is safe; waiting subscribers are woken in their own event
  loops (``call_soon_threadsafe``) or threads.
- ``redis://host:port/db`` (also ``rediss://`` and ``unix://``): Redis
  pub/sub through ``redis.asyncio``, so that every worker process on every
  host sees every message. Each ``Broadcast`` keeps one publishing and one
  subscribing connection, driven by an event loop in a background thread of
  its own, and fans messages out to its local subscribers. When Redis goes
  away the subscribing connection is re-established with exponential backoff
  (``reconnect_delay`` up to ``reconnect_max_delay``; a new subscriber
  makes it try at once) and every channel is subscribed again; messages
  published meanwhile are lost (pub/sub keeps nothing). Publishing while
  Redis is unreachable raises :exc:`BroadcastError`.

Messages are ``str``, ``bytes`` or JSON-serializable values (through the
app's JSON provider) and arrive as the same type, ``dict`` as ``dict``.

Slow subscribers: each subscription buffers at most ``queue_size`` messages
(``BROADCAST_QUEUE_SIZE``, default 1000). When a message arrives for a full
buffer, the default policy ``"drop-oldest"`` drops the oldest buffered
message and counts it in :attr:`Subscription.dropped`; ``"disconnect"``
ends the subscription instead: its iterator raises
:exc:`SubscriptionOverflow`. Either way a subscriber that never reads holds
at most ``queue_size`` messages.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import json as _json
import logging
import os
import threading
import time
import typing as t
from types import TracebackType

if t.TYPE_CHECKING:
    from .app import Erlen

__all__ = [
    "Broadcast",
    "BroadcastError",
    "Subscription",
    "SubscriptionOverflow",
]

logger = logging.getLogger("erlen.broadcast")

DROP_OLDEST = "drop-oldest"
DISCONNECT = "disconnect"
_POLICIES = (DROP_OLDEST, DISCONNECT)


class BroadcastError(RuntimeError):
    """The broker could not be reached in time to publish or subscribe."""


class SubscriptionOverflow(BroadcastError):
    """Raised by a subscription's iterator under the ``"disconnect"`` policy
    when it fell ``queue_size`` messages behind."""


# -- wire format ------------------------------------------------------------------
#
# str goes as its UTF-8 bytes (so `redis-cli PUBLISH chan hello` arrives as
# "hello"); bytes and JSON carry a two-byte tag that plain text cannot start with.

_TAG = b"\x00"


def _encode(message: t.Any, dumps: t.Callable[[t.Any], str]) -> bytes:
    if isinstance(message, str):
        if message.startswith("\x00"):
            return b"\x00s" + message.encode()
        return message.encode()
    if isinstance(message, (bytes, bytearray, memoryview)):
        return b"\x00b" + bytes(message)
    return b"\x00j" + dumps(message).encode()


def _decode(payload: bytes, loads: t.Callable[[bytes], t.Any]) -> t.Any:
    if payload[:1] == _TAG:
        kind, body = payload[1:2], payload[2:]
        if kind == b"s":
            return body.decode()
        if kind == b"b":
            return body
        if kind == b"j":
            return loads(body)
        raise ValueError(f"unknown message tag {kind!r}")
    try:
        return payload.decode()
    except UnicodeDecodeError:
        return payload


# -- subscriptions ------------------------------------------------------------------


class Subscription:
    """A subscription to one channel; use it as a context manager.

    ``async with broadcast.subscribe("chan") as sub: async for msg in sub:``
    in async code, ``with ...: for msg in sub:`` in sync code (a WSGI
    streaming generator). Iteration ends when the subscription is closed.
    Messages published after entering are received; a subscription that is
    not read keeps at most :attr:`queue_size` of them (see the module's
    notes on slow subscribers).
    """

    def __init__(
        self, broadcast: Broadcast, channel: str, queue_size: int, overflow: str
    ) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        if overflow not in _POLICIES:
            raise ValueError(f"overflow must be one of {_POLICIES}, not {overflow!r}")
        self.broadcast = broadcast
        #: The channel name.
        self.channel = channel
        #: The most messages buffered for this subscriber.
        self.queue_size = queue_size
        #: ``"drop-oldest"`` or ``"disconnect"``.
        self.overflow = overflow
        #: How many messages were dropped because the buffer was full.
        self.dropped = 0
        self._buffer: collections.deque[t.Any] = collections.deque()
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._state = "new"  # new -> open -> closed
        self._overflowed = False
        self._backend: _Backend | None = None

    def __repr__(self) -> str:
        return f"<Subscription {self.channel!r} {self._state}>"

    # delivery, from any thread

    def _put(self, message: t.Any) -> None:
        with self._lock:
            if self._state != "open":
                return
            buffer = self._buffer
            if len(buffer) < self.queue_size:
                buffer.append(message)
                self._wake_locked()
                return
            if self.overflow == DROP_OLDEST:
                buffer.popleft()
                buffer.append(message)
                self.dropped += 1
                if self.dropped == 1:
                    logger.warning(
                        "A subscriber to %r is not keeping up: dropping the oldest"
                        " of its %d buffered messages (counted in .dropped).",
                        self.channel,
                        self.queue_size,
                    )
                self._wake_locked()
                return
            self._overflowed = True
            buffer.clear()
            self._close_locked()
        logger.warning(
            "A subscriber to %r fell %d messages behind and was disconnected.",
            self.channel,
            self.queue_size,
        )
        self._detach()

    def _wake_locked(self) -> None:
        self._cond.notify_all()
        waiters, self._waiters = self._waiters, []
        if not waiters:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, fut in waiters:
            if loop is running:
                _resolve(fut)
            else:
                try:
                    loop.call_soon_threadsafe(_resolve, fut)
                except RuntimeError:  # that loop is closed
                    pass

    def _close_locked(self) -> None:
        self._state = "closed"
        self._wake_locked()

    def _detach(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.remove(self)

    # the subscriber's side

    def _next_locked(self) -> t.Any:
        # A message, or _NOTHING if none is buffered; raises at the end.
        if self._buffer:
            return self._buffer.popleft()
        if self._state == "closed":
            if self._overflowed:
                raise SubscriptionOverflow(
                    f"The subscriber to {self.channel!r} fell {self.queue_size}"
                    " messages behind and was disconnected."
                )
            raise EOFError(f"The subscription to {self.channel!r} is closed.")
        if self._state == "new":
            raise RuntimeError(
                "Enter the subscription first: `async with broadcast.subscribe(...)"
                " as sub:` (or `with` in sync code)."
            )
        return _NOTHING

    async def get(self, timeout: float | None = None) -> t.Any:
        """The next message; waits for it (at most ``timeout`` seconds, then
        :exc:`TimeoutError`).

        :raises EOFError: if the subscription is closed.
        :raises SubscriptionOverflow: if it was disconnected for being slow.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._lock:
                message = self._next_locked()
                if message is not _NOTHING:
                    return message
                if deadline is not None and loop.time() >= deadline:
                    raise TimeoutError
                fut = loop.create_future()
                waiter = (loop, fut)
                self._waiters.append(waiter)
            try:
                if deadline is None:
                    await fut
                else:
                    await asyncio.wait((fut,), timeout=deadline - loop.time())
            finally:
                with self._lock:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)

    def get_sync(self, timeout: float | None = None) -> t.Any:
        """Like :meth:`get`, blocking the calling thread."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                message = self._next_locked()
                if message is not _NOTHING:
                    return message
                if deadline is None:
                    self._cond.wait()
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                self._cond.wait(remaining)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> t.Any:
        try:
            return await self.get()
        except EOFError:
            raise StopAsyncIteration from None

    def __iter__(self) -> Subscription:
        return self

    def __next__(self) -> t.Any:
        try:
            return self.get_sync()
        except EOFError:
            raise StopIteration from None

    def listen(self, timeout: float) -> t.Iterator[t.Any]:
        """Iterate in sync code, yielding ``None`` after every ``timeout``
        seconds without a message.

        A WSGI streaming generator built on this regains control regularly,
        so it is closed soon after its client went away
        (:func:`~erlen.sse.sse_response` skips ``None`` items).
        """
        while True:
            try:
                yield self.get_sync(timeout)
            except TimeoutError:
                yield None
            except EOFError:
                return

    # lifecycle

    def close(self) -> None:
        """Unsubscribe; iteration ends after the buffered messages. Safe from
        any thread, and more than once."""
        with self._lock:
            if self._state == "closed":
                return
            self._close_locked()
        self._detach()

    def _open(self) -> _Backend:
        with self._lock:
            if self._state != "new":
                raise RuntimeError("A subscription can only be entered once.")
            self._state = "open"
        backend = self._backend = self.broadcast._get_backend()
        return backend

    async def __aenter__(self) -> Subscription:
        try:
            await self._open().add(self)
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __enter__(self) -> Subscription:
        try:
            self._open().add_sync(self)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


_NOTHING = object()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


# -- backends -----------------------------------------------------------------------


class _Backend:
    """Local fan-out shared by the backends: channel -> subscriptions."""

    def __init__(self, broadcast: Broadcast) -> None:
        self.broadcast = broadcast
        self.lock = threading.Lock()
        self.channels: dict[str, dict[Subscription, None]] = {}

    def _register(self, sub: Subscription) -> bool:
        """Add ``sub``; whether it is its channel's first local subscriber."""
        with self.lock:
            subs = self.channels.get(sub.channel)
            if subs is None:
                subs = self.channels[sub.channel] = {}
            subs[sub] = None
            return len(subs) == 1

    def _unregister(self, sub: Subscription) -> bool:
        """Remove ``sub``; whether its channel now has no local subscriber."""
        with self.lock:
            subs = self.channels.get(sub.channel)
            if subs is None or sub not in subs:
                return False
            del subs[sub]
            if subs:
                return False
            del self.channels[sub.channel]
            return True

    def dispatch(self, channel: str, payload: bytes) -> None:
        with self.lock:
            subs = self.channels.get(channel)
            if not subs:
                return
            targets = tuple(subs)
        try:
            message = _decode(payload, self.broadcast._loads)
        except ValueError:
            logger.warning("Ignoring an undecodable message on %r.", channel)
            return
        for sub in targets:
            sub._put(message)

    def close_subscriptions(self) -> None:
        with self.lock:
            subs = [sub for group in self.channels.values() for sub in group]
            self.channels.clear()
        for sub in subs:
            sub._backend = None
            sub.close()

    async def add(self, sub: Subscription) -> None:
        raise NotImplementedError

    def add_sync(self, sub: Subscription) -> None:
        raise NotImplementedError

    def remove(self, sub: Subscription) -> None:
        raise NotImplementedError

    def publish(self, channel: str, payload: bytes) -> None:
        raise NotImplementedError

    async def apublish(self, channel: str, payload: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.close_subscriptions()


class _MemoryBackend(_Backend):
    """Subscribers of this process only."""

    async def add(self, sub: Subscription) -> None:
        self._register(sub)

    def add_sync(self, sub: Subscription) -> None:
        self._register(sub)

    def remove(self, sub: Subscription) -> None:
        self._unregister(sub)

    def publish(self, channel: str, payload: bytes) -> None:
        self.dispatch(channel, payload)

    async def apublish(self, channel: str, payload: bytes) -> None:
        self.dispatch(channel, payload)


class _RedisBackend(_Backend):
    """Redis pub/sub, driven by an event loop in a background thread.

    All Redis I/O happens in that loop: one client for ``PUBLISH``, one
    pub/sub connection for every channel with local subscribers. Its reader
    task fans messages out to the local subscriptions and reconnects, with
    backoff, when the connection fails.
    """

    #: First delay before reconnecting, in seconds; doubled up to the maximum.
    reconnect_delay = 0.1
    reconnect_max_delay = 5.0
    #: Seconds without traffic after which the connection is PINGed; no
    #: answer within as long again counts as a lost connection.
    idle_ping = 10.0

    def __init__(self, broadcast: Broadcast, url: str) -> None:
        super().__init__(broadcast)
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise RuntimeError(
                f"BROADCAST_URL {url!r} needs the redis package:"
                ' pip install "erlen[redis]"'
            ) from None
        self.url = url
        self.timeout = broadcast.timeout
        self.prefix = broadcast.prefix
        self.thread_lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        # State below is only touched in the background loop.
        self.members: dict[str, set[int]] = {}  # channel -> id(subscription)
        self.confirmed: set[str] = set()
        self.acks: dict[str, list[asyncio.Future[None]]] = {}
        self.changed: asyncio.Event | None = None
        # Set when a new subscriber waits for a channel: ends the backoff.
        self.wanted: asyncio.Event | None = None
        self.reader: asyncio.Task[None] | None = None
        self.pub: t.Any = None
        self.sub_client: t.Any = None
        self.last_error: BaseException | None = None
        self.closed = False

    # the background loop

    def _loop(self) -> asyncio.AbstractEventLoop:
        loop = self.loop
        if loop is not None:
            return loop
        with self.thread_lock:
            if self.closed:
                raise RuntimeError("This Broadcast is closed.")
            if self.loop is None:
                loop = asyncio.new_event_loop()
                started = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(started.set)
                    loop.run_forever()

                self.thread = threading.Thread(
                    target=run, name="erlen-broadcast-redis", daemon=True
                )
                self.thread.start()
                started.wait()
                self.loop = loop
            return self.loop

    def _submit(
        self, coro: t.Coroutine[t.Any, t.Any, t.Any]
    ) -> concurrent.futures.Future[t.Any]:
        """Schedule ``coro`` in the background loop, in an empty context: the
        loop (made on first use), the reader task ``coro`` may start and the
        connections it may open last, and would otherwise keep the caller's
        context alive, and its request with it."""
        return contextvars.Context().run(
            lambda: asyncio.run_coroutine_threadsafe(coro, self._loop())
        )

    def _run(self, coro: t.Coroutine[t.Any, t.Any, t.Any]) -> t.Any:
        """Run ``coro`` in the background loop and wait for its result."""
        future = self._submit(coro)
        try:
            # The coroutines time out by themselves; this is a safety net.
            return future.result(self.timeout + 5)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise self._unreachable("finish", self.last_error) from None

    async def _arun(self, coro: t.Coroutine[t.Any, t.Any, t.Any]) -> t.Any:
        future = self._submit(coro)
        return await asyncio.wrap_future(future)

    def _clients(self) -> None:
        if self.pub is not None:
            return
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        options: dict[str, t.Any] = {
            "socket_connect_timeout": self.timeout,
            "socket_timeout": self.timeout,
        }
        # One retry: a pooled connection may be stale after a Redis restart.
        self.pub = aioredis.from_url(self.url, retry=Retry(NoBackoff(), 1), **options)
        # Reconnecting the subscriber is the reader's job.
        self.sub_client = aioredis.from_url(
            self.url, retry=Retry(NoBackoff(), 0), **options
        )
        self.changed = asyncio.Event()
        self.wanted = asyncio.Event()

    def _unreachable(self, what: str, error: BaseException | None) -> BroadcastError:
        detail = f": {error}" if error else ""
        return BroadcastError(
            f"Could not {what}: the Redis server at {_safe_url(self.url)} did not"
            f" answer within {self.timeout:g}s{detail}"
        )

    # subscriptions

    async def add(self, sub: Subscription) -> None:
        self._register(sub)
        await self._arun(self._subscribe(sub.channel, id(sub)))

    def add_sync(self, sub: Subscription) -> None:
        self._register(sub)
        self._run(self._subscribe(sub.channel, id(sub)))

    def remove(self, sub: Subscription) -> None:
        self._unregister(sub)
        loop = self.loop
        if loop is not None and not self.closed:
            try:
                loop.call_soon_threadsafe(
                    self._unsubscribe,
                    sub.channel,
                    id(sub),
                    context=contextvars.Context(),
                )
            except RuntimeError:  # the loop is closed
                pass

    async def _subscribe(self, channel: str, key: int) -> None:
        self._clients()
        assert self.changed is not None and self.wanted is not None
        self.members.setdefault(channel, set()).add(key)
        if channel in self.confirmed:
            return
        fut = asyncio.get_running_loop().create_future()
        self.acks.setdefault(channel, []).append(fut)
        self.changed.set()
        self.wanted.set()
        if self.reader is None or self.reader.done():
            self.reader = asyncio.ensure_future(self._read())
        done, _ = await asyncio.wait((fut,), timeout=self.timeout)
        if not done:
            waiting = self.acks.get(channel, [])
            if fut in waiting:
                waiting.remove(fut)
            raise self._unreachable(f"subscribe to {channel!r}", self.last_error)

    def _unsubscribe(self, channel: str, key: int) -> None:
        members = self.members.get(channel)
        if members is None:
            return
        members.discard(key)
        if not members:
            del self.members[channel]
            if self.changed is not None:
                self.changed.set()

    async def _read(self) -> None:
        """Keep one pub/sub connection subscribed to every wanted channel."""
        assert self.changed is not None
        delay = self.reconnect_delay
        while not self.closed:
            if not self.members:
                self.changed.clear()
                await self.changed.wait()
                continue
            pubsub = self.sub_client.pubsub()
            current: set[str] = set()
            read: asyncio.Future[t.Any] | None = None
            changed: asyncio.Future[t.Any] | None = None
            try:
                self.changed.clear()
                await self._sync(pubsub, current)
                pinged = False
                while not self.closed:
                    if read is None:
                        read = asyncio.ensure_future(
                            pubsub.get_message(timeout=self.idle_ping)
                        )
                    if changed is None:
                        changed = asyncio.ensure_future(self.changed.wait())
                    done, _ = await asyncio.wait(
                        (read, changed), return_when=asyncio.FIRST_COMPLETED
                    )
                    if changed in done:
                        changed = None
                        self.changed.clear()
                        await self._sync(pubsub, current)
                    if read in done:
                        message = read.result()
                        read = None
                        if message is None:
                            if pinged:
                                raise ConnectionError("no answer to PING")
                            await pubsub.ping()
                            pinged = True
                            continue
                        pinged = False
                        if self._handle(message, current):
                            delay = self.reconnect_delay
            except Exception as e:
                if self.closed:
                    break
                self.last_error = e
                self.confirmed.clear()
                logger.warning(
                    "Lost the Redis pub/sub connection to %s (%s); reconnecting in"
                    " %.1fs.",
                    _safe_url(self.url),
                    e,
                    delay,
                )
                await _cleanup(pubsub, read, changed)
                read = changed = None
                await self._backoff(delay)
                delay = min(delay * 2, self.reconnect_max_delay)
            finally:
                await _cleanup(pubsub, read, changed)

    async def _backoff(self, delay: float) -> None:
        """Wait ``delay`` seconds before reconnecting, or until a new
        subscriber waits for a channel: for it, trying at once beats
        refusing it while Redis may be back."""
        assert self.wanted is not None
        self.wanted.clear()
        try:
            await asyncio.wait_for(self.wanted.wait(), delay)
        except asyncio.TimeoutError:
            pass

    async def _sync(self, pubsub: t.Any, current: set[str]) -> None:
        wanted = set(self.members)
        new = wanted - current
        gone = current - wanted
        if gone:
            # Not confirmed any more: a new subscriber waits for a fresh SUBSCRIBE.
            self.confirmed -= gone
            current -= gone
            await pubsub.unsubscribe(*(self.prefix + c for c in sorted(gone)))
        if new:
            current |= new
            await pubsub.subscribe(*(self.prefix + c for c in sorted(new)))

    def _handle(self, message: dict[str, t.Any], current: set[str]) -> bool:
        """Act on one pub/sub message; whether it shows a working subscription."""
        kind = message.get("type")
        raw = message.get("channel")
        if not isinstance(raw, bytes) or kind in ("pong", None):
            return kind == "pong"
        name = raw.decode(errors="replace")
        if not name.startswith(self.prefix):
            return False
        channel = name[len(self.prefix) :]
        if kind == "message":
            self.dispatch(channel, message["data"])
            return True
        if kind == "subscribe":
            if self.last_error is not None:
                logger.info("Resubscribed to %r on %s.", channel, _safe_url(self.url))
            self.confirmed.add(channel)
            for fut in self.acks.pop(channel, ()):
                _resolve(fut)
            return True
        if kind == "unsubscribe":
            self.confirmed.discard(channel)
        return False

    # publishing

    async def _publish(self, channel: str, payload: bytes) -> None:
        self._clients()
        import redis.exceptions

        try:
            await asyncio.wait_for(
                self.pub.publish(self.prefix + channel, payload), self.timeout
            )
        except (redis.exceptions.RedisError, OSError, asyncio.TimeoutError) as e:
            raise self._unreachable(f"publish to {channel!r}", e) from e

    def publish(self, channel: str, payload: bytes) -> None:
        self._run(self._publish(channel, payload))

    async def apublish(self, channel: str, payload: bytes) -> None:
        await self._arun(self._publish(channel, payload))

    # shutdown

    async def _shutdown(self) -> None:
        reader = self.reader
        if self.changed is not None:
            self.changed.set()  # the reader sees ``closed`` and returns
        while reader is not None and not reader.done():
            reader.cancel()
            await asyncio.wait((reader,), timeout=0.5)
        for client in (self.pub, self.sub_client):
            if client is not None:
                await _quietly(client.aclose())

    def close(self) -> None:
        self.close_subscriptions()
        with self.thread_lock:
            if self.closed:
                return
            self.closed = True
            loop, thread = self.loop, self.thread
        if loop is None or thread is None:
            return
        if threading.current_thread() is thread:
            raise RuntimeError("Broadcast.close() called from its own thread.")
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(
            self.timeout + 5
        )
        loop.call_soon_threadsafe(loop.stop)
        thread.join(self.timeout + 5)
        loop.close()


async def _cleanup(pubsub: t.Any, *tasks: asyncio.Future[t.Any] | None) -> None:
    for task in tasks:
        if task is not None:
            task.cancel()
    await _quietly(pubsub.aclose())


async def _quietly(aw: t.Awaitable[t.Any]) -> None:
    try:
        await aw
    except Exception:
        pass


def _safe_url(url: str) -> str:
    """The URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        user = parts.username or ""
        parts = parts._replace(netloc=f"{user}:***@{host}")
    return urlunsplit(parts)


# -- the extension ------------------------------------------------------------------


class Broadcast:
    """Publish/subscribe for an application, in the style of a Flask extension.

    :param app: The application; or call :meth:`init_app` later.
    :param url: The backend: ``"memory://"`` or a Redis URL. Default: the
        app's ``BROADCAST_URL``, else ``"memory://"``.
    :param queue_size: Default buffer size of a subscription
        (``BROADCAST_QUEUE_SIZE``, default 1000).
    :param overflow: ``"drop-oldest"`` (default) or ``"disconnect"``
        (``BROADCAST_OVERFLOW``): what a full subscription does.
    :param timeout: Seconds to wait for the broker when publishing or
        subscribing (``BROADCAST_TIMEOUT``, default 5).
    :param prefix: Prefix of the Redis channel names (``BROADCAST_PREFIX``,
        default none). Redis pub/sub ignores the database number, so
        applications sharing a Redis server need different prefixes.

    The backend is created on first use, and again in a forked child
    process, so a ``Broadcast`` can be made before a server forks workers.
    """

    def __init__(
        self,
        app: Erlen | None = None,
        url: str | None = None,
        *,
        queue_size: int | None = None,
        overflow: str | None = None,
        timeout: float | None = None,
        prefix: str | None = None,
    ) -> None:
        self._settings: dict[str, t.Any] = {
            "url": url,
            "queue_size": queue_size,
            "overflow": overflow,
            "timeout": timeout,
            "prefix": prefix,
        }
        self.url: str = url or "memory://"
        self.queue_size: int = 1000 if queue_size is None else queue_size
        self.overflow: str = overflow or DROP_OLDEST
        self.timeout: float = 5.0 if timeout is None else timeout
        self.prefix: str = prefix or ""
        self.app: Erlen | None = None
        self._backend: _Backend | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        if app is not None:
            self.init_app(app)
        else:
            self._check()

    def init_app(self, app: Erlen) -> None:
        """Read ``BROADCAST_*`` from ``app.config`` (for the settings not
        given to the constructor) and register as ``app.extensions["broadcast"]``.
        """
        config = app.config
        config.setdefault("BROADCAST_URL", "memory://")
        config.setdefault("BROADCAST_QUEUE_SIZE", 1000)
        config.setdefault("BROADCAST_OVERFLOW", DROP_OLDEST)
        config.setdefault("BROADCAST_TIMEOUT", 5.0)
        config.setdefault("BROADCAST_PREFIX", "")
        settings = self._settings

        def pick(name: str) -> t.Any:
            value = settings[name]
            return config[f"BROADCAST_{name.upper()}"] if value is None else value

        if self._backend is not None and pick("url") != self.url:
            raise RuntimeError(
                "This Broadcast is already in use with another URL; make one"
                " Broadcast per BROADCAST_URL."
            )
        self.url = pick("url")
        self.queue_size = int(pick("queue_size"))
        self.overflow = pick("overflow")
        self.timeout = float(pick("timeout"))
        self.prefix = pick("prefix")
        self._check()
        self.app = app
        app.extensions["broadcast"] = self

    def _check(self) -> None:
        scheme = self.url.partition("://")[0]
        if scheme not in ("memory", "redis", "rediss", "unix"):
            raise ValueError(
                f"Unsupported broadcast URL {self.url!r}: use memory:// or"
                " redis://host:port/db (rediss://, unix:// also work)."
            )
        if self.overflow not in _POLICIES:
            raise ValueError(
                f"overflow must be one of {_POLICIES}, not {self.overflow!r}"
            )
        if self.queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {self.queue_size}")

    @property
    def backend_name(self) -> str:
        """``"memory"`` or ``"redis"``."""
        return "memory" if self.url.startswith("memory:") else "redis"

    def _get_backend(self) -> _Backend:
        backend = self._backend
        if backend is not None and self._pid == os.getpid():
            return backend
        with self._lock:
            if self._backend is None or self._pid != os.getpid():
                # New, or inherited through fork: threads and sockets did not
                # come along, so start afresh.
                self._pid = os.getpid()
                if self.backend_name == "memory":
                    self._backend = _MemoryBackend(self)
                else:
                    self._backend = _RedisBackend(self, self.url)
            return self._backend

    def _dumps(self, value: t.Any) -> str:
        if self.app is not None:
            return self.app.json.dumps(value)
        return _json.dumps(value)

    def _loads(self, data: bytes) -> t.Any:
        if self.app is not None:
            return self.app.json.loads(data)
        return _json.loads(data)

    def publish(self, channel: str, message: t.Any) -> None:
        """Send ``message`` (``str``, ``bytes`` or JSON-serializable) to
        every subscriber of ``channel``, from sync code (any thread).

        With Redis this waits for the server (at most ``timeout`` seconds);
        in async code use :meth:`apublish`.

        :raises BroadcastError: if Redis cannot be reached.
        :raises TypeError: if the message cannot be serialized.
        """
        self._get_backend().publish(channel, _encode(message, self._dumps))

    async def apublish(self, channel: str, message: t.Any) -> None:
        """:meth:`publish` for async code: does not block the event loop."""
        await self._get_backend().apublish(channel, _encode(message, self._dumps))

    def subscribe(
        self,
        channel: str,
        *,
        queue_size: int | None = None,
        overflow: str | None = None,
    ) -> Subscription:
        """A subscription to ``channel``, active inside ``async with`` (or
        ``with``); see :class:`Subscription`.

        :param queue_size: Its buffer size (default: :attr:`queue_size`).
        :param overflow: Its policy when full (default: :attr:`overflow`).
        :raises BroadcastError: on entering, if Redis cannot be reached.
        """
        return Subscription(
            self,
            channel,
            self.queue_size if queue_size is None else queue_size,
            overflow or self.overflow,
        )

    def close(self) -> None:
        """End every subscription and close the broker connections."""
        with self._lock:
            backend, self._backend = self._backend, None
        if backend is not None and self._pid == os.getpid():
            backend.close()

    async def aclose(self) -> None:
        """:meth:`close` without blocking the event loop."""
        await asyncio.get_running_loop().run_in_executor(None, self.close)
