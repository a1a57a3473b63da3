"""A faster Jinja2 environment that renders exactly what stock Jinja2 renders.

:class:`FastEnvironment` is a plain :class:`jinja2.Environment` subclass that
needs no application; erlen's app environment
(:class:`erlen.templating.Environment`) extends it. It changes no behaviour,
only the cost of the cases whose answer is certain, through Jinja2's own
extension points:

- :meth:`FastEnvironment.getattr` answers ``{{ row.name }}`` on a plain
  ``dict`` with one lookup instead of a failed ``getattr`` (an exception)
  followed by the item lookup. The names of ``dict``'s own attributes
  (``row.items``) still resolve to the attribute, as in Jinja2.
- :func:`escape` is :func:`markupsafe.escape` without its generic steps for
  the values templates print most: ``str``, ``int`` and :class:`Markup`. It
  returns the same :class:`Markup` object value; :class:`FastCodeGenerator`
  makes compiled templates call it for autoescaped output.
- Compiled sync templates call functions (``{{ url_for("index") }}``)
  through :func:`call`, which calls a plain function, builtin or method
  directly, without packing the loop and block variables that only
  ``pass_context`` functions need; anything else, or a context class whose
  ``call`` is not :class:`FastContext`'s, goes to ``context.call``.
  :class:`FastContext` itself calls plain callables without re-deriving how
  to call them, and builds its set of global names without iterating a
  ``ChainMap``.
- :class:`FastTemplate` merges its globals and the render variables into the
  context's parent with dict operations instead of iterating a ``ChainMap``.

Anything else -- sandboxed environments (which override these methods),
subclasses that override them, async templates, custom context or template
classes, objects with ``__getattr__``, mappings other than ``dict`` --
takes Jinja2's own code.
"""

from __future__ import annotations

import sys
import typing as t
from collections import ChainMap
from types import BuiltinFunctionType, FunctionType, MethodType

import markupsafe
from jinja2 import Environment, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.environment import Template
from jinja2.nodes import Expr
from jinja2.nodes import Template as TemplateNode
from jinja2.runtime import Context, Macro
from jinja2.utils import internalcode
from werkzeug.local import LocalProxy

from .local import ContextProxy

__all__ = [
    "FastCodeGenerator",
    "FastContext",
    "FastEnvironment",
    "FastTemplate",
    "escape",
]

Markup = markupsafe.Markup
_markup_escape = markupsafe.escape
_escape_inner: t.Callable[[str], str] | None
try:  # markupsafe >= 2.1: escaping itself is the C function _escape_inner
    from markupsafe import _escape_inner  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older markupsafe: escape is all C
    _escape_inner = None
_str_new = str.__new__
_int_repr = int.__repr__

#: Every attribute a plain ``dict`` instance has: ``getattr(d, name)``
#: succeeds exactly for these names (``dict`` and ``object`` cannot be
#: patched, and a ``dict`` instance has no ``__dict__``).
_DICT_ATTRIBUTES = frozenset(dir({}))

#: Every attribute Werkzeug's ``LocalProxy`` has itself (its slots and the
#: special methods it forwards); any other name is looked up on the proxied
#: object through ``LocalProxy.__getattr__``.
_PROXY_ATTRIBUTES = frozenset(dir(ContextProxy)) | frozenset(LocalProxy.__slots__)
#: erlen's proxies (``g``, ``request``, ...) and Werkzeug's own.
_PROXY_TYPES = frozenset({LocalProxy, ContextProxy})


def _make_escape() -> t.Callable[[t.Any], Markup]:
    inner = _escape_inner
    if inner is None:  # pragma: no cover - nothing faster to offer
        return _markup_escape

    def escape(s: t.Any, /) -> Markup:
        """:func:`markupsafe.escape`, with shortcuts for ``str``, ``int`` and
        :class:`Markup` that build the same :class:`Markup` directly."""
        cls = type(s)
        if cls is str:
            return _str_new(Markup, inner(s))
        if cls is Markup:
            # markupsafe: Markup(s.__html__()), and Markup.__html__ is s.
            return _str_new(Markup, s)
        if cls is int:
            # Digits and a sign need no escaping; str(int) is int.__repr__.
            return _str_new(Markup, _int_repr(s))
        return _markup_escape(s)

    return escape


escape = _make_escape()


