"""Markdown rendering that cannot inject HTML.

Raw HTML in a post is never passed through: Python-Markdown's two raw-HTML
processors are removed, so ``<script>`` reaches the serializer as plain text
and comes out escaped (``&lt;script&gt;``). This gives the same guarantee as
escaping the source before conversion, without that approach's double
escaping of ``<`` and ``&`` inside code spans and blocks, or breaking ``>``
quotes. Links and images whose URL has a scheme other than http, https or
mailto (``javascript:``, ``data:``...) lose the URL. Only the result is marked
safe; everything else in the templates stays autoescaped.
"""

from __future__ import annotations

import functools
import re
import threading
import xml.etree.ElementTree as etree

import markdown
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from erlen import Erlen

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
# Browsers ignore ASCII whitespace and control characters inside a scheme.
_IGNORED = re.compile(r"[\x00-\x20\x7f]+")


def is_safe_url(url: str) -> bool:
    """Whether ``url`` is relative or uses an allowed scheme."""
    match = _SCHEME.match(_IGNORED.sub("", url))
    return match is None or match.group(1).lower() in SAFE_SCHEMES


class _SafeLinks(Treeprocessor):
    def run(self, root: etree.Element) -> None:
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and not is_safe_url(value):
                    del element.attrib[attribute]
            if element.tag == "a":
                element.set("rel", "nofollow noopener")


class _NoRawHtml(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_SafeLinks(md), "safe_links", 0)


_converters = threading.local()


def _converter() -> markdown.Markdown:
    # Building a Markdown object costs more than converting a post; one per
    # thread, since a Markdown object is not thread-safe.
    md: markdown.Markdown | None = getattr(_converters, "md", None)
    if md is None:
        md = _converters.md = markdown.Markdown(
            extensions=[_NoRawHtml(), "fenced_code", "sane_lists"],
            output_format="html",
        )
    return md


@functools.lru_cache(maxsize=1024)
def render_markdown(text: str) -> Markup:
    """Convert Markdown ``text`` to HTML that is safe to insert in a page.

    The result depends on the text alone, so the latest 1,024 are cached."""
    md = _converter()
    try:
        return Markup(md.convert(text))
    finally:
        md.reset()


def init_app(app: Erlen) -> None:
    """Register the ``markdown`` template filter."""
    app.add_template_filter(render_markdown, "markdown")
