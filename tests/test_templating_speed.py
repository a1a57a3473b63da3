"""erlen's fast Jinja2 environment renders exactly what stock Jinja2 renders.

Every comparison renders the same template source with the same values on a
stock :class:`jinja2.Environment` and on :class:`erlen.jinja.FastEnvironment`
built with the same options, and compares output, the chunks ``generate()``
yields (values and types) and any exception (type and message). Jinja2's own
test suite runs on the fast environment too (scripts/jinja-suite.sh).
"""

from __future__ import annotations

import enum
import logging
import os
import typing as t

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import (
    ChainableUndefined,
    DebugUndefined,
    DictLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplatesNotFound,
    Undefined,
    pass_context,
    pass_environment,
    pass_eval_context,
)
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from markupsafe import Markup

from erlen import Blueprint, Erlen, render_template, render_template_string
from erlen.jinja import FastContext, FastEnvironment, FastTemplate, escape

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH_TEMPLATES = os.path.join(os.path.dirname(HERE), "benchmarks", "templates")


# -- values ------------------------------------------------------------------


class Color(enum.IntEnum):
    RED = 1


class Html:
    def __html__(self) -> str:
        return "<b>safe</b>"

    def __str__(self) -> str:
        return "<b>unsafe</b>"


class Obj:
    a = "<attr a>"
    items = "attr items"

    def method(self, x: int = 1) -> str:
        return f"<m{x}>"

    @pass_context
    def ctx_method(self, context: t.Any) -> str:
        return f"ctx-method {context.get('i')!r}"

    def __getitem__(self, key: str) -> str:
        if not isinstance(key, str):  # not an endless old-style sequence
            raise IndexError(key)
        return f"item {key}"


class Dynamic:
    """An object whose attributes come from ``__getattr__``."""

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return f"dyn {name}"


class Raising:
    @property
    def a(self) -> str:
        raise AttributeError("a is broken")

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)


class MissingDict(dict[str, t.Any]):
    def __missing__(self, key: str) -> str:
        return f"missing {key}"


class StrSub(str):
    pass


class Callable:
    def __call__(self, x: int = 0) -> str:
        return f"called {x}"


class ContextCallable:
    @pass_context
    def __call__(self, context: t.Any) -> str:
        return f"ctx-callable {context.get('i')!r}"


def plain(x: t.Any = "p") -> str:
    return f"<plain {x}>"


def stopper() -> None:
    raise StopIteration


@pass_context
def ctx_func(context: t.Any, *args: t.Any) -> str:
    return f"ctx {context.get('i')!r} {context.get('y')!r} {args!r}"


@pass_environment
def env_func(environment: t.Any) -> str:
    return type(environment.autoescape).__name__


@pass_eval_context
def eval_func(eval_ctx: t.Any) -> str:
    return f"autoescape={eval_ctx.autoescape}"


def boom() -> None:
    raise ValueError("boom <&>")


SCALARS = [
    "plain",
    "<script>alert('x') & \"y\"</script>",
    "",
    0,
    -7,
    12345678901234567890,
    True,
    False,
    1.5,
    None,
    Markup("<i>marked</i>"),
    Html(),
    StrSub("<sub>"),
    Color.RED,
    [1, "<li>"],
    ("t", 2),
    {"k": "<v>"},
]

OBJECTS = [
    {"a": "<dict a>", "items": "key items", "get": "key get", "b": 2},
    {"b": 1},
    {},
    {"a": {"b": "<nested b>"}, 0: "zero", 1: {"b": 1}},
    {"__class__": "key class", "a": Markup("<ok>")},
    MissingDict(a="<sub a>"),
    Obj(),
    Dynamic(),
    Raising(),
    None,
    [1, 2, 3],
    "a string",
    42,
]