def _plain(obj: t.Any) -> bool:
    """Whether ``obj`` is a function, builtin, method of a function, or
    template macro with no ``jinja_pass_arg``: :meth:`jinja2.runtime.Context.call`
    calls those with the arguments as given (the ``__call__`` of the first
    three is a method wrapper, which has no ``jinja_pass_arg`` either)."""
    cls = type(obj)
    if cls is MethodType:
        func = obj.__func__
        # A method's attributes are its function's (MethodType has none of
        # that name), and a function's are in its __dict__ (FunctionType,
        # a builtin type, has none either): no getattr that fails.
        return type(func) is FunctionType and "jinja_pass_arg" not in func.__dict__
    if cls is FunctionType:
        return "jinja_pass_arg" not in obj.__dict__
    if cls is Macro:
        # A template macro ({{ m(x) }}): Jinja2's class takes no context
        # (checked at import, below); only its instance could say otherwise.
        return _PLAIN_MACROS and "jinja_pass_arg" not in obj.__dict__
    # A builtin has no __dict__ and so no jinja_pass_arg.
    return cls is BuiltinFunctionType


_STOPPED = "value was undefined because a callable raised a StopIteration exception"
#: Whether Jinja2's Macro class and its __call__ have no jinja_pass_arg, so
#: that Context.call calls a macro with the arguments as given.
_PLAIN_MACROS = not hasattr(Macro, "jinja_pass_arg") and not hasattr(
    Macro.__call__, "jinja_pass_arg"
)


class FastContext(Context):
    """A :class:`jinja2.runtime.Context` with cheaper set-up and calls."""

    def __init__(
        self,
        environment: Environment,
        parent: dict[str, t.Any],
        name: str | None,
        blocks: dict[str, t.Callable[[Context], t.Iterator[str]]],
        globals: t.MutableMapping[str, t.Any] | None = None,
    ) -> None:
        super().__init__(environment, parent, name, blocks, None)
        if globals is not None:
            self.globals_keys = _key_set(globals)

    @internalcode
    def call(
        __self,
        __obj: t.Callable[..., t.Any],
        *args: t.Any,
        **kwargs: t.Any,
    ) -> t.Any:
        """Call ``__obj`` as :meth:`jinja2.runtime.Context.call` does.

        A plain function, builtin or method of a plain function cannot take
        the context through its ``__call__``; when it has no
        ``jinja_pass_arg`` either, it is called with the arguments as given.
        Everything else is Jinja2's :meth:`~jinja2.runtime.Context.call`.
        """
        if __debug__:
            __traceback_hide__ = True

        if _plain(__obj):
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
            try:
                return __obj(*args, **kwargs)
            except StopIteration:
                return __self.environment.undefined(_STOPPED)
        return Context.call(__self, __obj, *args, **kwargs)


_FAST_CALL = FastContext.call


@internalcode
def call(
    context: Context,
    loop_vars: dict[str, t.Any] | None,
    block_vars: dict[str, t.Any] | None,
    obj: t.Callable[..., t.Any],
    /,
    *args: t.Any,
    **kwargs: t.Any,
) -> t.Any:
    """What compiled templates call for ``{{ f(...) }}`` instead of
    ``context.call(f, ..., _loop_vars=..., _block_vars=...)``: the same
    result, without building those arguments when ``f`` is plain and the
    context's ``call`` is :class:`FastContext`'s."""
    if __debug__:
        __traceback_hide__ = True

    if type(context).call is _FAST_CALL and _plain(obj):
        try:
            return obj(*args, **kwargs)
        except StopIteration:
            return context.environment.undefined(_STOPPED)
    if loop_vars is not None:
        kwargs["_loop_vars"] = loop_vars
    if block_vars is not None:
        kwargs["_block_vars"] = block_vars
    return context.call(obj, *args, **kwargs)


def _key_set(mapping: t.Mapping[str, t.Any]) -> set[str]:
    """``set(mapping)``; for a ``ChainMap`` of plain dicts, without its
    Python-level ``__iter__``."""
    if type(mapping) is ChainMap:
        maps = mapping.maps
        if all(type(m) is dict for m in maps):
            return set().union(*maps)
    return set(mapping)


def _flatten(mapping: t.Mapping[str, t.Any]) -> dict[str, t.Any] | None:
    """``dict(mapping)`` for a ``ChainMap`` of plain dicts (same keys, order
    and values), or ``None`` when it is anything else."""
    if type(mapping) is not ChainMap:
        return None
    maps = mapping.maps
    rv: dict[str, t.Any] = {}
    for m in reversed(maps):
        if type(m) is not dict:
            return None
        rv.update(m)
    return rv


