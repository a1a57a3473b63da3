"""Every page of the documentation runs: the code of docs/*.md is executed.

The conventions, per page (``docs/*.md``):

- Each ```` ```python ```` block runs, in page order, in one namespace per page:
  a fresh module named ``docs_<page>`` whose file would live in a new
  temporary directory. That directory is the working directory and is on
  ``sys.path``, so ``Erlen(__name__)`` finds ``templates/`` and ``instance/``
  there, and files written by a page can be imported.
- A fenced block of any language with ``title="some/path"`` is not run: its
  text is written to that path in the temporary directory (templates, modules
  of a package, config files), before the following blocks run.
- ``<!-- test`` ... ``-->`` is Python hidden from the reader (an HTML comment)
  that runs at its place: set-up that a fragment needs, or a check, usually
  through ``app.test_client()``, that the code above does what the prose says.
- ``<!-- no-run: reason -->`` right before a block skips it; the reason is
  required. It is for the few things that cannot run in a test (starting a
  server, importing a project that does not exist).
- Console, shell and other blocks are not run.

Pages run as in a fresh interpreter: no ``ERLEN_*``/``FLASK_*`` variables
(except ``ERLEN_TEST_PROTOCOL``) and no handler on the root logger. A page
must leave no application or request context pushed; its environment
variables, signal receivers, logging configuration and modules are undone
after it.
"""

from __future__ import annotations

import ast
import logging
import os
import re
import sys
import textwrap
import types
import weakref
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

import erlen
from erlen import signals

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))

_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>.*)$")
_TITLE = re.compile(r'title="(?P<title>[^"]+)"')
_NO_RUN = re.compile(r"^<!--\s*no-run:(?P<reason>.*?)-->$")


@dataclass
class Snippet:
    """One piece of a page: Python to run, or a file to write."""

    line: int  # 1-based line of the first line of code in the page
    code: str
    kind: str  # "run" (visible python), "hidden" (<!-- test -->), "file"
    path: str | None = None


def parse(page: Path) -> tuple[list[Snippet], list[tuple[int, str]]]:
    """The snippets of a page, in order, and the blocks skipped with reasons."""
    lines = page.read_text(encoding="utf-8").splitlines()
    snippets: list[Snippet] = []
    skipped: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped == "<!-- test":
            # Indented, the comment would end a Markdown list around it.
            assert lines[i] == stripped, f"{page.name}:{i + 1}: indented <!-- test"
            end = i + 1
            while end < len(lines) and lines[end].strip() != "-->":
                end += 1
            assert end < len(lines), f"{page.name}:{i + 1}: unclosed <!-- test"
            code = textwrap.dedent("\n".join(lines[i + 1 : end]))
            snippets.append(Snippet(i + 2, code, "hidden"))
            i = end + 1
            continue
        m = _FENCE.match(lines[i])
        if m is None:
            assert not stripped.startswith("<!-- no-run") or _NO_RUN.match(stripped), (
                f"{page.name}:{i + 1}: malformed no-run marker"
            )
            i += 1
            continue
        fence, info = m["fence"], m["info"]
        end = i + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(fence[0] * len(fence))
            and not lines[end].strip().strip(fence[0])
        ):
            end += 1
        assert end < len(lines), f"{page.name}:{i + 1}: unclosed code block"
        body = textwrap.dedent("\n".join(lines[i + 1 : end]))
        language = info.split()[0] if info.split() else ""
        previous = next(
            (lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()),
            "",
        )
        no_run = _NO_RUN.match(previous)
        title = _TITLE.search(info)
        if no_run is not None:
            reason = no_run["reason"].strip()
            assert reason, f"{page.name}:{i + 1}: no-run needs a reason"
            skipped.append((i + 1, reason))
        elif title is not None:
            snippets.append(Snippet(i + 2, body + "\n", "file", title["title"]))
        elif language in ("python", "py"):
            snippets.append(Snippet(i + 2, body, "run"))
        i = end + 1
    return snippets, skipped