TEMPLATES = [
    "{{ v }}",
    "{{ v }}|{{ v|e }}|{{ v|safe }}|{{ v ~ '<&>' }}",
    "{% for x in [v, v] %}[{{ loop.index }}:{{ x }}]{% endfor %}",
    "{{ o.a }}|{{ o['a'] }}|{{ o.b }}",
    "{{ o.items }}|{{ o.get }}|{{ o.__class__ }}|{{ o.keys }}",
    "{{ o.missing }}|{{ o['missing'] }}",
    "{{ o['items'] }}|{{ o['get'] }}|{{ o[0] }}|{{ o[1] }}|{{ o[-1] }}|{{ o['b'] }}",
    "{{ o.a.b }}|{{ o['a']['b'] }}|{{ o.a ~ o.b }}|{{ o.a == o['a'] }}",
    "{% for k, x in o|dictsort if o is mapping %}{{ k }}={{ x.b }};{% endfor %}",
    "{% macro m(x) %}{{ x.a }}{{ x['a'] }}{% endmacro %}{{ m(o) }}{{ m(v) }}",
    "{{ o.missing.deeper }}",
    "{% if o.a is defined %}defined{% else %}undefined{% endif %}",
    "{{ o.a|default('dflt') }}|{{ o.zzz|default('dflt') }}",
    "{% for k in o %}{{ k }},{% endfor %}",
    "{{ plain() }}|{{ plain(v) }}|{{ plain(x=v) }}",
    "{{ obj.method() }}|{{ obj.method(3) }}|{{ callable_obj(2) }}",
    "{{ obj.ctx_method() }}{% for i in [7] %}{{ obj.ctx_method() }}{% endfor %}",
    "{{ plain(_loop_vars=v) }}{% for i in [1] %}{{ plain(_block_vars=v) }}{% endfor %}"
    "{{ plain(**{'x': v}) }}|{{ plain(*[v]) }}|{{ s.upper() }}|{{ s.count('b') }}",
    "{{ len(s) }}|{{ sorted_(['b', 'a']) }}",
    "{{ stopper() }}|after",
    "{{ ctx_func() }}{% for i in [1, 2] %}{% set y = i * 2 %}"
    "{{ ctx_func(i) }}{{ ctx_callable() }}{% endfor %}",
    "{% block b %}{% set y = 'blk' %}{{ ctx_func() }}{% endblock %}",
    "{{ env_func() }}|{{ eval_func() }}",
    "{% autoescape false %}{{ v }}{% endautoescape %}"
    "{% autoescape true %}{{ v }}{% endautoescape %}",
    "{% macro m(x) %}<{{ x }}>{{ caller() if caller }}{% endmacro %}"
    "{{ m(v) }}{% call m(o.a) %}inner {{ v }}{% endcall %}",
    "{% set ns = namespace(n=v) %}{{ ns.n }}",
    "{% set x %}{{ v }}{% endset %}{{ x }}|{{ x|length }}",
    "{{ g1 }}|{{ tg }}|{{ shadowed }}",
    "{{ boom() }}",
    "{{ v.a }}",
]

UNDEFINEDS = [Undefined, StrictUndefined, DebugUndefined, ChainableUndefined]


def _context(v: t.Any, o: t.Any) -> dict[str, t.Any]:
    return {
        "v": v,
        "o": o,
        "s": "abc",
        "obj": Obj(),
        "plain": plain,
        "stopper": stopper,
        "ctx_func": ctx_func,
        "env_func": env_func,
        "eval_func": eval_func,
        "callable_obj": Callable(),
        "ctx_callable": ContextCallable(),
        "len": len,
        "sorted_": sorted,
        "boom": boom,
        "shadowed": "from render",
    }


def _outcome(fn: t.Callable[[], t.Any]) -> tuple[str, t.Any]:
    try:
        return "ok", fn()
    except Exception as e:  # compared by type and message
        return "error", (type(e), str(e))


def _render_all(
    env: jinja2.Environment, source: str, context: dict[str, t.Any]
) -> list[tuple[str, t.Any]]:
    tmpl = env.from_string(source, globals={"tg": "<template global>"})
    return [
        _outcome(lambda: tmpl.render(context)),
        _outcome(lambda: [(type(c), c) for c in tmpl.generate(context)]),
        _outcome(lambda: tmpl.module.__class__.__name__),
    ]