class FastTemplate(Template):
    """A :class:`jinja2.Template` whose contexts are cheaper to create."""

    def new_context(
        self,
        vars: dict[str, t.Any] | None = None,
        shared: bool = False,
        locals: t.Mapping[str, t.Any] | None = None,
    ) -> Context:
        """As :meth:`jinja2.Template.new_context`; the common case -- not
        shared, no locals, globals a ``ChainMap`` of dicts -- merges with
        dict operations."""
        if not shared and not locals:
            parent = _flatten(self.globals)
            if parent is not None:
                if vars:
                    # dict.update(**vars) refuses non-string keys with the
                    # TypeError that Jinja2's dict(globals, **vars) raises.
                    parent.update(**vars)
                env = self.environment
                return env.context_class(
                    env, parent, self.name, self.blocks, globals=self.globals
                )
        return super().new_context(vars, shared, locals)


class FastCodeGenerator(CodeGenerator):
    """Compiles templates as Jinja2 does, with three differences in sync
    templates (async templates compile exactly as in Jinja2):

    - autoescaped output calls :func:`escape`;
    - calls go through :func:`call` (except in the sandbox, and calls with
      ``**kwargs`` or a keyword named ``_loop_vars``/``_block_vars``,
      which Jinja2's ``Context.call`` drops);
    - ``x.name`` and ``x["key"]`` (a constant key) look the item up inline
      when ``x`` is a plain ``dict`` that has it, and call
      ``environment.getattr``/``getitem`` otherwise. The inline lookup is
      only used when the environment running the code still has
      :class:`FastEnvironment`'s ``getattr`` and Jinja2's ``getitem``
      (checked when each template function starts, so compiled code shared
      through a bytecode cache or :class:`jinja2.ModuleLoader` with another
      environment stays correct); ``x`` is evaluated once, as in Jinja2.
    """

    def __init__(self, environment: Environment, *args: t.Any, **kwargs: t.Any):
        super().__init__(environment, *args, **kwargs)
        self._erlen_sync = not environment.is_async
        self._erlen_inline = self._erlen_sync and _lookups_are_fast(environment)

    def visit_Template(self, node: TemplateNode, frame: Frame | None = None) -> None:
        if self._erlen_sync:
            names = (
                "call as _erlen_call, escape as _erlen_escape,"
                " _lookups_are_fast as _erlen_lookups, Markup as _erlen_Markup,"
                " _str_new as _erlen_new, _escape_inner as _erlen_inner"
            )
            self.writeline(f"from {__name__} import {names}")
        super().visit_Template(node, frame)

    def write_commons(self) -> None:
        super().write_commons()
        if self._erlen_inline:
            self.writeline("_erlen_fast = _erlen_lookups(environment)")

    def _inline_lookup(self, node: Expr, key: t.Any, method: str, frame: Frame) -> None:
        # (v if type(t := <node>) is dict and fast
        #     and (v := t.get(key, missing)) is not missing
        #  else environment.<method>(t, key))
        # t and v are assigned right before they are read, and the dict is
        # looked up once (no gap for another thread's change).
        k = repr(key)
        self.write("(_erlen_v if type(_erlen_t := ")
        self.visit(node, frame)
        self.write(
            f") is dict and _erlen_fast and (_erlen_v := _erlen_t.get({k}, missing))"
            f" is not missing else environment.{method}(_erlen_t, {k}))"
        )

    @optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        if self._erlen_inline and node.attr not in _DICT_ATTRIBUTES:
            self._inline_lookup(node.node, node.attr, "getattr", frame)
        else:
            super().visit_Getattr(node, frame)

    @optimizeconst
    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        arg = node.arg
        if (
            self._erlen_inline
            and isinstance(arg, nodes.Const)
            and type(arg.value) in (str, int)
        ):
            self._inline_lookup(node.node, arg.value, "getitem", frame)
        else:
            super().visit_Getitem(node, frame)

    @optimizeconst
    def visit_Call(
        self, node: nodes.Call, frame: Frame, forward_caller: bool = False
    ) -> None:
        if (
            not self._erlen_sync
            or self.environment.sandboxed
            # Context.call drops these two names from any call; so does
            # context.call, which gets such calls.
            or node.dyn_kwargs is not None
            or any(k.key in ("_loop_vars", "_block_vars") for k in node.kwargs)
        ):
            super().visit_Call(node, frame, forward_caller=forward_caller)
            return
        loop_vars = "_loop_vars" if frame.loop_frame else "None"
        block_vars = "_block_vars" if frame.block_frame else "None"
        self.write(f"_erlen_call(context, {loop_vars}, {block_vars}, ")
        self.visit(node.node, frame)
        self.signature(node, frame, {"caller": "caller"} if forward_caller else None)
        self.write(")")

    def _output_child_pre(
        self,
        node: Expr,
        frame: Frame,
        finalize: t.Any,
    ) -> None:
        if self.environment.is_async or not (
            frame.eval_ctx.volatile or frame.eval_ctx.autoescape
        ):
            super()._output_child_pre(node, frame, finalize)
            return
        if frame.eval_ctx.volatile:
            self.write("(_erlen_escape if context.eval_ctx.autoescape else str)(")
        elif self._escapes_inline(frame):
            # PERF: a str is escaped inline, with the two C calls escape
            # makes for it; anything else is given to escape. The value is
            # evaluated once (_erlen_s is assigned right before it is read).
            self.write(
                "(_erlen_new(_erlen_Markup, _erlen_inner(_erlen_s))"
                " if type(_erlen_s := "
            )
        else:
            self.write("_erlen_escape(")
        if finalize.src is not None:
            self.write(finalize.src)

    def _escapes_inline(self, frame: Frame) -> bool:
        """Whether an output in ``frame`` escapes a ``str`` inline (sync,
        autoescaped, not volatile, and markupsafe's C escape available)."""
        return (
            not self.environment.is_async
            and not frame.eval_ctx.volatile
            and bool(frame.eval_ctx.autoescape)
            and _escape_inner is not None
        )

    def _output_child_post(
        self,
        node: Expr,
        frame: Frame,
        finalize: t.Any,
    ) -> None:
        if not self._escapes_inline(frame):
            super()._output_child_post(node, frame, finalize)
            return
        if finalize.src is not None:
            self.write(")")
        self.write(") is str else _erlen_escape(_erlen_s))")


