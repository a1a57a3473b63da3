"""Registration shared by the application and blueprints.

Routes, hooks, error handlers, URL processors, static and template folders are
written once here; :class:`~erlen.app.Erlen` and :class:`~erlen.blueprints.Blueprint`
both inherit it.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
import typing as t
import weakref
from collections import defaultdict
from functools import cached_property, update_wrapper
from inspect import iscoroutinefunction

from jinja2 import BaseLoader, FileSystemLoader
from werkzeug.exceptions import HTTPException, default_exceptions

from . import typing as ft
from .cli import AppGroup
from .helpers import get_root_path
from .templating import _default_template_ctx_processor

if t.TYPE_CHECKING:
    from click import Group

    from .wrappers import Response

_sentinel = object()

F = t.TypeVar("F", bound=t.Callable[..., t.Any])
T_after_request = t.TypeVar("T_after_request", bound=ft.AfterRequestCallable[t.Any])
T_before_request = t.TypeVar("T_before_request", bound=ft.BeforeRequestCallable)
T_error_handler = t.TypeVar("T_error_handler", bound=ft.ErrorHandlerCallable)
T_teardown = t.TypeVar("T_teardown", bound=ft.TeardownCallable)
T_template_context_processor = t.TypeVar(
    "T_template_context_processor", bound=ft.TemplateContextProcessorCallable
)
T_url_defaults = t.TypeVar("T_url_defaults", bound=ft.URLDefaultCallable)
T_url_value_preprocessor = t.TypeVar(
    "T_url_value_preprocessor", bound=ft.URLValuePreprocessorCallable
)
T_route = t.TypeVar("T_route", bound=ft.RouteCallable)
T_websocket = t.TypeVar("T_websocket", bound=t.Callable[..., t.Awaitable[t.Any]])
T_before_websocket = t.TypeVar("T_before_websocket", bound=t.Callable[[], t.Any])
T_after_websocket = t.TypeVar("T_after_websocket", bound=t.Callable[[t.Any], t.Any])


def setupmethod(f: F) -> F:
    """Mark a registration method: it refuses to run once setup is finished.

    On the app that means after the first request; on a blueprint, after it
    was registered.
    """
    f_name = f.__name__

    def wrapper_func(self: Scaffold, *args: t.Any, **kwargs: t.Any) -> t.Any:
        self._check_setup_finished(f_name)
        return f(self, *args, **kwargs)

    return t.cast(F, update_wrapper(wrapper_func, f))


def _notifier(owner: Scaffold) -> t.Callable[[], None]:
    """Call ``owner._hooks_changed()``, holding the owner weakly: a bound
    method would make a reference cycle that keeps an app alive."""
    ref = weakref.ref(owner)

    def changed() -> None:
        target = ref()
        if target is not None:
            target._hooks_changed()

    return changed


class _HookList(list[t.Any]):
    """A list of hook functions that reports every change to its owner."""

    __slots__ = ("_changed",)

    def __init__(
        self, changed: t.Callable[[], None], items: t.Iterable[t.Any] = ()
    ) -> None:
        super().__init__(items)
        self._changed = changed

    def append(self, item: t.Any) -> None:
        super().append(item)
        self._changed()

    def extend(self, items: t.Iterable[t.Any]) -> None:
        super().extend(items)
        self._changed()

    def insert(self, index: t.SupportsIndex, item: t.Any) -> None:
        super().insert(index, item)
        self._changed()

    def remove(self, item: t.Any) -> None:
        super().remove(item)
        self._changed()

    def pop(self, index: t.SupportsIndex = -1) -> t.Any:
        item = super().pop(index)
        self._changed()
        return item

    def clear(self) -> None:
        super().clear()
        self._changed()

    def sort(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().sort(*args, **kwargs)
        self._changed()

    def reverse(self) -> None:
        super().reverse()
        self._changed()

    def __setitem__(self, index: t.Any, value: t.Any) -> None:
        super().__setitem__(index, value)
        self._changed()

    def __delitem__(self, index: t.Any) -> None:
        super().__delitem__(index)
        self._changed()

    def __iadd__(self, items: t.Iterable[t.Any]) -> _HookList:  # type: ignore[misc]
        super().__iadd__(items)
        self._changed()
        return self


class _HookRegistry(dict[ft.AppOrBlueprintKey, list[t.Any]]):
    """Hook functions by scope (``None`` or a blueprint name).

    Flask reads these per request, and extensions change them directly (e.g.
    Flask-Caching appends to ``after_request_funcs[None]`` from inside a view).
    erlen plans the hooks per endpoint instead, so any change, to the dict or
    to one of its lists, calls ``changed`` to drop those plans.
    """

    __slots__ = ("_changed",)

    def __init__(
        self,
        changed: t.Callable[[], None],
        initial: dict[ft.AppOrBlueprintKey, list[t.Any]] | None = None,
    ) -> None:
        super().__init__()
        self._changed = changed
        for key, funcs in (initial or {}).items():
            dict.__setitem__(self, key, _HookList(changed, funcs))

    def __missing__(self, key: ft.AppOrBlueprintKey) -> list[t.Any]:
        funcs = _HookList(self._changed)
        dict.__setitem__(self, key, funcs)
        return funcs

    def __setitem__(self, key: ft.AppOrBlueprintKey, funcs: list[t.Any]) -> None:
        if not isinstance(funcs, _HookList):
            funcs = _HookList(self._changed, funcs)
        super().__setitem__(key, funcs)
        self._changed()

    def __delitem__(self, key: ft.AppOrBlueprintKey) -> None:
        super().__delitem__(key)
        self._changed()

    def setdefault(
        self, key: ft.AppOrBlueprintKey, default: list[t.Any] | None = None
    ) -> list[t.Any]:
        if key not in self:
            self[key] = [] if default is None else default
        return self[key]

    def update(self, *args: t.Any, **kwargs: t.Any) -> None:
        for key, funcs in dict(*args, **kwargs).items():
            self[key] = funcs

    def pop(self, key: ft.AppOrBlueprintKey, *default: t.Any) -> t.Any:
        value = super().pop(key, *default)
        self._changed()
        return value

    def clear(self) -> None:
        super().clear()
        self._changed()


class Scaffold:
    """The common base of :class:`~erlen.Erlen` and :class:`~erlen.Blueprint`.

    :param import_name: The import name of the module defining the object,
        usually ``__name__``. Used to find the root path.
    :param static_folder: Folder of static files, relative to ``root_path``.
    :param static_url_path: URL prefix for the static route.
    :param template_folder: Folder of templates, relative to ``root_path``.
    :param root_path: The folder other paths are relative to; found from
        ``import_name`` when not given.
    """

    cli: Group
    name: str
    _static_folder: str | None = None
    _static_url_path: str | None = None

    def __init__(
        self,
        import_name: str,
        static_folder: str | os.PathLike[str] | None = None,
        static_url_path: str | None = None,
        template_folder: str | os.PathLike[str] | None = None,
        root_path: str | None = None,
    ) -> None:
        self.import_name = import_name
        self.static_folder = static_folder
        self.static_url_path = static_url_path
        self.template_folder = template_folder
        if root_path is None:
            root_path = get_root_path(self.import_name)
        self.root_path = root_path
        self.cli = AppGroup()
        self.view_functions: dict[str, ft.RouteCallable] = {}
        #: ``{scope: {code or None: {exception class: handler}}}``; scope is
        #: ``None`` for the app, else a blueprint name.
        self.error_handler_spec: dict[
            ft.AppOrBlueprintKey,
            dict[int | None, dict[type[Exception], ft.ErrorHandlerCallable]],
        ] = defaultdict(lambda: defaultdict(dict))
        changed = _notifier(self)
        self.before_request_funcs: dict[
            ft.AppOrBlueprintKey, list[ft.BeforeRequestCallable]
        ] = _HookRegistry(changed)
        self.after_request_funcs: dict[
            ft.AppOrBlueprintKey, list[ft.AfterRequestCallable[t.Any]]
        ] = _HookRegistry(changed)
        self.teardown_request_funcs: dict[
            ft.AppOrBlueprintKey, list[ft.TeardownCallable]
        ] = _HookRegistry(changed)
        self.template_context_processors: dict[
            ft.AppOrBlueprintKey, list[ft.TemplateContextProcessorCallable]
        ] = defaultdict(list, {None: [_default_template_ctx_processor]})
        self.url_value_preprocessors: dict[
            ft.AppOrBlueprintKey, list[ft.URLValuePreprocessorCallable]
        ] = _HookRegistry(changed)
        #: Functions run before and after each websocket handler, by scope.
        self.before_websocket_funcs: dict[
            ft.AppOrBlueprintKey, list[t.Callable[[], t.Any]]
        ] = _HookRegistry(changed)
        self.after_websocket_funcs: dict[
            ft.AppOrBlueprintKey, list[t.Callable[[t.Any], t.Any]]
        ] = _HookRegistry(changed)
        self.url_default_functions: dict[
            ft.AppOrBlueprintKey, list[ft.URLDefaultCallable]
        ] = defaultdict(list)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def _check_setup_finished(self, f_name: str) -> None:
        raise NotImplementedError

    def _hooks_changed(self) -> None:
        """Called when a request hook registry changes; the app re-plans."""

    # -- static files and templates ---------------------------------------

    @property
    def static_folder(self) -> str | None:
        """The absolute path of the static folder, or ``None``."""
        if self._static_folder is not None:
            return os.path.join(self.root_path, self._static_folder)
        return None

    @static_folder.setter
    def static_folder(self, value: str | os.PathLike[str] | None) -> None:
        if value is not None:
            value = os.fspath(value).rstrip(r"\/")
        self._static_folder = value

    @property
    def has_static_folder(self) -> bool:
        """Whether a static folder is configured."""
        return self.static_folder is not None

    @property
    def static_url_path(self) -> str | None:
        """The URL prefix of the static route; defaults to the folder's name."""
        if self._static_url_path is not None:
            return self._static_url_path
        if self.static_folder is not None:
            basename = os.path.basename(self.static_folder)
            return f"/{basename}".rstrip("/")
        return None

    @static_url_path.setter
    def static_url_path(self, value: str | None) -> None:
        if value is not None:
            value = value.rstrip("/")
        self._static_url_path = value

    def get_send_file_max_age(self, filename: str | None) -> int | None:
        """Cache max age for a static file: ``SEND_FILE_MAX_AGE_DEFAULT``.

        Override to choose per file. ``None`` means conditional requests only.
        """
        from .globals import current_app

        value = current_app.config["SEND_FILE_MAX_AGE_DEFAULT"]
        if value is None:
            return None
        if hasattr(value, "total_seconds"):
            return int(value.total_seconds())
        return int(value)

    def send_static_file(self, filename: str) -> Response:
        """The view behind the static route: serve ``filename`` safely."""
        if not self.has_static_folder:
            raise RuntimeError("'static_folder' must be set to serve static_files.")
        from .helpers import send_from_directory

        max_age = self.get_send_file_max_age(filename)
        return send_from_directory(
            t.cast(str, self.static_folder), filename, max_age=max_age
        )

    @cached_property
    def jinja_loader(self) -> BaseLoader | None:
        """A filesystem loader for ``template_folder``, if one is set."""
        if self.template_folder is not None:
            return FileSystemLoader(os.path.join(self.root_path, self.template_folder))
        return None

    def open_resource(
        self, resource: str, mode: str = "rb", encoding: str | None = None
    ) -> t.IO[t.AnyStr]:
        """Open a file relative to ``root_path`` for reading."""
        if mode not in {"r", "rt", "rb"}:
            raise ValueError("Resources can only be opened for reading.")
        path = os.path.join(self.root_path, resource)
        if mode == "rb":
            return open(path, mode)
        return open(path, mode, encoding=encoding)

    # -- routing -----------------------------------------------------------

    def _method_route(
        self, method: str, rule: str, options: dict[str, t.Any]
    ) -> t.Callable[[T_route], T_route]:
        if "methods" in options:
            raise TypeError("Use the 'route' decorator to use the 'methods' argument.")
        return self.route(rule, methods=[method], **options)

    @setupmethod
    def get(self, rule: str, **options: t.Any) -> t.Callable[[T_route], T_route]:
        """``route(rule, methods=["GET"])``."""
        return self._method_route("GET", rule, options)

    @setupmethod
    def post(self, rule: str, **options: t.Any) -> t.Callable[[T_route], T_route]:
        """``route(rule, methods=["POST"])``."""
        return self._method_route("POST", rule, options)

    @setupmethod
    def put(self, rule: str, **options: t.Any) -> t.Callable[[T_route], T_route]:
        """``route(rule, methods=["PUT"])``."""
        return self._method_route("PUT", rule, options)

    @setupmethod
    def delete(self, rule: str, **options: t.Any) -> t.Callable[[T_route], T_route]:
        """``route(rule, methods=["DELETE"])``."""
        return self._method_route("DELETE", rule, options)

    @setupmethod
    def patch(self, rule: str, **options: t.Any) -> t.Callable[[T_route], T_route]:
        """``route(rule, methods=["PATCH"])``."""
        return self._method_route("PATCH", rule, options)

    @setupmethod
    def route(self, rule: str, **options: t.Any) -> t.Callable[[T_route], T_route]:
        """Decorate a view function to register it for ``rule``.

        ``endpoint`` defaults to the function's name; other options (``methods``,
        ``defaults``, ``strict_slashes``, ...) go to the Werkzeug ``Rule``.
        """

        def decorator(f: T_route) -> T_route:
            endpoint = options.pop("endpoint", None)
            self.add_url_rule(rule, endpoint, f, **options)
            return f

        return decorator

    @setupmethod
    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: ft.RouteCallable | None = None,
        provide_automatic_options: bool | None = None,
        **options: t.Any,
    ) -> None:
        """Register a rule; see :meth:`erlen.Erlen.add_url_rule`."""
        raise NotImplementedError

    @setupmethod
    def websocket(
        self, rule: str, **options: t.Any
    ) -> t.Callable[[T_websocket], T_websocket]:
        """Decorate an ``async def`` handler to serve websocket connections to
        ``rule`` (Quart's spelling): a Werkzeug rule with ``websocket=True``,
        matched on ``ws``/``wss`` connections only. In the handler, the
        ``websocket`` proxy sends and receives; ``request``, ``session``,
        ``g`` and ``url_for`` work as in a view. ``endpoint`` and the other
        options are those of :meth:`route`. Served over ASGI only: over
        WSGI the route answers 400."""

        def decorator(f: T_websocket) -> T_websocket:
            endpoint = options.pop("endpoint", None)
            self.add_websocket(rule, endpoint, f, **options)
            return f

        return decorator

    @setupmethod
    def add_websocket(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: t.Callable[..., t.Awaitable[t.Any]] | None = None,
        **options: t.Any,
    ) -> None:
        """Non-decorator form of :meth:`websocket`.

        Handlers must be coroutine functions (``async def``): a websocket
        lives as long as its connection, which a worker thread per client
        would pay for. A plain function raises ``TypeError`` here."""
        if view_func is not None and not iscoroutinefunction(view_func):
            name = getattr(view_func, "__name__", repr(view_func))
            raise TypeError(
                f"The websocket handler {name!r} must be an 'async def'"
                " function: websocket handlers send and receive with"
                " 'await websocket.send(...)' and 'await websocket.receive()'."
            )
        if "methods" in options:
            raise TypeError("A websocket rule takes no 'methods': it is always GET.")
        self.add_url_rule(
            rule,
            endpoint,
            view_func,
            provide_automatic_options=False,
            methods=["GET"],
            websocket=True,
            **options,
        )

    @setupmethod
    def endpoint(self, endpoint: str) -> t.Callable[[F], F]:
        """Register the decorated function as the view for ``endpoint``."""

        def decorator(f: F) -> F:
            self.view_functions[endpoint] = f
            return f

        return decorator

    # -- request hooks -----------------------------------------------------

    @setupmethod
    def before_request(self, f: T_before_request) -> T_before_request:
        """Run ``f()`` before each request; a non-``None`` return value is used
        as the response and the view is skipped."""
        self.before_request_funcs.setdefault(None, []).append(f)
        return f

    @setupmethod
    def after_request(self, f: T_after_request) -> T_after_request:
        """Run ``f(response)`` after each request; it returns the response.

        Not called when an unhandled exception occurred.
        """
        self.after_request_funcs.setdefault(None, []).append(f)
        return f

    @setupmethod
    def teardown_request(self, f: T_teardown) -> T_teardown:
        """Run ``f(error)`` when the request context is popped, always."""
        self.teardown_request_funcs.setdefault(None, []).append(f)
        return f

    @setupmethod
    def before_websocket(self, f: T_before_websocket) -> T_before_websocket:
        """Run ``f()`` before each websocket handler (``request`` and
        ``websocket`` are the handshake's); a non-``None`` return value
        refuses the handshake with that response, unless ``f`` accepted it.
        ``before_request`` functions do not run for websockets."""
        self.before_websocket_funcs.setdefault(None, []).append(f)
        return f

    @setupmethod
    def after_websocket(self, f: T_after_websocket) -> T_after_websocket:
        """Run ``f(response)`` after each websocket handler. ``response`` is
        the response the handler (or an error handler) produced — before
        accepting, the handshake's refusal — or ``None`` when there is none;
        ``f`` returns it (or a replacement). ``after_request`` functions do
        not run for websockets; ``teardown_request`` functions do."""
        self.after_websocket_funcs.setdefault(None, []).append(f)
        return f

    @setupmethod
    def context_processor(
        self, f: T_template_context_processor
    ) -> T_template_context_processor:
        """Register a function returning extra template context values."""
        self.template_context_processors[None].append(f)
        return f

    @setupmethod
    def url_value_preprocessor(
        self, f: T_url_value_preprocessor
    ) -> T_url_value_preprocessor:
        """Run ``f(endpoint, values)`` before the view to pop or change values."""
        self.url_value_preprocessors[None].append(f)
        return f

    @setupmethod
    def url_defaults(self, f: T_url_defaults) -> T_url_defaults:
        """Run ``f(endpoint, values)`` on ``url_for`` values to fill defaults."""
        self.url_default_functions[None].append(f)
        return f

    # -- errors --------------------------------------------------------------

    @setupmethod
    def errorhandler(
        self, code_or_exception: type[Exception] | int
    ) -> t.Callable[[T_error_handler], T_error_handler]:
        """Register a handler for an HTTP status code or an exception class."""

        def decorator(f: T_error_handler) -> T_error_handler:
            self.register_error_handler(code_or_exception, f)
            return f

        return decorator

    @setupmethod
    def register_error_handler(
        self,
        code_or_exception: type[Exception] | int,
        f: ft.ErrorHandlerCallable,
    ) -> None:
        """Non-decorator form of :meth:`errorhandler`."""
        exc_class, code = self._get_exc_class_and_code(code_or_exception)
        self.error_handler_spec[None][code][exc_class] = f

    @staticmethod
    def _get_exc_class_and_code(
        exc_class_or_code: type[Exception] | int,
    ) -> tuple[type[Exception], int | None]:
        """The exception class and, for HTTP errors, its status code."""
        exc_class: type[Exception]
        if isinstance(exc_class_or_code, int):
            try:
                exc_class = default_exceptions[exc_class_or_code]
            except KeyError:
                raise ValueError(
                    f"'{exc_class_or_code}' is not a recognized HTTP"
                    " error code. Use a subclass of HTTPException with"
                    " that code instead."
                ) from None
        else:
            exc_class = exc_class_or_code
        if isinstance(exc_class, Exception):
            raise TypeError(
                f"{exc_class!r} is an instance, not a class. Handlers"
                " can only be registered for Exception classes or HTTP"
                " error codes."
            )
        if not issubclass(exc_class, Exception):
            raise ValueError(
                f"'{exc_class.__name__}' is not a subclass of Exception."
                " Handlers can only be registered for Exception classes"
                " or HTTP error codes."
            )
        if issubclass(exc_class, HTTPException):
            return exc_class, exc_class.code
        return exc_class, None