def _pair(**options: t.Any) -> tuple[jinja2.Environment, FastEnvironment]:
    envs = (jinja2.Environment(**options), FastEnvironment(**options))
    for env in envs:
        env.globals.update(g1="<env global>", shadowed="from globals")
    return envs


@settings(max_examples=300, deadline=None)
@given(
    source=st.sampled_from(TEMPLATES),
    v=st.one_of(
        st.sampled_from(SCALARS),
        st.text(alphabet="<>&'\"ab \x00é", max_size=8),
        st.integers(),
    ),
    o=st.sampled_from(OBJECTS),
    autoescape=st.sampled_from([True, False]),
    undefined=st.sampled_from(UNDEFINEDS),
)
def test_same_output_chunks_and_errors_as_stock_jinja(
    source: str, v: t.Any, o: t.Any, autoescape: bool, undefined: type[Undefined]
) -> None:
    stock, fast = _pair(autoescape=autoescape, undefined=undefined)
    context = _context(v, o)
    expected = _render_all(stock, source, context)
    assert _render_all(fast, source, context) == expected


@pytest.mark.parametrize("source", TEMPLATES)
def test_same_output_with_volatile_autoescape(source: str) -> None:
    # A callable autoescape, and {% autoescape %} blocks in between, make the
    # compiled code choose escape or str at run time.
    def select(name: str | None) -> bool:
        return name is None or name.endswith(".html")

    stock, fast = _pair(autoescape=select)
    context = _context("<x & y>", OBJECTS[0])
    wrapped = "{% autoescape v is string %}" + source + "{% endautoescape %}"
    for src in (source, wrapped):
        assert _render_all(fast, src, context) == _render_all(stock, src, context)


def test_escape_returns_what_markupsafe_returns() -> None:
    from markupsafe import escape as stock_escape

    for value in [*SCALARS, "", "&amp;", "\u2028<", -0, 10**30, Markup("")]:
        fast, expected = escape(value), stock_escape(value)
        assert type(fast) is Markup
        assert fast == expected


def test_dict_getattr_prefers_dict_attributes_like_jinja() -> None:
    stock, fast = _pair()
    d = {"items": 1, "copy": 2, "x": 3}
    for env in (stock, fast):
        assert env.getattr(d, "items") == d.items
        assert env.getattr(d, "copy") == d.copy
        assert env.getattr(d, "x") == 3
        missing = env.getattr(d, "nope")
        assert isinstance(missing, Undefined)
        assert missing._undefined_obj is d and missing._undefined_name == "nope"


def test_render_vars_with_non_string_keys_fail_like_jinja() -> None:
    stock, fast = _pair()
    results = [
        _outcome(lambda env=env: env.from_string("x").render({1: "one"}))
        for env in (stock, fast)
    ]
    assert results[0] == results[1]
    assert results[0][0] == "error"


def test_context_parent_and_globals_keys_match_jinja() -> None:
    @pass_context
    def describe(context: t.Any) -> str:
        return f"{list(context.parent)}|{sorted(context.globals_keys)}"

    stock, fast = _pair()
    out = []
    for env in (stock, fast):
        env.globals["describe"] = describe
        tmpl = env.from_string("{{ describe() }}", globals={"tg": 1, "g1": "over"})
        out.append(tmpl.render(shadowed="r", extra=2))
        assert type(tmpl.new_context()) is env.context_class
    assert out[0] == out[1]
    assert "'extra'" in out[0]


