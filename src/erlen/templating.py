"""Jinja2 integration: the app's environment, its loader and the render helpers."""

from __future__ import annotations

import typing as t

from jinja2 import BaseLoader, Template, TemplateNotFound, TemplatesNotFound
from jinja2 import Environment as BaseEnvironment
from jinja2.utils import internalcode

from .globals import _cv_app, _cv_request, _no_app_msg, request
from .helpers import stream_with_context
from .jinja import FastEnvironment
from .signals import before_render_template, template_rendered

if t.TYPE_CHECKING:
    from .app import Erlen
    from .scaffold import Scaffold


def _default_template_ctx_processor() -> dict[str, t.Any]:
    """Put ``g`` and ``request`` in every template's context.

    ``request`` stays a proxy until it exists, so that a template which never
    reads it does not build it. ``session`` is only the environment's proxy:
    reading it marks the session accessed, as it should.
    """
    rv: dict[str, t.Any] = {}
    app_ctx = _cv_app.get(None)
    if app_ctx is not None:
        rv["g"] = app_ctx.g
    req_ctx = _cv_request.get(None)
    if req_ctx is not None:
        rv["request"] = req_ctx.__dict__.get("request", request)
    return rv


def update_template_context(app: Erlen, context: dict[str, t.Any]) -> None:
    """:meth:`Erlen.update_template_context`: run the context processors of
    the app, then of each blueprint of the request from the outermost in,
    and add what they return to ``context``; values already in ``context``
    win.

    When the only processor is erlen's default one, its ``g`` and
    ``request`` are added directly (same keys, order and values), without
    calling it or copying the context.
    """
    processors = app.template_context_processors
    req_ctx = _cv_request.get(None)
    chain: list[list[t.Any]] = []
    funcs = processors.get(None)
    if funcs:
        chain.append(funcs)
    if req_ctx is not None:
        blueprints = app._request_blueprints(req_ctx)
        for name in reversed(blueprints):
            funcs = processors.get(name)
            if funcs:
                chain.append(funcs)
    if not chain:
        return
    only = chain[0] if len(chain) == 1 else ()
    if len(only) == 1 and only[0] is _default_template_ctx_processor:
        app_ctx = _cv_app.get(None)
        if app_ctx is not None and "g" not in context:
            context["g"] = app_ctx.g
        if req_ctx is not None and "request" not in context:
            context["request"] = req_ctx.__dict__.get("request", request)
        return
    orig_ctx = context.copy()
    ensure_sync = app.ensure_sync
    for funcs in chain:
        for func in funcs:
            context.update(ensure_sync(func)())
    context.update(orig_ctx)


class Environment(FastEnvironment):
    """A Jinja environment that knows its application (``env.app``).

    It renders through :class:`erlen.jinja.FastEnvironment`, the app-free
    environment whose output is Jinja2's, only cheaper to produce.
    """

    def __init__(self, app: Erlen, **options: t.Any) -> None:
        if "loader" not in options:
            options["loader"] = app.create_global_jinja_loader()
        super().__init__(**options)
        self.app = app

    @internalcode
    def select_template(
        self,
        names: t.Iterable[str | Template],
        parent: str | None = None,
        globals: t.MutableMapping[str, t.Any] | None = None,
    ) -> Template:
        """As :meth:`jinja2.Environment.select_template`; when none of the
        names exists, the message also says where erlen looked."""
        try:
            return super().select_template(names, parent, globals)
        except TemplatesNotFound as e:
            loader = self.loader
            if not e.templates or not isinstance(loader, DispatchingJinjaLoader):
                raise
            message = f"{e.message}\n{loader.searched()}"
            raise TemplatesNotFound(e.templates, message) from None  # type: ignore[arg-type]