class _Isolation:
    """Undo what a page's code did to the interpreter's global state."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = str(tmp)
        self.modules = set(sys.modules)
        self.receivers = {
            name: set(sig.receivers)
            for name, sig in vars(signals).items()
            if hasattr(sig, "receivers") and hasattr(sig, "connect")
        }
        manager = logging.root.manager
        self.loggers = {
            name: (lg.level, list(lg.handlers), lg.disabled, lg.propagate)
            for name, lg in manager.loggerDict.items()
            if isinstance(lg, logging.Logger)
        }
        self.root = (logging.root.level, list(logging.root.handlers))

    def restore(self) -> None:
        for name, before in self.receivers.items():
            sig = getattr(signals, name)
            for key in set(sig.receivers) - before:
                receiver = sig.receivers.get(key)
                if isinstance(receiver, weakref.ref):
                    receiver = receiver()
                if receiver is not None:
                    sig.disconnect(receiver)
        # Only the page's own modules: third-party ones it imported stay, so
        # no library is ever loaded twice.
        for name in set(sys.modules) - self.modules:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if name.startswith("docs_") or file.startswith(self.tmp):
                del sys.modules[name]
        for name, lg in logging.root.manager.loggerDict.items():
            if not isinstance(lg, logging.Logger):
                continue
            if name in self.loggers:
                lg.level, handlers, lg.disabled, lg.propagate = self.loggers[name]
                lg.handlers[:] = handlers
            else:
                lg.handlers.clear()
                lg.disabled = False
        logging.root.level, handlers = self.root
        logging.root.handlers[:] = handlers


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_page_code_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snippets, _skipped = parse(page)
    if not any(s.kind in ("run", "hidden") for s in snippets):
        return
    for key in list(os.environ):
        if key.startswith(("ERLEN_", "FLASK_", "BLOG_")) and key not in (
            "ERLEN_TEST_PROTOCOL",
        ):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = "docs_" + page.stem.replace("-", "_")
    module = types.ModuleType(name)
    module.__file__ = str(tmp_path / f"{name}.py")
    namespace = module.__dict__
    isolation = _Isolation(tmp_path)
    environ = dict(os.environ)
    # As in a fresh interpreter: pytest's capture handlers stay off the root.
    logging.root.handlers.clear()
    sys.modules[name] = module
    try:
        for snippet in snippets:
            if snippet.kind == "file":
                assert snippet.path is not None
                target = (tmp_path / snippet.path).resolve()
                assert target.is_relative_to(tmp_path.resolve()), snippet.path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(snippet.code, encoding="utf-8")
                continue
            tree = ast.parse(snippet.code, filename=str(page))
            ast.increment_lineno(tree, snippet.line - 1)
            code = compile(tree, str(page), "exec")
            exec(code, namespace)
        assert not erlen.has_request_context(), f"{page.name} left a request context"
        assert not erlen.has_app_context(), f"{page.name} left an app context"
    finally:
        isolation.restore()
        os.environ.clear()
        os.environ.update(environ)


def test_parse_follows_the_conventions(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n"
        "```python\nx = 1\n```\n\n"
        "<!-- no-run: starts a server that never returns -->\n\n"
        "```python\napp.run()\n```\n\n"
        '```html+jinja title="templates/a.html"\n{{ x }}\n```\n\n'
        "<!-- test\nassert x == 1\n-->\n\n"
        "```console\n$ erlen run\n```\n\n"
        "- item\n\n  ```python\n  y = 2\n  ```\n",
        encoding="utf-8",
    )
    snippets, skipped = parse(page)
    assert [(s.kind, s.code, s.path) for s in snippets] == [
        ("run", "x = 1", None),
        ("file", "{{ x }}\n", "templates/a.html"),
        ("hidden", "assert x == 1", None),
        ("run", "y = 2", None),
    ]
    assert [s.line for s in snippets] == [4, 14, 18, 28]
    assert skipped == [(9, "starts a server that never returns")]

    page.write_text("<!-- no-run: -->\n```python\nx\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="no-run needs a reason"):
        parse(page)
    page.write_text("- a\n\n  <!-- test\n  x\n  -->\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="indented <!-- test"):
        parse(page)
    page.write_text("```python\nx = 1\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="unclosed code block"):
        parse(page)


def test_no_run_is_rare() -> None:
    """Skipped blocks carry a reason, and they are the exception."""
    total = skipped = 0
    for page in PAGES:
        snippets, skips = parse(page)
        total += sum(s.kind == "run" for s in snippets) + len(skips)
        skipped += len(skips)
        for line, reason in skips:
            assert len(reason) > 10, f"{page.name}:{line}: say why it cannot run"
    assert total > 50
    assert skipped * 10 <= total, f"{skipped} of {total} python blocks skipped"


def test_configuration_guide_lists_every_builtin_key() -> None:
    """The table has a row per key of ``Erlen.default_config``, whose default
    cell is that default, written as Python."""
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 3:
            rows[cells[0].strip("`")] = cells[1].strip("`")
    for key, value in erlen.Erlen.default_config.items():
        assert key in rows, f"configuration.md does not document {key}"
        documented = eval(rows[key], {"timedelta": timedelta})
        assert documented == value, f"{key}: documented {rows[key]}, is {value!r}"


def test_signals_guide_lists_every_signal() -> None:
    text = (DOCS / "signals.md").read_text(encoding="utf-8")
    names = [
        n
        for n, v in vars(signals).items()
        if not n.startswith("_") and hasattr(v, "connect")
    ]
    assert len(names) >= 10
    for n in names:
        assert f"`{n}`" in text, f"signals.md does not document {n}"


def test_api_reference_covers_every_public_module() -> None:
    """Each module of src/erlen that users import has a page under docs/api."""
    api = "\n".join(p.read_text(encoding="utf-8") for p in (DOCS / "api").glob("*.md"))
    for module in (
        "app",
        "blueprints",
        "wrappers",
        "ctx",
        "globals",
        "helpers",
        "templating",
        "sessions",
        "config",
        "json",
        "testing",
        "views",
        "signals",
        "cli",
        "logging",
        "asgi",
        "uploads",
    ):
        assert f"::: erlen.{module}" in api, module
