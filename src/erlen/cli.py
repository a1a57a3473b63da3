"""The ``erlen`` command line: app discovery, ``run``, ``shell``, ``routes`` and the
click groups (:class:`AppGroup`, :class:`ErlenGroup`) used for custom commands.

Behaves like Flask 3.1's ``flask.cli`` under erlen names. For migration, every
``ERLEN_*`` environment variable falls back to its ``FLASK_*`` twin, and
``.flaskenv`` is read after ``.erlenenv`` and ``.env``.

This module must not import :mod:`erlen.app` at import time: the app module
imports :class:`AppGroup` from here.
"""

from __future__ import annotations

import ast
import collections.abc as cabc
import importlib
import importlib.metadata
import inspect
import logging
import os
import platform
import sys
import traceback
import typing as t
from functools import update_wrapper
from operator import itemgetter
from types import ModuleType

import click
from click.core import ParameterSource
from werkzeug.serving import is_running_from_reloader, run_simple
from werkzeug.utils import import_string

from .globals import _cv_app, current_app

if t.TYPE_CHECKING:
    import ssl

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from .app import Erlen

__all__ = [
    "AppGroup",
    "CertParamType",
    "ErlenGroup",
    "NoAppException",
    "ScriptInfo",
    "SeparatedPathType",
    "cli",
    "find_app_by_string",
    "find_best_app",
    "get_debug_flag",
    "get_load_dotenv",
    "get_version",
    "load_dotenv",
    "locate_app",
    "main",
    "pass_script_info",
    "prepare_import",
    "routes_command",
    "run_command",
    "shell_command",
    "show_server_banner",
    "version_option",
    "with_appcontext",
]

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

#: Default dotenv files, lowest precedence first.
_DOTENV_FILES = (".flaskenv", ".erlenenv", ".env")

_DEPLOY_DOCS = "docs/deploying.md"


def get_debug_flag() -> bool:
    """Whether ``ERLEN_DEBUG`` (else ``FLASK_DEBUG``) asks for debug mode."""
    # Imported late: this module is imported while erlen itself is initialising.
    from .helpers import get_debug_flag as impl

    return impl()


def get_load_dotenv(default: bool = True) -> bool:
    """Whether dotenv files should be loaded: ``False`` when ``ERLEN_SKIP_DOTENV``
    (else ``FLASK_SKIP_DOTENV``) is set to a true value, ``default`` when unset."""
    from .helpers import get_load_dotenv as impl

    return impl(default)


class NoAppException(click.UsageError):
    """Raised when an application cannot be found or loaded."""


def _erlen_class() -> type[Erlen]:
    from .app import Erlen

    return Erlen


def _factory_call_failed(func: t.Callable[..., t.Any]) -> bool:
    """After a ``TypeError``: ``True`` if calling ``func`` itself failed (wrong
    arguments), ``False`` if the error came from inside the function body."""
    tb = sys.exc_info()[2]
    try:
        while tb is not None:
            if tb.tb_frame.f_code is func.__code__:
                return False
            tb = tb.tb_next
        return True
    finally:
        del tb


def find_best_app(module: ModuleType) -> Erlen:
    """Find the application in ``module``: an ``app`` or ``application`` attribute,
    else the only app instance, else a ``create_app``/``make_app`` factory callable
    without arguments."""
    erlen_cls = _erlen_class()
    name = module.__name__

    for attr in ("app", "application"):
        candidate = getattr(module, attr, None)
        if isinstance(candidate, erlen_cls):
            return candidate

    found = [v for v in module.__dict__.values() if isinstance(v, erlen_cls)]
    if len(found) == 1:
        return found[0]
    if found:
        raise NoAppException(
            f"Detected multiple Erlen applications in module '{name}'."
            f" Use '{name}:name' to specify the correct one."
        )

    for attr in ("create_app", "make_app"):
        factory = getattr(module, attr, None)
        if not inspect.isfunction(factory):
            continue
        try:
            app = factory()
        except TypeError as e:
            if not _factory_call_failed(factory):
                raise
            raise NoAppException(
                f"Detected factory '{attr}' in module '{name}', but could not call"
                f" it without arguments. Use '{name}:{attr}(args)' to specify"
                " arguments."
            ) from e
        if isinstance(app, erlen_cls):
            return app

    raise NoAppException(
        f"Failed to find Erlen application or factory in module '{name}'."
        f" Use '{name}:name' to specify one."
    )