def test_inheritance_includes_imports_and_streaming_match_jinja() -> None:
    templates = {
        "base.html": "<title>{% block title %}B{% endblock %}</title>"
        "{% block body %}{% endblock %}{% include 'inc.html' %}",
        "inc.html": "[inc {{ row.name if row else name }}]",
        "macros.html": "{% macro cell(v) %}<td>{{ v }}</td>{% endmacro %}",
        "page.html": "{% extends 'base.html' %}{% import 'macros.html' as m %}"
        "{% block title %}{{ super() }}+P{% endblock %}"
        "{% block body %}{% for row in rows %}<tr>{{ m.cell(row.name) }}"
        "{{ m.cell(row.id) }}</tr>{% endfor %}{% endblock %}",
    }
    rows = [{"id": i, "name": f"<user {i}>"} for i in range(5)]
    stock, fast = _pair(loader=DictLoader(templates), autoescape=True)

    def outputs(env: jinja2.Environment, name: str) -> t.Any:
        tmpl = env.get_template(name)
        stream = tmpl.stream(rows=rows)
        stream.enable_buffering(3)
        return (
            tmpl.render(rows=rows, name="n"),
            list(tmpl.generate(rows=rows, name="n")),
            list(stream),
        )

    for name in templates:
        assert outputs(fast, name) == outputs(stock, name)
    assert "<td>&lt;user 4&gt;</td>" in outputs(fast, "page.html")[0]


def test_benchmark_page_renders_identically() -> None:
    loader = jinja2.FileSystemLoader(BENCH_TEMPLATES)
    stock, fast = _pair(loader=loader, autoescape=True)
    rows = [
        {"id": i, "name": f"user <{i}>", "email": f"u{i}@example.com"}
        for i in range(20)
    ]
    expected = stock.get_template("page.html").render(rows=rows)
    assert fast.get_template("page.html").render(rows=rows) == expected
    assert "user &lt;19&gt;" in expected
    assert type(fast.get_template("page.html")) is FastTemplate


def test_async_templates_compile_exactly_as_jinja() -> None:
    source = (
        "{{ o.a }}|{{ o['a'] }}|{{ o.b }}|{{ plain(v) }}|{{ obj.method(3) }}"
        "{% for i in [1, 2] %}{% set y = i %}{{ ctx_func(i) }}{% endfor %}"
    )
    stock, fast = _pair(enable_async=True, autoescape=True)
    assert fast.compile(source, raw=True) == stock.compile(source, raw=True)
    context = _context("<v>", OBJECTS[0])
    expected = stock.from_string(source).render(context)
    assert fast.from_string(source).render(context) == expected


def test_sync_templates_call_the_fast_escape() -> None:
    fast = FastEnvironment(autoescape=True)
    code = fast.compile("{{ x }}", raw=True)
    # A str inline, with the C calls escape makes; anything else through it.
    assert "_erlen_new(_erlen_Markup, _erlen_inner(_erlen_s))" in code
    assert "else _erlen_escape(_erlen_s)" in code
    assert "_erlen_escape(" not in FastEnvironment().compile("{{ x }}", raw=True)


