"""The chat example: its pages and websocket through the test client, then
two users chatting in a real headless Chromium against uvicorn.

The test client's websockets run over ``app.asgi_app`` whatever
``ERLEN_TEST_PROTOCOL`` says (its HTTP requests follow it), so every test
here runs under both protocols. The browser tests start uvicorn (one worker,
loopback) and use the blog's ``browser`` fixture: Playwright driving Debian's
/usr/bin/chromium, headless; a missing Chromium fails, it does not skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from erlen.testing import ErlenClient, WebsocketResponseError
from examples.blog.tests._support import BIN, free_port, running
from examples.blog.tests.test_browser import TIMEOUT_MS, browser
from examples.chat import app

__all__ = ["browser"]  # the fixture: headless Chromium


def named_client(name: str) -> ErlenClient:
    """A test client that picked ``name`` through the form."""
    client = app.test_client()
    response = client.post("/", data={"name": name, "room": "tea"})
    assert response.status_code == 302
    return client


# -- pages -------------------------------------------------------------------


def test_name_form_sets_the_session_and_redirects_to_the_room() -> None:
    client = app.test_client()
    response = client.post("/", data={"name": "  alice ", "room": "tea"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/room/tea"
    with client.session_transaction() as session:
        assert session["name"] == "alice"
    page = client.get("/room/tea").get_data(as_text=True)
    assert "You are alice." in page
    assert 'new WebSocket("ws://localhost/chat/tea")' in page


@pytest.mark.parametrize(
    ("name", "room", "error"),
    [
        ("", "tea", "Pick a name of 1 to 32 characters."),
        ("x" * 33, "tea", "Pick a name of 1 to 32 characters."),
        ("alice", "tea/pot", "A room is 1 to 32 letters, digits,"),
    ],
)
def test_invalid_form_is_shown_again(name: str, room: str, error: str) -> None:
    client = app.test_client()
    response = client.post("/", data={"name": name, "room": room})
    assert response.status_code == 200
    assert error in response.get_data(as_text=True)
    with client.session_transaction() as session:
        assert "name" not in session


def test_room_without_a_name_goes_back_to_the_form() -> None:
    response = app.test_client().get("/room/tea")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# -- websocket ---------------------------------------------------------------


def test_websocket_without_a_name_is_refused() -> None:
    with pytest.raises(WebsocketResponseError) as refused:
        app.test_client().websocket("/chat/a")
    assert refused.value.response.status_code == 403
    assert b"Pick a name first." in refused.value.response.data


def test_websocket_from_another_origin_is_refused() -> None:
    client = named_client("alice")
    with pytest.raises(WebsocketResponseError) as refused:
        client.websocket("/chat/a", headers={"Origin": "http://evil.example"})
    assert refused.value.response.status_code == 403
    with client.websocket("/chat/a", headers={"Origin": "http://localhost"}) as ws:
        ws.send("same origin")
        assert ws.receive_json() == {"user": "alice", "text": "same origin"}


def test_everyone_in_the_room_receives_a_message() -> None:
    alice, bob = named_client("alice"), named_client("bob")
    with alice.websocket("/chat/a") as a, bob.websocket("/chat/a") as b:
        a.send("hi <b>all</b>")
        expected = {"user": "alice", "text": "hi <b>all</b>"}
        assert b.receive_json() == expected
        assert a.receive_json() == expected
        b.send("hello alice")
        assert a.receive_json() == {"user": "bob", "text": "hello alice"}
        assert b.receive_json() == {"user": "bob", "text": "hello alice"}


def test_rooms_do_not_leak() -> None:
    alice, bob = named_client("alice"), named_client("bob")
    with alice.websocket("/chat/a") as a, bob.websocket("/chat/b") as b:
        b.send("only for b")
        assert b.receive_json() == {"user": "bob", "text": "only for b"}
        a.send("only for a")
        # bob's message was delivered (to b) before alice sent hers: had it
        # leaked into room a, it would come first here.
        assert a.receive_json() == {"user": "alice", "text": "only for a"}
        with pytest.raises(TimeoutError):
            b.receive(timeout=0.3)


# -- a real browser ----------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The chat under uvicorn (one worker, loopback); yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("chat") / "uvicorn.log"
    command = [
        str(BIN / "uvicorn"),
        "--workers=1",
        "--host=127.0.0.1",
        f"--port={port}",
        "--timeout-graceful-shutdown=5",
        "examples.chat:app.asgi_app",
    ]
    with running(command, port, log, {"CHAT_SECRET_KEY": "browser-test"}):
        yield f"http://127.0.0.1:{port}"
    assert "Traceback" not in log.read_text(), log.read_text()


def enter(browser: Browser, site: str, name: str) -> Page:
    """A new browser context (its own cookies) whose user picks ``name`` and
    is in room tea with the websocket open."""
    context = browser.new_context(base_url=site)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Room").fill("tea")
    page.get_by_role("button", name="Enter").click()
    expect(page.locator("h1")).to_have_text("Room tea", timeout=TIMEOUT_MS)
    expect(page.locator("#status")).to_have_text("connected", timeout=TIMEOUT_MS)
    return page


def say(page: Page, text: str) -> None:
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Send").click()


def test_two_users_chat_in_chromium(browser: Browser, site: str) -> None:
    alice = enter(browser, site, "alice")
    bob = enter(browser, site, "bob")
    try:
        say(alice, "hello <b>x</b>")
        first = "alice: hello <b>x</b>"
        expect(bob.locator("#messages li")).to_have_text([first], timeout=TIMEOUT_MS)
        expect(alice.locator("#messages li")).to_have_text([first], timeout=TIMEOUT_MS)
        # Shown as text: no <b> element was made from the message.
        expect(bob.locator("#messages b")).to_have_count(0)

        say(bob, "hi alice")
        both = [first, "bob: hi alice"]
        expect(alice.locator("#messages li")).to_have_text(both, timeout=TIMEOUT_MS)
        expect(bob.locator("#messages li")).to_have_text(both, timeout=TIMEOUT_MS)
    finally:
        alice.context.close()
        bob.context.close()


def test_chromium_without_a_name_is_sent_to_the_form(
    browser: Browser, site: str
) -> None:
    context = browser.new_context(base_url=site)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/room/tea")
        expect(page.get_by_label("Your name")).to_be_visible(timeout=TIMEOUT_MS)
        # The websocket itself refuses a browser without the session cookie.
        state = page.evaluate(
            """(url) => new Promise((done) => {
                const ws = new WebSocket(url);
                ws.onopen = () => done("open");
                ws.onclose = (event) => done("closed " + event.code);
            })""",
            site.replace("http://", "ws://") + "/chat/tea",
        )
        assert state == "closed 1006"
    finally:
        context.close()