def _parse_app_expr(app_name: str) -> tuple[str, list[t.Any], dict[str, t.Any]]:
    """Parse ``name`` or ``name(literal, key=literal)`` into its parts."""
    bad_expr = f"Failed to parse {app_name!r} as an attribute name or function call."
    try:
        expr = ast.parse(app_name.strip(), mode="eval").body
    except SyntaxError:
        raise NoAppException(bad_expr) from None

    if isinstance(expr, ast.Name):
        return expr.id, [], {}
    if not isinstance(expr, ast.Call):
        raise NoAppException(bad_expr)
    if not isinstance(expr.func, ast.Name):
        raise NoAppException(f"Function reference must be a simple name: {app_name!r}.")
    try:
        args = [ast.literal_eval(a) for a in expr.args]
        kwargs = {
            kw.arg: ast.literal_eval(kw.value)
            for kw in expr.keywords
            if kw.arg is not None
        }
    except ValueError:
        # literal_eval's own messages are cryptic; show the whole expression.
        raise NoAppException(
            f"Failed to parse arguments as literal values: {app_name!r}."
        ) from None
    return expr.func.id, args, kwargs


def find_app_by_string(module: ModuleType, app_name: str) -> Erlen:
    """Resolve ``app_name`` in ``module``: an attribute holding the app, or a
    factory function called with literal arguments, e.g. ``create_app("dev")``."""
    name, args, kwargs = _parse_app_expr(app_name)
    mod_name = module.__name__

    try:
        attr = getattr(module, name)
    except AttributeError as e:
        raise NoAppException(
            f"Failed to find attribute {name!r} in {mod_name!r}."
        ) from e

    if inspect.isfunction(attr):
        try:
            app = attr(*args, **kwargs)
        except TypeError as e:
            if not _factory_call_failed(attr):
                raise
            raise NoAppException(
                f"The factory {app_name!r} in module {mod_name!r} could not be"
                " called with the specified arguments."
            ) from e
    else:
        app = attr

    if isinstance(app, _erlen_class()):
        return app
    raise NoAppException(
        f"A valid Erlen application was not obtained from '{mod_name}:{app_name}'."
    )


def prepare_import(path: str) -> str:
    """Turn a file or package path into a module name, putting the directory that
    contains the top-level package first on ``sys.path``."""
    path = os.path.realpath(path)
    root, ext = os.path.splitext(path)
    if ext == ".py":
        path = root
    if os.path.basename(path) == "__init__":
        path = os.path.dirname(path)

    parts: list[str] = []
    # Walk up while the parent directory is still a package.
    while True:
        path, name = os.path.split(path)
        parts.append(name)
        if not os.path.exists(os.path.join(path, "__init__.py")):
            break

    if sys.path[0] != path:
        sys.path.insert(0, path)
    return ".".join(reversed(parts))


def _module_missing(exc: ImportError, module_name: str) -> bool:
    """Whether ``exc`` means ``module_name`` (or a parent package) doesn't exist,
    as opposed to the module raising ``ImportError`` while it ran."""
    if not isinstance(exc, ModuleNotFoundError) or exc.name is None:
        return False
    return module_name == exc.name or module_name.startswith(exc.name + ".")


@t.overload
def locate_app(
    module_name: str, app_name: str | None, raise_if_not_found: t.Literal[True] = True
) -> Erlen: ...


@t.overload
def locate_app(
    module_name: str, app_name: str | None, raise_if_not_found: bool = ...
) -> Erlen | None: ...


def locate_app(
    module_name: str, app_name: str | None, raise_if_not_found: bool = True
) -> Erlen | None:
    """Import ``module_name`` and find the app in it (by ``app_name`` if given)."""
    try:
        __import__(module_name)
    except ImportError as e:
        if not _module_missing(e, module_name):
            raise NoAppException(
                f"While importing {module_name!r}, an ImportError was raised:"
                f"\n\n{traceback.format_exc()}"
            ) from None
        if raise_if_not_found:
            raise NoAppException(f"Could not import {module_name!r}.") from None
        return None

    module = sys.modules[module_name]
    if app_name is None:
        return find_best_app(module)
    return find_app_by_string(module, app_name)


def _split_import_path(value: str) -> tuple[str, str | None]:
    """Split ``module:name`` at the first colon that is not a Windows drive's."""
    start = 0
    while (idx := value.find(":", start)) != -1:
        if value[idx + 1 : idx + 2] not in ("/", "\\"):
            return value[:idx], value[idx + 1 :]
        start = idx + 1
    return value, None


def get_version(ctx: click.Context, param: click.Parameter, value: t.Any) -> None:
    """``--version`` callback: print the Python, erlen and Werkzeug versions."""
    if not value or ctx.resilient_parsing:
        return
    from . import __version__
    from .helpers import _flask_patched

    lines = [
        f"Python {platform.python_version()}",
        f"erlen {__version__}",
        f"Werkzeug {importlib.metadata.version('werkzeug')}",
    ]
    if _flask_patched():
        from .flask_patch import FLASK_VERSION

        lines.append(f"Flask {FLASK_VERSION} API (through erlen.flask_patch)")
    click.echo("\n".join(lines), color=ctx.color)
    ctx.exit()