class FastEnvironment(Environment):
    """A :class:`jinja2.Environment` that renders the same output faster.

    It needs no application and takes Jinja2's options unchanged. Subclasses
    may set their own ``code_generator_class``, ``context_class`` and
    ``template_class``, or override :meth:`getattr`; the rest keeps working.
    """

    code_generator_class = FastCodeGenerator
    context_class = FastContext
    template_class = FastTemplate

    def getattr(self, obj: t.Any, attribute: str) -> t.Any:
        """As :meth:`jinja2.Environment.getattr`: the attribute, else the
        item, else undefined. A plain ``dict`` has no attribute by a name
        outside :data:`_DICT_ATTRIBUTES`, so for those the item is looked up
        directly; a Werkzeug ``LocalProxy`` (``g``, ``request``, ``session``)
        is looked through once instead of on each step."""
        if (
            type(obj) in _PROXY_TYPES
            and type(attribute) is str
            and attribute not in _PROXY_ATTRIBUTES
        ):
            # The proxy has no such attribute of its own, so both getattr
            # and [] go to the object it stands for (or raise its
            # RuntimeError when unbound): ask that object directly.
            obj = obj._get_current_object()
        if not (
            type(obj) is dict
            and type(attribute) is str
            and attribute not in _DICT_ATTRIBUTES
        ):
            try:
                return getattr(obj, attribute)
            except AttributeError:
                pass
        try:
            return obj[attribute]
        except (TypeError, LookupError, AttributeError):
            return self.undefined(obj=obj, name=attribute)


#: The lookups that inline dict lookups stand in for, as defined here and in
#: Jinja2 (captured at import: patching either class later turns inlining off).
_FAST_GETATTR = FastEnvironment.getattr
_STOCK_GETITEM = Environment.getitem


def _lookups_are_fast(environment: Environment) -> bool:
    """Whether ``environment`` looks attributes up with
    :meth:`FastEnvironment.getattr` and items with Jinja2's ``getitem``,
    neither overridden (the sandbox overrides both) nor replaced on the
    instance; compiled templates ask this before looking items up inline."""
    cls = type(environment)
    if (
        getattr(cls, "getattr", None) is not _FAST_GETATTR
        or getattr(cls, "getitem", None) is not _STOCK_GETITEM
    ):
        return False
    own = vars(environment)
    return "getattr" not in own and "getitem" not in own


def _self_check() -> None:
    # The shortcuts rest on facts about the running Python and markupsafe;
    # check them once at import rather than trust them.
    for value in ("<a href='x'>&\"", "", 12, -3, 0, Markup("<b>"), 1.5, None):
        fast, stock = escape(value), _markup_escape(value)
        assert type(fast) is Markup and fast == stock, (value, fast, stock)
    for name in _DICT_ATTRIBUTES:
        assert hasattr({}, name), name
    assert sys.version_info >= (3, 10)


_self_check()
