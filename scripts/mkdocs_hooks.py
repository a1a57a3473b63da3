"""MkDocs hooks for the documentation site (see mkdocs.yml).

erlen's docstrings use Sphinx roles (``:class:`~erlen.wrappers.Response```),
which mkdocstrings renders as text. Drop the role and, as Sphinx does for a
leading ``~``, show only the last part of the dotted name.
"""

from __future__ import annotations

import re
import typing as t

_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|attr|data|exc|mod|obj|const):<code>(~?)([^<]*)</code>"
)


def _replace(match: re.Match[str]) -> str:
    tilde, name = match.groups()
    if tilde:
        name = name.rpartition(".")[2]
    return f"<code>{name}</code>"


def on_page_content(html: str, **kwargs: t.Any) -> str:
    """Render Sphinx cross-reference roles as plain code."""
    return _ROLE.sub(_replace, html)