version_option = click.Option(
    ["--version"],
    help="Show the erlen version.",
    expose_value=False,
    callback=get_version,
    is_flag=True,
    is_eager=True,
)


class ScriptInfo:
    """Knows how to find and load the application for a command line run.

    :param app_import_path: ``module:name`` (or a file path) of the app.
    :param create_app: a callable returning the app; takes precedence.
    :param set_debug_flag: set ``app.debug`` from ``ERLEN_DEBUG`` after loading.
    :param load_dotenv_defaults: whether default dotenv files should be loaded
        (``ERLEN_SKIP_DOTENV`` overrides it).
    """

    def __init__(
        self,
        app_import_path: str | None = None,
        create_app: t.Callable[..., Erlen] | None = None,
        set_debug_flag: bool = True,
        load_dotenv_defaults: bool = True,
    ) -> None:
        self.app_import_path = app_import_path
        self.create_app = create_app
        #: Arbitrary data for commands to share.
        self.data: dict[t.Any, t.Any] = {}
        self.set_debug_flag = set_debug_flag
        self.load_dotenv_defaults = get_load_dotenv(load_dotenv_defaults)
        self._loaded_app: Erlen | None = None

    def load_app(self) -> Erlen:
        """Load the app once (``create_app``, else the import path, else
        ``wsgi.py`` then ``app.py`` in the current directory) and return it."""
        if self._loaded_app is not None:
            return self._loaded_app

        app: Erlen | None = None
        if self.create_app is not None:
            app = self.create_app()
        elif self.app_import_path:
            path, name = _split_import_path(self.app_import_path)
            app = locate_app(prepare_import(path), name)
        else:
            for filename in ("wsgi.py", "app.py"):
                app = locate_app(
                    prepare_import(filename), None, raise_if_not_found=False
                )
                if app is not None:
                    break

        if app is None:
            raise NoAppException(
                "Could not locate an Erlen application. Use the 'erlen --app'"
                " option, 'ERLEN_APP' (or 'FLASK_APP') environment variable, or"
                " a 'wsgi.py' or 'app.py' file in the current directory."
            )

        if self.set_debug_flag:
            # Through the property, so that dependent settings update too.
            app.debug = get_debug_flag()

        self._loaded_app = app
        return app


pass_script_info = click.make_pass_decorator(ScriptInfo, ensure=True)


def with_appcontext(f: F) -> F:
    """Run the decorated command (and its subcommands) inside the app context of
    the script's app, loading the app if no app context is active yet."""

    @click.pass_context
    def decorator(ctx: click.Context, /, *args: t.Any, **kwargs: t.Any) -> t.Any:
        if _cv_app.get(None) is None:
            app = ctx.ensure_object(ScriptInfo).load_app()
            ctx.with_resource(app.app_context())
        return ctx.invoke(f, *args, **kwargs)

    return update_wrapper(decorator, f)  # type: ignore[return-value]


class AppGroup(click.Group):
    """A :class:`click.Group` whose :meth:`command` wraps callbacks in
    :func:`with_appcontext` (unless ``with_appcontext=False``) and whose
    :meth:`group` creates :class:`AppGroup` subgroups."""

    def command(  # type: ignore[override]
        self, *args: t.Any, **kwargs: t.Any
    ) -> t.Callable[[t.Callable[..., t.Any]], click.Command]:
        """Like :meth:`click.Group.command`, with an app context by default."""
        wrap = kwargs.pop("with_appcontext", True)

        def decorator(f: t.Callable[..., t.Any]) -> click.Command:
            if wrap:
                f = with_appcontext(f)
            return click.Group.command(self, *args, **kwargs)(f)  # type: ignore[no-any-return]

        return decorator

    def group(  # type: ignore[override]
        self, *args: t.Any, **kwargs: t.Any
    ) -> t.Callable[[t.Callable[..., t.Any]], click.Group]:
        """Like :meth:`click.Group.group`, defaulting ``cls`` to :class:`AppGroup`."""
        kwargs.setdefault("cls", AppGroup)
        return super().group(*args, **kwargs)  # type: ignore[no-any-return]


class _ErlenOption(click.Option):
    """An option whose automatic ``ERLEN_*`` environment variable falls back to
    the ``FLASK_*`` one, for projects migrating from Flask."""

    def resolve_envvar_value(self, ctx: click.Context) -> str | None:
        rv = super().resolve_envvar_value(ctx)
        if rv is not None:
            return rv
        prefix = ctx.auto_envvar_prefix
        if (
            self.envvar is None
            and self.allow_from_autoenv
            and self.name
            and prefix is not None
            and prefix.startswith("ERLEN")
        ):
            return os.environ.get(f"FLASK{prefix[5:]}_{self.name.upper()}") or None
        return None


