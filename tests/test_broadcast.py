"""erlen.broadcast: publish/subscribe in process and across processes over a
real redis-server (started by the redis_fixture plugin)."""

from __future__ import annotations

import asyncio
import datetime
import gc
import subprocess
import sys
import threading
import time
import tracemalloc
import typing as t

import pytest
import redis

from erlen import Erlen
from erlen.broadcast import Broadcast, BroadcastError, SubscriptionOverflow

pytest_plugins = ["redis_fixture"]

if t.TYPE_CHECKING:
    from redis_fixture import RedisServer

MESSAGES = ["text", "", "\x00starts with NUL", b"\x00\xffbytes", {"a": [1, 2]}, [1], 3]


def run(coro: t.Coroutine[t.Any, t.Any, t.Any], timeout: float = 60) -> t.Any:
    """Run a test coroutine, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


@pytest.fixture(params=["memory", "redis"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
def broadcast(url: str) -> t.Iterator[Broadcast]:
    b = Broadcast(url=url, timeout=3)
    yield b
    b.close()


# -- both backends ------------------------------------------------------------------


def test_messages_keep_their_type(broadcast: Broadcast) -> None:
    async def main() -> list[t.Any]:
        broadcast.publish("chan", "before subscribing: not received")
        async with broadcast.subscribe("chan") as sub:
            for message in MESSAGES:
                await broadcast.apublish("chan", message)
            return [await sub.get(timeout=5) for _ in MESSAGES]

    assert run(main()) == MESSAGES


def test_channels_are_separate(broadcast: Broadcast) -> None:
    async def main() -> tuple[list[t.Any], list[t.Any]]:
        async with broadcast.subscribe("a") as a, broadcast.subscribe("b") as b:
            await broadcast.apublish("a", "for a")
            await broadcast.apublish("b", "for b")
            await broadcast.apublish("a", "for a again")
            got_a = [await a.get(timeout=5), await a.get(timeout=5)]
            got_b = [await b.get(timeout=5)]
            with pytest.raises(TimeoutError):
                await b.get(timeout=0.2)
            return got_a, got_b

    assert run(main()) == (["for a", "for a again"], ["for b"])


def test_publish_from_worker_threads_reaches_the_loop(broadcast: Broadcast) -> None:
    threads, per_thread = 4, 100

    async def main() -> list[t.Any]:
        async with broadcast.subscribe("work", queue_size=10_000) as sub:

            def worker(n: int) -> None:
                for i in range(per_thread):
                    broadcast.publish("work", {"thread": n, "i": i})

            workers = [
                threading.Thread(target=worker, args=(n,)) for n in range(threads)
            ]
            for w in workers:
                w.start()
            got = [await sub.get(timeout=10) for _ in range(threads * per_thread)]
            for w in workers:
                w.join(10)
            return got

    got = run(main())
    assert len(got) == threads * per_thread
    for n in range(threads):
        # Each thread's messages arrive in the order it published them.
        assert [m["i"] for m in got if m["thread"] == n] == list(range(per_thread))


def test_subscribers_in_several_event_loops(broadcast: Broadcast) -> None:
    """Each subscriber waits in its own loop (its own thread); publishing
    from the main thread wakes them all."""
    loops = 3
    ready = threading.Barrier(loops + 1, timeout=10)
    results: dict[int, list[t.Any]] = {}

    def subscriber(n: int) -> None:
        async def main() -> list[t.Any]:
            async with broadcast.subscribe("fanout") as sub:
                ready.wait()
                return [await sub.get(timeout=10) for _ in range(3)]

        results[n] = run(main())

    threads = [threading.Thread(target=subscriber, args=(n,)) for n in range(loops)]
    for thread in threads:
        thread.start()
    ready.wait()
    for message in ["a", {"b": 2}, "c"]:
        broadcast.publish("fanout", message)
    for thread in threads:
        thread.join(15)
    assert results == {n: ["a", {"b": 2}, "c"] for n in range(loops)}


def test_sync_subscription_in_a_thread(broadcast: Broadcast) -> None:
    received: list[t.Any] = []
    subscribed = threading.Event()

    def consumer() -> None:
        with broadcast.subscribe("sync") as sub:
            subscribed.set()
            for message in sub:
                received.append(message)
                if message == "last":
                    sub.close()

    thread = threading.Thread(target=consumer)
    thread.start()
    assert subscribed.wait(10)
    for message in ["one", {"two": 2}, "last"]:
        broadcast.publish("sync", message)
    thread.join(10)
    assert not thread.is_alive()
    assert received == ["one", {"two": 2}, "last"]


def test_listen_yields_none_when_idle(broadcast: Broadcast) -> None:
    with broadcast.subscribe("idle") as sub:
        listener = sub.listen(timeout=0.05)
        assert next(listener) is None
        broadcast.publish("idle", "hello")
        assert next(listener) == "hello"
        sub.close()
        assert list(listener) == []


def test_slow_subscriber_drops_oldest(broadcast: Broadcast) -> None:
    async def main() -> tuple[list[t.Any], list[t.Any], int, int]:
        async with (
            broadcast.subscribe("busy", queue_size=10) as slow,
            broadcast.subscribe("busy", queue_size=1000) as fast,
        ):
            for i in range(100):
                await broadcast.apublish("busy", i)
            got_fast = [await fast.get(timeout=5) for _ in range(100)]
            got_slow = []
            while True:
                try:
                    got_slow.append(await slow.get(timeout=0.2))
                except TimeoutError:
                    break
            return got_fast, got_slow, slow.dropped, fast.dropped

    got_fast, got_slow, slow_dropped, fast_dropped = run(main())
    assert got_fast == list(range(100))
    assert got_slow == list(range(90, 100))
    assert (slow_dropped, fast_dropped) == (90, 0)


def test_disconnect_policy(broadcast: Broadcast) -> None:
    async def main() -> None:
        async with broadcast.subscribe(
            "busy", queue_size=3, overflow="disconnect"
        ) as s:
            for i in range(3):
                await broadcast.apublish("busy", i)
            assert await s.get(timeout=5) == 0  # room again for one
            for i in range(3, 5):
                await broadcast.apublish("busy", i)
            # Wait until the fourth message past the last read overflowed it.
            for _ in range(100):
                if s._state == "closed":
                    break
                await asyncio.sleep(0.02)
            with pytest.raises(SubscriptionOverflow, match="fell 3 messages behind"):
                await s.get(timeout=5)
            assert s.channel not in broadcast._get_backend().channels

    run(main())


def test_closing_ends_iteration(broadcast: Broadcast) -> None:
    async def main() -> list[t.Any]:
        got = []
        async with broadcast.subscribe("end") as sub:
            await broadcast.apublish("end", "buffered")
            await asyncio.sleep(0.2)
            asyncio.get_running_loop().call_later(0.1, sub.close)
            async for message in sub:
                got.append(message)
        return got

    assert run(main()) == ["buffered"]


def test_broadcast_close_ends_subscriptions(url: str) -> None:
    b = Broadcast(url=url, timeout=3)

    async def main() -> list[t.Any]:
        async with b.subscribe("x") as sub:
            threading.Timer(0.2, b.close).start()
            return [m async for m in sub]

    assert run(main()) == []


def test_subscription_misuse(broadcast: Broadcast) -> None:
    sub = broadcast.subscribe("x")
    with pytest.raises(RuntimeError, match="Enter the subscription first"):
        next(iter(sub))
    with sub, pytest.raises(RuntimeError, match="only be entered once"):
        sub.__enter__()
    with pytest.raises(ValueError, match="queue_size"):
        broadcast.subscribe("x", queue_size=0)
    with pytest.raises(ValueError, match="overflow"):
        broadcast.subscribe("x", overflow="block")
    with pytest.raises(TypeError, match="not JSON serializable"):
        broadcast.publish("x", object())


# -- memory backend and configuration -------------------------------------------


def test_memory_does_not_grow_with_a_subscriber_that_never_reads() -> None:
    b = Broadcast(url="memory://")
    payload = "x" * 1000

    async def main() -> tuple[int, int, int]:
        async with b.subscribe("flood", queue_size=100) as never_read:
            for i in range(2000):
                b.publish("flood", f"{i}:{payload}")
            gc.collect()
            tracemalloc.start()
            try:
                start, _ = tracemalloc.get_traced_memory()
                for i in range(2000, 22_000):
                    b.publish("flood", f"{i}:{payload}")
                gc.collect()
                end, _ = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert len(never_read._buffer) == 100
            assert never_read._buffer[0].startswith("21900:")
            return start, end, never_read.dropped

    start, end, dropped = run(main())
    assert dropped == 22_000 - 100
    # 20,000 more messages of 1 KB (20 MB) left the footprint where it was.
    assert end - start < 200_000, (start, end)


def test_init_app_reads_config() -> None:
    app = Erlen(__name__)
    app.config.update(
        BROADCAST_URL="redis://127.0.0.1:1/0",
        BROADCAST_QUEUE_SIZE=7,
        BROADCAST_OVERFLOW="disconnect",
        BROADCAST_TIMEOUT=0.5,
        BROADCAST_PREFIX="blog:",
    )
    b = Broadcast(app)
    assert app.extensions["broadcast"] is b
    assert (b.url, b.queue_size, b.overflow, b.timeout, b.prefix) == (
        "redis://127.0.0.1:1/0",
        7,
        "disconnect",
        0.5,
        "blog:",
    )
    assert b.backend_name == "redis"
    # Constructor arguments win over the config.
    b2 = Broadcast(url="memory://", queue_size=3)
    b2.init_app(app)
    assert (b2.url, b2.queue_size, b2.overflow) == ("memory://", 3, "disconnect")

    plain = Erlen(__name__)
    b3 = Broadcast()
    b3.init_app(plain)
    assert plain.config["BROADCAST_URL"] == "memory://"
    assert (b3.backend_name, b3.queue_size, b3.overflow) == (
        "memory",
        1000,
        "drop-oldest",
    )

    with pytest.raises(ValueError, match="Unsupported broadcast URL 'amqp://x'"):
        Broadcast(url="amqp://x")
    bad = Erlen(__name__)
    bad.config["BROADCAST_OVERFLOW"] = "block"
    with pytest.raises(ValueError, match="overflow must be one of"):
        Broadcast(bad)


def test_json_goes_through_the_apps_provider() -> None:
    app = Erlen(__name__)
    b = Broadcast(app)
    when = datetime.datetime(2026, 12, 1, 20, 0, tzinfo=datetime.timezone.utc)
    with b.subscribe("dates") as sub:
        b.publish("dates", {"at": when})
        assert sub.get_sync(timeout=5) == {"at": "Tue, 01 Dec 2026 20:00:00 GMT"}


# -- Redis -------------------------------------------------------------------------


def test_two_workers_see_each_others_messages(redis_server: RedisServer) -> None:
    """Two Broadcast objects, each with its own connections (two workers)."""
    worker1 = Broadcast(url=redis_server.url, timeout=3)
    worker2 = Broadcast(url=redis_server.url, timeout=3)

    async def main() -> tuple[list[t.Any], list[t.Any]]:
        async with (
            worker1.subscribe("posts") as on1,
            worker2.subscribe("posts") as on2,
        ):
            await worker1.apublish("posts", {"id": 1})
            worker2.publish("posts", {"id": 2})
            got1 = [await on1.get(timeout=5) for _ in range(2)]
            got2 = [await on2.get(timeout=5) for _ in range(2)]
            return got1, got2

    try:
        assert run(main()) == ([{"id": 1}, {"id": 2}], [{"id": 1}, {"id": 2}])
    finally:
        worker1.close()
        worker2.close()


def test_message_from_another_process(redis_server: RedisServer) -> None:
    b = Broadcast(url=redis_server.url, timeout=3)
    script = (
        "import sys\n"
        "from erlen.broadcast import Broadcast\n"
        "b = Broadcast(url=sys.argv[1], timeout=3)\n"
        "b.publish('posts', {'from': 'child', 'n': 1})\n"
        "b.publish('posts', b'raw')\n"
        "b.close()\n"
    )
    try:
        with b.subscribe("posts") as sub:
            subprocess.run(
                [sys.executable, "-c", script, redis_server.url], check=True, timeout=30
            )
            assert sub.get_sync(timeout=5) == {"from": "child", "n": 1}
            assert sub.get_sync(timeout=5) == b"raw"
    finally:
        b.close()


def test_plain_redis_publishers_interoperate(redis_server: RedisServer) -> None:
    b = Broadcast(url=redis_server.url, timeout=3, prefix="app:")
    other = Broadcast(url=redis_server.url, timeout=3, prefix="other:")
    client = redis.Redis.from_url(redis_server.url)
    try:
        with b.subscribe("news") as sub, other.subscribe("news") as other_sub:
            assert client.publish("app:news", "hello from redis-cli") == 1
            assert client.publish("app:news", b"\xff\xfe") == 1
            assert sub.get_sync(timeout=5) == "hello from redis-cli"
            assert sub.get_sync(timeout=5) == b"\xff\xfe"
            # The prefix keeps the other application's channel apart.
            with pytest.raises(TimeoutError):
                other_sub.get_sync(timeout=0.2)
        # The last local subscriber gone, the channel is unsubscribed.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if dict(client.pubsub_numsub("app:news"))[b"app:news"] == 0:
                break
            time.sleep(0.02)
        assert dict(client.pubsub_numsub("app:news"))[b"app:news"] == 0
    finally:
        client.close()
        b.close()
        other.close()


def test_redis_slow_subscriber_is_bounded(redis_server: RedisServer) -> None:
    b = Broadcast(url=redis_server.url, timeout=3)
    publisher = Broadcast(url=redis_server.url, timeout=3)
    payload = "y" * 1000
    count = 1000

    async def main() -> tuple[int, int, int, list[int]]:
        async with (
            b.subscribe("flood", queue_size=50) as never_read,
            b.subscribe("flood", queue_size=count) as reader,
        ):
            gc.collect()
            tracemalloc.start()
            try:
                start, _ = tracemalloc.get_traced_memory()
                for i in range(count):
                    await publisher.apublish("flood", f"{i}:{payload}")
                # Keep only the numbers: what stays allocated is what the
                # never-read subscriber holds.
                got = []
                for _ in range(count):
                    message = await reader.get(timeout=10)
                    got.append(int(message.partition(":")[0]))
                del message
                gc.collect()
                end, _ = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            assert len(never_read._buffer) == 50
            return start, end, never_read.dropped, got

    try:
        start, end, dropped, got = run(main())
    finally:
        b.close()
        publisher.close()
    assert got == list(range(count))
    assert dropped == count - 50
    # 50 buffered messages of 1 KB, not 1000 (which would be 1 MB).
    assert end - start < 300_000, (start, end)


def test_subscriber_survives_a_redis_restart(
    redis_factory: t.Callable[[], RedisServer],
) -> None:
    server = redis_factory()
    b = Broadcast(url=server.url, timeout=2)
    b._get_backend().reconnect_delay = 0.05  # type: ignore[attr-defined]
    publisher = Broadcast(url=server.url, timeout=2)

    async def main() -> list[t.Any]:
        got = []
        async with b.subscribe("live") as sub:
            await publisher.apublish("live", "before")
            got.append(await sub.get(timeout=5))

            server.kill()
            with pytest.raises(BroadcastError, match="did not answer"):
                await publisher.apublish("live", "while down")
            with pytest.raises(BroadcastError, match="did not answer"):
                publisher.publish("live", "while down")
            await asyncio.sleep(0.3)  # the subscriber notices and retries
            server.start()

            # Publish until the resubscribed reader gets one, then in order.
            deadline = time.monotonic() + 20
            while True:
                assert time.monotonic() < deadline, "never resubscribed"
                await publisher.apublish("live", "after restart")
                try:
                    got.append(await sub.get(timeout=0.2))
                    break
                except TimeoutError:
                    pass
            for i in range(5):
                await publisher.apublish("live", i)
            while True:
                message = await sub.get(timeout=5)
                if message != "after restart":
                    got.append(message)
                    break
            got.extend([await sub.get(timeout=5) for _ in range(4)])
        return got

    try:
        assert run(main()) == ["before", "after restart", 0, 1, 2, 3, 4]
    finally:
        b.close()
        publisher.close()


def test_subscribe_while_redis_is_down(
    redis_factory: t.Callable[[], RedisServer],
) -> None:
    server = redis_factory()
    server.kill()
    b = Broadcast(url=server.url, timeout=0.5)
    try:
        started = time.monotonic()
        with (
            pytest.raises(BroadcastError, match="Could not subscribe to 'x'"),
            b.subscribe("x"),
        ):
            pass
        assert time.monotonic() - started < 5
        assert b._get_backend().channels == {}
        # Once Redis is back, subscribing works.
        server.start()
        with b.subscribe("x") as sub:
            b.publish("x", "back")
            assert sub.get_sync(timeout=5) == "back"
    finally:
        b.close()


def test_an_event_stream_survives_a_redis_restart(
    redis_factory: t.Callable[[], RedisServer],
) -> None:
    """A browser's stream over a real server, fed from Redis: Redis is killed
    mid-stream and restarted; the stream stays up, keeps its request
    context, and delivers again."""
    from test_sse import PING, Server

    from erlen import request, stream_with_context
    from erlen.sse import Event, sse_response

    server = redis_factory()
    app = Erlen(__name__)
    app.config.update(BROADCAST_URL=server.url, BROADCAST_TIMEOUT=1.0)
    broadcast = Broadcast(app)
    broadcast._get_backend().reconnect_delay = 0.05  # type: ignore[attr-defined]
    publisher = Broadcast(url=server.url, timeout=1.0)

    @app.get("/live")
    def live() -> t.Any:
        @stream_with_context
        def events() -> t.Iterator[t.Any]:
            with broadcast.subscribe("posts") as sub:
                for post in sub.listen(timeout=0.05):
                    if post is not None:
                        yield Event(f"{request.args['who']}: {post}", event="post")
                    else:
                        yield None

        return sse_response(events(), ping=0.1)

    try:
        with Server(app) as http:
            client = http.connect("/live?who=ann")
            client.read_until(PING)
            backend = broadcast._get_backend()
            deadline = time.monotonic() + 5
            while "posts" not in backend.confirmed:  # type: ignore[attr-defined]
                assert time.monotonic() < deadline
                time.sleep(0.01)
            publisher.publish("posts", "one")
            client.read_until(b"data: ann: one\n\n")

            server.kill()
            with pytest.raises(BroadcastError):
                publisher.publish("posts", "lost")
            # Redis is gone, the stream is not: keep-alives still arrive.
            seen = len(client.body)
            assert client.read_for(0.5)[seen:].count(PING) >= 3
            server.start()
            deadline = time.monotonic() + 20
            while b"data: ann: two\n\n" not in client.body:
                assert time.monotonic() < deadline, client.body[-300:]
                publisher.publish("posts", "two")
                client.read_for(0.3)
            assert b"lost" not in client.body
            client.close()
    finally:
        broadcast.close()
        publisher.close()


def test_the_background_loop_keeps_no_request_context(
    redis_server: RedisServer,
) -> None:
    """The Redis backend's loop starts its reader task and opens its
    connections while serving the first subscriber and publisher: none of
    that may keep their request contexts (or see their ``request``) after
    they end."""
    import weakref

    app = Erlen(__name__)
    app.config.update(BROADCAST_URL=redis_server.url, BROADCAST_TIMEOUT=3)
    b = Broadcast(app)
    refs = []

    async def subscriber() -> list[t.Any]:
        with app.test_request_context("/subscriber") as ctx:
            refs.append(weakref.ref(ctx))
            async with b.subscribe("ctx") as sub:
                with app.test_request_context("/publisher") as pub_ctx:
                    refs.append(weakref.ref(pub_ctx))
                    await b.apublish("ctx", "one")
                    b.publish("ctx", "two")
                return [await sub.get(timeout=5), await sub.get(timeout=5)]

    try:
        assert run(subscriber()) == ["one", "two"]
        # The reader task and the connections are still there, holding
        # neither context.
        assert b._get_backend().reader is not None  # type: ignore[attr-defined]
        gc.collect()
        assert [ref() for ref in refs] == [None, None]
    finally:
        b.close()


def test_a_new_subscriber_does_not_wait_out_the_reconnect_backoff(
    redis_factory: t.Callable[[], RedisServer],
) -> None:
    """Redis was down long enough for the reader's backoff to grow; once it
    is back, a new subscriber gets its subscription within its timeout
    (the reader tries again when one arrives) instead of being refused
    until the backoff ends."""
    server = redis_factory()
    b = Broadcast(url=server.url, timeout=0.5)
    backend = b._get_backend()
    backend.reconnect_max_delay = 30.0  # type: ignore[attr-defined]
    try:
        with b.subscribe("before"):
            pass  # the reader is running
        with b.subscribe("held"):
            server.kill()
            # Failures at 0.1, 0.2, 0.4, 0.8 s: the next try is 1.6 s later.
            time.sleep(1.6)
            server.start()
            started = time.monotonic()
            with b.subscribe("x") as sub:
                b.publish("x", "back")
                assert sub.get_sync(timeout=5) == "back"
            assert time.monotonic() - started < 0.5
    finally:
        b.close()