class DispatchingJinjaLoader(BaseLoader):
    """Looks in the app's template folder, then each blueprint's, in
    registration order; the first match wins."""

    def __init__(self, app: Erlen) -> None:
        self.app = app

    def get_source(
        self, environment: BaseEnvironment, template: str
    ) -> tuple[str, str | None, t.Callable[[], bool] | None]:
        if self.app.config["EXPLAIN_TEMPLATE_LOADING"]:
            return self._get_source_explained(environment, template)
        for _owner, loader in self._iter_loaders(template):
            try:
                return loader.get_source(environment, template)
            except TemplateNotFound:
                continue
        raise self._not_found(template)

    def _get_source_explained(
        self, environment: BaseEnvironment, template: str
    ) -> tuple[str, str | None, t.Callable[[], bool] | None]:
        from .debughelpers import explain_template_loading_attempts

        attempts = []
        found = None
        for owner, loader in self._iter_loaders(template):
            try:
                rv = loader.get_source(environment, template)
                if found is None:
                    found = rv
            except TemplateNotFound:
                rv = None
            attempts.append((loader, owner, rv))
        explain_template_loading_attempts(self.app, template, attempts)
        if found is not None:
            return found
        raise self._not_found(template)

    def _not_found(self, template: str) -> TemplateNotFound:
        """Jinja2's exception for ``template`` (same class, ``name`` and
        ``templates``), its message saying where erlen looked."""
        return TemplateNotFound(template, f"{template}\n{self.searched()}")

    def searched(self) -> str:
        """Where this loader looks, in order, and how to see each attempt:
        the text that erlen adds to a ``TemplateNotFound`` message."""
        places = []
        for owner, loader in self._iter_loaders(""):
            kind = "application" if owner is self.app else "blueprint"
            places.append(f"  - {kind} {owner.name!r}: {_describe_loader(loader)}")
        if places:
            searched = "Searched, in this order:\n" + "\n".join(places)
        else:
            searched = (
                "No template folder to search: neither the application nor"
                " any registered blueprint has one."
            )
        return (
            f"{searched}\nSet EXPLAIN_TEMPLATE_LOADING = True in the config to"
            " log every attempt (on app.logger, at INFO level)."
        )

    def _iter_loaders(self, template: str) -> t.Iterator[tuple[Scaffold, BaseLoader]]:
        loader = self.app.jinja_loader
        if loader is not None:
            yield self.app, loader
        for blueprint in self.app.iter_blueprints():
            loader = blueprint.jinja_loader
            if loader is not None:
                yield blueprint, loader

    def list_templates(self) -> list[str]:
        found = set()
        loader = self.app.jinja_loader
        if loader is not None:
            found.update(loader.list_templates())
        for blueprint in self.app.iter_blueprints():
            loader = blueprint.jinja_loader
            if loader is not None:
                found.update(loader.list_templates())
        return list(found)


def _describe_loader(loader: BaseLoader) -> str:
    """Where a loader looks: its folders, else what it is."""
    searchpath = getattr(loader, "searchpath", None)
    if isinstance(searchpath, list) and searchpath:
        kind = "folder" if len(searchpath) == 1 else "folders"
        return f"{kind} " + ", ".join(map(str, searchpath))
    return f"{type(loader).__module__}.{type(loader).__name__}"


def _current_app() -> Erlen:
    # current_app without the proxy; the same error outside an app context.
    app_ctx = _cv_app.get(None)
    if app_ctx is None:
        raise RuntimeError(_no_app_msg)
    return app_ctx.app


def _render(app: Erlen, template: Template, context: dict[str, t.Any]) -> str:
    app.update_template_context(context)
    if before_render_template.receivers:
        before_render_template.send(
            app, _async_wrapper=app.ensure_sync, template=template, context=context
        )
    rv = template.render(context)
    if template_rendered.receivers:
        template_rendered.send(
            app, _async_wrapper=app.ensure_sync, template=template, context=context
        )
    return rv


def render_template(
    template_name_or_list: str | Template | list[str | Template],
    **context: t.Any,
) -> str:
    """Render a template from the template folders with ``context``.

    A list of names renders the first one that exists.
    """
    app = _current_app()
    template = app.jinja_env.get_or_select_template(template_name_or_list)
    return _render(app, template, context)


def render_template_string(source: str, **context: t.Any) -> str:
    """Render a template given as a string (autoescaping on)."""
    app = _current_app()
    template = app.jinja_env.from_string(source)
    return _render(app, template, context)


def _stream(
    app: Erlen, template: Template, context: dict[str, t.Any]
) -> t.Iterator[str]:
    app.update_template_context(context)
    if before_render_template.receivers:
        before_render_template.send(
            app, _async_wrapper=app.ensure_sync, template=template, context=context
        )

    def generate() -> t.Iterator[str]:
        yield from template.generate(context)
        if template_rendered.receivers:
            template_rendered.send(
                app, _async_wrapper=app.ensure_sync, template=template, context=context
            )

    rv = generate()
    if _cv_request.get(None) is not None:
        rv = stream_with_context(rv)
    return rv


def stream_template(
    template_name_or_list: str | Template | list[str | Template],
    **context: t.Any,
) -> t.Iterator[str]:
    """Render a template piece by piece, for a streamed response."""
    app = _current_app()
    template = app.jinja_env.get_or_select_template(template_name_or_list)
    return _stream(app, template, context)


def stream_template_string(source: str, **context: t.Any) -> t.Iterator[str]:
    """Render a template string piece by piece, for a streamed response."""
    app = _current_app()
    template = app.jinja_env.from_string(source)
    return _stream(app, template, context)