def test_overrides_and_custom_classes_are_honoured() -> None:
    seen: list[str] = []

    class MyContext(jinja2.runtime.Context):
        def call(__self, __obj: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
            seen.append(f"call {sorted(kwargs)}")
            return super().call(__obj, *args, **kwargs)

    class Mine(FastEnvironment):
        context_class = MyContext

        def getattr(self, obj: t.Any, attribute: str) -> t.Any:
            seen.append(attribute)
            return super().getattr(obj, attribute)

    env = Mine()
    tmpl = env.from_string("{{ d.a }}{{ f() }}{% for x in [1] %}{{ f() }}{% endfor %}")
    assert tmpl.render(d={"a": "A"}, f=lambda: "F") == "AFF"
    assert seen == ["a", "call []", "call ['_loop_vars']"]
    assert type(tmpl.new_context()) is MyContext


class _DictBytecodeCache(jinja2.BytecodeCache):
    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def load_bytecode(self, bucket: t.Any) -> None:
        if bucket.key in self.store:
            bucket.bytecode_from_string(self.store[bucket.key])

    def dump_bytecode(self, bucket: t.Any) -> None:
        self.store[bucket.key] = bucket.bytecode_to_string()


def test_shared_bytecode_honours_the_running_environment() -> None:
    # Code compiled by a FastEnvironment, then run by environments whose
    # lookups are overridden (class or instance), must call those overrides.
    seen: list[t.Any] = []

    class Counting(FastEnvironment):
        def getattr(self, obj: t.Any, attribute: str) -> t.Any:
            seen.append(attribute)
            return super().getattr(obj, attribute)

        def getitem(self, obj: t.Any, argument: t.Any) -> t.Any:
            seen.append(argument)
            return super().getitem(obj, argument)

    cache = _DictBytecodeCache()
    loader = DictLoader({"t.html": "{{ d.a }}{{ d['b'] }}"})
    d = {"a": "A", "b": "B"}
    first = FastEnvironment(loader=loader, bytecode_cache=cache)
    assert first.get_template("t.html").render(d=d) == "AB"
    assert cache.store
    assert (
        Counting(loader=loader, bytecode_cache=cache).get_template("t.html").render(d=d)
        == "AB"
    )
    assert seen == ["a", "b"]
    patched = FastEnvironment(loader=loader, bytecode_cache=cache)
    patched.getattr = lambda obj, attribute: f"patched {attribute}"  # type: ignore[method-assign]
    assert patched.get_template("t.html").render(d=d) == "patched aB"
    sandboxed = SandboxedEnvironment(loader=loader, bytecode_cache=cache)
    assert sandboxed.get_template("t.html").render(d=d) == "AB"
    # Patching the class itself is honoured too.
    original = jinja2.Environment.getitem
    try:
        jinja2.Environment.getitem = lambda self, obj, arg: f"class-patched {arg}"  # type: ignore[method-assign,assignment]
        fresh = FastEnvironment(loader=loader, bytecode_cache=cache)
        assert fresh.get_template("t.html").render(d=d) == "Aclass-patched b"
    finally:
        jinja2.Environment.getitem = original  # type: ignore[method-assign]


def test_sandbox_is_untouched() -> None:
    # The sandbox is Jinja2's own class and still refuses unsafe access.
    assert not issubclass(SandboxedEnvironment, FastEnvironment)
    env = SandboxedEnvironment()
    with pytest.raises(SecurityError):
        env.from_string("{{ f.__code__.co_name }}").render(f=plain)
    assert env.from_string("{{ d.a }}").render(d={"a": 1}) == "1"


def test_plain_callables_take_the_fast_call_and_others_jinjas() -> None:
    fast = FastEnvironment()
    context = fast.from_string("").new_context({"i": 5})
    assert isinstance(context, FastContext)
    assert context.call(plain, "x", _loop_vars={"i": 1}) == "<plain x>"
    assert context.call(Obj().method, 2) == "<m2>"
    assert context.call(len, "abc") == 3
    assert context.call(ctx_func, _loop_vars={"i": 9}) == "ctx 9 None ()"
    assert context.call(ContextCallable()) == "ctx-callable 5"
    assert context.call(env_func) == "bool"
    assert isinstance(context.call(stopper), Undefined)


def test_jinja_traceback_rewriting_hides_the_fast_call() -> None:
    import traceback

    env = FastEnvironment(loader=DictLoader({"t.html": "line1\n{{ boom() }}"}))
    with pytest.raises(ValueError) as info:
        env.get_template("t.html").render(boom=boom)
    frames = [f.name for f in traceback.extract_tb(info.tb)]
    assert "call" not in frames
    assert "top-level template code" in frames


# -- the app's environment and render helpers -----------------------------


def _app(tmp_path: t.Any) -> Erlen:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "ctx.html").write_text(
        "{{ g.user }}|{{ request.path }}|{{ a }}|{{ b }}|{{ session.get('k') }}"
        "|{{ url_for('page') }}"
    )
    app = Erlen("tplapp", root_path=str(tmp_path))
    app.secret_key = "s"

    @app.route("/page")
    def page() -> str:
        from erlen import g

        g.user = "<alice>"
        return render_template("ctx.html", b="explicit")

    return app


