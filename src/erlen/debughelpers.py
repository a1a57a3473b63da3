"""Exceptions and log output that explain common mistakes in debug mode."""

from __future__ import annotations

import typing as t

from jinja2.loaders import BaseLoader
from werkzeug.routing import RequestRedirect

from .globals import _cv_request

if t.TYPE_CHECKING:
    from .app import Erlen
    from .scaffold import Scaffold
    from .wrappers import Request


class UnexpectedUnicodeError(AssertionError, UnicodeError):
    """Raised where unexpected text or binary data deserves a clearer error."""


class DebugFilesKeyError(KeyError, AssertionError):
    """Raised in debug mode by ``request.files[key]`` when the key is missing
    because the form was not sent as ``multipart/form-data``."""

    def __init__(self, request: Request, key: str) -> None:
        form_matches = request.form.getlist(key)
        msg = (
            f"You tried to access the file {key!r} in the request.files"
            " dictionary but it does not exist. The mimetype for the"
            f" request is {request.mimetype!r} instead of"
            " 'multipart/form-data' which means that no file contents"
            " were transmitted. To fix this error you should provide"
            ' enctype="multipart/form-data" in your form.'
        )
        if form_matches:
            names = ", ".join(repr(x) for x in form_matches)
            msg += (
                "\n\nThe browser instead transmitted some file names. "
                f"This was submitted: {names}"
            )
        self.msg = msg

    def __str__(self) -> str:
        return self.msg


class FormDataRoutingRedirect(AssertionError):
    """Raised in debug mode when a routing redirect would make the browser
    drop the request body: the method is not GET, HEAD or OPTIONS and the
    redirect is not 307 or 308."""

    def __init__(self, request: Request) -> None:
        exc = request.routing_exception
        assert isinstance(exc, RequestRedirect)
        msg = (
            f"A request was sent to '{request.url}', but routing issued"
            f" a redirect to the canonical URL '{exc.new_url}'."
        )
        if f"{request.base_url}/" == exc.new_url.partition("?")[0]:
            msg += (
                " The URL was defined with a trailing slash. Flask"
                " will redirect to the URL with a trailing slash if it"
                " was accessed without one."
            )
        msg += (
            " Send requests to the canonical URL, or use 307 or 308 for"
            " routing redirects. Otherwise, browsers will drop form"
            " data.\n\n"
            "This exception is only raised in debug mode."
        )
        super().__init__(msg)


def attach_enctype_error_multidict(request: Request) -> None:
    """Make ``request.files[key]`` raise :exc:`DebugFilesKeyError` when
    ``key`` was sent as an ordinary form field.

    :meta private:
    """
    files = request.files
    base = files.__class__

    class DebugFiles(base):  # type: ignore[valid-type, misc]
        def __getitem__(self, key: str) -> t.Any:
            try:
                return super().__getitem__(key)
            except KeyError as e:
                if key not in request.form:
                    raise
                raise DebugFilesKeyError(request, key).with_traceback(
                    e.__traceback__
                ) from None

    # Keep the class looking like the original in reprs and error messages.
    DebugFiles.__name__ = base.__name__
    DebugFiles.__qualname__ = base.__qualname__
    DebugFiles.__module__ = base.__module__
    files.__class__ = DebugFiles


def _dump_loader_info(loader: BaseLoader) -> t.Iterator[str]:
    yield f"class: {type(loader).__module__}.{type(loader).__name__}"
    for key, value in sorted(loader.__dict__.items()):
        if key.startswith("_"):
            continue
        if isinstance(value, (tuple, list)):
            if all(isinstance(x, str) for x in value):
                yield f"{key}:"
                for item in value:
                    yield f"  - {item}"
        elif isinstance(value, (str, int, float, bool)):
            yield f"{key}: {value!r}"


def explain_template_loading_attempts(
    app: Erlen,
    template: str,
    attempts: list[
        tuple[
            BaseLoader,
            Scaffold,
            tuple[str, str | None, t.Callable[[], bool] | None] | None,
        ]
    ],
) -> None:
    """Log (at INFO, on ``app.logger``) every loader tried for ``template``
    and what it found, with hints when nothing or several matched. Used when
    ``EXPLAIN_TEMPLATE_LOADING`` is on."""
    from .app import Erlen
    from .blueprints import Blueprint

    info = [f"Locating template {template!r}:"]
    total_found = 0
    blueprint = None
    ctx = _cv_request.get(None)
    if ctx is not None:
        blueprint = ctx.request.blueprint

    for idx, (loader, srcobj, triple) in enumerate(attempts):
        if isinstance(srcobj, Erlen):
            src_info = f"application {srcobj.import_name!r}"
        elif isinstance(srcobj, Blueprint):
            src_info = f"blueprint {srcobj.name!r} ({srcobj.import_name})"
        else:
            src_info = repr(srcobj)
        info.append(f"{idx + 1:5}: trying loader of {src_info}")
        info.extend(f"       {line}" for line in _dump_loader_info(loader))
        if triple is None:
            detail = "no match"
        else:
            detail = f"found ({triple[1] or '<string>'!r})"
            total_found += 1
        info.append(f"       -> {detail}")

    seems_fishy = False
    if total_found == 0:
        info.append("Error: the template could not be found.")
        seems_fishy = True
    elif total_found > 1:
        info.append("Warning: multiple loaders returned a match for the template.")
        seems_fishy = True

    if blueprint is not None and seems_fishy:
        info.append(
            "  The template was looked up from an endpoint that belongs"
            f" to the blueprint {blueprint!r}."
        )
        info.append("  Maybe you did not place a template in the right folder?")
        info.append("  See https://flask.palletsprojects.com/blueprints/#templates")

    app.logger.info("\n".join(info))
