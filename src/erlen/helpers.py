"""Helpers used inside views: ``url_for``, ``redirect``, ``abort``, ``flash``,
``send_file`` and friends."""

from __future__ import annotations

import importlib.util
import os
import sys
import typing as t
from datetime import datetime
from functools import update_wrapper

import werkzeug.security
import werkzeug.utils
from werkzeug.exceptions import NotFound
from werkzeug.exceptions import abort as _wz_abort
from werkzeug.utils import redirect as _wz_redirect
from werkzeug.wrappers import Response as BaseResponse

from .globals import _cv_app, _cv_request, current_app, request, request_ctx, session
from .signals import message_flashed
from .wrappers import _split_blueprint_path

if t.TYPE_CHECKING:
    from .wrappers import Response

__all__ = [
    "_split_blueprint_path",
    "abort",
    "flash",
    "get_debug_flag",
    "get_flashed_messages",
    "get_load_dotenv",
    "get_root_path",
    "get_template_attribute",
    "make_response",
    "redirect",
    "send_file",
    "send_from_directory",
    "stream_with_context",
    "url_for",
]


def _flask_patched() -> bool:
    """Whether ``erlen.flask_patch`` made ``flask`` mean erlen.

    Then erlen answers to Flask's names where they are visible: the
    environment variables the CLI sets, ``repr(g)``.
    """
    flask = sys.modules.get("flask")
    if flask is None:
        return False
    from .app import Erlen

    return getattr(flask, "Flask", None) is Erlen


def _env_name(name: str) -> str:
    """``ERLEN_<name>``, or ``FLASK_<name>`` under ``erlen.flask_patch``."""
    return f"FLASK_{name}" if _flask_patched() else f"ERLEN_{name}"


def _env(name: str) -> str | None:
    """``ERLEN_<name>``, falling back to ``FLASK_<name>`` for migration."""
    value = os.environ.get(f"ERLEN_{name}")
    if value is None:
        value = os.environ.get(f"FLASK_{name}")
    return value


def get_debug_flag() -> bool:
    """Whether ``ERLEN_DEBUG`` (or ``FLASK_DEBUG``) asks for debug mode."""
    val = _env("DEBUG")
    return bool(val and val.lower() not in {"0", "false", "no"})


def get_load_dotenv(default: bool = True) -> bool:
    """Whether dotenv files should be loaded: not if ``ERLEN_SKIP_DOTENV`` is set."""
    val = _env("SKIP_DOTENV")
    if not val:
        return default
    return val.lower() in ("0", "false", "no")


@t.overload
def stream_with_context(
    generator_or_function: t.Iterator[t.AnyStr],
) -> t.Iterator[t.AnyStr]: ...


@t.overload
def stream_with_context(
    generator_or_function: t.Callable[..., t.Iterator[t.AnyStr]],
) -> t.Callable[[t.Iterator[t.AnyStr]], t.Iterator[t.AnyStr]]: ...


def stream_with_context(
    generator_or_function: t.Iterator[t.AnyStr] | t.Callable[..., t.Iterator[t.AnyStr]],
) -> t.Iterator[t.AnyStr] | t.Callable[[t.Iterator[t.AnyStr]], t.Iterator[t.AnyStr]]:
    """Keep the request context active while a streamed response is generated.

    Wrap a generator, or decorate a generator function.
    """
    try:
        gen = iter(generator_or_function)  # type: ignore[arg-type]
    except TypeError:
        func = t.cast(t.Callable[..., t.Iterator[t.AnyStr]], generator_or_function)

        def decorator(*args: t.Any, **kwargs: t.Any) -> t.Any:
            return stream_with_context(func(*args, **kwargs))

        return update_wrapper(decorator, func)

    def generator() -> t.Iterator[t.AnyStr]:
        req_ctx = _cv_request.get(None)
        if req_ctx is None:
            raise RuntimeError(
                "'stream_with_context' can only be used when a request"
                " context is active, such as in a view function."
            )
        app_ctx = _cv_app.get()
        # Stop here on the priming ``next`` below; the contexts are pushed
        # only once iteration really starts (possibly in another task).
        yield None  # type: ignore[misc]
        with app_ctx, req_ctx:
            try:
                yield from gen
            finally:
                close = getattr(gen, "close", None)
                if close is not None:
                    close()

    wrapped = generator()
    next(wrapped)
    return wrapped


def make_response(*args: t.Any) -> Response:
    """Turn a view's return value into a response object, to add headers.

    Takes the same values a view can return: no argument gives an empty
    response, several arguments are treated as a tuple.
    """
    if not args:
        return current_app.response_class()
    if len(args) == 1:
        args = args[0]
    return current_app.make_response(args)


def url_for(
    endpoint: str,
    /,
    *,
    _anchor: str | None = None,
    _method: str | None = None,
    _scheme: str | None = None,
    _external: bool | None = None,
    **values: t.Any,
) -> str:
    """Build the URL for ``endpoint`` with ``values``; see :meth:`Erlen.url_for`."""
    # PERF: the app straight from the context variable; the current_app proxy
    # costs more than building the URL (it still raises outside a context).
    app_ctx = _cv_app.get(None)
    app = current_app if app_ctx is None else app_ctx.app
    if _anchor is None and _method is None and _scheme is None and _external is None:
        # PERF: the options are keyword-only, so only values are left.
        return app.url_for(endpoint, **values)
    return app.url_for(
        endpoint,
        _anchor=_anchor,
        _method=_method,
        _scheme=_scheme,
        _external=_external,
        **values,
    )


