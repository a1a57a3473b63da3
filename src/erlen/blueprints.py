"""Blueprints: groups of routes, hooks and handlers registered on an app."""

from __future__ import annotations

import os
import typing as t
from collections import defaultdict
from functools import update_wrapper

from . import typing as ft
from .scaffold import (
    Scaffold,
    _endpoint_from_view_func,
    _name_or_decorator,
    setupmethod,
)

if t.TYPE_CHECKING:
    from .app import Erlen

DeferredSetupFunction = t.Callable[["BlueprintSetupState"], None]
T_after_request = t.TypeVar("T_after_request", bound=ft.AfterRequestCallable[t.Any])
T_before_request = t.TypeVar("T_before_request", bound=ft.BeforeRequestCallable)
T_error_handler = t.TypeVar("T_error_handler", bound=ft.ErrorHandlerCallable)
T_teardown = t.TypeVar("T_teardown", bound=ft.TeardownCallable)
T_template_context_processor = t.TypeVar(
    "T_template_context_processor", bound=ft.TemplateContextProcessorCallable
)
T_template_filter = t.TypeVar("T_template_filter", bound=ft.TemplateFilterCallable)
T_template_global = t.TypeVar("T_template_global", bound=ft.TemplateGlobalCallable)
T_template_test = t.TypeVar("T_template_test", bound=ft.TemplateTestCallable)
T_url_defaults = t.TypeVar("T_url_defaults", bound=ft.URLDefaultCallable)
T_url_value_preprocessor = t.TypeVar(
    "T_url_value_preprocessor", bound=ft.URLValuePreprocessorCallable
)
T_before_websocket = t.TypeVar("T_before_websocket", bound=t.Callable[[], t.Any])
T_after_websocket = t.TypeVar("T_after_websocket", bound=t.Callable[[t.Any], t.Any])

_sentinel = object()


class BlueprintSetupState:
    """What a deferred function sees when its blueprint is registered: the
    app, the options and the resolved prefix, subdomain and name."""

    def __init__(
        self,
        blueprint: Blueprint,
        app: Erlen,
        options: t.Any,
        first_registration: bool,
    ) -> None:
        self.app = app
        self.blueprint = blueprint
        self.options = options
        #: Whether this is the blueprint's first registration on the app.
        self.first_registration = first_registration
        subdomain = self.options.get("subdomain")
        if subdomain is None:
            subdomain = self.blueprint.subdomain
        self.subdomain = subdomain
        url_prefix = self.options.get("url_prefix")
        if url_prefix is None:
            url_prefix = self.blueprint.url_prefix
        self.url_prefix = url_prefix
        self.name = self.options.get("name", blueprint.name)
        self.name_prefix = self.options.get("name_prefix", "")
        self.url_defaults = dict(self.blueprint.url_values_defaults)
        self.url_defaults.update(self.options.get("url_defaults", ()))

    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: ft.RouteCallable | None = None,
        **options: t.Any,
    ) -> None:
        """Register a rule on the app with the blueprint's prefix, subdomain,
        defaults and dotted endpoint name."""
        if self.url_prefix is not None:
            if rule:
                rule = "/".join((self.url_prefix.rstrip("/"), rule.lstrip("/")))
            else:
                rule = self.url_prefix
        options.setdefault("subdomain", self.subdomain)
        if endpoint is None:
            endpoint = _endpoint_from_view_func(view_func)  # type: ignore[arg-type]
        defaults = self.url_defaults
        if "defaults" in options:
            defaults = dict(defaults, **options.pop("defaults"))
        self.app.add_url_rule(
            rule,
            f"{self.name_prefix}.{self.name}.{endpoint}".lstrip("."),
            view_func,
            defaults=defaults,
            **options,
        )


