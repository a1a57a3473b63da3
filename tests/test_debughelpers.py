"""erlen.debughelpers: the debug-mode errors and template loading explanations."""

from __future__ import annotations

import logging
import typing as t
from pathlib import Path

import pytest
from jinja2 import TemplateNotFound
from werkzeug.exceptions import BadRequestKeyError
from werkzeug.routing import RequestRedirect

from erlen import Blueprint, Erlen, render_template, request
from erlen.debughelpers import (
    DebugFilesKeyError,
    FormDataRoutingRedirect,
    UnexpectedUnicodeError,
    attach_enctype_error_multidict,
)


def test_exception_classes() -> None:
    assert issubclass(UnexpectedUnicodeError, AssertionError)
    assert issubclass(UnexpectedUnicodeError, UnicodeError)
    assert issubclass(DebugFilesKeyError, KeyError)
    assert issubclass(DebugFilesKeyError, AssertionError)
    assert issubclass(FormDataRoutingRedirect, AssertionError)


# request.files in debug mode


def _files_app() -> Erlen:
    app = Erlen(__name__)
    app.testing = True

    @app.post("/upload")
    def upload() -> str:
        return request.files["doc"].filename or ""

    return app


def test_files_key_error_in_debug_names_enctype() -> None:
    app = _files_app()
    app.debug = True
    with pytest.raises(DebugFilesKeyError) as exc_info:
        app.test_client().post("/upload", data={"doc": "report.pdf"})
    e = exc_info.value
    assert isinstance(e, KeyError)
    assert str(e) == (
        "You tried to access the file 'doc' in the request.files dictionary but"
        " it does not exist. The mimetype for the request is"
        " 'application/x-www-form-urlencoded' instead of 'multipart/form-data'"
        " which means that no file contents were transmitted. To fix this error"
        ' you should provide enctype="multipart/form-data" in your form.'
        "\n\nThe browser instead transmitted some file names. This was"
        " submitted: 'report.pdf'"
    )


def test_files_key_error_lists_every_submitted_name() -> None:
    app = _files_app()
    app.debug = True
    with pytest.raises(DebugFilesKeyError) as exc_info:
        app.test_client().post("/upload", data={"doc": ["a.txt", "b.txt"]})
    assert str(exc_info.value).endswith("This was submitted: 'a.txt', 'b.txt'")


def test_files_missing_key_not_in_form_is_400_in_debug() -> None:
    app = _files_app()
    app.debug = True
    app.config["TRAP_BAD_REQUEST_ERRORS"] = False
    rv = app.test_client().post("/upload", data={"other": "x"})
    assert rv.status_code == 400


def test_files_key_error_outside_debug_is_400() -> None:
    app = _files_app()
    app.config["TRAP_BAD_REQUEST_ERRORS"] = False
    rv = app.test_client().post("/upload", data={"doc": "report.pdf"})
    assert rv.status_code == 400


def test_files_present_in_debug() -> None:
    import io

    app = _files_app()
    app.debug = True
    rv = app.test_client().post(
        "/upload", data={"doc": (io.BytesIO(b"data"), "real.txt")}
    )
    assert rv.data == b"real.txt"


def test_attach_enctype_error_multidict_directly() -> None:
    app = Erlen(__name__)
    with app.test_request_context(method="POST", data={"doc": "name.txt"}):
        files = request.files
        cls_name = type(files).__name__
        attach_enctype_error_multidict(request)
        assert request.files is files
        assert type(files).__name__ == cls_name
        with pytest.raises(DebugFilesKeyError) as exc_info:
            files["doc"]
        assert "'application/x-www-form-urlencoded'" in str(exc_info.value)
        with pytest.raises(KeyError) as exc_info2:
            files["absent"]
        assert not isinstance(exc_info2.value, DebugFilesKeyError)
        assert isinstance(exc_info2.value, BadRequestKeyError)


def test_debug_files_key_error_without_form_match() -> None:
    app = Erlen(__name__)
    with app.test_request_context(method="POST", data={"x": "1"}):
        e = DebugFilesKeyError(request, "doc")
    assert str(e).endswith('enctype="multipart/form-data" in your form.')
    assert "\n" not in str(e)


# Routing redirects that would drop the body


def _slash_app() -> Erlen:
    app = Erlen(__name__)
    app.testing = True

    @app.route("/foo/", methods=["GET", "POST"])
    def foo() -> str:
        return "foo"

    return app


def test_form_data_routing_redirect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RequestRedirect, "code", 301)
    app = _slash_app()
    app.debug = True
    client = app.test_client()
    with pytest.raises(AssertionError) as exc_info:
        client.post("/foo", data={})
    e = exc_info.value
    assert isinstance(e, FormDataRoutingRedirect)
    assert str(e) == (
        "A request was sent to 'http://localhost/foo', but routing issued a"
        " redirect to the canonical URL 'http://localhost/foo/'. The URL was"
        " defined with a trailing slash. Flask will redirect to the URL with a"
        " trailing slash if it was accessed without one. Send requests to the"
        " canonical URL, or use 307 or 308 for routing redirects. Otherwise,"
        " browsers will drop form data.\n\nThis exception is only raised in debug"
        " mode."
    )
    # GET is not affected, and neither is non-debug mode.
    assert client.get("/foo").status_code == 301
    app.debug = False
    assert client.post("/foo", data={}).status_code == 301


