"""erlen's proxies (``request``, ``g``, ``current_app``, ``session``) behave
as Werkzeug's ``LocalProxy`` does: the same results, errors and messages for
every operation, bound and unbound (:mod:`erlen.local`)."""

from __future__ import annotations

import typing as t
from contextvars import ContextVar

import pytest
from werkzeug.local import LocalProxy

import erlen
from erlen import Erlen
from erlen.local import ContextProxy


class Target:
    """Something with attributes, items, length, iteration and a call."""

    cls_attr = "class attribute"

    def __init__(self) -> None:
        self.items: dict[str, int] = {"a": 1}
        self.attr = "value"

    def __getitem__(self, key: str) -> int:
        return self.items[key]

    def __setitem__(self, key: str, value: int) -> None:
        self.items[key] = value

    def __delitem__(self, key: str) -> None:
        del self.items[key]

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def __iter__(self) -> t.Iterator[str]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __call__(self, *args: t.Any, **kwargs: t.Any) -> tuple[t.Any, ...]:
        return ("called", args, kwargs)

    def __repr__(self) -> str:
        return "<Target>"

    def method(self) -> str:
        return f"method of {self.attr}"


def _operations() -> list[tuple[str, t.Callable[[t.Any], t.Any]]]:
    def setattr_(p: t.Any) -> t.Any:
        p.new = 5
        return p.new

    def delattr_(p: t.Any) -> t.Any:
        p.gone = 1
        del p.gone
        return hasattr(p, "gone")

    def setitem(p: t.Any) -> t.Any:
        p["b"] = 2
        return p["b"]

    def delitem(p: t.Any) -> t.Any:
        p["c"] = 3
        del p["c"]
        return "c" in p

    return [
        ("getattr", lambda p: p.attr),
        ("class attr", lambda p: p.cls_attr),
        ("method", lambda p: p.method()),
        ("missing attr", lambda p: p.missing),
        ("private attr", lambda p: p._private),
        ("dunder attr", lambda p: p.__dict__),
        # (unbound, __class__ is the proxy's own class, whichever it is)
        ("class", lambda p: p.__class__ if p else "unbound"),
        ("doc", lambda p: p.__doc__),
        ("setattr", setattr_),
        ("delattr", delattr_),
        ("delattr missing", lambda p: delattr(p, "never")),
        ("getitem", lambda p: p["a"]),
        ("getitem missing", lambda p: p["zz"]),
        ("setitem", setitem),
        ("delitem", delitem),
        ("contains", lambda p: ("a" in p, "q" in p)),
        ("iter", lambda p: list(p)),
        ("len", lambda p: len(p)),
        ("bool", lambda p: bool(p)),
        ("call", lambda p: p(1, k=2)),
        ("repr", lambda p: repr(p)),
        ("str", lambda p: str(p)),
        ("eq", lambda p: p == p._get_current_object()),
        ("isinstance", lambda p: isinstance(p, Target)),
        ("hasattr", lambda p: (hasattr(p, "attr"), hasattr(p, "nope"))),
        ("getattr default", lambda p: getattr(p, "nope", "dflt")),
        ("dir", lambda p: "method" in dir(p)),
    ]


def _outcome(op: t.Callable[[t.Any], t.Any], proxy: t.Any) -> t.Any:
    try:
        return ("ok", op(proxy))
    except Exception as e:
        return ("error", type(e), str(e))


@pytest.mark.parametrize("name, op", _operations())
@pytest.mark.parametrize("bound", [True, False])
@pytest.mark.parametrize("attribute", [None, "target"])
def test_context_proxy_is_local_proxy(
    name: str, op: t.Callable[[t.Any], t.Any], bound: bool, attribute: str | None
) -> None:
    results = []
    for cls in (LocalProxy, ContextProxy):
        var: ContextVar[t.Any] = ContextVar("test")
        holder = type("Holder", (), {})()
        holder.target = Target()
        proxy = cls(var, attribute, unbound_message="nothing bound")
        if bound:
            var.set(holder if attribute else holder.target)
        results.append(_outcome(op, proxy))
    assert results[0] == results[1], name


def test_flask_globals_are_context_proxies() -> None:
    for proxy in (erlen.request, erlen.g, erlen.session, erlen.current_app):
        assert type(proxy) is ContextProxy
        assert isinstance(proxy, LocalProxy)
        assert repr(proxy) == "<LocalProxy unbound>"
        assert not proxy
    with pytest.raises(RuntimeError, match="Working outside of request context"):
        erlen.request.method  # noqa: B018
    with pytest.raises(RuntimeError, match="Working outside of application context"):
        erlen.g.user  # noqa: B018


def test_globals_in_a_request() -> None:
    app = Erlen(__name__)
    app.secret_key = "s"
    with app.test_request_context("/p?a=1"):
        assert erlen.request.path == "/p"
        assert erlen.request.args["a"] == "1"
        erlen.g.user = "alice"
        assert "user" in erlen.g
        assert erlen.g.user == "alice"
        assert erlen.g.get("user") == "alice"
        assert erlen.g.pop("user") == "alice"
        assert "user" not in erlen.g
        erlen.session["k"] = 1
        assert erlen.session["k"] == 1 and len(erlen.session) == 1
        assert erlen.current_app is not app  # a proxy ...
        assert erlen.current_app._get_current_object() is app  # ... for the app
        assert erlen.current_app.name == app.name
        assert bool(erlen.request) is True
        assert repr(erlen.request) == "<Request 'http://localhost/p?a=1' [GET]>"
