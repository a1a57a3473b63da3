"""erlen.logging: app.logger, its default handler and wsgi_errors_stream."""

from __future__ import annotations

import io
import logging
import sys
import typing as t

import pytest

from erlen import Erlen
from erlen.logging import (
    create_logger,
    default_handler,
    has_level_handler,
    wsgi_errors_stream,
)


@pytest.fixture(autouse=True)
def reset_logging(pytestconfig: pytest.Config) -> t.Iterator[None]:
    """No root handlers and clean loggers. pytest's logging plugin adds capture
    handlers to the root logger around each test, so it is switched off here."""
    logging_plugin = pytestconfig.pluginmanager.unregister(name="logging-plugin")
    root = logging.getLogger()
    root_handlers = root.handlers[:]
    root_level = root.level
    root.handlers = []
    root.setLevel(logging.WARNING)
    names = ("test_logging", "erlen_log_app", "erlen_log_parent")
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.setLevel(logging.NOTSET)
        logger.propagate = True
    yield
    if logging_plugin is not None:
        pytestconfig.pluginmanager.register(logging_plugin, "logging-plugin")
    root.handlers = root_handlers
    root.setLevel(root_level)
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


@pytest.fixture
def app() -> Erlen:
    return Erlen(__name__)


def test_logger_named_after_app(app: Erlen) -> None:
    assert app.logger.name == "test_logging"
    assert app.logger is logging.getLogger("test_logging")
    assert app.logger.level == logging.NOTSET
    assert app.logger.handlers == [default_handler]
    named = Erlen("erlen_log_app")
    assert named.logger.name == "erlen_log_app"


def test_logger_is_created_once(app: Erlen) -> None:
    assert app.logger is app.logger
    assert app.logger.handlers == [default_handler]


def test_debug_sets_level(app: Erlen) -> None:
    app.debug = True
    assert app.logger.level == logging.DEBUG


def test_debug_keeps_explicit_level() -> None:
    logging.getLogger("erlen_log_app").setLevel(logging.ERROR)
    app = Erlen("erlen_log_app")
    app.debug = True
    assert app.logger.level == logging.ERROR


def test_existing_handler_prevents_default(app: Erlen) -> None:
    logging.getLogger("test_logging").addHandler(logging.StreamHandler())
    assert default_handler not in app.logger.handlers
    assert len(app.logger.handlers) == 1


def test_root_handler_prevents_default(app: Erlen) -> None:
    logging.getLogger().addHandler(logging.StreamHandler())
    assert app.logger.handlers == []


def test_high_level_root_handler_does_not_count(app: Erlen) -> None:
    handler = logging.StreamHandler()
    handler.setLevel(logging.CRITICAL)
    logging.getLogger().addHandler(handler)
    assert app.logger.handlers == [default_handler]


def test_default_handler_format() -> None:
    assert isinstance(default_handler, logging.StreamHandler)
    assert default_handler.formatter is not None
    assert default_handler.formatter._fmt == (
        "[%(asctime)s] %(levelname)s in %(module)s: %(message)s"
    )


def test_wsgi_errors_stream_outside_request(app: Erlen) -> None:
    assert wsgi_errors_stream._get_current_object() is sys.stderr  # type: ignore[attr-defined]
    with app.app_context():
        assert wsgi_errors_stream._get_current_object() is sys.stderr  # type: ignore[attr-defined]


def test_wsgi_errors_stream_in_request(app: Erlen) -> None:
    stream = io.StringIO()
    with app.test_request_context(errors_stream=stream):
        assert wsgi_errors_stream._get_current_object() is stream  # type: ignore[attr-defined]
        wsgi_errors_stream.write("direct")
    assert stream.getvalue() == "direct"


def test_log_in_view_goes_to_wsgi_errors(app: Erlen) -> None:
    @app.get("/")
    def index() -> str:
        app.logger.warning("careful %s", "now")
        app.logger.debug("hidden")
        return "ok"

    stream = io.StringIO()
    rv = app.test_client().get("/", errors_stream=stream)
    assert rv.status_code == 200
    out = stream.getvalue()
    assert out.startswith("[")
    assert "] WARNING in test_logging: careful now\n" in out
    assert "hidden" not in out


def test_log_outside_request_goes_to_stderr(
    app: Erlen, capsys: pytest.CaptureFixture[str]
) -> None:
    app.logger.error("no request")
    assert "ERROR in test_logging: no request" in capsys.readouterr().err


def test_debug_logs_debug(app: Erlen) -> None:
    app.debug = True

    @app.get("/")
    def index() -> str:
        app.logger.debug("visible")
        return "ok"

    stream = io.StringIO()
    app.test_client().get("/", errors_stream=stream)
    assert "DEBUG in test_logging: visible" in stream.getvalue()


def test_unhandled_exception_is_logged(app: Erlen) -> None:
    @app.get("/boom")
    def boom() -> str:
        raise ZeroDivisionError("kaboom")

    stream = io.StringIO()
    rv = app.test_client().get("/boom", errors_stream=stream)
    assert rv.status_code == 500
    out = stream.getvalue()
    assert "ERROR in app: Exception on /boom [GET]" in out
    assert "Traceback (most recent call last):" in out
    assert "ZeroDivisionError: kaboom" in out


def test_has_level_handler() -> None:
    logger = logging.getLogger("erlen_log_parent.child")
    parent = logging.getLogger("erlen_log_parent")
    assert not has_level_handler(logger)

    handler = logging.StreamHandler()
    parent.addHandler(handler)
    try:
        assert has_level_handler(logger)
        handler.setLevel(logging.ERROR)
        assert not has_level_handler(logger)
        logger.setLevel(logging.ERROR)
        assert has_level_handler(logger)
        handler.setLevel(logging.NOTSET)
        logger.propagate = False
        assert not has_level_handler(logger)
        logger.addHandler(handler)
        assert has_level_handler(logger)
    finally:
        logger.handlers = []
        logger.propagate = True
        logger.setLevel(logging.NOTSET)


def test_create_logger_directly() -> None:
    class FakeApp:
        name = "erlen_log_app"
        debug = True

    logger = create_logger(FakeApp())  # type: ignore[arg-type]
    assert logger is logging.getLogger("erlen_log_app")
    assert logger.level == logging.DEBUG
    assert logger.handlers == [default_handler]
    # Calling again does not add a second handler.
    create_logger(FakeApp())  # type: ignore[arg-type]
    assert logger.handlers == [default_handler]