def _set_app(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(ScriptInfo).app_import_path = value


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    source = ctx.get_parameter_source(param.name or "debug")
    # The flag defaults to False when absent: leave debug to the environment then.
    if source is None or source in (
        ParameterSource.DEFAULT,
        ParameterSource.DEFAULT_MAP,
    ):
        return
    # An env var rather than a ScriptInfo attribute, so that app factories can
    # read it before the app exists.
    from .helpers import _env_name

    os.environ[_env_name("DEBUG")] = "1" if value else "0"


def _load_env_file(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> None:
    try:
        import dotenv  # noqa: F401
    except ImportError:
        # Without a value, still call load_dotenv so it can show its tip.
        if value is not None:
            raise click.BadParameter(
                "python-dotenv must be installed to load an env file.",
                ctx=ctx,
                param=param,
            ) from None

    defaults = ctx.ensure_object(ScriptInfo).load_dotenv_defaults
    if value is not None or defaults:
        load_dotenv(value, load_defaults=defaults)


# Eager so that environment variables are loaded before other options read them.
_env_file_option = _ErlenOption(
    ["-e", "--env-file"],
    type=click.Path(exists=True, dir_okay=False),
    help=(
        "Load environment variables from this file, taking precedence over those"
        " set by '.env', '.erlenenv' and '.flaskenv'. Variables set directly in the"
        " environment take highest precedence. python-dotenv must be installed."
    ),
    is_eager=True,
    expose_value=False,
    callback=_load_env_file,
)

# Eager so that app commands are available to --help (also eager, and later).
_app_option = _ErlenOption(
    ["-A", "--app"],
    metavar="IMPORT",
    help=(
        "The Erlen application or factory function to load, in the form"
        " 'module:name'. Module can be a dotted import or file path. Name is not"
        " required if it is 'app', 'application', 'create_app', or 'make_app', and"
        " can be 'name(args)' to pass arguments."
    ),
    is_eager=True,
    expose_value=False,
    callback=_set_app,
)

_debug_option = _ErlenOption(
    ["--debug/--no-debug"],
    help="Set debug mode.",
    expose_value=False,
    callback=_set_debug,
)


class ErlenGroup(AppGroup):
    """The ``erlen`` command group: adds ``--app``, ``--env-file``, ``--debug`` and
    ``--version``, the ``run``/``shell``/``routes`` commands, plugin commands
    (``erlen.commands`` and ``flask.commands`` entry points) and the loaded app's
    ``app.cli`` commands. Embed it in your own CLI with ``cls=ErlenGroup``.

    :param add_default_commands: add ``run``, ``shell`` and ``routes``.
    :param create_app: a callable returning the app, instead of discovery.
    :param add_version_option: add ``--version``.
    :param load_dotenv: load ``.env``, ``.erlenenv`` and ``.flaskenv``.
    :param set_debug_flag: set ``app.debug`` from the environment.
    """

    def __init__(
        self,
        add_default_commands: bool = True,
        create_app: t.Callable[..., Erlen] | None = None,
        add_version_option: bool = True,
        load_dotenv: bool = True,
        set_debug_flag: bool = True,
        **extra: t.Any,
    ) -> None:
        params: list[click.Parameter] = list(extra.pop("params", None) or ())
        # Options with callbacks rather than a group callback, so that users can
        # still give the group their own callback. --env-file must come first.
        params.extend((_env_file_option, _app_option, _debug_option))
        if add_version_option:
            params.append(version_option)

        extra.setdefault("context_settings", {})
        extra["context_settings"].setdefault("auto_envvar_prefix", "ERLEN")
        super().__init__(params=params, **extra)

        self.create_app = create_app
        self.load_dotenv = load_dotenv
        self.set_debug_flag = set_debug_flag

        if add_default_commands:
            self.add_command(run_command)
            self.add_command(shell_command)
            self.add_command(routes_command)

        self._loaded_plugin_commands = False
        self._loaded_flask_plugin_commands = False

    def _load_plugin_commands(self) -> None:
        if self._loaded_plugin_commands:
            return
        self._loaded_plugin_commands = True
        # Like Flask, plugins may replace built-in commands; erlen's own group is
        # loaded last so that it wins over a Flask plugin of the same name.
        self._load_flask_plugin_commands()
        for ep in importlib.metadata.entry_points(group="erlen.commands"):
            self.add_command(ep.load(), ep.name)

    def _load_flask_plugin_commands(self) -> None:
        """Add ``flask.commands`` plugins, but only for an app that uses Flask's
        names (``erlen.flask_patch`` is already in effect, typically because the
        app module imported it) or when ``ERLEN_FLASK_PLUGINS`` asks for them:
        loading them means applying the patch, which a pure erlen app must not
        get behind its back. Called again once the app is loaded."""
        from .helpers import _flask_patched

        if self._loaded_flask_plugin_commands:
            return
        if not (_flask_patched() or _flask_plugins_requested()):
            return
        eps = importlib.metadata.entry_points(group="flask.commands")
        if not eps:
            return
        self._loaded_flask_plugin_commands = True
        try:
            # Flask plugins import ``flask``: it must mean erlen for them to work.
            importlib.import_module(f"{__package__}.flask_patch")
        except ImportError:
            return
        erlen_names = {
            ep.name for ep in importlib.metadata.entry_points(group="erlen.commands")
        }
        for ep in eps:
            if ep.name in erlen_names and ep.name in self.commands:
                continue  # loaded after the erlen plugins: theirs still wins
            try:
                command = ep.load()
            except Exception as e:
                # A broken third-party Flask plugin must not break the erlen CLI.
                click.secho(
                    f" * Warning: could not load the Flask plugin command"
                    f" {ep.name!r} ({ep.value}): {type(e).__name__}: {e}",
                    err=True,
                    fg="yellow",
                )
                continue
            self.add_command(command, ep.name)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Built-in and plugin commands first (they work without an app), then the
        app's ``app.cli`` commands, run inside its app context."""
        self._load_plugin_commands()
        rv = super().get_command(ctx, cmd_name)
        if rv is not None:
            return rv

        info = ctx.ensure_object(ScriptInfo)
        try:
            app = info.load_app()
        except NoAppException as e:
            click.secho(f"Error: {e.format_message()}\n", err=True, fg="red")
            return None

        # An app that imported erlen.flask_patch gets the Flask plugins now.
        self._load_flask_plugin_commands()
        rv = super().get_command(ctx, cmd_name)
        if rv is not None:
            return rv

        # Make the app context available to parameter and command callbacks.
        app_ctx = _cv_app.get(None)
        if app_ctx is None or app_ctx.app is not app:
            ctx.with_resource(app.app_context())
        return app.cli.get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """All command names; shows why the app failed to load, if it did."""
        self._load_plugin_commands()
        info = ctx.ensure_object(ScriptInfo)
        names: set[str] = set()
        try:
            names.update(info.load_app().cli.list_commands(ctx))
        except NoAppException as e:
            click.secho(f"Error: {e.format_message()}\n", err=True, fg="red")
        except Exception:
            click.secho(f"{traceback.format_exc()}\n", err=True, fg="red")
        # After loading the app, which may have imported erlen.flask_patch.
        self._load_flask_plugin_commands()
        names.update(super().list_commands(ctx))
        return sorted(names)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: t.Any,
    ) -> click.Context:
        """Create the context with a :class:`ScriptInfo` object, and tell
        ``app.run()`` in the loaded module to do nothing."""
        from .helpers import _env_name

        os.environ[_env_name("RUN_FROM_CLI")] = "true"
        if "obj" not in extra and "obj" not in self.context_settings:
            extra["obj"] = ScriptInfo(
                create_app=self.create_app,
                set_debug_flag=self.set_debug_flag,
                load_dotenv_defaults=self.load_dotenv,
            )
        return super().make_context(info_name, args, parent=parent, **extra)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Handle ``--env-file``/``--app`` from the environment before help is
        shown for a bare invocation, so that app commands are listed."""
        if (not args and self.no_args_is_help) or (
            len(args) == 1 and args[0] in self.get_help_option_names(ctx)
        ):
            _env_file_option.handle_parse_result(ctx, {}, [])
            _app_option.handle_parse_result(ctx, {}, [])
        return super().parse_args(ctx, args)


def _flask_plugins_requested() -> bool:
    """Whether ``ERLEN_FLASK_PLUGINS`` asks for ``flask.commands`` plugins."""
    value = os.environ.get("ERLEN_FLASK_PLUGINS", "")
    return value.lower() not in ("", "0", "false", "no")


def load_dotenv(
    path: str | os.PathLike[str] | None = None, load_defaults: bool = True
) -> bool:
    """Set environment variables from dotenv files, never overriding variables
    already set. Precedence: ``path``, then ``.env``, ``.erlenenv`` and
    ``.flaskenv`` (the nearest of each, searching up from the current directory).

    Does nothing (returns ``False``) if python-dotenv is not installed, printing a
    tip when such files are present.

    :return: whether at least one variable was read from a file.
    """
    try:
        import dotenv
    except ImportError:
        if path or any(os.path.isfile(name) for name in _DOTENV_FILES):
            click.secho(
                " * Tip: There are .env files present. Install python-dotenv"
                " to use them.",
                fg="yellow",
                err=True,
            )
        return False

    values: dict[str, str | None] = {}
    if load_defaults:
        for name in _DOTENV_FILES:
            found = dotenv.find_dotenv(name, usecwd=True)
            if found:
                values.update(dotenv.dotenv_values(found, encoding="utf-8"))
    if path is not None and os.path.isfile(path):
        values.update(dotenv.dotenv_values(path, encoding="utf-8"))

    for key, value in values.items():
        if value is not None and key not in os.environ:
            os.environ[key] = value
    return bool(values)


#: The first words of the production warning Werkzeug's server logs at startup.
_WERKZEUG_DEV_WARNING = "WARNING: This is a development server."


class _OneProductionWarning(logging.Filter):
    """Drops the line of Werkzeug's startup log that repeats the production
    warning :func:`show_server_banner` has just printed (with where to read
    about deploying), keeping the rest (the addresses served)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str) or _WERKZEUG_DEV_WARNING not in record.msg:
            return True
        lines = [
            line
            for line in record.msg.splitlines()
            if _WERKZEUG_DEV_WARNING not in line
        ]
        record.msg = "\n".join(lines)
        return bool(lines)


