"""View and MethodView behave exactly as in Flask 3.1."""

from __future__ import annotations

import functools
import typing as t

import pytest

from erlen import Erlen, request
from erlen.views import MethodView, View


@pytest.fixture
def app() -> Erlen:
    app = Erlen(__name__)
    app.testing = True
    return app


def test_view_dispatch_request(app: Erlen) -> None:
    class Index(View):
        methods = ["GET", "POST"]

        def dispatch_request(self) -> str:
            return f"index {request.method}"

    app.add_url_rule("/", view_func=Index.as_view("index"))
    c = app.test_client()
    assert c.get("/").data == b"index GET"
    assert c.post("/").data == b"index POST"
    assert c.put("/").status_code == 405
    assert sorted(c.put("/").headers["Allow"].split(", ")) == [
        "GET",
        "HEAD",
        "OPTIONS",
        "POST",
    ]


def test_view_without_methods_defaults_to_get(app: Erlen) -> None:
    class Plain(View):
        def dispatch_request(self) -> str:
            return "plain"

    app.add_url_rule("/", view_func=Plain.as_view("plain"))
    c = app.test_client()
    assert c.get("/").data == b"plain"
    assert c.post("/").status_code == 405


def test_as_view_attributes(app: Erlen) -> None:
    class Documented(View):
        """The docstring."""

        methods = ["GET"]

        def dispatch_request(self) -> str:
            return "d"

    view = Documented.as_view("documented")
    assert view.__name__ == "documented"
    assert view.__doc__ == "The docstring."
    assert view.__module__ == Documented.__module__
    assert view.view_class is Documented  # type: ignore[attr-defined]
    assert view.methods == ["GET"]  # type: ignore[attr-defined]
    app.add_url_rule("/", view_func=view)
    assert "documented" in app.view_functions


def test_as_view_args_and_kwargs(app: Erlen) -> None:
    class Greeting(View):
        def __init__(self, greeting: str, punct: str = ".") -> None:
            self.greeting = greeting
            self.punct = punct

        def dispatch_request(self, name: str) -> str:
            return f"{self.greeting}, {name}{self.punct}"

    app.add_url_rule("/hi/<name>", view_func=Greeting.as_view("hi", "Hi", punct="!"))
    app.add_url_rule("/yo/<name>", view_func=Greeting.as_view("yo", "Yo"))
    c = app.test_client()
    assert c.get("/hi/ada").data == b"Hi, ada!"
    assert c.get("/yo/bob").data == b"Yo, bob."


def test_init_every_request_true(app: Erlen) -> None:
    instances: list[int] = []

    class Counter(View):
        def __init__(self) -> None:
            instances.append(id(self))
            self.count = 0

        def dispatch_request(self) -> str:
            self.count += 1
            return str(self.count)

    app.add_url_rule("/", view_func=Counter.as_view("counter"))
    c = app.test_client()
    assert c.get("/").data == b"1"
    assert c.get("/").data == b"1"
    assert len(instances) == 2


def test_init_every_request_false(app: Erlen) -> None:
    instances: list[int] = []

    class Counter(View):
        init_every_request = False

        def __init__(self) -> None:
            instances.append(id(self))
            self.count = 0

        def dispatch_request(self) -> str:
            self.count += 1
            return str(self.count)

    view = Counter.as_view("counter")
    assert len(instances) == 1
    assert isinstance(view.view_class, type)  # type: ignore[attr-defined]
    app.add_url_rule("/", view_func=view)
    c = app.test_client()
    assert c.get("/").data == b"1"
    assert c.get("/").data == b"2"
    assert len(instances) == 1


