"""The application object: :class:`Erlen`.

``wsgi_app`` is the whole life of a request on one screen: build the request
context, push it, dispatch, turn an error into a response, call the response,
pop the context. What it executes per request was planned once: the compiled
URL matcher and, per endpoint, the hooks of its blueprint chain (see
:class:`_EndpointPlan`). Plain return values (``str``, ``dict``, ``list``,
``(str, status)``) are written straight to WSGI when no after-request hook,
session or signal needs a :class:`~erlen.wrappers.Response` object.
"""

from __future__ import annotations

import collections.abc as cabc
import os
import sys
import typing as t
import warnings
import weakref
from datetime import timedelta
from functools import cached_property
from inspect import iscoroutinefunction
from itertools import chain
from types import GeneratorType, TracebackType
from urllib.parse import quote as _url_quote

import click
from werkzeug.datastructures import Headers, ImmutableDict
from werkzeug.exceptions import (
    Aborter,
    BadHost,
    BadRequest,
    BadRequestKeyError,
    HTTPException,
    InternalServerError,
    NotFound,
)
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import (
    BuildError,
    Map,
    MapAdapter,
    RequestRedirect,
    RoutingException,
    Rule,
    WebsocketMismatch,
)
from werkzeug.serving import is_running_from_reloader
from werkzeug.utils import get_content_type
from werkzeug.utils import redirect as _wz_redirect
from werkzeug.wrappers import Response as BaseResponse
from werkzeug.wsgi import get_host

from . import cli
from . import typing as ft
from .config import Config, ConfigAttribute
from .core import (
    NO_KWARGS,
    RawResponse,
    RawStream,
    Steps,
    call,
    call_handling,
    run_sync,
)
from .ctx import AppContext, RequestContext, _AppCtxGlobals, _sentinel
from .globals import _cv_app, _cv_request, g, request, request_ctx, session
from .helpers import (
    _flask_patched,
    get_debug_flag,
    get_flashed_messages,
    get_load_dotenv,
)
from .json.provider import DefaultJSONProvider, JSONProvider
from .logging import create_logger
from .routing import NOT_FOUND, CompiledMatcher
from .scaffold import (
    Scaffold,
    _endpoint_from_view_func,
    _name_or_decorator,
    find_package,
    setupmethod,
)
from .sessions import SecureCookieSessionInterface, SessionInterface
from .signals import (
    appcontext_tearing_down,
    got_request_exception,
    request_finished,
    request_started,
    request_tearing_down,
)
from .templating import Environment
from .templating import update_template_context as _update_template_context
from .urlbuild import CompiledBuilder
from .websockets import WebsocketDisconnect, WebsocketRequired
from .wrappers import Request, Response, _split_blueprint_path
from .wsgi import respond as wsgi_respond

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from jinja2 import BaseLoader

    from .asgi import ASGIApp
    from .blueprints import Blueprint
    from .testing import ErlenClient, ErlenCliRunner

    AnyResponse: t.TypeAlias = Response | RawResponse | RawStream

T_shell_context_processor = t.TypeVar(
    "T_shell_context_processor", bound=ft.ShellContextProcessorCallable
)
T_teardown = t.TypeVar("T_teardown", bound=ft.TeardownCallable)
T_serving = t.TypeVar("T_serving", bound=t.Callable[[], t.Any])
T_template_filter = t.TypeVar("T_template_filter", bound=ft.TemplateFilterCallable)
T_template_global = t.TypeVar("T_template_global", bound=ft.TemplateGlobalCallable)
T_template_test = t.TypeVar("T_template_test", bound=ft.TemplateTestCallable)


def _make_timedelta(value: timedelta | int | None) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(seconds=value)


def _check_host(host: str) -> None:
    """Raise :class:`BadHost` for a host name Werkzeug's ``Map.bind`` rejects."""
    try:
        host.partition(":")[0].encode("idna")
    except UnicodeError as e:
        raise BadHost() from e