def _name_or_decorator(
    name: t.Any, add: t.Callable[[t.Any, str | None], None]
) -> t.Any:
    """Serve both ``@register`` and ``@register("name")``: ``add(f, name)``
    now when given the function, else from the returned decorator."""
    if callable(name):
        add(name, None)
        return name

    def decorator(f: t.Any) -> t.Any:
        add(f, name)
        return f

    return decorator


def _endpoint_from_view_func(view_func: ft.RouteCallable) -> str:
    """The default endpoint name for a view: the function's name."""
    assert view_func is not None, "expected view func if endpoint is not provided."
    return view_func.__name__


def _path_is_relative_to(path: pathlib.PurePath, base: str) -> bool:
    try:
        path.relative_to(base)
        return True
    except ValueError:
        return False


def _find_package_path(import_name: str) -> str:
    """The sys.path entry a module or package would be imported from."""
    root_mod_name, _, _ = import_name.partition(".")
    try:
        root_spec = importlib.util.find_spec(root_mod_name)
        if root_spec is None:
            raise ValueError("not found")
    except (ImportError, ValueError):
        return os.getcwd()
    if root_spec.submodule_search_locations:
        if root_spec.origin is None or root_spec.origin == "namespace":
            # Namespace package: pick the location that holds the submodule.
            package_spec = importlib.util.find_spec(import_name)
            if package_spec is not None and package_spec.submodule_search_locations:
                package_path = pathlib.Path(
                    os.path.commonpath(package_spec.submodule_search_locations)
                )
                search_location = next(
                    location
                    for location in root_spec.submodule_search_locations
                    if _path_is_relative_to(package_path, location)
                )
            else:
                search_location = root_spec.submodule_search_locations[0]
            return os.path.dirname(search_location)
        return os.path.dirname(os.path.dirname(root_spec.origin))
    return os.path.dirname(t.cast(str, root_spec.origin))


def find_package(import_name: str) -> tuple[str | None, str]:
    """``(install prefix or None, sys.path entry)`` for a module or package.

    The prefix is set when the package is installed in the system or a
    virtualenv; ``None`` means it is used from a plain folder.
    """
    package_path = _find_package_path(import_name)
    py_prefix = os.path.abspath(sys.prefix)
    if _path_is_relative_to(pathlib.PurePath(package_path), py_prefix):
        return py_prefix, package_path
    site_parent, site_folder = os.path.split(package_path)
    if site_folder.lower() == "site-packages":
        parent, folder = os.path.split(site_parent)
        if folder.lower() == "lib":
            return parent, package_path
        if os.path.basename(parent).lower() == "lib":
            return os.path.dirname(parent), package_path
        return site_parent, package_path
    return None, package_path