def test_decorators(app: Erlen) -> None:
    def add_header(name: str) -> t.Callable[..., t.Any]:
        def decorator(f: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
            @functools.wraps(f)
            def wrapped(*args: t.Any, **kwargs: t.Any) -> t.Any:
                rv = app.make_response(f(*args, **kwargs))
                rv.headers.add("X-Deco", name)
                return rv

            return wrapped

        return decorator

    class Decorated(View):
        decorators = [add_header("first"), add_header("second")]

        def dispatch_request(self) -> str:
            return "deco"

    view = Decorated.as_view("decorated")
    # Decorators wrap in list order: the last one is outermost.
    assert view.view_class is Decorated  # type: ignore[attr-defined]
    app.add_url_rule("/", view_func=view)
    rv = app.test_client().get("/")
    assert rv.data == b"deco"
    assert rv.headers.getlist("X-Deco") == ["first", "second"]


def test_method_view_dispatch(app: Erlen) -> None:
    class Items(MethodView):
        def get(self, item_id: int | None = None) -> str:
            return f"get {item_id}"

        def post(self) -> tuple[str, int]:
            return f"post {request.get_json()}", 201

        def put(self, item_id: int) -> str:
            return f"put {item_id}"

        def delete(self, item_id: int) -> tuple[str, int]:
            return "", 204

        def patch(self, item_id: int) -> str:
            return f"patch {item_id}"

    view = Items.as_view("items")
    app.add_url_rule(
        "/items/", defaults={"item_id": None}, view_func=view, methods=["GET"]
    )
    app.add_url_rule("/items/", view_func=view, methods=["POST"])
    app.add_url_rule(
        "/items/<int:item_id>",
        view_func=view,
        methods=["GET", "PUT", "DELETE", "PATCH"],
    )
    c = app.test_client()
    assert c.get("/items/").data == b"get None"
    assert c.get("/items/3").data == b"get 3"
    rv = c.post("/items/", json={"a": 1})
    assert (rv.status_code, rv.data) == (201, b"post {'a': 1}")
    assert c.put("/items/3").data == b"put 3"
    assert c.patch("/items/3").data == b"patch 3"
    assert c.delete("/items/3").status_code == 204


def test_method_view_methods_inferred(app: Erlen) -> None:
    class Base(MethodView):
        def get(self) -> str:
            return "get"

    class Child(Base):
        def post(self) -> str:
            return "post"

    class Grand(Child):
        def delete(self) -> str:
            return "delete"

    assert Base.methods == {"GET"}
    assert Child.methods == {"GET", "POST"}
    assert Grand.methods == {"GET", "POST", "DELETE"}
    app.add_url_rule("/", view_func=Grand.as_view("grand"))
    c = app.test_client()
    assert c.get("/").data == b"get"
    assert c.post("/").data == b"post"
    assert c.delete("/").data == b"delete"
    rv = c.put("/")
    assert rv.status_code == 405
    assert sorted(rv.headers["Allow"].split(", ")) == [
        "DELETE",
        "GET",
        "HEAD",
        "OPTIONS",
        "POST",
    ]


def test_method_view_explicit_methods_attribute(app: Erlen) -> None:
    class Limited(MethodView):
        methods = ["GET"]

        def get(self) -> str:
            return "get"

        def post(self) -> str:
            return "post"

    assert Limited.methods == ["GET"]
    app.add_url_rule("/", view_func=Limited.as_view("limited"))
    assert app.test_client().post("/").status_code == 405


def test_method_view_head_falls_back_to_get(app: Erlen) -> None:
    calls: list[str] = []

    class Page(MethodView):
        def get(self) -> str:
            calls.append(request.method)
            return "page body"

    app.add_url_rule("/", view_func=Page.as_view("page"))
    rv = app.test_client().head("/")
    assert rv.status_code == 200
    assert rv.data == b""
    assert rv.headers["Content-Length"] == "9"
    assert calls == ["HEAD"]


def test_method_view_custom_head(app: Erlen) -> None:
    class Page(MethodView):
        def get(self) -> str:
            return "page"

        def head(self) -> tuple[str, int, dict[str, str]]:
            return "", 200, {"X-Head": "custom"}

    assert Page.methods == {"GET", "HEAD"}
    app.add_url_rule("/", view_func=Page.as_view("page"))
    assert app.test_client().head("/").headers["X-Head"] == "custom"


def test_method_view_missing_handler_is_assertion_error(app: Erlen) -> None:
    class OnlyGet(MethodView):
        def get(self) -> str:
            return "get"

    # The route allows POST, but the class has no post() method.
    app.add_url_rule("/", view_func=OnlyGet.as_view("only"), methods=["GET", "POST"])
    with pytest.raises(AssertionError, match="Unimplemented method 'POST'"):
        app.test_client().post("/")


def test_method_view_options_automatic(app: Erlen) -> None:
    class Res(MethodView):
        def get(self) -> str:
            return "g"

        def put(self) -> str:
            return "p"

    app.add_url_rule("/", view_func=Res.as_view("res"))
    rv = app.test_client().options("/")
    assert sorted(rv.allow) == ["GET", "HEAD", "OPTIONS", "PUT"]


def test_method_view_decorators_and_init_args(app: Erlen) -> None:
    def require_token(f: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        @functools.wraps(f)
        def wrapped(*args: t.Any, **kwargs: t.Any) -> t.Any:
            if request.headers.get("X-Token") != "ok":
                return "denied", 401
            return f(*args, **kwargs)

        return wrapped

    class Secure(MethodView):
        decorators = [require_token]
        init_every_request = False

        def __init__(self, secret: str) -> None:
            self.secret = secret

        def get(self) -> str:
            return self.secret

    app.add_url_rule("/", view_func=Secure.as_view("secure", "s3cret"))
    c = app.test_client()
    assert c.get("/").status_code == 401
    assert c.get("/", headers={"X-Token": "ok"}).data == b"s3cret"


def test_method_view_url_for(app: Erlen) -> None:
    from erlen import url_for

    class Item(MethodView):
        def get(self, id: int) -> str:
            return url_for("item", id=id + 1)

    app.add_url_rule("/item/<int:id>", view_func=Item.as_view("item"))
    assert app.test_client().get("/item/1").data == b"/item/2"


def test_view_subclass_provide_automatic_options(app: Erlen) -> None:
    class NoOpts(View):
        methods = ["GET", "OPTIONS"]
        provide_automatic_options = False

        def dispatch_request(self) -> str:
            return f"manual {request.method}"

    app.add_url_rule("/", view_func=NoOpts.as_view("noopts"))
    assert app.test_client().options("/").data == b"manual OPTIONS"
