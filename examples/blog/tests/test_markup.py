"""Markdown rendering: formatting works, raw HTML and script URLs never get through."""

from __future__ import annotations

import pytest
from markupsafe import Markup

from examples.blog.markup import is_safe_url, render_markdown


def test_returns_markup() -> None:
    html = render_markdown("*hi*")
    assert isinstance(html, Markup)
    assert html == "<p><em>hi</em></p>"


def test_code_is_escaped_once() -> None:
    # Escaping the source before conversion would show "&amp;lt;" here.
    assert (
        render_markdown("`a < b && c`") == "<p><code>a &lt; b &amp;&amp; c</code></p>"
    )
    assert render_markdown("```\n<b>x</b>\n```") == (
        "<pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre>"
    )


def test_quotes_and_lists_still_work() -> None:
    assert render_markdown("> quoted") == "<blockquote>\n<p>quoted</p>\n</blockquote>"
    assert render_markdown("- a\n- b") == "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<div onclick=alert(1)>x</div>",
        "text <iframe src=//evil></iframe> text",
        "<svg/onload=alert(1)>",
        "<!-- comment --><b>bold</b>",
    ],
)
def test_raw_html_is_text(source: str) -> None:
    html = render_markdown(source)
    assert "<script" not in html
    assert "<div" not in html and "<iframe" not in html and "<svg" not in html
    assert "<b>" not in html and "<!--" not in html
    assert "&lt;" in html


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://example.com/x", True),
        ("http://example.com", True),
        ("mailto:a@example.com", True),
        ("/posts/1", True),
        ("#top", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        (" java\tscript:alert(1)", False),
        ("data:text/html,<b>x</b>", False),
        ("vbscript:msgbox", False),
    ],
)
def test_is_safe_url(url: str, safe: bool) -> None:
    assert is_safe_url(url) is safe


def test_unsafe_link_loses_its_url() -> None:
    assert render_markdown("[x](javascript:alert(1))") == (
        '<p><a rel="nofollow noopener">x</a></p>'
    )
    assert render_markdown("![i](data:image/svg+xml,x)") == '<p><img alt="i"></p>'
    assert render_markdown("<https://example.com>") == (
        '<p><a href="https://example.com" rel="nofollow noopener">'
        "https://example.com</a></p>"
    )


def test_reused_converter_keeps_no_state_between_posts() -> None:
    """One Markdown object per thread is reused: a reference link defined in
    one post must not resolve in the next."""
    first = render_markdown("[home][h]\n\n[h]: https://example.com/")
    assert 'href="https://example.com/"' in first
    second = render_markdown("[home][h] again")
    assert "href" not in second
    assert second == "<p>[home][h] again</p>"


def test_posts_render_the_same_in_other_threads() -> None:
    import threading

    text = "*thread* `safe` [a](https://example.com/a)"
    expected = str(render_markdown(text))
    render_markdown.cache_clear()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(str(render_markdown(text))))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert results == [expected] * 8
