"""Blueprints, templates, static files, flash and the instance folder through
the app, as a Flask user uses them (validated against Flask 3.1 too)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from jinja2 import TemplateNotFound

from erlen import (
    Blueprint,
    Erlen,
    before_render_template,
    flash,
    get_flashed_messages,
    message_flashed,
    render_template,
    render_template_string,
    request,
    stream_template_string,
    template_rendered,
    url_for,
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    _write(tmp_path / "templates" / "page.html", "app {{ value }} {{ extra }}")
    _write(tmp_path / "templates" / "base.html", "<b>{% block c %}{% endblock %}</b>")
    _write(
        tmp_path / "templates" / "child.html",
        '{% extends "base.html" %}{% block c %}{{ text }}{% endblock %}',
    )
    _write(tmp_path / "templates" / "plain.txt", "{{ text }}")
    _write(tmp_path / "bp" / "templates" / "page.html", "bp {{ value }}")
    _write(tmp_path / "bp" / "templates" / "bp_only.html", "only in bp")
    _write(tmp_path / "static" / "site.css", "body{}")
    _write(tmp_path / "bp" / "static" / "bp.js", "js();")
    return tmp_path


def make_app(root: Path) -> Erlen:
    app = Erlen("webapp", root_path=str(root))
    app.secret_key = "test"
    return app


# -- blueprints ---------------------------------------------------------------


def test_blueprint_prefix_endpoints_and_relative_url_for(root: Path) -> None:
    app = make_app(root)
    bp = Blueprint("shop", __name__, url_prefix="/shop")

    @bp.route("/items/<int:item>")
    def item(item: int) -> str:
        return f"{request.blueprint} {url_for('.item', item=item + 1)}"

    app.register_blueprint(bp)
    app.register_blueprint(bp, name="store", url_prefix="/store")
    with pytest.raises(ValueError, match="already registered"):
        app.register_blueprint(bp)
    client = app.test_client()
    assert client.get("/shop/items/1").text == "shop /shop/items/2"
    assert client.get("/store/items/1").text == "store /store/items/2"
    assert {"shop.item", "store.item"} <= set(app.view_functions)


def test_nested_blueprints_hooks_and_error_handlers_are_scoped(root: Path) -> None:
    app = make_app(root)
    parent = Blueprint("parent", __name__, url_prefix="/p")
    child = Blueprint("child", __name__, url_prefix="/c")
    calls: list[str] = []

    @parent.before_request
    def parent_before() -> None:
        calls.append("parent")

    @child.before_request
    def child_before() -> None:
        calls.append("child")

    @parent.errorhandler(404)
    def parent_404(e: Exception) -> tuple[str, int]:
        return "parent 404", 404

    @child.route("/boom")
    def boom() -> str:
        from erlen import abort

        abort(404)

    @child.route("/who")
    def who() -> str:
        return ",".join(request.blueprints)

    parent.register_blueprint(child)
    app.register_blueprint(parent)

    @app.route("/plain")
    def plain() -> str:
        return "plain"

    client = app.test_client()
    assert client.get("/p/c/who").text == "parent.child,parent"
    assert calls == ["parent", "child"]
    response = client.get("/p/c/boom")
    assert (response.status_code, response.text) == (404, "parent 404")
    calls.clear()
    assert client.get("/plain").text == "plain"
    assert calls == []
    assert "parent.child.who" in app.view_functions


def test_blueprint_app_wide_registration_and_setup_state(root: Path) -> None:
    app = make_app(root)
    bp = Blueprint("tools", __name__)
    seen: list[tuple[str, str | None, bool]] = []

    @bp.record
    def remember(state: object) -> None:
        seen.append(
            (state.name, state.url_prefix, state.first_registration)  # type: ignore[attr-defined]
        )

    @bp.app_template_filter("shout")
    def shout(s: str) -> str:
        return s.upper() + "!"

    @bp.after_app_request
    def tag(response: object) -> object:
        response.headers["X-Tools"] = "1"  # type: ignore[attr-defined]
        return response

    @bp.app_errorhandler(418)
    def teapot(e: Exception) -> tuple[str, int]:
        return "teapot", 418

    app.register_blueprint(bp, url_prefix="/t")
    app.register_blueprint(bp, name="tools2", url_prefix="/t2")

    @app.route("/")
    def index() -> str:
        from erlen import abort

        abort(418)

    response = app.test_client().get("/")
    assert (response.status_code, response.text) == (418, "teapot")
    assert response.headers["X-Tools"] == "1"
    with app.test_request_context():
        assert render_template_string("{{ 'hi'|shout }}") == "HI!"
    assert seen == [("tools", "/t", True), ("tools2", "/t2", False)]

    with pytest.raises(AssertionError, match="can no longer be called"):
        bp.route("/late")(lambda: "late")
    with pytest.raises(ValueError, match="dot"):
        Blueprint("a.b", __name__)


# -- templates ----------------------------------------------------------------


def test_template_search_order_context_and_autoescape(root: Path) -> None:
    app = make_app(root)
    bp = Blueprint(
        "bp", __name__, template_folder="templates", root_path=str(root / "bp")
    )
    app.register_blueprint(bp)

    @app.context_processor
    def extra() -> dict[str, str]:
        return {"extra": "from-processor"}

    with app.test_request_context("/?q=1"):
        # The app's folder wins over the blueprint's for the same name.
        assert (
            render_template("page.html", value="<i>") == "app &lt;i&gt; from-processor"
        )
        assert render_template("bp_only.html") == "only in bp"
        assert render_template(["missing.html", "bp_only.html"]) == "only in bp"
        assert render_template("child.html", text="x") == "<b>x</b>"
        assert render_template("plain.txt", text="<i>") == "<i>"
        assert render_template_string("{{ v }}", v="<i>") == "&lt;i&gt;"
        assert render_template_string(
            "{{ request.args.q }} {{ config.SECRET_KEY }}"
        ) == ("1 test")
        with pytest.raises(TemplateNotFound):
            render_template("nope.html")


def test_template_filters_tests_globals_and_signals(root: Path) -> None:
    app = make_app(root)

    @app.template_filter()
    def double(v: int) -> int:
        return v * 2

    @app.template_test("big")
    def is_big(v: int) -> bool:
        return v > 10

    app.add_template_global(lambda: "G", "glob")
    events: list[tuple[str, str]] = []

    def before(sender: Erlen, template: object, context: dict[str, object]) -> None:
        events.append(("before", str(context.get("n"))))

    def after(sender: Erlen, template: object, context: dict[str, object]) -> None:
        events.append(("after", str(context.get("n"))))

    before_render_template.connect(before, app)
    template_rendered.connect(after, app)
    try:
        with app.app_context():
            out = render_template_string(
                "{{ n|double }} {{ n is big }} {{ glob() }}", n=6
            )
    finally:
        before_render_template.disconnect(before, app)
        template_rendered.disconnect(after, app)
    assert out == "12 False G"
    assert events == [("before", "6"), ("after", "6")]


def test_stream_template_string_keeps_the_request(root: Path) -> None:
    app = make_app(root)

    @app.route("/s")
    def streamed() -> object:
        return stream_template_string(
            "{{ request.path }}-{% for i in r %}{{ i }}{% endfor %}", r=range(3)
        )

    assert app.test_client().get("/s").text == "/s-012"


# -- static files -------------------------------------------------------------


def test_static_routes_conditional_and_range(root: Path) -> None:
    app = make_app(root)
    bp = Blueprint("bp", __name__, static_folder="static", root_path=str(root / "bp"))
    app.register_blueprint(bp, url_prefix="/bp")
    client = app.test_client()
    response = client.get("/static/site.css")
    assert response.status_code == 200
    assert response.data == b"body{}"
    assert response.mimetype == "text/css"
    etag = response.headers["ETag"]
    response.close()
    not_modified = client.get("/static/site.css", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    partial = client.get("/static/site.css", headers={"Range": "bytes=0-3"})
    assert partial.status_code == 206
    assert partial.data == b"body"
    assert partial.headers["Content-Range"] == "bytes 0-3/6"
    partial.close()
    js = client.get("/bp/static/bp.js")
    assert js.data == b"js();"
    js.close()
    with app.test_request_context():
        assert url_for("static", filename="site.css") == "/static/site.css"
        assert url_for("bp.static", filename="bp.js") == "/bp/static/bp.js"


def test_send_file_max_age_from_config(root: Path) -> None:
    app = make_app(root)
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = 60
    response = app.test_client().get("/static/site.css")
    assert "max-age=60" in response.headers["Cache-Control"]
    response.close()


# -- flash --------------------------------------------------------------------


def test_flash_categories_filters_and_signal(root: Path) -> None:
    app = make_app(root)
    flashed: list[tuple[str, str]] = []

    def record(sender: Erlen, message: str, category: str) -> None:
        flashed.append((category, message))

    @app.route("/add")
    def add() -> str:
        flash("saved")
        flash("careful", "warning")
        return "ok"

    @app.route("/show")
    def show() -> str:
        everything = get_flashed_messages(with_categories=True)
        warnings = get_flashed_messages(category_filter=["warning"])
        return repr((everything, warnings))

    message_flashed.connect(record, app)
    try:
        client = app.test_client()
        client.get("/add")
        assert client.get("/show").text == repr(
            ([("message", "saved"), ("warning", "careful")], ["careful"])
        )
        assert client.get("/show").text == repr(([], []))
    finally:
        message_flashed.disconnect(record, app)
    assert flashed == [("message", "saved"), ("warning", "careful")]


# -- instance folder and resources -------------------------------------------


def test_instance_folder_module_and_package_layouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "modapp.py").write_text(
        "from erlen import Erlen\napp = Erlen(__name__)\n"
    )
    (tmp_path / "pkgapp").mkdir()
    (tmp_path / "pkgapp" / "__init__.py").write_text(
        "from erlen import Erlen\n"
        "app = Erlen(__name__, instance_relative_config=True)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        import modapp  # type: ignore[import-not-found]
        import pkgapp  # type: ignore[import-not-found]

        assert modapp.app.instance_path == str(tmp_path / "instance")
        assert pkgapp.app.instance_path == str(tmp_path / "instance")
        os.makedirs(pkgapp.app.instance_path, exist_ok=True)
        with pkgapp.app.open_instance_resource("settings.cfg", "w") as f:
            f.write("ANSWER = 42\n")
        assert pkgapp.app.config.from_pyfile("settings.cfg")
        assert pkgapp.app.config["ANSWER"] == 42
    finally:
        sys.modules.pop("modapp", None)
        sys.modules.pop("pkgapp", None)
    with pytest.raises(ValueError, match="must be absolute"):
        Erlen("x", instance_path="relative/path")
    explicit = Erlen("x", instance_path=str(tmp_path / "elsewhere"))
    assert explicit.instance_path == str(tmp_path / "elsewhere")


def test_open_resource_reads_relative_to_root(root: Path) -> None:
    app = make_app(root)
    with app.open_resource("static/site.css") as f:
        assert f.read() == b"body{}"
    with app.open_resource("static/site.css", "r") as f:
        assert f.read() == "body{}"
    with pytest.raises(ValueError, match="only be opened for reading"):
        app.open_resource("static/site.css", "w")