class Blueprint(Scaffold):
    """A set of routes, hooks, error handlers and resources registered on an
    app with :meth:`~erlen.Erlen.register_blueprint`, possibly several times
    and nested in other blueprints.

    :param name: The blueprint's name; prefixes its endpoints (``name.view``).
    :param import_name: Usually ``__name__``; locates ``root_path``.
    :param static_folder: A static folder served under ``static_url_path``.
    :param static_url_path: URL of the static folder (after ``url_prefix``).
    :param template_folder: Templates searched after the app's own.
    :param url_prefix: Prefix of every route of the blueprint.
    :param subdomain: Subdomain of every route of the blueprint.
    :param url_defaults: Default view arguments for every route.
    :param root_path: The blueprint's folder, if ``import_name`` can't tell.
    :param cli_group: Name of the CLI group of ``bp.cli`` commands; ``None``
        adds them to the app's group directly.
    """

    _got_registered_once = False

    def __init__(
        self,
        name: str,
        import_name: str,
        static_folder: str | os.PathLike[str] | None = None,
        static_url_path: str | None = None,
        template_folder: str | os.PathLike[str] | None = None,
        url_prefix: str | None = None,
        subdomain: str | None = None,
        url_defaults: dict[str, t.Any] | None = None,
        root_path: str | None = None,
        cli_group: str | None = _sentinel,  # type: ignore[assignment]
    ) -> None:
        super().__init__(
            import_name=import_name,
            static_folder=static_folder,
            static_url_path=static_url_path,
            template_folder=template_folder,
            root_path=root_path,
        )
        if not name:
            raise ValueError("'name' may not be empty.")
        if "." in name:
            raise ValueError("'name' may not contain a dot '.' character.")
        self.name = name
        self.url_prefix = url_prefix
        self.subdomain = subdomain
        self.deferred_functions: list[DeferredSetupFunction] = []
        self.url_values_defaults = url_defaults if url_defaults is not None else {}
        self.cli_group = cli_group
        self._blueprints: list[tuple[Blueprint, dict[str, t.Any]]] = []

    def _check_setup_finished(self, f_name: str) -> None:
        if self._got_registered_once:
            raise AssertionError(
                f"The setup method '{f_name}' can no longer be called on the"
                f" blueprint '{self.name}'. It has already been registered at"
                " least once, any changes will not be applied"
                " consistently.\n"
                "Make sure all imports, decorators, functions, etc."
                " needed to set up the blueprint are done before"
                " registering it."
            )

    @setupmethod
    def record(self, func: DeferredSetupFunction) -> None:
        """Call ``func(state)`` each time the blueprint is registered."""
        self.deferred_functions.append(func)

    @setupmethod
    def record_once(self, func: DeferredSetupFunction) -> None:
        """Like :meth:`record`, but only on the first registration on an app."""

        def wrapper(state: BlueprintSetupState) -> None:
            if state.first_registration:
                func(state)

        self.record(update_wrapper(wrapper, func))

    def make_setup_state(
        self, app: Erlen, options: dict[str, t.Any], first_registration: bool = False
    ) -> BlueprintSetupState:
        """The :class:`BlueprintSetupState` passed to deferred functions."""
        return BlueprintSetupState(self, app, options, first_registration)

    @setupmethod
    def register_blueprint(self, blueprint: Blueprint, **options: t.Any) -> None:
        """Nest ``blueprint`` in this one; registered when this one is."""
        if blueprint is self:
            raise ValueError("Cannot register a blueprint on itself")
        self._blueprints.append((blueprint, options))

    def register(self, app: Erlen, options: dict[str, t.Any]) -> None:
        """Called by ``app.register_blueprint``: add everything to the app."""
        name_prefix = options.get("name_prefix", "")
        self_name = options.get("name", self.name)
        name = f"{name_prefix}.{self_name}".lstrip(".")
        if name in app.blueprints:
            bp_desc = "this" if app.blueprints[name] is self else "a different"
            existing_at = f" '{name}'" if self_name != name else ""
            raise ValueError(
                f"The name '{self_name}' is already registered for"
                f" {bp_desc} blueprint{existing_at}. Use 'name=' to"
                " provide a unique name."
            )
        first_bp_registration = not any(bp is self for bp in app.blueprints.values())
        first_name_registration = name not in app.blueprints
        app.blueprints[name] = self
        self._got_registered_once = True
        state = self.make_setup_state(app, options, first_bp_registration)
        if self.has_static_folder:
            state.add_url_rule(
                f"{self.static_url_path}/<path:filename>",
                view_func=self.send_static_file,
                endpoint="static",
            )
        if first_bp_registration or first_name_registration:
            self._merge_blueprint_funcs(app, name)
        for deferred in self.deferred_functions:
            deferred(state)
        self._register_cli(app, options, name)
        for blueprint, bp_options in self._blueprints:
            blueprint.register(
                app, self._child_options(state, blueprint, bp_options, name)
            )

    def _register_cli(self, app: Erlen, options: dict[str, t.Any], name: str) -> None:
        if not self.cli.commands:
            return
        group = options.get("cli_group", self.cli_group)
        if group is None:
            app.cli.commands.update(self.cli.commands)
            return
        self.cli.name = name if group is _sentinel else group
        app.cli.add_command(self.cli)

    @staticmethod
    def _child_options(
        state: BlueprintSetupState,
        blueprint: Blueprint,
        bp_options: dict[str, t.Any],
        name: str,
    ) -> dict[str, t.Any]:
        """A nested blueprint's options: subdomain and prefix joined to ours."""
        bp_options = bp_options.copy()
        bp_subdomain = bp_options.get("subdomain")
        if bp_subdomain is None:
            bp_subdomain = blueprint.subdomain
        if state.subdomain is not None and bp_subdomain is not None:
            bp_options["subdomain"] = f"{bp_subdomain}.{state.subdomain}"
        elif bp_subdomain is not None:
            bp_options["subdomain"] = bp_subdomain
        elif state.subdomain is not None:
            bp_options["subdomain"] = state.subdomain
        bp_url_prefix = bp_options.get("url_prefix")
        if bp_url_prefix is None:
            bp_url_prefix = blueprint.url_prefix
        if state.url_prefix is not None and bp_url_prefix is not None:
            bp_options["url_prefix"] = (
                state.url_prefix.rstrip("/") + "/" + bp_url_prefix.lstrip("/")
            )
        elif bp_url_prefix is not None:
            bp_options["url_prefix"] = bp_url_prefix
        elif state.url_prefix is not None:
            bp_options["url_prefix"] = state.url_prefix
        bp_options["name_prefix"] = name
        return bp_options

    def _merge_blueprint_funcs(self, app: Erlen, name: str) -> None:
        """Copy hooks and handlers onto the app, keyed by the blueprint name."""

        def scoped(key: str | None) -> str:
            return name if key is None else f"{name}.{key}"

        for key, spec in self.error_handler_spec.items():
            app.error_handler_spec[scoped(key)] = defaultdict(
                dict, {code: dict(handlers) for code, handlers in spec.items()}
            )
        for endpoint, func in self.view_functions.items():
            app.view_functions[endpoint] = func
        pairs: tuple[tuple[t.Any, t.Any], ...] = (
            (self.before_request_funcs, app.before_request_funcs),
            (self.after_request_funcs, app.after_request_funcs),
            (self.teardown_request_funcs, app.teardown_request_funcs),
            (self.before_websocket_funcs, app.before_websocket_funcs),
            (self.after_websocket_funcs, app.after_websocket_funcs),
            (self.url_default_functions, app.url_default_functions),
            (self.url_value_preprocessors, app.url_value_preprocessors),
            (self.template_context_processors, app.template_context_processors),
        )
        for bp_dict, app_dict in pairs:
            for key, values in bp_dict.items():
                app_dict[scoped(key)].extend(values)

    @setupmethod
    def add_url_rule(
        self,
        rule: str,
        endpoint: str | None = None,
        view_func: ft.RouteCallable | None = None,
        provide_automatic_options: bool | None = None,
        **options: t.Any,
    ) -> None:
        """Record a rule, added to the app (prefixed) on registration."""
        if endpoint and "." in endpoint:
            raise ValueError("'endpoint' may not contain a dot '.' character.")
        if view_func and hasattr(view_func, "__name__") and "." in view_func.__name__:
            raise ValueError("'view_func' name may not contain a dot '.' character.")
        self.record(
            lambda s: s.add_url_rule(
                rule,
                endpoint,
                view_func,
                provide_automatic_options=provide_automatic_options,
                **options,
            )
        )

    # -- app-wide registration ---------------------------------------------

    @setupmethod
    def app_template_filter(
        self, name: str | None = None
    ) -> t.Callable[[T_template_filter], T_template_filter]:
        """Register a Jinja filter for the whole app."""
        return _name_or_decorator(name, self.add_app_template_filter)  # type: ignore[no-any-return]

    @setupmethod
    def add_app_template_filter(
        self, f: ft.TemplateFilterCallable, name: str | None = None
    ) -> None:
        """Non-decorator form of :meth:`app_template_filter`."""
        self.record_once(lambda s: s.app.add_template_filter(f, name=name))

    @setupmethod
    def app_template_test(
        self, name: str | None = None
    ) -> t.Callable[[T_template_test], T_template_test]:
        """Register a Jinja test for the whole app."""
        return _name_or_decorator(name, self.add_app_template_test)  # type: ignore[no-any-return]

    @setupmethod
    def add_app_template_test(
        self, f: ft.TemplateTestCallable, name: str | None = None
    ) -> None:
        """Non-decorator form of :meth:`app_template_test`."""
        self.record_once(lambda s: s.app.add_template_test(f, name=name))

    @setupmethod
    def app_template_global(
        self, name: str | None = None
    ) -> t.Callable[[T_template_global], T_template_global]:
        """Register a Jinja global for the whole app."""
        return _name_or_decorator(name, self.add_app_template_global)  # type: ignore[no-any-return]

    @setupmethod
    def add_app_template_global(
        self, f: ft.TemplateGlobalCallable, name: str | None = None
    ) -> None:
        """Non-decorator form of :meth:`app_template_global`."""
        self.record_once(lambda s: s.app.add_template_global(f, name=name))

    # Jinja filters, tests and globals are app-wide by nature: on a blueprint
    # the app's method names register them for the app.
    template_filter = app_template_filter
    add_template_filter = add_app_template_filter
    template_test = app_template_test
    add_template_test = add_app_template_test
    template_global = app_template_global
    add_template_global = add_app_template_global

    @setupmethod
    def before_app_request(self, f: T_before_request) -> T_before_request:
        """Like ``before_request``, for every request of the app."""
        self.record_once(
            lambda s: s.app.before_request_funcs.setdefault(None, []).append(f)
        )
        return f

    @setupmethod
    def after_app_request(self, f: T_after_request) -> T_after_request:
        """Like ``after_request``, for every request of the app."""
        self.record_once(
            lambda s: s.app.after_request_funcs.setdefault(None, []).append(f)
        )
        return f

    @setupmethod
    def before_app_websocket(self, f: T_before_websocket) -> T_before_websocket:
        """Like ``before_websocket``, for every websocket of the app."""
        self.record_once(
            lambda s: s.app.before_websocket_funcs.setdefault(None, []).append(f)
        )
        return f

    @setupmethod
    def after_app_websocket(self, f: T_after_websocket) -> T_after_websocket:
        """Like ``after_websocket``, for every websocket of the app."""
        self.record_once(
            lambda s: s.app.after_websocket_funcs.setdefault(None, []).append(f)
        )
        return f

    @setupmethod
    def teardown_app_request(self, f: T_teardown) -> T_teardown:
        """Like ``teardown_request``, for every request of the app."""
        self.record_once(
            lambda s: s.app.teardown_request_funcs.setdefault(None, []).append(f)
        )
        return f

    @setupmethod
    def app_context_processor(
        self, f: T_template_context_processor
    ) -> T_template_context_processor:
        """Like ``context_processor``, for every template of the app."""
        self.record_once(
            lambda s: s.app.template_context_processors.setdefault(None, []).append(f)
        )
        return f

    @setupmethod
    def app_errorhandler(
        self, code: type[Exception] | int
    ) -> t.Callable[[T_error_handler], T_error_handler]:
        """Like ``errorhandler``, for errors anywhere in the app."""

        def decorator(f: T_error_handler) -> T_error_handler:
            def from_blueprint(state: BlueprintSetupState) -> None:
                state.app.errorhandler(code)(f)

            self.record_once(from_blueprint)
            return f

        return decorator

    @setupmethod
    def app_url_value_preprocessor(
        self, f: T_url_value_preprocessor
    ) -> T_url_value_preprocessor:
        """Like ``url_value_preprocessor``, for every request of the app."""
        self.record_once(
            lambda s: s.app.url_value_preprocessors.setdefault(None, []).append(f)
        )
        return f

    @setupmethod
    def app_url_defaults(self, f: T_url_defaults) -> T_url_defaults:
        """Like ``url_defaults``, for every ``url_for`` call of the app."""
        self.record_once(
            lambda s: s.app.url_default_functions.setdefault(None, []).append(f)
        )
        return f