def _bind_warning_as_app(
    url_map: Map, environ: WSGIEnvironment, server_name: str
) -> MapAdapter:
    """``bind_to_environ`` with subdomain matching, its warnings re-issued
    from the application module — ``flask.app`` under ``erlen.flask_patch`` —
    so that filters written for Flask's name match them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adapter = url_map.bind_to_environ(environ, server_name=server_name)
    module = "flask.app" if _flask_patched() else __name__
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, module)
    return adapter


#: Per class: the description a page was rendered with, and the page.
_error_pages: dict[type[HTTPException], tuple[str | None, bytes]] = {}


def _error_page(e: HTTPException, environ: WSGIEnvironment) -> bytes:
    """The HTML body of an HTTP error, rendered once per class while it has
    the class's own description and code and Werkzeug's rendering."""
    cls = type(e)
    description = cls.description
    if (
        e.description is not description
        or e.code is not cls.code
        or cls.get_body is not HTTPException.get_body
        or cls.get_description is not HTTPException.get_description
    ):
        return e.get_body(environ).encode()
    cached = _error_pages.get(cls)
    # The class's description may be changed (apps customize Werkzeug's texts).
    if cached is None or cached[0] is not description:
        cached = _error_pages[cls] = (description, e.get_body(environ).encode())
    return cached[1]


class _EndpointPlan:
    """Everything a request to one endpoint runs besides its view, in order.

    Built on first use per endpoint (``None`` for requests that matched no
    rule) and dropped whenever a registration method runs. Functions are
    kept as registered, each with whether it is a coroutine function, so
    that each protocol's driver decides how to call it.
    """

    __slots__ = (
        "after",
        "after_websocket",
        "before",
        "before_websocket",
        "blueprints",
        "preprocessors",
        "teardown",
    )

    def __init__(self, app: Erlen, endpoint: str | None) -> None:
        if endpoint is not None and "." in endpoint:
            blueprints = tuple(_split_blueprint_path(endpoint.rpartition(".")[0]))
        else:
            blueprints = ()
        outer_first = (None, *reversed(blueprints))
        inner_first = (*blueprints, None)
        self.blueprints = blueprints
        self.preprocessors = tuple(
            f for n in outer_first for f in app.url_value_preprocessors.get(n, ())
        )
        self.before = tuple(
            (f, iscoroutinefunction(f))
            for n in outer_first
            for f in app.before_request_funcs.get(n, ())
        )
        self.after = tuple(
            (f, iscoroutinefunction(f))
            for n in inner_first
            for f in reversed(app.after_request_funcs.get(n, ()))
        )
        self.teardown = tuple(
            (f, iscoroutinefunction(f))
            for n in inner_first
            for f in reversed(app.teardown_request_funcs.get(n, ()))
        )
        self.before_websocket = tuple(
            (f, iscoroutinefunction(f))
            for n in outer_first
            for f in app.before_websocket_funcs.get(n, ())
        )
        self.after_websocket = tuple(
            (f, iscoroutinefunction(f))
            for n in inner_first
            for f in reversed(app.after_websocket_funcs.get(n, ()))
        )


_HTML = "text/html; charset=utf-8"
# The public methods of the request cycle. Overriding one, on a subclass or on
# the instance (``app.handle_exception = ...``, as Flask-RESTful does), makes
# the core call it exactly where Flask would.
_DISPATCH_METHODS = frozenset(
    (
        "full_dispatch_request",
        "preprocess_request",
        "dispatch_request",
        "finalize_request",
        "make_response",
        "process_response",
        "ensure_sync",
        "raise_routing_exception",
        "handle_user_exception",
        "handle_http_exception",
        "handle_exception",
        "do_teardown_request",
        "do_teardown_appcontext",
        "request_context",
        "inject_url_defaults",
    )
)


class Erlen(Scaffold):
    """The WSGI application: Flask's API, built for speed.

    :param import_name: The name of the application's module or package,
        usually ``__name__``; used to find resources and the instance folder.
    :param static_url_path: URL prefix of the static route; defaults to
        ``/`` + the static folder's name.
    :param static_folder: Folder served at ``static_url_path``, relative to
        ``root_path``; ``None`` for no static route.
    :param static_host: Host of the static route when ``host_matching`` is on.
    :param host_matching: Match rules against the ``Host`` header.
    :param subdomain_matching: Match subdomains of ``SERVER_NAME``.
    :param template_folder: Folder of templates, relative to ``root_path``.
    :param instance_path: Absolute path of the instance folder; found
        automatically when not given.
    :param instance_relative_config: Relative config file names are relative
        to the instance folder instead of ``root_path``.
    :param root_path: The application's folder, when ``import_name`` can't
        find it (e.g. namespace packages).
    """

    request_class: type[Request] = Request
    response_class: type[Response] = Response
    aborter_class = Aborter
    jinja_environment = Environment
    app_ctx_globals_class = _AppCtxGlobals
    config_class = Config
    testing = ConfigAttribute[bool]("TESTING")
    secret_key = ConfigAttribute[str | bytes | None]("SECRET_KEY")
    permanent_session_lifetime = ConfigAttribute[timedelta](
        "PERMANENT_SESSION_LIFETIME",
        get_converter=_make_timedelta,  # type: ignore[arg-type]
    )
    json_provider_class: type[JSONProvider] = DefaultJSONProvider
    jinja_options: dict[str, t.Any] = {}
    url_rule_class = Rule
    url_map_class = Map
    test_client_class: type[ErlenClient] | None = None
    test_cli_runner_class: type[ErlenCliRunner] | None = None
    session_interface: SessionInterface = SecureCookieSessionInterface()
    default_config = ImmutableDict(
        {
            "DEBUG": None,
            "TESTING": False,
            "PROPAGATE_EXCEPTIONS": None,
            "SECRET_KEY": None,
            "SECRET_KEY_FALLBACKS": None,
            "PERMANENT_SESSION_LIFETIME": timedelta(days=31),
            "USE_X_SENDFILE": False,
            "TRUSTED_HOSTS": None,
            "SERVER_NAME": None,
            "APPLICATION_ROOT": "/",
            "SESSION_COOKIE_NAME": "session",
            "SESSION_COOKIE_DOMAIN": None,
            "SESSION_COOKIE_PATH": None,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SECURE": False,
            "SESSION_COOKIE_PARTITIONED": False,
            "SESSION_COOKIE_SAMESITE": None,
            "SESSION_REFRESH_EACH_REQUEST": True,
            "MAX_CONTENT_LENGTH": None,
            "MAX_FORM_MEMORY_SIZE": 500_000,
            "MAX_FORM_PARTS": 1_000,
            "SEND_FILE_MAX_AGE_DEFAULT": None,
            "TRAP_BAD_REQUEST_ERRORS": None,
            "TRAP_HTTP_EXCEPTIONS": False,
            "EXPLAIN_TEMPLATE_LOADING": False,
            "PREFERRED_URL_SCHEME": "http",
            "TEMPLATES_AUTO_RELOAD": None,
            "MAX_COOKIE_SIZE": 4093,
            "PROVIDE_AUTOMATIC_OPTIONS": True,
        }
    )

    def __init__(
        self,
        import_name: str,
        static_url_path: str | None = None,
        static_folder: str | os.PathLike[str] | None = "static",
        static_host: str | None = None,
        host_matching: bool = False,
        subdomain_matching: bool = False,
        template_folder: str | os.PathLike[str] | None = "templates",
        instance_path: str | None = None,
        instance_relative_config: bool = False,
        root_path: str | None = None,
    ) -> None:
        #: The request-cycle methods overridden on the class or the instance.
        self._overrides = self._find_overrides()
        super().__init__(
            import_name=import_name,
            static_folder=static_folder,
            static_url_path=static_url_path,
            template_folder=template_folder,
            root_path=root_path,
        )
        if instance_path is None:
            instance_path = self.auto_find_instance_path()
        elif not os.path.isabs(instance_path):
            raise ValueError(
                "If an instance path is provided it must be absolute."
                " A relative path was given instead."
            )
        self.instance_path = instance_path
        self.config = self.make_config(instance_relative_config)
        self.aborter = self.make_aborter()
        #: The JSON provider; replace it (or ``json_provider_class``) to use
        #: another JSON library.
        self.json: JSONProvider = self.json_provider_class(self)
        #: Called with ``(error, endpoint, values)`` when ``url_for`` fails.
        self.url_build_error_handlers: list[
            t.Callable[[Exception, str, dict[str, t.Any]], str]
        ] = []
        self.teardown_appcontext_funcs: list[ft.TeardownCallable] = []
        #: Functions run when an ASGI server starts serving (lifespan startup)
        #: and when it stops, each in an app context.
        self.before_serving_funcs: list[t.Callable[[], t.Any]] = []
        self.after_serving_funcs: list[t.Callable[[], t.Any]] = []
        self.shell_context_processors: list[ft.ShellContextProcessorCallable] = []
        self.blueprints: dict[str, Blueprint] = {}
        #: Where extensions keep their per-app state, by extension name.
        self.extensions: dict[str, t.Any] = {}
        self.url_map = self.url_map_class(host_matching=host_matching)
        self.subdomain_matching = subdomain_matching
        self._got_first_request = False
        # The dispatch plan, built at the first request (see _build_plan).
        self._matcher: CompiledMatcher | None = None
        self._endpoint_plans: dict[str | None, _EndpointPlan] = {}
        self._async_views: dict[t.Any, bool] = {}
        self._good_hosts: set[str] = set()
        self._build_adapters: dict[tuple[t.Any, ...], MapAdapter | None] = {}
        self._url_builder: CompiledBuilder | None = None

        if self.has_static_folder:
            assert bool(static_host) == host_matching, (
                "Invalid static_host/host_matching combination"
            )
            # A weak reference, so the view does not keep the app alive.
            self_ref = weakref.ref(self)
            self.add_url_rule(
                f"{self.static_url_path}/<path:filename>",
                endpoint="static",
                host=static_host,
                view_func=lambda **kw: self_ref().send_static_file(**kw),  # type: ignore[union-attr]
            )
        self.cli.name = self.name

    # -- properties ----------------------------------------------------------

    @cached_property
    def name(self) -> str:  # type: ignore[override]
        """The application's name: the import name, or the script's name when
        run as ``__main__``."""
        if self.import_name == "__main__":
            fn = getattr(sys.modules["__main__"], "__file__", None)
            if fn is None:
                return "__main__"
            return str(os.path.splitext(os.path.basename(fn))[0])
        return self.import_name

    @cached_property
    def logger(self) -> t.Any:
        """The app's :class:`logging.Logger`, named after the app."""
        return create_logger(self)

    @cached_property
    def jinja_env(self) -> Environment:
        """The Jinja environment, created on first use."""
        return self.create_jinja_environment()

    @property
    def debug(self) -> bool:
        """Debug mode (``DEBUG`` config): interactive debugger, reloader,
        template auto-reload. Never enable it in production."""
        return self.config["DEBUG"]  # type: ignore[no-any-return]

    @debug.setter
    def debug(self, value: bool) -> None:
        self.config["DEBUG"] = value
        if (
            self.config["TEMPLATES_AUTO_RELOAD"] is None
            and "jinja_env" in self.__dict__
        ):
            self.jinja_env.auto_reload = value

    # -- construction helpers ---------------------------------------------

    def make_config(self, instance_relative: bool = False) -> Config:
        """The ``config`` object, filled with ``default_config``."""
        root_path = self.instance_path if instance_relative else self.root_path
        defaults = dict(self.default_config)
        defaults["DEBUG"] = get_debug_flag()
        return self.config_class(root_path, defaults)

    def make_aborter(self) -> t.Any:
        """The object behind :func:`erlen.abort`: an ``aborter_class`` instance."""
        return self.aborter_class()

    def auto_find_instance_path(self) -> str:
        """``instance`` next to the package, or ``<prefix>/var/<name>-instance``
        when the package is installed."""
        prefix, package_path = find_package(self.import_name)
        if prefix is None:
            return os.path.join(package_path, "instance")
        return os.path.join(prefix, "var", f"{self.name}-instance")

    def open_instance_resource(
        self, resource: str, mode: str = "rb", encoding: str | None = "utf-8"
    ) -> t.IO[t.AnyStr]:
        """Open a file in the instance folder (writing is allowed there)."""
        path = os.path.join(self.instance_path, resource)
        if "b" in mode:
            return open(path, mode)
        return open(path, mode, encoding=encoding)

    def create_jinja_environment(self) -> Environment:
        """Build the Jinja environment from ``jinja_options``."""
        options = dict(self.jinja_options)
        if "autoescape" not in options:
            options["autoescape"] = self.select_jinja_autoescape
        if "auto_reload" not in options:
            auto_reload = self.config["TEMPLATES_AUTO_RELOAD"]
            if auto_reload is None:
                auto_reload = self.debug
            options["auto_reload"] = auto_reload
        rv = self.jinja_environment(self, **options)
        rv.globals.update(
            url_for=self.url_for,
            get_flashed_messages=get_flashed_messages,
            config=self.config,
            request=request,
            session=session,
            g=g,
        )
        rv.policies["json.dumps_function"] = self.json.dumps
        return rv

    def create_global_jinja_loader(self) -> BaseLoader:
        """The loader that searches the app's, then each blueprint's templates."""
        from .templating import DispatchingJinjaLoader

        return DispatchingJinjaLoader(self)

    def select_jinja_autoescape(self, filename: str | None) -> bool:
        """Autoescape templates from strings and ``.html .htm .xml .xhtml .svg``."""
        if filename is None:
            return True
        return filename.endswith((".html", ".htm", ".xml", ".xhtml", ".svg"))

    def update_template_context(self, context: dict[str, t.Any]) -> None:
        """Add the context processors' values; explicit values win."""
        _update_template_context(self, context)

    def make_shell_context(self) -> dict[str, t.Any]:
        """The names available in ``erlen shell``."""
        rv: dict[str, t.Any] = {"app": self, "g": g}
        for processor in self.shell_context_processors:
            rv.update(processor())
        return rv

    # -- registration --------------------------------------------------------

    def _check_setup_finished(self, f_name: str) -> None:
        if self._got_first_request:
            raise AssertionError(
                f"The setup method '{f_name}' can no longer be called"
                " on the application. It has already handled its first"
                " request, any changes will not be applied"
                " consistently.\n"
                "Make sure all imports, decorators, functions, etc."
                " needed to set up the application are done before"
                " running it."
            )
        self._endpoint_plans.clear()

    @setupmethod
    def register_blueprint(self, blueprint: Blueprint, **options: t.Any) -> None:
        """Register a blueprint: its routes, hooks and handlers join the app.

        ``options`` (``url_prefix``, ``subdomain``, ``url_defaults``, ``name``,
        ...) override the blueprint's own for this registration.
        """
        blueprint.register(self, options)

    def iter_blueprints(self) -> t.ValuesView[Blueprint]:
        """The registered blueprints, in registration order."""
        return self.blueprints.values()

    @setupmethod
    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: ft.RouteCallable | None = None,
        provide_automatic_options: bool | None = None,
        **options: t.Any,
    ) -> None:
        """Register ``rule`` for ``endpoint`` (default: the view's name).

        ``methods`` default to the view's ``methods`` attribute or ``GET``;
        ``HEAD`` is added for ``GET`` and ``OPTIONS`` is answered
        automatically unless ``provide_automatic_options`` is false.
        Registering a different function for an existing endpoint is an error.
        """
        if endpoint is None:
            endpoint = _endpoint_from_view_func(view_func)  # type: ignore[arg-type]
        options["endpoint"] = endpoint
        methods = options.pop("methods", None)
        if methods is None:
            methods = getattr(view_func, "methods", None) or ("GET",)
        if isinstance(methods, str):
            raise TypeError(
                "Allowed methods must be a list of strings, for"
                ' example: @app.route(..., methods=["POST"])'
            )
        methods = {item.upper() for item in methods}
        required_methods: set[str] = set(getattr(view_func, "required_methods", ()))
        if provide_automatic_options is None:
            provide_automatic_options = getattr(
                view_func, "provide_automatic_options", None
            )
        if provide_automatic_options is None:
            if "OPTIONS" not in methods and self.config["PROVIDE_AUTOMATIC_OPTIONS"]:
                provide_automatic_options = True
                required_methods.add("OPTIONS")
            else:
                provide_automatic_options = False
        methods |= required_methods
        rule_obj = self.url_rule_class(rule, methods=methods, **options)
        rule_obj.provide_automatic_options = provide_automatic_options  # type: ignore[attr-defined]
        self.url_map.add(rule_obj)
        if view_func is not None:
            old_func = self.view_functions.get(endpoint)
            if old_func is not None and old_func != view_func:
                raise AssertionError(
                    "View function mapping is overwriting an existing"
                    f" endpoint function: {endpoint}"
                )
            self.view_functions[endpoint] = view_func

    @setupmethod
    def template_filter(
        self, name: str | None = None
    ) -> t.Callable[[T_template_filter], T_template_filter]:
        """Register a Jinja filter, named after the function unless ``name``."""
        return _name_or_decorator(name, self.add_template_filter)  # type: ignore[no-any-return]

    @setupmethod
    def add_template_filter(
        self, f: ft.TemplateFilterCallable, name: str | None = None
    ) -> None:
        """Non-decorator form of :meth:`template_filter`."""
        self.jinja_env.filters[name or f.__name__] = f

    @setupmethod
    def template_test(
        self, name: str | None = None
    ) -> t.Callable[[T_template_test], T_template_test]:
        """Register a Jinja test, named after the function unless ``name``."""
        return _name_or_decorator(name, self.add_template_test)  # type: ignore[no-any-return]

    @setupmethod
    def add_template_test(
        self, f: ft.TemplateTestCallable, name: str | None = None
    ) -> None:
        """Non-decorator form of :meth:`template_test`."""
        self.jinja_env.tests[name or f.__name__] = f

    @setupmethod
    def template_global(
        self, name: str | None = None
    ) -> t.Callable[[T_template_global], T_template_global]:
        """Register a Jinja global, named after the function unless ``name``."""
        return _name_or_decorator(name, self.add_template_global)  # type: ignore[no-any-return]

    @setupmethod
    def add_template_global(
        self, f: ft.TemplateGlobalCallable, name: str | None = None
    ) -> None:
        """Non-decorator form of :meth:`template_global`."""
        self.jinja_env.globals[name or f.__name__] = f

    @setupmethod
    def teardown_appcontext(self, f: T_teardown) -> T_teardown:
        """Run ``f(error)`` whenever an application context is popped."""
        self.teardown_appcontext_funcs.append(f)
        return f

    @setupmethod
    def before_serving(self, f: T_serving) -> T_serving:
        """Run ``f()`` (sync or async) in an app context when an ASGI server
        starts serving the app; an error refuses the start (Quart's name)."""
        self.before_serving_funcs.append(f)
        return f

    @setupmethod
    def after_serving(self, f: T_serving) -> T_serving:
        """Run ``f()`` (sync or async) in an app context when an ASGI server
        stops serving the app."""
        self.after_serving_funcs.append(f)
        return f

    @setupmethod
    def shell_context_processor(
        self, f: T_shell_context_processor
    ) -> T_shell_context_processor:
        """Register a function adding names to ``erlen shell``."""
        self.shell_context_processors.append(f)
        return f

    # -- contexts --------------------------------------------------------------

    def app_context(self) -> AppContext:
        """A new application context: ``with app.app_context(): ...``."""
        return AppContext(self)

    def request_context(self, environ: WSGIEnvironment) -> RequestContext:
        """A request context for a WSGI environ."""
        return RequestContext(self, environ)

    def test_request_context(self, *args: t.Any, **kwargs: t.Any) -> RequestContext:
        """A request context for a fake request, built like the test client's
        (same arguments as :class:`werkzeug.test.EnvironBuilder`)."""
        from .testing import EnvironBuilder

        builder = EnvironBuilder(self, *args, **kwargs)
        try:
            return self.request_context(builder.get_environ())
        finally:
            builder.close()

    def test_client(self, use_cookies: bool = True, **kwargs: t.Any) -> ErlenClient:
        """A test client (``test_client_class`` or :class:`ErlenClient`)."""
        from .testing import ErlenClient

        cls = self.test_client_class or ErlenClient
        return cls(self, self.response_class, use_cookies=use_cookies, **kwargs)

    def test_cli_runner(self, **kwargs: t.Any) -> ErlenCliRunner:
        """A runner for the app's CLI commands in tests."""
        from .testing import ErlenCliRunner

        cls = self.test_cli_runner_class or ErlenCliRunner
        return cls(self, **kwargs)

    # -- routing ---------------------------------------------------------------

    def create_url_adapter(self, request: Request | None) -> MapAdapter | None:
        """A Werkzeug URL adapter for a request, or for building URLs in an
        app context (only when ``SERVER_NAME`` is set)."""
        if request is not None:
            trusted_hosts = self.config["TRUSTED_HOSTS"]
            if trusted_hosts is not None:
                request.trusted_hosts = trusted_hosts
            # Raises SecurityError (400) for a host not in TRUSTED_HOSTS.
            request.host = get_host(request.environ, request.trusted_hosts)
            subdomain = None
            server_name = self.config["SERVER_NAME"]
            if self.url_map.host_matching:
                server_name = None
            elif not self.subdomain_matching:
                subdomain = self.url_map.default_subdomain or ""
            if subdomain is None and server_name is not None:
                # Werkzeug may warn that the host doesn't match SERVER_NAME.
                return _bind_warning_as_app(self.url_map, request.environ, server_name)
            return self.url_map.bind_to_environ(
                request.environ, server_name=server_name, subdomain=subdomain
            )
        if self.config["SERVER_NAME"] is not None:
            return self.url_map.bind(
                self.config["SERVER_NAME"],
                script_name=self.config["APPLICATION_ROOT"],
                url_scheme=self.config["PREFERRED_URL_SCHEME"],
            )
        return None

    def _match(self, ctx: RequestContext) -> tuple[Rule, dict[str, t.Any]]:
        """Match a request context's URL: compiled matcher first, Werkzeug when
        the matcher can't be sure. Raises the routing HTTPException."""
        matcher = self._matcher
        if matcher is None or self.url_map._remap:
            matcher = self._matcher = CompiledMatcher(self.url_map)
        environ = ctx.environ
        if (
            matcher.enabled
            and not self.subdomain_matching
            and self.config["TRUSTED_HOSTS"] is None
            and environ.get("wsgi.url_scheme") not in ("ws", "wss")
            # Werkzeug matches "Upgrade: websocket" requests as ws (a mismatch).
            and "HTTP_UPGRADE" not in environ
        ):
            host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
            # With SERVER_NAME, Werkzeug binds to it and ignores the Host header.
            if host not in self._good_hosts and self.config["SERVER_NAME"] is None:
                _check_host(host)  # Werkzeug's bind would raise BadHost (400)
                if len(self._good_hosts) > 256:
                    self._good_hosts.clear()
                self._good_hosts.add(host)
            path = environ.get("PATH_INFO") or ""
            if not path.isascii():
                path = path.encode("latin1").decode("utf-8", "replace")
            method = environ.get("REQUEST_METHOD", "GET").upper()
            result = matcher.match(path, method)
            if result is NOT_FOUND:
                raise NotFound()
            if result is not None:
                return result  # type: ignore[return-value]
            rule, values = self._werkzeug_match(ctx)
            matcher.learn(path, method, rule)
            return rule, values
        return self._werkzeug_match(ctx)

    def _werkzeug_match(self, ctx: RequestContext) -> tuple[Rule, dict[str, t.Any]]:
        adapter = ctx.url_adapter
        if adapter is None:
            raise RuntimeError("No URL adapter for the request.")
        try:
            return adapter.match(return_rule=True)  # type: ignore[return-value]
        except WebsocketMismatch:
            if adapter.websocket:
                raise  # a handshake to a plain HTTP route
            # Plain HTTP to a websocket route: say so, not a generic 400.
            raise WebsocketRequired() from None

    def _build_adapter(self, ctx: RequestContext) -> MapAdapter | None:
        """The URL adapter ``url_for`` builds with during a request.

        Building only depends on the host, script root, scheme and method, so
        adapters are shared between requests that agree on those; binding a
        new one per request costs more than the build itself. The adapter is
        remembered for the rest of the request.
        """
        state = ctx.__dict__
        adapter = state.get("_build_adapter") or state.get("url_adapter")
        if adapter is not None:
            return adapter  # type: ignore[no-any-return]
        if (
            self.url_map.host_matching
            or self.subdomain_matching
            or self.config["TRUSTED_HOSTS"] is not None
            or self.config["SERVER_NAME"] is not None
        ):
            adapter = state["_build_adapter"] = ctx.url_adapter
            return adapter
        env = ctx.environ
        key = (
            env.get("HTTP_HOST"),
            env.get("SERVER_NAME"),
            env.get("SERVER_PORT"),
            env.get("SCRIPT_NAME"),
            env.get("wsgi.url_scheme"),
            env.get("REQUEST_METHOD"),
        )
        cache = self._build_adapters
        adapter = cache.get(key)
        if adapter is None:
            adapter = ctx.url_adapter
            if len(cache) >= 64:
                cache.clear()
            cache[key] = adapter
        state["_build_adapter"] = adapter
        return adapter

    def raise_routing_exception(self, request: Request) -> t.NoReturn:
        """Raise the stored routing error (404, 405 or redirect).

        In debug mode a redirect that would drop a form body raises
        :class:`~erlen.debughelpers.FormDataRoutingRedirect` instead.
        """
        exc = request.routing_exception
        if (
            not self.debug
            or not isinstance(exc, RequestRedirect)
            or exc.code in {307, 308}
            or request.method in {"GET", "HEAD", "OPTIONS"}
        ):
            raise exc  # type: ignore[misc]
        from .debughelpers import FormDataRoutingRedirect

        raise FormDataRoutingRedirect(request)

    def inject_url_defaults(self, endpoint: str, values: dict[str, t.Any]) -> None:
        """Run the ``url_defaults`` functions for ``endpoint`` on ``values``."""
        if not self.url_default_functions:
            return
        names: t.Iterable[str | None] = (None,)
        if "." in endpoint:
            names = chain(
                names, reversed(_split_blueprint_path(endpoint.rpartition(".")[0]))
            )
        for name in names:
            if name in self.url_default_functions:
                for func in self.url_default_functions[name]:
                    func(endpoint, values)

    def handle_url_build_error(
        self, error: BuildError, endpoint: str, values: dict[str, t.Any]
    ) -> str:
        """Give ``url_build_error_handlers`` a chance, else re-raise."""
        for handler in self.url_build_error_handlers:
            try:
                rv = handler(error, endpoint, values)
            except BuildError as e:
                error = e
            else:
                if rv is not None:
                    return rv
        if error is sys.exc_info()[1]:
            raise
        raise error

    def url_for(
        self,
        /,
        endpoint: str,
        *,
        _anchor: str | None = None,
        _method: str | None = None,
        _scheme: str | None = None,
        _external: bool | None = None,
        **values: t.Any,
    ) -> str:
        """Build a URL for ``endpoint``; extra ``values`` become the query string.

        In a request, ``.name`` is relative to the current blueprint and URLs
        are relative unless ``_external``. Outside a request, URLs are
        external and need ``SERVER_NAME``.
        """
        req_ctx = _cv_request.get(None)
        if req_ctx is not None:
            # PERF: the adapter this request already builds with, if any.
            state = req_ctx.__dict__
            url_adapter = state.get("_build_adapter") or self._build_adapter(req_ctx)
            if endpoint[:1] == ".":
                blueprints = self._request_blueprints(req_ctx)
                endpoint = f"{blueprints[0]}{endpoint}" if blueprints else endpoint[1:]
            if _external is None:
                _external = _scheme is not None
        else:
            app_ctx = _cv_app.get(None)
            if app_ctx is not None and app_ctx.app is self:
                url_adapter = app_ctx.url_adapter
            else:
                url_adapter = self.create_url_adapter(None)
            if url_adapter is None:
                raise RuntimeError(
                    "Unable to build URLs outside an active request"
                    " without 'SERVER_NAME' configured. Also configure"
                    " 'APPLICATION_ROOT' and 'PREFERRED_URL_SCHEME' as"
                    " needed."
                )
            if _external is None:
                _external = True
        if _scheme is not None and not _external:
            raise ValueError("When specifying '_scheme', '_external' must be True.")
        if self.url_default_functions or "inject_url_defaults" in self._overrides:
            self.inject_url_defaults(endpoint, values)
        builder = self._url_builder
        if builder is None or builder.url_map is not self.url_map:
            builder = self._url_builder = CompiledBuilder(self.url_map)
        # The compiled builder answers when it is certain of Werkzeug's answer
        # (see erlen/urlbuild.py); it leaves every BuildError to Werkzeug.
        build = builder.function(url_adapter, endpoint)  # type: ignore[arg-type]
        rv = (
            None
            if build is None
            else build(url_adapter, values, _method, _external, _scheme)
        )
        if rv is None:
            try:
                rv = url_adapter.build(  # type: ignore[union-attr]
                    endpoint,
                    values,
                    method=_method,
                    url_scheme=_scheme,
                    force_external=_external,
                )
            except BuildError as error:
                values.update(
                    _anchor=_anchor,
                    _method=_method,
                    _scheme=_scheme,
                    _external=_external,
                )
                return self.handle_url_build_error(error, endpoint, values)
        if _anchor is not None:
            _anchor = _url_quote(_anchor, safe="%!#$&'()*+,/:;=?@")
            rv = f"{rv}#{_anchor}"
        return rv

    def redirect(self, location: str, code: int = 302) -> BaseResponse:
        """A redirect response using ``response_class``."""
        return _wz_redirect(location, code=code, Response=self.response_class)

    # -- the request cycle -------------------------------------------------
    #
    # Flask's cycle is written once, as generators of steps (erlen.core): each
    # call into application code is yielded to the protocol's driver. The
    # public methods (full_dispatch_request, handle_exception, ...) drive the
    # same generators synchronously, and are called instead of them wherever
    # they are overridden.

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> cabc.Iterable[bytes]:
        """The WSGI entry point; calls :meth:`wsgi_app`, which middleware can
        wrap (``app.wsgi_app = Middleware(app.wsgi_app)``)."""
        return self.wsgi_app(environ, start_response)

    def wsgi_app(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> cabc.Iterable[bytes]:
        """Handle one request over WSGI: the whole cycle, in order.

        Build the request context, then :meth:`_handle` pushes it,
        dispatches (hooks, view, error handlers), and always pops it, which
        runs the teardown functions with the unhandled error if there was
        one. Every call into the application is made here, in this thread.
        The response is then sent to the server.
        """
        ctx = self.request_context(environ)
        response = run_sync(self._handle(ctx), self.ensure_sync)
        return wsgi_respond(response, environ, start_response)

    @cached_property
    def asgi_app(self) -> ASGIApp:
        """The ASGI 3 application: ``http``, ``websocket`` and ``lifespan``
        connections. Give it to an ASGI server,
        ``uvicorn module:app.asgi_app``, and wrap it with ASGI middleware as
        ``wsgi_app`` is wrapped with WSGI middleware:
        ``app.asgi_app = Middleware(app.asgi_app)``. :mod:`erlen.asgi` says
        how a request runs."""
        from .asgi import ASGIApp

        return ASGIApp(self)

    def _handle(
        self, ctx: RequestContext, websocket: bool = False
    ) -> Steps[AnyResponse]:
        """One request's life once its context exists, as steps: push,
        dispatch, turn an error into a response, pop. Both protocols drive
        it; the result is a neutral response for their adapter to send.
        With ``websocket``, the context is a websocket handshake's and the
        websocket hooks and handler run (see :mod:`erlen.websockets`)."""
        error: BaseException | None = None
        response: t.Any
        try:
            try:
                ctx.push()
                if not self._got_first_request:
                    self._build_plan()
                if websocket:
                    response = yield from self._full_dispatch_websocket(ctx)
                elif "full_dispatch_request" in self._overrides:
                    response = yield call(self.full_dispatch_request)
                else:
                    response = yield from self._full_dispatch(ctx, True)
            except Exception as e:
                error = e
                if "handle_exception" in self._overrides:
                    response = yield call_handling(e, self.handle_exception, e)
                else:
                    response = yield from self._handle_exception(e, websocket)
            except BaseException:
                error = sys.exc_info()[1]
                raise
            return response  # type: ignore[no-any-return]
        finally:
            preserve = ctx.environ.get("werkzeug.debug.preserve_context")
            if preserve is not None:
                preserve(_cv_app.get())
                preserve(_cv_request.get())
            if error is not None and self.should_ignore_error(error):
                error = None
            if ctx._pop_if_quiet():
                pass  # nothing of the app's runs: popped in place
            elif type(ctx).pop is RequestContext.pop:
                yield from ctx._pop_steps(error)
            else:
                yield call(ctx.pop, error)

    def _build_plan(self) -> None:
        """Decide once, at the first request, how requests are dispatched."""
        self._got_first_request = True
        self._async_views.clear()

    def _find_overrides(self) -> frozenset[str]:
        """The request-cycle methods replaced on the class or the instance."""
        cls = type(self)
        attrs = self.__dict__
        return frozenset(
            name
            for name in _DISPATCH_METHODS
            if name in attrs or getattr(cls, name) is not getattr(Erlen, name)
        )

    def __setattr__(self, name: str, value: t.Any) -> None:
        object.__setattr__(self, name, value)
        if name in _DISPATCH_METHODS:
            object.__setattr__(self, "_overrides", self._find_overrides())
        elif name == "url_map":
            self._watch_url_map(value)

    def _watch_url_map(self, url_map: Map) -> None:
        """Drop the compiled matcher whenever a rule is added to ``url_map``,
        even directly (``app.url_map.add(rule)``): Werkzeug clears the map's
        own ``_remap`` flag whenever anything calls ``update()``."""
        add = url_map.add
        app_ref = weakref.ref(self)

        def add_and_recompile(rulefactory: t.Any) -> None:
            add(rulefactory)
            app = app_ref()
            if app is not None:
                app.__dict__["_matcher"] = None

        url_map.add = add_and_recompile  # type: ignore[method-assign]
        self.__dict__["_matcher"] = None

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        if name in _DISPATCH_METHODS:
            object.__setattr__(self, "_overrides", self._find_overrides())

    def _hooks_changed(self) -> None:
        # Also called while Scaffold.__init__ runs, before the plans exist.
        plans = self.__dict__.get("_endpoint_plans")
        if plans:
            plans.clear()

    def _endpoint_plan(self, endpoint: str | None) -> _EndpointPlan:
        plan = self._endpoint_plans.get(endpoint)
        if plan is None:
            plan = self._endpoint_plans[endpoint] = _EndpointPlan(self, endpoint)
        return plan

    def _request_blueprints(self, ctx: RequestContext) -> tuple[str, ...]:
        rule = ctx._rule
        if rule is None:
            return ()
        return self._endpoint_plan(rule.endpoint).blueprints

    def _full_dispatch(self, ctx: RequestContext, raw: bool) -> Steps[AnyResponse]:
        """:meth:`full_dispatch_request` as steps. With ``raw``, a plain
        return value that nothing else needs to see as a response object is
        answered with a :class:`~erlen.core.RawResponse`."""
        overrides = self._overrides
        rule = ctx._rule
        endpoint = None if rule is None else rule.endpoint
        plan = self._endpoint_plans.get(endpoint) or self._endpoint_plan(endpoint)
        rv: t.Any
        try:
            if request_started.receivers:
                yield call(request_started.send, self, _async_wrapper=self.ensure_sync)
            rv = None
            if overrides and "preprocess_request" in overrides:
                rv = yield call(self.preprocess_request)
            elif plan.preprocessors or plan.before:
                rv = yield from self._preprocess(ctx, plan)
            if rv is None:
                if overrides and "dispatch_request" in overrides:
                    rv = yield call(self.dispatch_request)
                else:
                    # PERF: _dispatch_request inlined, one generator less.
                    rv = self._view_step(ctx)
                    if rv.__class__ is tuple:
                        rv = yield rv
        except Exception as e:
            if overrides and "handle_user_exception" in overrides:
                rv = yield call_handling(e, self.handle_user_exception, e)
            else:
                rv = yield from self._handle_user_exception(e)
        if (
            raw
            and not overrides
            and not plan.after
            # A view may add hooks for its own response (Flask-Caching does).
            and self._endpoint_plans.get(endpoint) is plan
            and not ctx.__dict__.get("_after_request_functions")
            and not request_finished.receivers
            and self.response_class is Response
            and not self._session_needs_saving(ctx)
        ):
            raw_response = self._raw_response(rv)
            if raw_response is not None:
                return raw_response
        if overrides and "finalize_request" in overrides:
            return (yield call(self.finalize_request, rv))  # type: ignore[no-any-return]
        return (yield from self._finalize_request(rv, False))

    def _raw_response(self, rv: t.Any) -> RawResponse | RawStream | None:
        """Encode a plain return value directly, or ``None`` if it isn't one."""
        cls = rv.__class__
        if cls is str:
            body = rv.encode()
            return RawResponse(
                "200 OK",
                [("Content-Type", _HTML), ("Content-Length", str(len(body)))],
                body,
            )
        if isinstance(rv, HTTPException):
            # An unhandled HTTP error renders its own page; only the stock
            # get_response is reproduced here (RequestRedirect has its own).
            if (
                cls.get_response is not HTTPException.get_response
                or rv.response is not None
                or rv.code is None
            ):
                return None
            environ = request_ctx.environ
            body = _error_page(rv, environ)
            headers = rv.get_headers(environ)
            headers.append(("Content-Length", str(len(body))))
            status = f"{rv.code} {HTTP_STATUS_CODES.get(rv.code, 'UNKNOWN').upper()}"
            return RawResponse(status, headers, body)
        if cls is dict or cls is list:
            provider = self.json
            if type(provider) is not DefaultJSONProvider:
                return None
            body = provider._response_body(rv).encode()
            return RawResponse(
                "200 OK",
                [
                    ("Content-Type", get_content_type(provider.mimetype, "utf-8")),
                    ("Content-Length", str(len(body))),
                ],
                body,
            )
        if cls is GeneratorType:
            return RawStream(rv)
        if (
            cls is tuple
            and len(rv) == 2
            and rv[0].__class__ is str
            and rv[1].__class__ is int
            and 200 <= rv[1] < 600
            and rv[1] not in (204, 304)
        ):
            body = rv[0].encode()
            code = rv[1]
            return RawResponse(
                f"{code} {HTTP_STATUS_CODES.get(code, 'UNKNOWN').upper()}",
                [("Content-Type", _HTML), ("Content-Length", str(len(body)))],
                body,
            )
        return None

    def _stock_session_interface(self) -> bool:
        """Whether the session interface is erlen's own, opening and saving
        cookies in memory (no I/O): the core then calls it in place."""
        si = self.session_interface
        cls = type(si)
        return cls is SecureCookieSessionInterface or (
            isinstance(si, SecureCookieSessionInterface)
            and cls.open_session is SecureCookieSessionInterface.open_session
            and cls.save_session is SecureCookieSessionInterface.save_session
        )

    def _session_needs_saving(self, ctx: RequestContext) -> bool:
        """Whether the session interface must see this response.

        A session that was never touched still matters when the request sent
        a session cookie (a permanent session is refreshed, as in Flask) or
        when a custom interface is in use.
        """
        loaded = ctx.__dict__.get("_session")
        si = self.session_interface
        if loaded is not None:
            return not si.is_null_session(loaded)
        # A subclass that opens or saves differently must run, as in Flask.
        if not self._stock_session_interface():
            return True
        cookie = ctx.environ.get("HTTP_COOKIE")
        return bool(cookie) and si.get_cookie_name(self) in cookie  # type: ignore[operator]

    def _preprocess(
        self,
        ctx: RequestContext,
        plan: _EndpointPlan,
        before: tuple[tuple[t.Callable[[], t.Any], bool], ...] | None = None,
    ) -> Steps[ft.ResponseReturnValue | None]:
        """:meth:`preprocess_request` as steps (with the ``before`` functions
        instead of the ``before_request`` ones, when given)."""
        rule = ctx._rule
        endpoint = None if rule is None else rule.endpoint
        for url_func in plan.preprocessors:
            yield (url_func, (endpoint, ctx._view_args), NO_KWARGS, False, None)
        for func, is_async in plan.before if before is None else before:
            rv = yield (func, (), NO_KWARGS, is_async, None)
            if rv is not None:
                return rv  # type: ignore[no-any-return]
        return None

    def _view_step(self, ctx: RequestContext) -> t.Any:
        """The step calling the matched view — or, for an automatic
        ``OPTIONS`` answer, the response itself; raises the routing error.
        :meth:`dispatch_request` is yielding this step."""
        req = ctx.__dict__.get("request")
        if req is None:
            rule, exc, view_args = ctx._rule, ctx._routing_exc, ctx._view_args
        else:
            # Once it exists, the Request object is what hooks may change.
            rule, exc, view_args = req.url_rule, req.routing_exception, req.view_args
        if exc is not None:
            if not self.debug and "raise_routing_exception" not in self._overrides:
                raise exc
            self.raise_routing_exception(ctx.request)
        assert rule is not None
        method = ctx.environ.get("REQUEST_METHOD")
        if (
            method != "GET"
            and (method or "").upper() == "OPTIONS"
            and getattr(rule, "provide_automatic_options", False)
        ):
            return self.make_default_options_response()
        view = self.view_functions[rule.endpoint]
        is_async = self._async_views.get(view)
        if is_async is None:
            is_async = self._async_views[view] = iscoroutinefunction(view)
        if is_async and rule.websocket and "websocket" not in ctx.__dict__:
            # A websocket handler reached by plain HTTP (a WSGI server can't
            # make websocket connections).
            raise WebsocketRequired()
        return (view, (), view_args or NO_KWARGS, is_async, None)

    def _dispatch_request(self, ctx: RequestContext) -> Steps[ft.ResponseReturnValue]:
        step = self._view_step(ctx)
        if step.__class__ is tuple:
            return (yield step)  # type: ignore[no-any-return]
        return step  # type: ignore[no-any-return]

    def full_dispatch_request(self) -> Response:
        """Run hooks and the view, handle errors, and finalize the response."""
        if not self._got_first_request:
            self._build_plan()
        ctx: RequestContext = request_ctx._get_current_object()
        return run_sync(self._full_dispatch(ctx, False), self.ensure_sync)  # type: ignore[return-value]

    def preprocess_request(self) -> ft.ResponseReturnValue | None:
        """Run URL value preprocessors and ``before_request`` functions;
        a non-``None`` value from one of them ends the request early."""
        ctx: RequestContext = request_ctx._get_current_object()
        rule = ctx._rule
        plan = self._endpoint_plan(None if rule is None else rule.endpoint)
        return run_sync(self._preprocess(ctx, plan), self.ensure_sync)

    def dispatch_request(self) -> ft.ResponseReturnValue:
        """Call the matched view (or raise the routing error)."""
        ctx: RequestContext = request_ctx._get_current_object()
        return run_sync(self._dispatch_request(ctx), self.ensure_sync)

    def make_default_options_response(self) -> Response:
        """The automatic ``OPTIONS`` response: an ``Allow`` header."""
        adapter = request_ctx.url_adapter
        methods = adapter.allowed_methods()  # type: ignore[union-attr]
        rv = self.response_class()
        rv.allow.update(methods)
        return rv

    def finalize_request(
        self,
        rv: ft.ResponseReturnValue | HTTPException,
        from_error_handler: bool = False,
    ) -> Response:
        """Make a response, run after-request processing and send
        ``request_finished``. Errors here are logged, not raised, when already
        handling an error."""
        return run_sync(
            self._finalize_request(rv, from_error_handler), self.ensure_sync
        )

    def _finalize_request(
        self, rv: ft.ResponseReturnValue | HTTPException, from_error_handler: bool
    ) -> Steps[Response]:
        response = self.make_response(rv)
        try:
            if "process_response" in self._overrides:
                response = yield call(self.process_response, response)
            else:
                response = yield from self._process_response(response)
            if request_finished.receivers:
                yield call(
                    request_finished.send,
                    self,
                    _async_wrapper=self.ensure_sync,
                    response=response,
                )
        except Exception:
            if not from_error_handler:
                raise
            self.logger.exception(
                "Request finalizing failed with an error while handling an error"
            )
        return response

    def process_response(self, response: Response) -> Response:
        """Run ``after_this_request`` and ``after_request`` functions (inner
        blueprint first, each list in reverse) and save the session."""
        return run_sync(self._process_response(response), self.ensure_sync)

    def _process_response(self, response: Response) -> Steps[Response]:
        ctx = _cv_request.get()
        funcs = ctx.__dict__.get("_after_request_functions")
        if funcs:
            for func in funcs:
                response = yield call(func, response)
        rule = ctx._rule
        endpoint = None if rule is None else rule.endpoint
        plan = self._endpoint_plans.get(endpoint) or self._endpoint_plan(endpoint)
        for func, is_async in plan.after:
            response = yield (func, (response,), NO_KWARGS, is_async, None)
        if self._session_needs_saving(ctx):
            yield from self._save_session(ctx, response)
        return response

    def _save_session(self, ctx: RequestContext, response: Response) -> Steps[None]:
        si = self.session_interface
        if self._stock_session_interface():
            stock = ctx._session
            if not si.is_null_session(stock):
                si.save_session(self, stock, response)
        else:
            # Other interfaces may do I/O: steps, so ASGI runs them in a thread.
            sess: t.Any = ctx.__dict__.get("_session")
            if sess is None:
                sess = yield call(getattr, ctx, "_session")
            if not si.is_null_session(sess):
                yield call(si.save_session, self, sess, response)

    # -- websockets ------------------------------------------------------------

    def _full_dispatch_websocket(self, ctx: RequestContext) -> Steps[Response | None]:
        """A websocket connection's dispatch, as steps: URL value
        preprocessors and ``before_websocket`` functions, the handler (or
        the routing error), error handlers, then :meth:`_finalize_websocket`.
        A client that went away (:class:`~erlen.websockets.WebsocketDisconnect`
        out of the handler) ends it normally."""
        rule = ctx._rule
        endpoint = None if rule is None else rule.endpoint
        plan = self._endpoint_plans.get(endpoint) or self._endpoint_plan(endpoint)
        rv: t.Any = None
        try:
            if plan.preprocessors or plan.before_websocket:
                rv = yield from self._preprocess(ctx, plan, plan.before_websocket)
            if rv is None:
                rv = yield from self._dispatch_request(ctx)
        except WebsocketDisconnect:
            rv = None
        except Exception as e:
            if "handle_user_exception" in self._overrides:
                rv = yield call_handling(e, self.handle_user_exception, e)
            else:
                rv = yield from self._handle_user_exception(e)
        return (yield from self._finalize_websocket(rv, False))

    def _finalize_websocket(
        self, rv: t.Any, from_error_handler: bool
    ) -> Steps[Response | None]:
        """Make a response of what the handler (or an error handler) gave,
        if anything, and pass it (or ``None``) through the
        ``after_websocket`` functions, inner blueprint first. The session is
        saved on that response: the handshake's refusal is the only HTTP
        response a websocket has; a change made with no response is lost,
        and logged."""
        ctx = _cv_request.get()
        response = None if rv is None else self.make_response(rv)
        try:
            rule = ctx._rule
            plan = self._endpoint_plan(None if rule is None else rule.endpoint)
            for func, is_async in plan.after_websocket:
                response = yield (func, (response,), NO_KWARGS, is_async, None)
            if self._session_needs_saving(ctx):
                if response is not None:
                    yield from self._save_session(ctx, response)
                elif getattr(ctx.__dict__.get("_session"), "modified", False):
                    self.logger.warning(
                        "The session was modified during a websocket connection"
                        " on %s; a websocket cannot set a cookie, so the change"
                        " is lost.",
                        ctx.environ.get("PATH_INFO"),
                    )
        except Exception:
            if not from_error_handler:
                raise
            self.logger.exception(
                "Websocket finalizing failed with an error while handling an error"
            )
        return response

    def make_response(self, rv: ft.ResponseReturnValue | HTTPException) -> Response:
        """Convert a view's return value into a ``response_class`` instance.

        Accepts ``str``, ``bytes``, ``dict``/``list`` (JSON), iterators
        (streamed), response objects, WSGI callables, and ``(body, status)``,
        ``(body, headers)`` or ``(body, status, headers)`` tuples.
        """
        if rv.__class__ is str:
            # PERF: the commonest value; what the general path below does.
            return self.response_class(rv)
        status: t.Any = None
        headers: t.Any = None
        if isinstance(rv, tuple):
            len_rv = len(rv)
            if len_rv == 3:
                rv, status, headers = rv  # type: ignore[misc]
            elif len_rv == 2:
                if isinstance(rv[1], (Headers, dict, tuple, list)):
                    rv, headers = rv
                else:
                    rv, status = rv  # type: ignore[misc]
            else:
                raise TypeError(
                    "The view function did not return a valid response tuple."
                    " The tuple must have the form (body, status, headers),"
                    " (body, status), or (body, headers)."
                )
        if rv is None:
            raise TypeError(
                f"The view function for {request.endpoint!r} did not"
                " return a valid response. The function either returned"
                " None or ended without a return statement."
            )
        if not isinstance(rv, self.response_class):
            if isinstance(rv, (str, bytes, bytearray, cabc.Iterator)):
                rv = self.response_class(rv, status=status, headers=headers)
                status = headers = None
            elif isinstance(rv, (dict, list)):
                rv = self.json.response(rv)
            elif isinstance(rv, BaseResponse) or callable(rv):
                try:
                    rv = self.response_class.force_type(
                        rv,  # type: ignore[arg-type]
                        request.environ,
                    )
                except TypeError as e:
                    raise TypeError(
                        f"{e}\nThe view function did not return a valid"
                        " response. The return type must be a string,"
                        " dict, list, tuple with headers or status,"
                        " Response instance, or WSGI callable, but it"
                        f" was a {type(rv).__name__}."
                    ).with_traceback(sys.exc_info()[2]) from None
            else:
                raise TypeError(
                    "The view function did not return a valid"
                    " response. The return type must be a string,"
                    " dict, list, tuple with headers or status,"
                    " Response instance, or WSGI callable, but it was a"
                    f" {type(rv).__name__}."
                )
        response = t.cast(Response, rv)
        if status is not None:
            if isinstance(status, (str, bytes, bytearray)):
                response.status = status  # type: ignore[assignment]
            else:
                response.status_code = status
        if headers:
            response.headers.update(headers)
        return response

    # -- teardown --------------------------------------------------------------

    def do_teardown_request(
        self,
        exc: BaseException | None = _sentinel,  # type: ignore[assignment]
    ) -> None:
        """Run ``teardown_request`` functions (inner blueprint first) and send
        ``request_tearing_down``. Called when the request context pops."""
        if exc is _sentinel:
            exc = sys.exc_info()[1]
        run_sync(self._teardown_request(exc), self.ensure_sync)

    def _runs_on_teardown(self, ctx: RequestContext) -> bool:
        """Whether tearing ``ctx`` down calls application code."""
        if request_tearing_down.receivers:
            return True
        rule = ctx._rule
        endpoint = None if rule is None else rule.endpoint
        plan = self._endpoint_plans.get(endpoint) or self._endpoint_plan(endpoint)
        return bool(plan.teardown)

    def _teardown_request(self, exc: BaseException | None) -> Steps[None]:
        ctx = _cv_request.get(None)
        rule = None if ctx is None else ctx._rule
        endpoint = None if rule is None else rule.endpoint
        plan = self._endpoint_plans.get(endpoint) or self._endpoint_plan(endpoint)
        for func, is_async in plan.teardown:
            yield (func, (exc,), NO_KWARGS, is_async, None)
        if request_tearing_down.receivers:
            yield call(
                request_tearing_down.send,
                self,
                _async_wrapper=self.ensure_sync,
                exc=exc,
            )

    def do_teardown_appcontext(
        self,
        exc: BaseException | None = _sentinel,  # type: ignore[assignment]
    ) -> None:
        """Run ``teardown_appcontext`` functions in reverse and send
        ``appcontext_tearing_down``. Called when the app context pops."""
        if exc is _sentinel:
            exc = sys.exc_info()[1]
        run_sync(self._teardown_appcontext(exc), self.ensure_sync)

    def _teardown_appcontext(self, exc: BaseException | None) -> Steps[None]:
        for func in reversed(self.teardown_appcontext_funcs):
            yield call(func, exc)
        if appcontext_tearing_down.receivers:
            yield call(
                appcontext_tearing_down.send,
                self,
                _async_wrapper=self.ensure_sync,
                exc=exc,
            )

    # -- errors --------------------------------------------------------------

    def _find_error_handler(
        self, e: Exception, blueprints: t.Sequence[str]
    ) -> ft.ErrorHandlerCallable | None:
        """The handler for ``e``: by code, then by class; inner blueprint
        first, then the app; most specific class in the MRO first."""
        exc_class, code = self._get_exc_class_and_code(type(e))
        names = (*blueprints, None)
        spec = self.error_handler_spec
        for c in (code, None) if code is not None else (None,):
            for name in names:
                handler_map = spec.get(name, {}).get(c)
                if not handler_map:
                    continue
                for cls in exc_class.__mro__:
                    handler = handler_map.get(cls)
                    if handler is not None:
                        return handler
        return None

    def _current_blueprints(self) -> tuple[str, ...]:
        ctx = _cv_request.get(None)
        if ctx is None:
            return ()
        if "request" in ctx.__dict__:
            return tuple(ctx.request.blueprints)
        return self._request_blueprints(ctx)

    def trap_http_exception(self, e: Exception) -> bool:
        """Whether an HTTP exception should propagate like any error instead of
        becoming its error page (``TRAP_HTTP_EXCEPTIONS``,
        ``TRAP_BAD_REQUEST_ERRORS``)."""
        if self.config["TRAP_HTTP_EXCEPTIONS"]:
            return True
        trap_bad_request = self.config["TRAP_BAD_REQUEST_ERRORS"]
        if (
            trap_bad_request is None
            and self.debug
            and isinstance(e, BadRequestKeyError)
        ):
            return True
        if trap_bad_request:
            return isinstance(e, BadRequest)
        return False

    def handle_http_exception(
        self, e: HTTPException
    ) -> HTTPException | ft.ResponseReturnValue:
        """Run the registered handler for an HTTP error, else use the error
        itself as the response. Redirects from routing pass through."""
        return run_sync(self._handle_http_exception(e), self.ensure_sync)

    def _handle_http_exception(
        self, e: HTTPException
    ) -> Steps[HTTPException | ft.ResponseReturnValue]:
        if e.code is None or isinstance(e, RoutingException):
            return e
        handler = self._find_error_handler(e, self._current_blueprints())
        if handler is None:
            return e
        return (yield call_handling(e, handler, e))  # type: ignore[no-any-return]

    def handle_user_exception(
        self, e: Exception
    ) -> HTTPException | ft.ResponseReturnValue:
        """Handle an error raised while dispatching: HTTP errors go to
        :meth:`handle_http_exception`, others to a registered handler, and
        unhandled ones are re-raised for :meth:`handle_exception`."""
        return run_sync(self._handle_user_exception(e), self.ensure_sync)

    def _handle_user_exception(
        self, e: Exception
    ) -> Steps[HTTPException | ft.ResponseReturnValue]:
        if isinstance(e, BadRequestKeyError) and (
            self.debug or self.config["TRAP_BAD_REQUEST_ERRORS"]
        ):
            e.show_exception = True
        if isinstance(e, HTTPException) and not self.trap_http_exception(e):
            if "handle_http_exception" in self._overrides:
                return (yield call_handling(e, self.handle_http_exception, e))  # type: ignore[no-any-return]
            return (yield from self._handle_http_exception(e))
        handler = self._find_error_handler(e, self._current_blueprints())
        if handler is None:
            raise e
        return (yield call_handling(e, handler, e))  # type: ignore[no-any-return]

    def handle_exception(self, e: Exception) -> Response:
        """Handle an unhandled error: 500, or re-raise when propagating.

        Sends ``got_request_exception``, logs the error once, and renders the
        500 handler (which receives an ``InternalServerError`` whose
        ``original_exception`` is ``e``). Exceptions propagate instead when
        ``PROPAGATE_EXCEPTIONS`` is set, or in testing or debug mode.
        """
        return run_sync(self._handle_exception(e), self.ensure_sync)  # type: ignore[return-value]

    def _handle_exception(
        self, e: Exception, websocket: bool = False
    ) -> Steps[Response | None]:
        exc_info = sys.exc_info()
        if got_request_exception.receivers:
            yield call_handling(
                e,
                got_request_exception.send,
                self,
                _async_wrapper=self.ensure_sync,
                exception=e,
            )
        propagate = self.config["PROPAGATE_EXCEPTIONS"]
        if propagate is None:
            propagate = self.testing or self.debug
        if propagate:
            raise e
        self.log_exception(exc_info)
        server_error: InternalServerError | ft.ResponseReturnValue
        server_error = InternalServerError(original_exception=e)
        handler = self._find_error_handler(server_error, self._current_blueprints())
        if handler is not None:
            server_error = yield call_handling(e, handler, server_error)
        if websocket:
            return (yield from self._finalize_websocket(server_error, True))
        if "finalize_request" in self._overrides:
            return (  # type: ignore[no-any-return]
                yield call(self.finalize_request, server_error, from_error_handler=True)
            )
        return (yield from self._finalize_request(server_error, True))

    def log_exception(
        self,
        exc_info: tuple[type, BaseException, TracebackType] | tuple[None, None, None],
    ) -> None:
        """Log an unhandled error with the request's path and method."""
        self.logger.error(
            f"Exception on {request.path} [{request.method}]", exc_info=exc_info
        )

    def should_ignore_error(self, error: BaseException | None) -> bool:
        """Whether teardown functions should not see ``error``; never, by default."""
        return False

    # -- async -----------------------------------------------------------------

    def ensure_sync(self, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        """Wrap a coroutine function to be callable synchronously."""
        if iscoroutinefunction(func):
            return self.async_to_sync(func)
        return func

    def async_to_sync(
        self, func: t.Callable[..., t.Coroutine[t.Any, t.Any, t.Any]]
    ) -> t.Callable[..., t.Any]:
        """Make a coroutine function callable from synchronous code.

        In a worker thread of a request served over ASGI, the coroutine runs
        on the server's event loop; elsewhere (WSGI) in a new event loop per
        call, with asgiref, as in Flask.
        """
        from .asgi import loop_of_worker_thread, run_on_loop

        loop = loop_of_worker_thread()
        if loop is not None:
            return run_on_loop(func, loop)
        try:
            from asgiref.sync import async_to_sync as asgiref_async_to_sync
        except ImportError:
            raise RuntimeError(
                "Install erlen with the 'async' extra in order to use async views."
            ) from None
        return asgiref_async_to_sync(func)

    # -- serving -----------------------------------------------------------------

    def run(
        self,
        host: str | None = None,
        port: int | None = None,
        debug: bool | None = None,
        load_dotenv: bool = True,
        **options: t.Any,
    ) -> None:
        """Serve the app with Werkzeug's development server (not for production;
        see docs/deploying.md). Ignored when started by the ``erlen`` command."""
        if "true" in (
            os.environ.get("ERLEN_RUN_FROM_CLI"),
            os.environ.get("FLASK_RUN_FROM_CLI"),
        ):
            if not is_running_from_reloader():
                click.secho(
                    " * Ignoring a call to 'app.run()' that would block"
                    " the current 'erlen' CLI command.\n"
                    "   Only call 'app.run()' in an"
                    " 'if __name__ == \"__main__\"' guard.",
                    fg="red",
                )
            return
        if get_load_dotenv(load_dotenv):
            cli.load_dotenv()
            if "ERLEN_DEBUG" in os.environ or "FLASK_DEBUG" in os.environ:
                self.debug = get_debug_flag()
        if debug is not None:
            self.debug = bool(debug)
        server_name = self.config.get("SERVER_NAME")
        sn_host = sn_port = None
        if server_name:
            sn_host, _, sn_port = server_name.partition(":")
        if not host:
            host = sn_host or "127.0.0.1"
        if port or port == 0:
            port = int(port)
        elif sn_port:
            port = int(sn_port)
        else:
            port = 5000
        options.setdefault("use_reloader", self.debug)
        options.setdefault("use_debugger", self.debug)
        options.setdefault("threaded", True)
        cli.show_server_banner(self.debug, self.name)
        from werkzeug.serving import run_simple

        try:
            run_simple(t.cast(str, host), port, self, **options)
        finally:
            # A later run (e.g. in a test) may register more setup first.
            self._got_first_request = False


#: Flask's name for the application base class, for extensions that use it.
App = Erlen