def test_app_environment_is_fast_and_app_free_base(tmp_path: t.Any) -> None:
    app = _app(tmp_path)
    assert isinstance(app.jinja_env, FastEnvironment)
    assert app.jinja_env.app is app
    assert FastEnvironment().from_string("{{ 1 }}").render() == "1"


def test_default_context_only(tmp_path: t.Any) -> None:
    app = _app(tmp_path)
    with app.test_client() as client:
        assert client.get("/page").text == "&lt;alice&gt;|/page||explicit|None|/page"


def test_processors_run_in_flask_order_and_explicit_values_win(tmp_path: t.Any) -> None:
    app = _app(tmp_path)
    calls: list[str] = []
    bp = Blueprint("bp", __name__, url_prefix="/bp")

    @app.context_processor
    def app_proc() -> dict[str, t.Any]:
        calls.append("app")
        return {"a": "from app", "b": "from app", "g": {"user": "proc g"}}

    @bp.context_processor
    def bp_proc() -> dict[str, t.Any]:
        calls.append("bp")
        return {"a": "from bp"}

    @bp.route("/page")
    def page() -> str:
        return render_template("ctx.html", b="explicit", g={"user": "explicit g"})

    app.register_blueprint(bp)
    with app.test_client() as client:
        assert client.get("/page").text == "proc g|/page|from app|explicit|None|/page"
        assert calls == ["app"]
        del calls[:]
        assert client.get("/bp/page").text == (
            "explicit g|/bp/page|from bp|explicit|None|/page"
        )
        assert calls == ["app", "bp"]


def test_update_template_context_keeps_keys_order_and_values(tmp_path: t.Any) -> None:
    app = _app(tmp_path)
    with app.test_request_context("/page"):
        fast = {"x": 1, "request": "mine"}
        app.update_template_context(fast)
        assert list(fast) == ["x", "request", "g"]
        assert fast["request"] == "mine"
        # The general path (a second processor that adds nothing) agrees.
        app.context_processor(dict)
        general = {"x": 1, "request": "mine"}
        app.update_template_context(general)
        assert general == fast and list(general) == list(fast)


def test_async_context_processor(tmp_path: t.Any) -> None:
    pytest.importorskip("asgiref")
    app = _app(tmp_path)

    @app.context_processor
    async def proc() -> dict[str, t.Any]:
        return {"a": "async"}

    with app.test_request_context("/page"):
        assert render_template_string("{{ a }}") == "async"


def test_render_helpers_outside_app_context_fail_like_the_proxy() -> None:
    with pytest.raises(RuntimeError, match="Working outside of application context"):
        render_template_string("x")
    with pytest.raises(RuntimeError, match="Working outside of application context"):
        render_template("x.html")


def test_signals_get_the_rendered_template_and_context(tmp_path: t.Any) -> None:
    from erlen.signals import before_render_template, template_rendered

    app = _app(tmp_path)
    seen: list[tuple[str, str, t.Any]] = []

    def before(sender: t.Any, template: t.Any, context: t.Any) -> None:
        seen.append(("before", template.name, context["b"]))

    def after(sender: t.Any, template: t.Any, context: t.Any) -> None:
        seen.append(("after", template.name, sorted(context)))

    with (
        before_render_template.connected_to(before, app),
        template_rendered.connected_to(after, app),
        app.test_client() as client,
    ):
        client.get("/page")
    assert seen == [
        ("before", "ctx.html", "explicit"),
        ("after", "ctx.html", ["b", "g", "request"]),
    ]