def redirect(
    location: str, code: int = 302, Response: type[BaseResponse] | None = None
) -> BaseResponse:
    """A redirect response to ``location`` (302 unless ``code`` says otherwise).

    Relative locations stay relative. To redirect only to this site, check the
    target first (see docs/security.md).
    """
    app_ctx = _cv_app.get(None)
    if app_ctx is not None:
        return app_ctx.app.redirect(location, code=code)
    return _wz_redirect(location, code=code, Response=Response)


def abort(code: int | BaseResponse, *args: t.Any, **kwargs: t.Any) -> t.NoReturn:
    """Raise the :class:`~werkzeug.exceptions.HTTPException` for ``code``.

    Passing a response object raises it as is.
    """
    app_ctx = _cv_app.get(None)
    if app_ctx is not None:
        app_ctx.app.aborter(code, *args, **kwargs)
    _wz_abort(code, *args, **kwargs)


def get_template_attribute(template_name: str, attribute: str) -> t.Any:
    """A macro or variable exported by a template, to call from Python."""
    return getattr(current_app.jinja_env.get_template(template_name).module, attribute)


def flash(message: str, category: str = "message") -> None:
    """Store a message in the session, shown by ``get_flashed_messages`` on a
    later request. Needs a working session (a secret key)."""
    flashes = session.get("_flashes", [])
    flashes.append((category, message))
    session["_flashes"] = flashes
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if message_flashed.receivers:
        message_flashed.send(
            app, _async_wrapper=app.ensure_sync, message=message, category=category
        )


def get_flashed_messages(
    with_categories: bool = False, category_filter: t.Iterable[str] = ()
) -> list[str] | list[tuple[str, str]]:
    """Pop the flashed messages from the session (once per request).

    With ``with_categories`` the items are ``(category, message)`` tuples;
    ``category_filter`` keeps only those categories.
    """
    flashes = request_ctx.flashes
    if flashes is None:
        flashes = session.pop("_flashes") if "_flashes" in session else []
        request_ctx.flashes = flashes
    if category_filter:
        wanted = set(category_filter)
        flashes = [f for f in flashes if f[0] in wanted]
    if not with_categories:
        return [message for _, message in flashes]
    return flashes


def _prepare_send_file_kwargs(**kwargs: t.Any) -> dict[str, t.Any]:
    if kwargs.get("max_age") is None:
        kwargs["max_age"] = current_app.get_send_file_max_age
    kwargs.update(
        environ=request.environ,
        use_x_sendfile=current_app.config["USE_X_SENDFILE"],
        response_class=current_app.response_class,
        _root_path=current_app.root_path,
    )
    return kwargs


def send_file(
    path_or_file: os.PathLike[t.AnyStr] | str | t.IO[bytes],
    mimetype: str | None = None,
    as_attachment: bool = False,
    download_name: str | None = None,
    conditional: bool = True,
    etag: bool | str = True,
    last_modified: datetime | int | float | None = None,
    max_age: int | t.Callable[[str | None], int | None] | None = None,
) -> Response:
    """Send a file or file object, with conditional and range support.

    Relative paths are relative to the app's ``root_path``. Never pass a path
    from the user; use :func:`send_from_directory` for that.
    """
    return werkzeug.utils.send_file(  # type: ignore[return-value]
        **_prepare_send_file_kwargs(
            path_or_file=path_or_file,
            mimetype=mimetype,
            as_attachment=as_attachment,
            download_name=download_name,
            conditional=conditional,
            etag=etag,
            last_modified=last_modified,
            max_age=max_age,
        )
    )


def send_from_directory(
    directory: os.PathLike[str] | str,
    path: os.PathLike[str] | str,
    **kwargs: t.Any,
) -> Response:
    """Send ``path`` from inside ``directory``; anything outside it is a 404.

    Werkzeug's ``safe_join`` already refuses ``..``, absolute paths and
    backslash tricks; erlen also refuses a symbolic link that leads out of
    ``directory`` (Flask would follow it).
    """
    kwargs = _prepare_send_file_kwargs(**kwargs)
    base = os.path.join(kwargs["_root_path"], os.fspath(directory))
    joined = werkzeug.security.safe_join(base, os.fspath(path))
    if joined is not None:
        real_base = os.path.realpath(base)
        if os.path.commonpath([real_base, os.path.realpath(joined)]) != real_base:
            raise NotFound()
    return werkzeug.utils.send_from_directory(  # type: ignore[return-value]
        directory, path, **kwargs
    )


def get_root_path(import_name: str) -> str:
    """The folder of a package, or the folder containing a module.

    The current working directory when it can't be found (e.g. ``__main__``
    in an interactive session).
    """
    mod = sys.modules.get(import_name)
    if mod is not None and getattr(mod, "__file__", None) is not None:
        return os.path.dirname(os.path.abspath(t.cast(str, mod.__file__)))
    try:
        spec = importlib.util.find_spec(import_name)
        if spec is None:
            raise ValueError
    except (ImportError, ValueError):
        loader = None
    else:
        loader = spec.loader
    if loader is None:
        return os.getcwd()
    if hasattr(loader, "get_filename"):
        filepath = loader.get_filename(import_name)
    else:
        __import__(import_name)
        filepath = getattr(sys.modules[import_name], "__file__", None)
        if filepath is None:
            raise RuntimeError(
                "No root path can be found for the provided module"
                f" {import_name!r}. This can happen because the module"
                " came from an import hook that does not provide file"
                " name information or because it's a namespace package."
                " In this case the root path needs to be explicitly"
                " provided."
            )
    return os.path.dirname(os.path.abspath(t.cast(str, filepath)))