def test_form_data_routing_redirect_not_for_308() -> None:
    app = _slash_app()
    app.debug = True
    rv = app.test_client().post("/foo", data={})
    assert rv.status_code == 308
    assert rv.headers["Location"] == "http://localhost/foo/"


def test_form_data_routing_redirect_other_url() -> None:
    app = Erlen(__name__)
    with app.test_request_context("/old", method="POST"):
        request.routing_exception = RequestRedirect("http://localhost/new?x=1")
        e = FormDataRoutingRedirect(request)
    msg = str(e)
    assert msg.startswith(
        "A request was sent to 'http://localhost/old', but routing issued a"
        " redirect to the canonical URL 'http://localhost/new?x=1'. Send requests"
    )
    assert "trailing slash" not in msg


def test_form_data_routing_redirect_query_string_trailing_slash() -> None:
    app = Erlen(__name__)
    with app.test_request_context("/foo?a=1", method="POST"):
        request.routing_exception = RequestRedirect("http://localhost/foo/?a=1")
        e = FormDataRoutingRedirect(request)
    assert "The URL was defined with a trailing slash." in str(e)


# EXPLAIN_TEMPLATE_LOADING


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def explain_app(tmp_path: Path) -> t.Iterator[tuple[Erlen, _ListHandler, Path]]:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "index.html").write_text("app index")
    (tmp_path / "bp_templates").mkdir()
    (tmp_path / "bp_templates" / "index.html").write_text("bp index")
    (tmp_path / "bp_templates" / "only_bp.html").write_text("bp only")

    app = Erlen("erlen_explain_app", root_path=str(tmp_path))
    app.config["EXPLAIN_TEMPLATE_LOADING"] = True
    bp = Blueprint(
        "bp", "erlen_explain_app", template_folder=str(tmp_path / "bp_templates")
    )

    @bp.get("/render/<name>")
    def render(name: str) -> str:
        return render_template(name)

    app.register_blueprint(bp)

    @app.get("/app-render/<name>")
    def app_render(name: str) -> str:
        return render_template(name)

    handler = _ListHandler()
    logger = app.logger
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield app, handler, tmp_path
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def test_explain_found_once(explain_app: tuple[Erlen, _ListHandler, Path]) -> None:
    app, handler, tmp_path = explain_app
    with app.app_context():
        assert render_template("only_bp.html") == "bp only"
    [msg] = handler.messages
    lines = msg.splitlines()
    assert lines[0] == "Locating template 'only_bp.html':"
    assert lines[1] == "    1: trying loader of application 'erlen_explain_app'"
    assert "       class: jinja2.loaders.FileSystemLoader" in lines
    assert "       encoding: 'utf-8'" in lines
    assert "       followlinks: False" in lines
    assert "       searchpath:" in lines
    assert f"         - {tmp_path / 'templates'}" in lines
    assert "       -> no match" in lines
    assert "    2: trying loader of blueprint 'bp' (erlen_explain_app)" in lines
    found = str(tmp_path / "bp_templates" / "only_bp.html")
    assert lines[-1] == f"       -> found ({found!r})"
    assert "Error" not in msg
    assert "Warning" not in msg


def test_explain_not_found(explain_app: tuple[Erlen, _ListHandler, Path]) -> None:
    app, handler, _ = explain_app
    with app.app_context(), pytest.raises(TemplateNotFound):
        render_template("missing.html")
    [msg] = handler.messages
    lines = msg.splitlines()
    assert lines[0] == "Locating template 'missing.html':"
    assert lines.count("       -> no match") == 2
    assert lines[-1] == "Error: the template could not be found."


def test_explain_multiple_matches_from_blueprint(
    explain_app: tuple[Erlen, _ListHandler, Path],
) -> None:
    app, handler, tmp_path = explain_app
    rv = app.test_client().get("/render/index.html")
    assert rv.data == b"app index"
    [msg] = handler.messages
    lines = msg.splitlines()
    app_found = str(tmp_path / "templates" / "index.html")
    bp_found = str(tmp_path / "bp_templates" / "index.html")
    assert f"       -> found ({app_found!r})" in lines
    assert f"       -> found ({bp_found!r})" in lines
    assert lines[-4:] == [
        "Warning: multiple loaders returned a match for the template.",
        "  The template was looked up from an endpoint that belongs to the"
        " blueprint 'bp'.",
        "  Maybe you did not place a template in the right folder?",
        "  See https://flask.palletsprojects.com/blueprints/#templates",
    ]


def test_explain_multiple_matches_outside_blueprint(
    explain_app: tuple[Erlen, _ListHandler, Path],
) -> None:
    app, handler, _ = explain_app
    rv = app.test_client().get("/app-render/index.html")
    assert rv.data == b"app index"
    [msg] = handler.messages
    assert msg.splitlines()[-1] == (
        "Warning: multiple loaders returned a match for the template."
    )


def test_explain_off_logs_nothing(
    explain_app: tuple[Erlen, _ListHandler, Path],
) -> None:
    app, handler, _ = explain_app
    app.config["EXPLAIN_TEMPLATE_LOADING"] = False
    with app.app_context():
        assert render_template("index.html") == "app index"
    assert handler.messages == []