def test_proxies_read_like_jinja_reads_them(tmp_path: t.Any) -> None:
    from erlen import g, request, session
    from erlen.globals import _cv_request

    source = (
        "{{ g.user }}|{{ g.missing }}|{{ g.__class__.__name__ }}|{{ g.get('user') }}"
        "|{{ request.path }}|{{ request.args['q'] }}|{{ request.nope is defined }}"
        "|{{ session.get('k') }}|{{ session.__class__.__name__ }}"
    )
    app = _app(tmp_path)
    stock, fast = _pair(autoescape=True)
    proxies = {"g": g, "request": request, "session": session}
    with app.test_request_context("/here?q=<1>"):
        g.user = "<u>"
        expected = _render_all(stock, source, proxies)
        assert _render_all(fast, source, proxies) == expected
        assert expected[0] == (
            "ok",
            "&lt;u&gt;||_AppCtxGlobals|&lt;u&gt;|/here|&lt;1&gt;|False|None|SecureCookieSession",
        )
        assert _cv_request.get().session.accessed
    with app.test_request_context("/"):
        # A template that does not read the session leaves it unaccessed.
        fast.from_string("{{ g.x }}{% if false %}{{ session.k }}{% endif %}").render(
            proxies
        )
        assert "_session" not in vars(_cv_request.get())
    # Unbound proxies fail with the same error.
    results = [
        _outcome(lambda env=env: env.from_string("{{ g.user }}").render(g=g))
        for env in (stock, fast)
    ]
    assert results[0] == results[1]
    assert results[0][0] == "error"
    assert "Working outside of application context" in results[0][1][1]


# -- issue 14: where a missing template was looked for -------------------------


def _missing_app(tmp_path: t.Any) -> Erlen:
    app = Erlen("missingapp", root_path=str(tmp_path))
    admin = Blueprint(
        "admin", "admin", template_folder="admin_tpl", root_path=str(tmp_path)
    )
    plain_bp = Blueprint("plain", "plain", root_path=str(tmp_path))  # no folder
    app.register_blueprint(admin)
    app.register_blueprint(plain_bp)
    return app


def test_missing_template_says_where_erlen_looked(tmp_path: t.Any) -> None:
    app = _missing_app(tmp_path)
    with app.app_context(), pytest.raises(TemplateNotFound) as info:
        render_template("nope.html")
    e = info.value
    assert type(e) is TemplateNotFound
    assert e.name == "nope.html" and e.templates == ["nope.html"]
    assert str(e) == (
        "nope.html\n"
        "Searched, in this order:\n"
        f"  - application 'missingapp': folder {tmp_path / 'templates'}\n"
        f"  - blueprint 'admin': folder {tmp_path / 'admin_tpl'}\n"
        "Set EXPLAIN_TEMPLATE_LOADING = True in the config to log every attempt"
        " (on app.logger, at INFO level)."
    )


def test_missing_template_in_extends_and_with_explain(
    tmp_path: t.Any, caplog: pytest.LogCaptureFixture
) -> None:
    app = _missing_app(tmp_path)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "child.html").write_text("{% extends 'gone.html' %}")
    app.config["EXPLAIN_TEMPLATE_LOADING"] = True
    caplog.set_level(logging.INFO, logger=app.logger.name)
    with app.app_context(), pytest.raises(TemplateNotFound) as info:
        render_template("child.html")
    assert info.value.name == "gone.html"
    assert str(info.value).startswith("gone.html\nSearched, in this order:\n")
    assert "Locating template 'gone.html'" in caplog.text


def test_missing_template_list_says_where_erlen_looked(tmp_path: t.Any) -> None:
    app = _missing_app(tmp_path)
    with app.app_context(), pytest.raises(TemplatesNotFound) as info:
        render_template(["a.html", "b.html"])
    e = info.value
    assert type(e) is TemplatesNotFound and isinstance(e, TemplateNotFound)
    assert e.name == "b.html" and e.templates == ["a.html", "b.html"]
    assert str(e).startswith(
        "none of the templates given were found: a.html, b.html\n"
        "Searched, in this order:\n"
    )
    assert "EXPLAIN_TEMPLATE_LOADING" in str(e)
    with app.app_context(), pytest.raises(TemplatesNotFound) as empty:
        app.jinja_env.select_template([])
    assert str(empty.value) == "Tried to select from an empty list of templates."


def test_missing_template_without_any_folder() -> None:
    app = Erlen("nofolder", template_folder=None)
    with app.app_context(), pytest.raises(TemplateNotFound) as info:
        render_template("nope.html")
    assert "No template folder to search" in str(info.value)
    assert info.value.name == "nope.html"
