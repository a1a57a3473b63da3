"""erlen.flask_patch: ``import flask`` and ``flask.*`` resolve to erlen.

erlen-only feature: under the Flask validation shim ``erlen`` *is* Flask, so this
file is only meaningful on erlen. tests/conftest.py has already imported the
patch in this process; checks that need a fresh interpreter use subprocesses.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys
import textwrap

import flask
import pytest

import erlen
import erlen.flask_patch


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_flask_is_erlen() -> None:
    assert sys.modules["flask"] is flask
    assert flask.Flask is erlen.Erlen
    assert flask.__name__ == "flask"


@pytest.mark.parametrize("flask_name", sorted(erlen.flask_patch.SUBMODULES))
def test_submodules_are_erlen_modules(flask_name: str) -> None:
    erlen_name = erlen.flask_patch.SUBMODULES[flask_name]
    module = importlib.import_module(flask_name)
    assert module is importlib.import_module(erlen_name)
    assert sys.modules[flask_name] is module
    # erlen's modules keep their own identity and spec.
    assert module.__name__ == erlen_name
    assert module.__spec__ is not None
    assert module.__spec__.name == erlen_name


def test_submodules_are_attributes_of_their_packages() -> None:
    import flask.json.provider
    import flask.sansio.app

    assert flask.app is erlen.app
    assert flask.globals is erlen.globals
    assert flask.json.provider is erlen.json.provider
    assert flask.sansio.app is erlen.app
    assert flask.sansio.scaffold is erlen.scaffold


def test_flask_names_for_renamed_classes() -> None:
    from flask.app import Flask
    from flask.cli import FlaskGroup
    from flask.sansio.app import App
    from flask.testing import FlaskClient, FlaskCliRunner

    assert Flask is erlen.Erlen
    assert App is erlen.Erlen
    assert FlaskClient is erlen.testing.ErlenClient
    assert FlaskCliRunner is erlen.testing.ErlenCliRunner
    assert FlaskGroup is erlen.cli.ErlenGroup


def test_from_flask_import_public_names() -> None:
    from flask import (
        Blueprint,
        Request,
        Response,
        abort,
        current_app,
        g,
        jsonify,
        redirect,
        render_template,
        request,
        session,
        url_for,
    )

    assert Blueprint is erlen.Blueprint
    assert Request is erlen.Request
    assert Response is erlen.Response
    assert abort is erlen.abort
    assert current_app is erlen.current_app
    assert g is erlen.g
    assert jsonify is erlen.jsonify
    assert redirect is erlen.redirect
    assert render_template is erlen.render_template
    assert request is erlen.request
    assert session is erlen.session
    assert url_for is erlen.url_for


def test_context_internals_extensions_import() -> None:
    from flask.ctx import RequestContext
    from flask.globals import app_ctx, request_ctx
    from flask.signals import Namespace

    assert RequestContext is erlen.ctx.RequestContext
    assert app_ctx is erlen.globals.app_ctx
    assert request_ctx is erlen.globals.request_ctx
    assert isinstance(Namespace().signal("x").name, str)


def test_star_import_includes_flask_names() -> None:
    namespace: dict[str, object] = {}
    exec("from flask import *", namespace)
    assert namespace["Flask"] is erlen.Erlen
    assert namespace["request"] is erlen.request
    assert "Flask" in dir(flask)


def test_version_is_flask_compatible_and_erlen_keeps_its_own() -> None:
    with pytest.warns(DeprecationWarning, match="__version__"):
        version = flask.__version__
    assert version == erlen.flask_patch.FLASK_VERSION == "3.1.3"
    assert erlen.__version__ == importlib.metadata.version("erlen")
    assert erlen.__version__ != version


def test_attributes_read_once_are_erlens_and_can_be_patched() -> None:
    from unittest import mock

    assert flask.url_for is erlen.url_for
    assert flask.url_for is erlen.url_for  # now from flask's own dict
    assert "url_for" in vars(flask)

    def fake(endpoint: str, **values: object) -> str:
        return f"fake {endpoint}"

    with mock.patch("flask.url_for", fake):
        assert flask.url_for("x") == "fake x"
    assert flask.url_for is erlen.url_for
    # Lazily imported erlen names and the deprecated version keep their paths.
    assert flask.Broadcast is erlen.Broadcast
    for _ in range(2):
        with pytest.warns(DeprecationWarning, match="__version__"):
            assert flask.__version__ == erlen.flask_patch.FLASK_VERSION


def test_install_is_idempotent() -> None:
    finders_before = [f for f in sys.meta_path if type(f).__name__ == "_FlaskFinder"]
    erlen.flask_patch.install()
    importlib.reload(erlen.flask_patch)
    assert sys.modules["flask"] is flask
    assert flask.Flask is erlen.Erlen
    finders = [f for f in sys.meta_path if type(f).__name__ == "_FlaskFinder"]
    assert finders == finders_before
    assert len(finders) == 1


def test_reloading_flask_keeps_the_patch() -> None:
    import flask.sansio

    assert importlib.reload(flask) is flask
    assert importlib.reload(flask.sansio) is flask.sansio
    assert sys.modules["flask"] is flask
    assert flask.Flask is erlen.Erlen
    assert flask.sansio.app is erlen.app


def test_werkzeug_and_jinja2_are_left_alone() -> None:
    import jinja2
    import werkzeug

    for module in (werkzeug, jinja2):
        assert sys.modules[module.__name__] is module
        assert module.__file__ is not None
        assert "erlen" not in module.__file__
    finder = next(f for f in sys.meta_path if type(f).__name__ == "_FlaskFinder")
    for name in ("werkzeug", "werkzeug.wrappers", "jinja2", "flask_login"):
        assert finder.find_spec(name, None) is None


def test_other_flask_submodule_is_served_from_erlen() -> None:
    # Not in SUBMODULES: resolved on import by the patch's finder.
    import flask.routing

    assert flask.routing is erlen.routing
    assert sys.modules["flask.routing"] is erlen.routing
    assert erlen.routing.__spec__ is not None
    assert erlen.routing.__spec__.name == "erlen.routing"


def test_missing_submodule_fails_clearly() -> None:
    with pytest.raises(ModuleNotFoundError) as exc_info:
        importlib.import_module("flask.no_such_module")
    assert exc_info.value.name == "flask.no_such_module"
    message = str(exc_info.value)
    assert "No module named 'flask.no_such_module'" in message
    assert "erlen.no_such_module" in message
    assert "flask.no_such_module" not in sys.modules


def test_missing_attribute_fails_clearly() -> None:
    with pytest.raises(AttributeError, match="module 'flask' has no attribute"):
        flask.no_such_name  # noqa: B018


def test_real_flask_imported_first_is_an_error() -> None:
    result = run_python(
        """
        import flask
        try:
            import erlen.flask_patch
        except ImportError as exc:
            print("ImportError:", exc)
        else:
            print("no error")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "ImportError: erlen.flask_patch must be imported before Flask" in (
        result.stdout
    )
    assert "flask" in result.stdout


def test_fresh_process_extension_runs_on_erlen() -> None:
    result = run_python(
        """
        import erlen.flask_patch
        import flask, flask_login, erlen
        from flask_login import LoginManager
        app = flask.Flask(__name__)
        LoginManager(app)
        print(type(app) is erlen.Erlen, app.login_manager.__class__.__name__)
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "LoginManager"]
