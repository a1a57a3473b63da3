"""The blog in a real browser: Playwright driving Debian's Chromium, headless.

The site runs twice, on a free loopback port each: under ``python -m
examples.blog.serve`` (the development server over WSGI, as ``make demo``
starts it) and under uvicorn serving ``app.asgi_app`` over ASGI. Nothing is
downloaded: Playwright is pointed at /usr/bin/chromium. Screenshots of the main pages go
to ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, expect, sync_playwright

from examples.blog import create_app
from examples.blog.db import DEMO_POSTS, seed_demo

from ._support import ROOT, free_port, running, server_command

CHROMIUM = "/usr/bin/chromium"
MISSING = f"Chromium not found at {CHROMIUM}: install it: apt-get install chromium"
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 10_000
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def test_chromium_is_installed() -> None:
    if not os.path.exists(CHROMIUM):
        pytest.fail(MISSING)


#: Where the blog is served: serve.py (the development server, over WSGI), and
#: uvicorn (``examples.blog.wsgi:app.asgi_app``, over ASGI, 2 workers).
SITES = ("serve", "uvicorn")


@pytest.fixture(scope="module", params=SITES)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    """The blog served by serve.py or uvicorn; yields its base URL and its
    output log. Under uvicorn the database is seeded first, as serve.py does."""
    folder = tmp_path_factory.mktemp(f"browser-{request.param}")
    port = free_port()
    database = folder / "blog.sqlite"
    env = {"BLOG_DATABASE": str(database), "BLOG_SECRET_KEY": "browser-test"}
    if request.param == "uvicorn":
        app = create_app({"DATABASE": str(database), "SECRET_KEY": "seed"})
        with app.app_context():
            seed_demo()
        command = server_command("uvicorn", port)
    else:
        command = [sys.executable, "-m", "examples.blog.serve", "--port", str(port)]
    log = folder / f"{request.param}.log"
    with running(command, port, log, env):
        yield f"http://127.0.0.1:{port}", log


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium, launched once for the module."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(MISSING)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True, timeout=30_000
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, site: tuple[str, Path]) -> Iterator[Page]:
    """A fresh browser context (no cookies) with bounded timeouts."""
    context = browser.new_context(
        base_url=site[0], viewport={"width": 1100, "height": 800}
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"blog-{name}.png"), full_page=True)


def flash(page: Page, category: str) -> str:
    """The text of the (single) flash message of ``category`` on the page."""
    locator = page.locator(f".flashes .flash-{category}")
    expect(locator).to_have_count(1)
    return locator.inner_text()


def test_server_log_shows_it_serving(site: tuple[str, Path]) -> None:
    base, log = site
    output = log.read_text()
    if "uvicorn" in log.name:
        # The lifespan startup ran (and did not fail) before it listened.
        assert "Application startup complete." in output
        assert f"Uvicorn running on {base}" in output
        assert "Traceback" not in output
        return
    assert f"Seeded {len(DEMO_POSTS)} demo posts." in output
    assert "Demo account: username 'demo', password 'demo'" in output
    assert f"Serving the erlen blog on {base}" in output


def test_index_and_pagination(page: Page) -> None:
    page.goto("/")
    expect(page).to_have_title("Posts · erlen blog")
    expect(page.locator("article.post-summary")).to_have_count(5)
    expect(page.locator(".pagination .current")).to_have_text("Page 1 of 2")
    expect(page.get_by_text("Hello from page two")).to_have_count(0)
    shot(page, "index")

    page.get_by_role("link", name="Older →").click()
    expect(page).to_have_url(re.compile(r"/\?page=2$"))
    expect(page.locator(".pagination .current")).to_have_text("Page 2 of 2")
    expect(page.get_by_role("link", name="Hello from page two")).to_be_visible()
    shot(page, "index-page-2")

    page.get_by_role("link", name="← Newer").click()
    expect(page.locator(".pagination .current")).to_have_text("Page 1 of 2")

    page.get_by_role("link", name="Welcome to the erlen blog").click()
    expect(page.locator("article.post h1")).to_have_text("Welcome to the erlen blog")
    expect(page.locator(".post-body strong")).to_have_text("flagship example")
    shot(page, "post")


def test_account_and_post_lifecycle(page: Page) -> None:
    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)

    # Register: first with mismatched passwords, then properly.
    page.goto("/")
    page.get_by_role("link", name="Register").click()
    page.get_by_label("Username").fill("writer")
    page.get_by_label("Password", exact=True).fill("writer-pass")
    page.get_by_label("Repeat the password").fill("something-else")
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#confirm-error")).to_have_text(
        "The two passwords do not match."
    )
    assert flash(page, "error") == "Please correct the errors below."
    expect(page.get_by_label("Username")).to_have_value("writer")
    shot(page, "register-errors")

    page.get_by_label("Password", exact=True).fill("writer-pass")
    page.get_by_label("Repeat the password").fill("writer-pass")
    page.get_by_role("button", name="Register").click()
    expect(page).to_have_url(re.compile(r"/auth/login$"))
    assert flash(page, "success") == "Welcome, writer! Please log in."

    # Log in: a wrong password first.
    page.get_by_label("Username").fill("writer")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    assert flash(page, "error") == "Incorrect username or password."
    shot(page, "login-failed")
    page.get_by_label("Password").fill("writer-pass")
    page.get_by_role("button", name="Log in").click()
    assert flash(page, "success") == "Logged in as writer."
    expect(page.locator(".who")).to_have_text("Signed in as writer")

    # Create: an empty title is refused, then a post with a script in it.
    page.get_by_role("link", name="New post").click()
    page.get_by_label("Body").fill("Draft")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#title-error")).to_have_text("Title is required.")
    page.get_by_label("Title").fill("My browser post")
    page.get_by_label("Body").fill(
        "Some **bold** text.\n\n<script>alert('xss')</script>\n\n- one\n- two"
    )
    shot(page, "editor")
    page.get_by_role("button", name="Publish").click()
    assert flash(page, "success") == "Your post was published."
    expect(page.locator("article.post h1")).to_have_text("My browser post")
    expect(page.locator(".post-body strong")).to_have_text("bold")
    expect(page.locator(".post-body li")).to_have_count(2)
    expect(page.locator(".post-body")).to_contain_text("<script>alert('xss')</script>")
    assert page.locator(".post-body script").count() == 0
    assert dialogs == []  # the script was shown, not run
    shot(page, "post-created")
    post_url = page.url

    # Edit.
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Title")).to_have_value("My browser post")
    page.get_by_label("Title").fill("My edited post")
    page.get_by_role("button", name="Save changes").click()
    assert flash(page, "success") == "Your changes were saved."
    expect(page.locator("article.post h1")).to_have_text("My edited post")
    expect(page.locator(".meta")).to_contain_text("edited")

    # It is on the front page, first.
    page.goto("/")
    expect(page.locator("article.post-summary h2").first).to_have_text("My edited post")

    # Delete (the confirm() dialog is accepted).
    page.goto(post_url)
    page.get_by_role("button", name="Delete").click()
    assert dialogs == ["Delete this post?"]
    assert flash(page, "info") == 'Deleted "My edited post".'
    expect(page.locator("article", has_text="My edited post")).to_have_count(0)
    shot(page, "flash-deleted")
    assert page.goto(post_url).status == 404

    # Log out.
    page.goto("/")
    page.get_by_role("button", name="Log out").click()
    assert flash(page, "info") == "You have been logged out."
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    expect(page.get_by_role("link", name="New post")).to_have_count(0)


def test_login_page_and_redirect_back(page: Page) -> None:
    page.goto("/posts/new")
    expect(page).to_have_url(re.compile(r"/auth/login\?next="))
    assert flash(page, "warning") == "Please log in to continue."
    shot(page, "login")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/posts/new$"))
    expect(page.locator("h1")).to_have_text("New post")


def test_other_authors_post_is_forbidden(page: Page) -> None:
    page.goto("/auth/register")
    page.get_by_label("Username").fill("reader")
    page.get_by_label("Password", exact=True).fill("reader-pass")
    page.get_by_label("Repeat the password").fill("reader-pass")
    page.get_by_role("button", name="Register").click()
    page.get_by_label("Username").fill("reader")
    page.get_by_label("Password").fill("reader-pass")
    page.get_by_role("button", name="Log in").click()
    page.goto("/posts/1")
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    response = page.goto("/posts/1/edit")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("Forbidden")
    shot(page, "403")


def test_404_page(page: Page) -> None:
    response = page.goto("/there/is/nothing/here")
    assert response is not None and response.status == 404
    expect(page).to_have_title("Page not found · erlen blog")
    expect(page.locator(".error-page .status")).to_have_text("404")
    shot(page, "404")
    page.get_by_role("link", name="Back to the posts").click()
    expect(page.locator("h1")).to_have_text("Latest posts")


def test_small_screen(browser: Browser, site: tuple[str, Path]) -> None:
    context = browser.new_context(
        base_url=site[0], viewport={"width": 390, "height": 844}, is_mobile=True
    )
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto("/")
        expect(page.locator("article.post-summary").first).to_be_visible()
        # Nothing overflows sideways on a phone-sized screen.
        overflow = page.evaluate(
            "document.documentElement.scrollWidth"
            " - document.documentElement.clientWidth"
        )
        assert overflow == 0
        shot(page, "index-mobile")
    finally:
        context.close()