_one_production_warning = _OneProductionWarning()


def show_server_banner(debug: bool | None, app_import_path: str | None) -> None:
    """Print the startup lines (app, debug mode, production warning), once: not
    again in the reloader's child process, nor again by Werkzeug's server."""
    werkzeug_logger = logging.getLogger("werkzeug")
    if _one_production_warning not in werkzeug_logger.filters:
        werkzeug_logger.addFilter(_one_production_warning)
    if is_running_from_reloader():
        return
    if app_import_path is not None:
        click.echo(f" * Serving erlen app '{app_import_path}'")
    if debug is not None:
        click.echo(f" * Debug mode: {'on' if debug else 'off'}")
    click.secho(
        " * WARNING: the development server is not for production; deploy with"
        f" gunicorn, granian or waitress behind nginx, see {_DEPLOY_DOCS}",
        fg="yellow",
        err=True,
    )


if t.TYPE_CHECKING:
    _ParamType = click.ParamType[t.Any]
else:  # click < 8.2 has no generic ParamType at runtime
    _ParamType = click.ParamType


class CertParamType(_ParamType):
    """``--cert`` values: an existing certificate file, ``adhoc`` (a generated
    certificate, needs ``cryptography``) or the import path of an
    :class:`ssl.SSLContext`."""

    name = "path"

    def __init__(self) -> None:
        self.path_type = click.Path(exists=True, dir_okay=False, resolve_path=True)

    def convert(
        self, value: t.Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> t.Any:
        try:
            import ssl
        except ImportError:  # pragma: no cover - Python built without SSL
            raise click.BadParameter(
                'Using "--cert" requires Python to be compiled with SSL support.',
                ctx,
                param,
            ) from None

        try:
            return self.path_type(value, param, ctx)
        except click.BadParameter:
            text = click.STRING(value, param, ctx)
            if text.lower() == "adhoc":
                try:
                    importlib.import_module("cryptography")
                except ImportError:
                    raise click.BadParameter(
                        "Using ad-hoc certificates requires the cryptography library.",
                        ctx,
                        param,
                    ) from None
                return "adhoc"

            # Unlike flask, keep the case: module and attribute names may use it.
            obj = import_string(text, silent=True)
            if isinstance(obj, ssl.SSLContext):
                return obj
            raise


def _validate_key(ctx: click.Context, param: click.Parameter, value: t.Any) -> t.Any:
    """``--key`` goes with a certificate file; turn ``cert`` into ``(cert, key)``."""
    import ssl

    cert = ctx.params.get("cert")
    is_adhoc = cert == "adhoc"
    is_context = isinstance(cert, ssl.SSLContext)

    if value is not None:
        if is_adhoc:
            raise click.BadParameter(
                'When "--cert" is "adhoc", "--key" is not used.', ctx, param
            )
        if is_context:
            raise click.BadParameter(
                'When "--cert" is an SSLContext object, "--key" is not used.',
                ctx,
                param,
            )
        if not cert:
            raise click.BadParameter('"--cert" must also be specified.', ctx, param)
        ctx.params["cert"] = cert, value
    elif cert and not (is_adhoc or is_context):
        raise click.BadParameter('Required when using "--cert".', ctx, param)
    return value


class SeparatedPathType(click.Path):
    """A list of paths separated by :data:`os.pathsep` (``:``, ``;`` on Windows),
    each validated as a :class:`click.Path`."""

    def convert(
        self, value: t.Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> t.Any:
        items = self.split_envvar_value(value)
        return [super(SeparatedPathType, self).convert(i, param, ctx) for i in items]


@click.command("run", short_help="Run a development server.")
@click.option(
    "--host",
    "-h",
    default="127.0.0.1",
    cls=_ErlenOption,
    help="The interface to bind to.",
)
@click.option(
    "--port", "-p", default=5000, cls=_ErlenOption, help="The port to bind to."
)
@click.option(
    "--cert",
    type=CertParamType(),
    cls=_ErlenOption,
    help="Specify a certificate file to use HTTPS, or 'adhoc'.",
    is_eager=True,
)
@click.option(
    "--key",
    type=click.Path(exists=True, dir_okay=False, resolve_path=True),
    cls=_ErlenOption,
    callback=_validate_key,
    expose_value=False,
    help="The key file to use when specifying a certificate.",
)
@click.option(
    "--reload/--no-reload",
    default=None,
    cls=_ErlenOption,
    help="Enable or disable the reloader. By default the reloader is active if"
    " debug is enabled.",
)
@click.option(
    "--debugger/--no-debugger",
    default=None,
    cls=_ErlenOption,
    help="Enable or disable the debugger. By default the debugger is active if"
    " debug is enabled. It is never enabled outside debug mode.",
)
@click.option(
    "--with-threads/--without-threads",
    default=True,
    cls=_ErlenOption,
    help="Enable or disable multithreading.",
)
@click.option(
    "--extra-files",
    default=None,
    type=SeparatedPathType(),
    cls=_ErlenOption,
    help="Extra files that trigger a reload on change. Multiple paths are"
    f" separated by {os.path.pathsep!r}.",
)
@click.option(
    "--exclude-patterns",
    default=None,
    type=SeparatedPathType(),
    cls=_ErlenOption,
    help="Files matching these fnmatch patterns will not trigger a reload on"
    f" change. Multiple patterns are separated by {os.path.pathsep!r}.",
)
@click.option(
    "--reloader-type",
    type=click.Choice(["auto", "stat", "watchdog"]),
    default="auto",
    cls=_ErlenOption,
    help="How the reloader watches files: 'auto' uses watchdog when it is"
    " installed, else polling ('stat'). Where inotify loses events (some"
    " containers), use 'stat'.",
)
@click.option(
    "--asgi",
    is_flag=True,
    default=False,
    cls=_ErlenOption,
    help="Serve app.asgi_app over ASGI with uvicorn instead of Werkzeug's WSGI"
    " server. In debug mode errors show a traceback page (the interactive"
    " debugger is WSGI only).",
)
@pass_script_info
def run_command(
    info: ScriptInfo,
    host: str,
    port: int,
    reload: bool | None,
    debugger: bool | None,
    with_threads: bool,
    cert: ssl.SSLContext | tuple[str, str | None] | t.Literal["adhoc"] | None,
    extra_files: list[str] | None,
    exclude_patterns: list[str] | None,
    reloader_type: str,
    asgi: bool,
) -> None:
    """Run a local development server.

    This server is for development only. It does not provide the stability,
    security, or performance of production WSGI servers: see docs/deploying.md.

    The reloader and debugger are enabled by default with the '--debug' option.
    With '--asgi' the app is served over ASGI by uvicorn, with its reloader.
    """
    if asgi:
        _run_asgi(info, host, port, reload, cert)
        return
    app: WSGIApplication
    try:
        app = info.load_app()
    except Exception as e:
        if not is_running_from_reloader():
            raise e from None
        # In the reloader's child, report now but keep serving so that a fix to
        # the source triggers another reload; each request re-raises the error.
        traceback.print_exc()
        err = e

        def app(
            environ: WSGIEnvironment, start_response: StartResponse
        ) -> cabc.Iterable[bytes]:
            raise err from None

    debug = get_debug_flag()
    if reload is None:
        reload = debug
    if debugger is None:
        debugger = debug
    elif debugger and not debug:
        # The interactive debugger runs arbitrary code: debug mode only.
        click.secho(
            " * The debugger is only available in debug mode (--debug); it is off.",
            fg="yellow",
            err=True,
        )
        debugger = False

    show_server_banner(debug, info.app_import_path)
    run_simple(
        host,
        port,
        app,
        use_reloader=reload,
        use_debugger=debugger,
        threaded=with_threads,
        ssl_context=cert,
        extra_files=extra_files,
        exclude_patterns=exclude_patterns,
        reloader_type=reloader_type,
    )


run_command.params.insert(0, _debug_option)


def _run_asgi(
    info: ScriptInfo,
    host: str,
    port: int,
    reload: bool | None,
    cert: ssl.SSLContext | tuple[str, str | None] | t.Literal["adhoc"] | None,
) -> None:
    """``erlen run --asgi``: uvicorn serving ``app.asgi_app``; with the
    reloader, uvicorn's child process loads the app again by its import path."""
    try:
        import uvicorn
    except ImportError:
        raise click.UsageError(
            "'--asgi' serves with uvicorn, which is not installed: pip install uvicorn"
        ) from None
    debug = get_debug_flag()
    if reload is None:
        reload = debug
    options: dict[str, t.Any] = {
        "host": host,
        "port": port,
        "interface": "asgi3",
        "log_level": "info",
    }
    if isinstance(cert, tuple):
        options["ssl_certfile"], options["ssl_keyfile"] = cert
    elif cert is not None:
        raise click.BadParameter(
            "Over ASGI give --cert and --key files.", param_hint="--cert"
        )
    show_server_banner(debug, info.app_import_path)
    if reload:
        if info.app_import_path is None:
            raise click.UsageError(
                "The ASGI reloader loads the app by name: use --app or ERLEN_APP."
            )
        os.environ["ERLEN_ASGI_APP"] = info.app_import_path
        uvicorn.run("erlen.cli:_asgi_app_factory", factory=True, reload=True, **options)
    else:
        uvicorn.run(_asgi_entry(info.load_app(), debug), **options)


def _asgi_entry(app: t.Any, debug: bool) -> t.Any:
    from .asgi import TracebackMiddleware

    return TracebackMiddleware(app.asgi_app) if debug else app.asgi_app


def _asgi_app_factory() -> t.Any:
    """The ASGI app for ``erlen run --asgi --reload``, in uvicorn's child."""
    info = ScriptInfo(app_import_path=os.environ["ERLEN_ASGI_APP"])
    return _asgi_entry(info.load_app(), get_debug_flag())


@click.command("shell", short_help="Run a shell in the app context.")
@with_appcontext
def shell_command() -> None:
    """Run an interactive Python shell in the context of the application, with
    the names from its shell context processors (and PYTHONSTARTUP) defined."""
    import code

    app = current_app
    banner = (
        f"Python {sys.version} on {sys.platform}\n"
        f"App: {app.import_name}\n"
        f"Instance: {app.instance_path}"
    )
    namespace: dict[str, t.Any] = {}

    startup = os.environ.get("PYTHONSTARTUP")
    if startup and os.path.isfile(startup):
        with open(startup) as f:
            exec(compile(f.read(), startup, "exec"), namespace)

    namespace.update(app.make_shell_context())

    # site.py's hook sets up readline history and completion; point the
    # completer at our namespace instead of erlen.__main__'s.
    hook = getattr(sys, "__interactivehook__", None)
    if hook is not None:
        try:
            import readline
            from rlcompleter import Completer
        except ImportError:
            pass
        else:
            readline.set_completer(Completer(namespace).complete)
        hook()

    code.interact(banner=banner, local=namespace)


@click.command("routes", short_help="Show the routes for the app.")
@click.option(
    "--sort",
    "-s",
    type=click.Choice(("endpoint", "methods", "domain", "rule", "match")),
    default="endpoint",
    help="Method to sort routes by. 'match' is the order that erlen will match"
    " routes when dispatching a request.",
)
@click.option("--all-methods", is_flag=True, help="Show HEAD and OPTIONS methods.")
@with_appcontext
def routes_command(sort: str, all_methods: bool) -> None:
    """Show all registered routes with endpoints and methods."""
    url_map = current_app.url_map
    rules = list(url_map.iter_rules())
    if not rules:
        click.echo("No routes were registered.")
        return

    hidden = set() if all_methods else {"HEAD", "OPTIONS"}
    host_matching = url_map.host_matching

    def domain(rule: t.Any) -> str:
        return (rule.host if host_matching else rule.subdomain) or ""

    has_domain = any(domain(rule) for rule in rules)
    headers = ["Endpoint", "Methods"]
    if has_domain:
        headers.append("Host" if host_matching else "Subdomain")
    headers.append("Rule")

    rows: list[list[str]] = []
    for rule in rules:
        row = [rule.endpoint, ", ".join(sorted((rule.methods or set()) - hidden))]
        if has_domain:
            row.append(domain(rule))
        row.append(rule.rule)
        rows.append(row)

    keys = ["endpoint", "methods"] + (["domain"] if has_domain else []) + ["rule"]
    if sort in keys:
        rows.sort(key=itemgetter(keys.index(sort)))
    # "match" (and "domain" without domains) keeps the url map's order.

    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    template = "  ".join(f"{{{i}:<{w}}}" for i, w in enumerate(widths))
    for row in [headers, ["-" * w for w in widths], *rows]:
        click.echo(template.format(*row))


cli = ErlenGroup(
    name="erlen",
    help="""\
A general utility script for erlen applications.

An application to load must be given with the '--app' option,
'ERLEN_APP' environment variable, or with a 'wsgi.py' or 'app.py' file
in the current directory.
""",
)


def main() -> None:
    """Entry point of the ``erlen`` console script and ``python -m erlen``."""
    cli.main()


if __name__ == "__main__":
    main()
