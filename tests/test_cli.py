"""The ``erlen`` command line (issue 4).

Tests whose name contains ``erlen_only`` check erlen-specific names (``ERLEN_*``
variables, ``.erlenenv``, ``erlen.commands``, the debugger policy and the
production warning); all others also hold for ``flask`` (checked with the
Flask shim, where ``erlen.cli`` is ``flask.cli``), with ``Flask`` wording in
the messages.
"""

from __future__ import annotations

import http.client
import importlib
import importlib.metadata
import os
import platform
import re
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import types
import typing as t
import urllib.error
import urllib.request
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import erlen
import erlen.cli
from erlen import Blueprint, Erlen, current_app
from erlen.cli import (
    AppGroup,
    ErlenGroup,
    NoAppException,
    ScriptInfo,
    cli,
    find_app_by_string,
    find_best_app,
    load_dotenv,
    locate_app,
    prepare_import,
    routes_command,
    with_appcontext,
)

#: The shim maps erlen onto real Flask, whose messages say "Flask"/"flask".
UNDER_FLASK = Erlen.__module__.startswith("flask")
APP_CLS = "Flask" if UNDER_FLASK else "Erlen"
CMD = "flask" if UNDER_FLASK else "erlen"


# --------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _isolate(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> t.Iterator[None]:
    """Clean ERLEN_/FLASK_ variables, restore os.environ and sys.path, and forget
    modules imported from temporary directories."""
    saved_env = dict(os.environ)
    saved_path = list(sys.path)
    for key in list(os.environ):
        if key.startswith(("ERLEN_", "FLASK_")) or key in {
            "PYTHONSTARTUP",
            "WERKZEUG_RUN_MAIN",
        }:
            del os.environ[key]
    # The shell would otherwise set up readline history for the test process.
    monkeypatch.delattr(sys, "__interactivehook__", raising=False)
    yield
    os.environ.clear()
    os.environ.update(saved_env)
    sys.path[:] = saved_path
    base = str(tmp_path_factory.getbasetemp())
    for name, mod in list(sys.modules.items()):
        if (getattr(mod, "__file__", None) or "").startswith(base):
            del sys.modules[name]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    # Generic names that another test may have imported from elsewhere.
    for name in ("app", "wsgi"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return tmp_path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    importlib.invalidate_caches()
    return path


def fake_module(name: str, **attrs: t.Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    return mod


SIMPLE_APP = """\
from erlen import Erlen
app = Erlen(__name__)

@app.route("/")
def index():
    return "hello"
"""

FACTORY_APP = """\
from erlen import Erlen

def create_app(name="default", **config):
    app = Erlen(__name__)
    app.config["WHO"] = name
    app.config.update(config)

    @app.cli.command("who")
    def who():
        from erlen import current_app
        config = current_app.config
        print("who=" + config["WHO"] + " key=" + repr(config.get("key")))

    return app
"""


# ------------------------------------------------------------- find_best_app


def test_find_best_app_prefers_app_then_application() -> None:
    a, b = Erlen("a"), Erlen("b")
    assert find_best_app(fake_module("m", app=a, other=b)) is a
    assert find_best_app(fake_module("m", application=b, other=a)) is b


def test_find_best_app_single_instance_under_any_name() -> None:
    a = Erlen("a")
    assert find_best_app(fake_module("m", my_thing=a, x=1)) is a


def test_find_best_app_multiple_instances_is_an_error() -> None:
    mod = fake_module("multi", one=Erlen("a"), two=Erlen("b"))
    with pytest.raises(NoAppException) as e:
        find_best_app(mod)
    assert e.value.message == (
        f"Detected multiple {APP_CLS} applications in module 'multi'."
        " Use 'multi:name' to specify the correct one."
    )


@pytest.mark.parametrize("factory_name", ["create_app", "make_app"])
def test_find_best_app_calls_factories(factory_name: str) -> None:
    made = Erlen("made")

    def factory() -> Erlen:
        return made

    assert find_best_app(fake_module("m", **{factory_name: factory})) is made


def test_find_best_app_prefers_create_app_over_make_app() -> None:
    a, b = Erlen("a"), Erlen("b")

    def create_app() -> Erlen:
        return a

    def make_app() -> Erlen:
        return b

    assert (
        find_best_app(fake_module("m", create_app=create_app, make_app=make_app)) is a
    )


def test_find_best_app_factory_needing_arguments() -> None:
    def create_app(config: str) -> Erlen:
        return Erlen("x")

    with pytest.raises(NoAppException) as e:
        find_best_app(fake_module("fac", create_app=create_app))
    assert e.value.message == (
        "Detected factory 'create_app' in module 'fac', but could not call it"
        " without arguments. Use 'fac:create_app(args)' to specify arguments."
    )


def test_find_best_app_type_error_inside_factory_propagates() -> None:
    def create_app() -> Erlen:
        raise TypeError("bug inside the factory")

    with pytest.raises(TypeError, match="bug inside the factory"):
        find_best_app(fake_module("m", create_app=create_app))


def test_find_best_app_nothing_found() -> None:
    def create_app() -> str:
        return "not an app"

    for mod in (fake_module("empty"), fake_module("empty", create_app=create_app)):
        with pytest.raises(NoAppException) as e:
            find_best_app(mod)
        assert e.value.message == (
            f"Failed to find {APP_CLS} application or factory in module 'empty'."
            " Use 'empty:name' to specify one."
        )


# --------------------------------------------------------- find_app_by_string


def test_find_app_by_string_name_and_calls() -> None:
    a = Erlen("a")
    seen: list[tuple[t.Any, ...]] = []

    def create_app(*args: t.Any, **kwargs: t.Any) -> Erlen:
        seen.append((args, kwargs))
        return a

    mod = fake_module("m", app=a, create_app=create_app)
    assert find_app_by_string(mod, "app") is a
    assert find_app_by_string(mod, "create_app()") is a
    assert find_app_by_string(mod, ' create_app("arg", key=1, n=[1, None]) ') is a
    assert seen == [((), {}), (("arg",), {"key": 1, "n": [1, None]})]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("a b", "Failed to parse 'a b' as an attribute name or function call."),
        ("app[0]", "Failed to parse 'app[0]' as an attribute name or function call."),
        ("mod.create()", "Function reference must be a simple name: 'mod.create()'."),
        (
            "create_app(foo)",
            "Failed to parse arguments as literal values: 'create_app(foo)'.",
        ),
        ("missing", "Failed to find attribute 'missing' in 'm'."),
        (
            "create_app(1, 2, 3)",
            "The factory 'create_app(1, 2, 3)' in module 'm' could not be called"
            " with the specified arguments.",
        ),
        (
            "not_app",
            f"A valid {APP_CLS} application was not obtained from 'm:not_app'.",
        ),
        (
            "create_other()",
            f"A valid {APP_CLS} application was not obtained from 'm:create_other()'.",
        ),
    ],
)
def test_find_app_by_string_errors(expr: str, message: str) -> None:
    def create_app(x: int = 0) -> Erlen:
        return Erlen("x")

    def create_other() -> object:
        return object()

    mod = fake_module(
        "m", create_app=create_app, create_other=create_other, not_app=object()
    )
    with pytest.raises(NoAppException) as e:
        find_app_by_string(mod, expr)
    assert e.value.message == message


# -------------------------------------------------- prepare_import / locate_app


def test_prepare_import_file_and_packages(in_tmp: Path) -> None:
    write(in_tmp / "plain.py", "")
    write(in_tmp / "pkg" / "__init__.py", "")
    write(in_tmp / "pkg" / "sub" / "__init__.py", "")
    write(in_tmp / "pkg" / "sub" / "mod.py", "")

    assert prepare_import("plain.py") == "plain"
    assert sys.path[0] == str(in_tmp.resolve())
    assert prepare_import(str(in_tmp / "pkg" / "sub" / "mod.py")) == "pkg.sub.mod"
    assert prepare_import("pkg/sub/__init__.py") == "pkg.sub"
    assert prepare_import("pkg") == "pkg"
    assert prepare_import("pkg/sub") == "pkg.sub"
    # Not duplicated on sys.path.
    assert sys.path.count(str(in_tmp.resolve())) == 1


def test_locate_app_module_and_name(in_tmp: Path) -> None:
    write(in_tmp / "located.py", SIMPLE_APP + "other = Erlen('other')\n")
    assert prepare_import("located.py") == "located"
    app = locate_app("located", None)
    assert app.name == "located"
    assert locate_app("located", "other").name == "other"


def test_locate_app_missing_module(in_tmp: Path) -> None:
    with pytest.raises(NoAppException) as e:
        locate_app("no_such_module_xyz", None)
    assert e.value.message == "Could not import 'no_such_module_xyz'."
    assert locate_app("no_such_module_xyz", None, raise_if_not_found=False) is None
    write(in_tmp / "parentpkg" / "__init__.py", "")
    assert prepare_import("parentpkg") == "parentpkg"
    with pytest.raises(NoAppException, match=r"Could not import 'parentpkg\.nope'"):
        locate_app("parentpkg.nope", None)


def test_locate_app_import_error_inside_module_shows_traceback(in_tmp: Path) -> None:
    write(in_tmp / "brokenimp.py", "import not_installed_dependency_xyz\n")
    prepare_import("brokenimp.py")
    for raise_if_not_found in (True, False):
        with pytest.raises(NoAppException) as e:
            locate_app("brokenimp", None, raise_if_not_found=raise_if_not_found)
        msg = e.value.message
        assert msg.startswith(
            "While importing 'brokenimp', an ImportError was raised:\n\nTraceback"
        )
        assert "brokenimp.py" in msg
        assert "No module named 'not_installed_dependency_xyz'" in msg


def test_locate_app_other_import_errors_propagate(in_tmp: Path) -> None:
    write(in_tmp / "divzero.py", "1 / 0\n")
    prepare_import("divzero.py")
    with pytest.raises(ZeroDivisionError):
        locate_app("divzero", None)


# ------------------------------------------------------------------ ScriptInfo


def test_script_info_create_app_and_caching() -> None:
    app = Erlen("made")
    calls: list[int] = []

    def create() -> Erlen:
        calls.append(1)
        return app

    info = ScriptInfo(create_app=create)
    assert info.load_app() is app
    assert info.load_app() is app
    assert calls == [1]
    assert info.data == {}


@pytest.mark.parametrize(
    "import_path",
    [
        "factmod:create_app('cfg', key=1)",
        "factmod.py:create_app('cfg', key=1)",
        "{tmp}/factmod.py:create_app('cfg', key=1)",
    ],
)
def test_script_info_import_paths(in_tmp: Path, import_path: str) -> None:
    write(in_tmp / "factmod.py", FACTORY_APP)
    info = ScriptInfo(import_path.format(tmp=in_tmp))
    app = info.load_app()
    assert app.config["WHO"] == "cfg"
    assert app.config["key"] == 1


def test_script_info_package_path(in_tmp: Path) -> None:
    write(in_tmp / "projectpkg" / "__init__.py", FACTORY_APP)
    assert ScriptInfo("projectpkg").load_app().name == "projectpkg"
    sys.modules.pop("projectpkg")
    assert ScriptInfo(str(in_tmp / "projectpkg")).load_app().name == "projectpkg"


@pytest.mark.parametrize("files", [("wsgi.py",), ("app.py",), ("wsgi.py", "app.py")])
def test_script_info_default_files(in_tmp: Path, files: tuple[str, ...]) -> None:
    for name in files:
        write(in_tmp / name, f"from erlen import Erlen\nmy = Erlen({name!r})\n")
    assert ScriptInfo().load_app().name == files[0]


def test_script_info_default_file_with_make_app_factory(in_tmp: Path) -> None:
    write(
        in_tmp / "app.py",
        "from erlen import Erlen\ndef make_app():\n    return Erlen('from-factory')\n",
    )
    assert ScriptInfo().load_app().name == "from-factory"


def test_script_info_nothing_to_load(in_tmp: Path) -> None:
    with pytest.raises(NoAppException) as e:
        ScriptInfo().load_app()
    article = "a" if UNDER_FLASK else "an"
    # erlen also names FLASK_APP, which it honours for migration.
    env_vars = "'FLASK_APP'" if UNDER_FLASK else "'ERLEN_APP' (or 'FLASK_APP')"
    assert e.value.message == (
        f"Could not locate {article} {APP_CLS} application. Use the '{CMD} --app'"
        f" option, {env_vars} environment variable, or a 'wsgi.py' or 'app.py'"
        " file in the current directory."
    )


def test_script_info_sets_debug_from_flask_debug() -> None:
    os.environ["FLASK_DEBUG"] = "1"
    assert ScriptInfo(create_app=lambda: Erlen("d")).load_app().debug is True
    os.environ["FLASK_DEBUG"] = "0"
    assert ScriptInfo(create_app=lambda: Erlen("d")).load_app().debug is False
    app = Erlen("d")
    app.debug = True
    assert ScriptInfo(create_app=lambda: app, set_debug_flag=False).load_app().debug


def test_erlen_only_debug_env_precedence() -> None:
    os.environ["FLASK_DEBUG"] = "0"
    os.environ["ERLEN_DEBUG"] = "1"
    assert ScriptInfo(create_app=lambda: Erlen("d")).load_app().debug is True
    os.environ["ERLEN_DEBUG"] = "false"
    os.environ["FLASK_DEBUG"] = "1"
    assert ScriptInfo(create_app=lambda: Erlen("d")).load_app().debug is False


# ------------------------------------------------------- discovery through cli


def test_cli_discovery_forms(in_tmp: Path, runner: CliRunner) -> None:
    write(in_tmp / "factmod.py", FACTORY_APP)
    result = runner.invoke(cli, ["--app", 'factmod:create_app("dev", key=1)', "who"])
    assert result.exit_code == 0, result.output
    assert "who=dev key=1" in result.output

    sys.modules.pop("factmod")
    result = runner.invoke(cli, ["-A", "factmod", "who"])
    assert "who=default key=None" in result.output


def test_cli_app_from_flask_app_env_var(in_tmp: Path, runner: CliRunner) -> None:
    write(in_tmp / "factmod.py", FACTORY_APP)
    result = runner.invoke(cli, ["who"], env={"FLASK_APP": "factmod:create_app('env')"})
    assert result.exit_code == 0, result.output
    assert "who=env" in result.output


def test_erlen_only_app_env_var_wins_over_flask_app(
    in_tmp: Path, runner: CliRunner
) -> None:
    write(in_tmp / "factmod.py", FACTORY_APP)
    env = {
        "ERLEN_APP": "factmod:create_app('erlen')",
        "FLASK_APP": "factmod:create_app('flask')",
    }
    result = runner.invoke(cli, ["who"], env=env)
    assert result.exit_code == 0, result.output
    assert "who=erlen" in result.output


def test_cli_error_messages(in_tmp: Path, runner: CliRunner) -> None:
    write(in_tmp / "brokenimp.py", "import not_installed_dependency_xyz\n")
    write(in_tmp / "noapp.py", "x = 1\n")

    result = runner.invoke(cli, ["--app", "no_such_module_xyz", "routes"])
    assert result.exit_code == 2
    assert "Error: Could not import 'no_such_module_xyz'." in result.stderr
    assert "Traceback" not in result.stderr

    result = runner.invoke(cli, ["--app", "noapp", "routes"])
    assert result.exit_code == 2
    assert f"Failed to find {APP_CLS} application or factory in module 'noapp'" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr

    result = runner.invoke(cli, ["--app", "brokenimp", "routes"])
    assert result.exit_code == 2
    assert "While importing 'brokenimp', an ImportError was raised" in result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert "not_installed_dependency_xyz" in result.stderr


def test_cli_unknown_command_shows_load_error(in_tmp: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--app", "no_such_module_xyz", "custom"])
    assert result.exit_code == 2
    assert "Error: Could not import 'no_such_module_xyz'." in result.stderr
    assert "No such command 'custom'" in result.stderr


def listed_commands(help_text: str) -> set[str]:
    commands = help_text.split("Commands:\n", 1)[1]
    return {line.split()[0] for line in commands.splitlines() if line.strip()}


def test_cli_help_lists_app_commands_and_load_errors(
    in_tmp: Path, runner: CliRunner
) -> None:
    write(in_tmp / "factmod.py", FACTORY_APP)
    result = runner.invoke(cli, ["--app", "factmod", "--help"])
    assert result.exit_code == 0
    assert {"run", "shell", "routes", "who"} <= listed_commands(result.stdout)

    # --help alone picks the app up from the environment.
    result = runner.invoke(cli, ["--help"], env={"FLASK_APP": "factmod"})
    assert "who" in listed_commands(result.stdout)

    result = runner.invoke(cli, ["--app", "no_such_module_xyz", "--help"])
    assert result.exit_code == 0
    assert "Error: Could not import 'no_such_module_xyz'." in result.stderr
    assert "routes" in listed_commands(result.stdout)


def test_cli_help_shows_traceback_for_other_errors(
    in_tmp: Path, runner: CliRunner
) -> None:
    write(in_tmp / "divzero.py", "1 / 0\n")
    result = runner.invoke(cli, ["--app", "divzero", "--help"])
    assert result.exit_code == 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "ZeroDivisionError" in result.stderr


def test_unguarded_app_run_is_a_no_op_under_the_cli(
    in_tmp: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_server(*args: t.Any, **kwargs: t.Any) -> None:
        raise AssertionError("app.run() started a server under the CLI")

    import werkzeug.serving

    monkeypatch.setattr(werkzeug.serving, "run_simple", no_server)
    write(in_tmp / "runs.py", SIMPLE_APP + "app.run()\n")
    result = runner.invoke(cli, ["--app", "runs", "routes"])
    assert result.exit_code == 0, result.output
    assert "index" in result.output


# ---------------------------------------------------------------- --version


def test_version_option(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    own = (
        f"Flask {importlib.metadata.version('flask')}"
        if UNDER_FLASK
        else f"erlen {erlen.__version__}"
    )
    expected = [
        f"Python {platform.python_version()}",
        own,
        f"Werkzeug {importlib.metadata.version('werkzeug')}",
    ]
    if not UNDER_FLASK:
        # This process runs under erlen.flask_patch: the Flask API line follows.
        expected.append("Flask 3.1.3 API (through erlen.flask_patch)")
    assert result.stdout.splitlines() == expected


# --------------------------------------------------------------------- routes


def make_routes_app() -> Erlen:
    app = Erlen("routesapp", static_folder=None)

    @app.route("/zzz")
    def aaa_index() -> str:
        return ""

    @app.route("/post", methods=["POST", "PUT"])
    def submit() -> str:
        return ""

    @app.get("/users/<int:id>")
    def user(id: int) -> str:
        return ""

    return app


def routes_lines(output: str) -> list[str]:
    return [line.rstrip() for line in output.splitlines()]


def test_routes_default_sort_by_endpoint() -> None:
    result = make_routes_app().test_cli_runner().invoke(routes_command, [])
    assert result.exit_code == 0, result.output
    assert routes_lines(result.output) == [
        "Endpoint   Methods    Rule",
        "---------  ---------  ---------------",
        "aaa_index  GET        /zzz",
        "submit     POST, PUT  /post",
        "user       GET        /users/<int:id>",
    ]


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("rule", ["submit", "user", "aaa_index"]),
        ("methods", ["aaa_index", "user", "submit"]),
        ("match", ["aaa_index", "submit", "user"]),
        ("endpoint", ["aaa_index", "submit", "user"]),
    ],
)
def test_routes_sort(sort: str, order: list[str]) -> None:
    runner = make_routes_app().test_cli_runner()
    for args in (["--sort", sort], ["-s", sort]):
        result = runner.invoke(routes_command, args)
        assert result.exit_code == 0, result.output
        assert [line.split()[0] for line in result.output.splitlines()[2:]] == order


def test_routes_invalid_sort() -> None:
    result = make_routes_app().test_cli_runner().invoke(routes_command, ["-s", "nope"])
    assert result.exit_code == 2
    assert "Invalid value for '--sort'" in result.output


def test_routes_all_methods() -> None:
    result = (
        make_routes_app().test_cli_runner().invoke(routes_command, ["--all-methods"])
    )
    assert routes_lines(result.output)[2:] == [
        "aaa_index  GET, HEAD, OPTIONS  /zzz",
        "submit     OPTIONS, POST, PUT  /post",
        "user       GET, HEAD, OPTIONS  /users/<int:id>",
    ]


def test_routes_none_registered() -> None:
    result = Erlen("x", static_folder=None).test_cli_runner().invoke(routes_command, [])
    assert result.exit_code == 0
    assert result.output == "No routes were registered.\n"


def test_routes_static_route_is_listed() -> None:
    result = Erlen("x").test_cli_runner().invoke(routes_command, [])
    assert routes_lines(result.output)[2:] == [
        "static    GET      /static/<path:filename>"
    ]


def test_routes_subdomain_column() -> None:
    app = Erlen("sub", static_folder=None)
    app.config["SERVER_NAME"] = "example.test"

    @app.route("/", subdomain="api")
    def api() -> str:
        return ""

    @app.route("/")
    def index() -> str:
        return ""

    result = app.test_cli_runner().invoke(routes_command, ["--sort", "domain"])
    assert routes_lines(result.output) == [
        "Endpoint  Methods  Subdomain  Rule",
        "--------  -------  ---------  ----",
        "index     GET                 /",
        "api       GET      api        /",
    ]


def test_routes_host_column() -> None:
    app = Erlen("host", static_folder=None, host_matching=True, static_host="s.test")

    @app.route("/", host="b.test")
    def bee() -> str:
        return ""

    @app.route("/x", host="a.test")
    def ay() -> str:
        return ""

    result = app.test_cli_runner().invoke(routes_command, ["-s", "domain"])
    assert routes_lines(result.output) == [
        "Endpoint  Methods  Host    Rule",
        "--------  -------  ------  ----",
        "ay        GET      a.test  /x",
        "bee       GET      b.test  /",
    ]


def test_routes_through_cli_with_app_option(in_tmp: Path, runner: CliRunner) -> None:
    write(in_tmp / "simple.py", SIMPLE_APP)
    result = runner.invoke(cli, ["--app", "simple.py", "routes"])
    assert result.exit_code == 0, result.output
    assert "index     GET      /" in result.output


# ---------------------------------------------------------------------- shell


SHELL_APP = """\
from erlen import Erlen
app = Erlen("shellapp")

@app.shell_context_processor
def extra():
    return {"answer": 21, "helper": lambda: "helped"}
"""


def test_shell_has_context_processor_values(in_tmp: Path, runner: CliRunner) -> None:
    write(in_tmp / "shellmod.py", SHELL_APP)
    code = (
        "print('result', answer * 2, helper())\n"
        "print('app', app.name, app is current_app._get_current_object())\n"
        "g.x = 5\n"
        "print('g', g.x)\n"
    )
    result = runner.invoke(
        cli,
        ["--app", "shellmod", "shell"],
        input="from erlen import current_app\n" + code,
    )
    assert result.exit_code == 0, result.output
    assert "result 42 helped" in result.output
    assert "app shellapp True" in result.output
    assert "g 5" in result.output
    assert "App: shellapp" in result.output
    assert "Instance: " in result.output


def test_shell_runs_pythonstartup(in_tmp: Path, runner: CliRunner) -> None:
    write(in_tmp / "shellmod.py", SHELL_APP)
    startup = write(in_tmp / "startup.py", "from_startup = 'yes'\nanswer = 0\n")
    result = runner.invoke(
        cli,
        ["--app", "shellmod", "shell"],
        input="print('s', from_startup, answer)\n",
        env={"PYTHONSTARTUP": str(startup)},
    )
    assert result.exit_code == 0, result.output
    # The shell context is applied after the startup file.
    assert "s yes 21" in result.output


def test_shell_errors_without_app(in_tmp: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["shell"], input="")
    assert result.exit_code == 2
    assert f"Could not locate a{'' if UNDER_FLASK else 'n'} {APP_CLS} application" in (
        result.stderr
    )


# ------------------------------------------------------------ custom commands


def test_app_cli_command_with_test_cli_runner() -> None:
    app = Erlen("custom")

    @app.cli.command("hello")
    @click.option("--name", default="World")
    def hello(name: str) -> None:
        click.echo(f"Hello, {name} from {current_app.name}!")

    runner = app.test_cli_runner()
    result = runner.invoke(args=["hello", "--name", "erlen"])
    assert result.exit_code == 0, result.output
    assert result.output == "Hello, erlen from custom!\n"
    # Invoking the command object directly.
    result = runner.invoke(hello)
    assert result.output == "Hello, World from custom!\n"


def test_app_cli_command_via_cli_and_app_context(
    in_tmp: Path, runner: CliRunner
) -> None:
    write(
        in_tmp / "cmdapp.py",
        """\
        import click
        from erlen import Erlen, current_app, g

        app = Erlen(__name__)
        app.config["GREETING"] = "hi"

        def check(ctx, param, value):
            # Option callbacks already see the app context.
            return value + "!" + current_app.config["GREETING"]

        @app.cli.command()
        @click.argument("who", callback=check)
        def greet(who):
            g.x = 1
            click.echo(f"greet {who} {current_app.name}")
        """,
    )
    result = runner.invoke(cli, ["--app", "cmdapp", "greet", "bob"])
    assert result.exit_code == 0, result.output
    assert result.output == "greet bob!hi cmdapp\n"


def test_blueprint_cli_groups() -> None:
    app = Erlen("bpapp")
    default = Blueprint("users", __name__)
    flat = Blueprint("flat", __name__, cli_group=None)
    named = Blueprint("named", __name__, cli_group="people")
    override = Blueprint("over", __name__)

    @default.cli.command("create")
    def create_user() -> None:
        click.echo(f"users create in {current_app.name}")

    @flat.cli.command("flatcmd")
    def flatcmd() -> None:
        click.echo("flat ok")

    @named.cli.command("list")
    def list_people() -> None:
        click.echo("people list")

    @override.cli.command("cmd")
    def over_cmd() -> None:
        click.echo("over cmd")

    app.register_blueprint(default)
    app.register_blueprint(flat)
    app.register_blueprint(named)
    app.register_blueprint(override, cli_group="renamed")

    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create"]).output == "users create in bpapp\n"
    assert runner.invoke(args=["flatcmd"]).output == "flat ok\n"
    assert runner.invoke(args=["people", "list"]).output == "people list\n"
    assert runner.invoke(args=["renamed", "cmd"]).output == "over cmd\n"
    assert runner.invoke(args=["named", "list"]).exit_code == 2
    assert runner.invoke(args=["over", "cmd"]).exit_code == 2


def test_with_appcontext_on_plain_click_command() -> None:
    app = Erlen("plain")

    @click.command()
    @with_appcontext
    def show() -> None:
        click.echo(current_app.name)

    result = CliRunner().invoke(show, obj=ScriptInfo(create_app=lambda: app))
    assert result.exit_code == 0, result.output
    assert result.output == "plain\n"


def test_app_group_commands_and_subgroups() -> None:
    app = Erlen("grouped")
    group = AppGroup("tools")

    @group.command()
    def inside() -> None:
        click.echo(f"inside {current_app.name}")

    @group.command(with_appcontext=False)
    def outside() -> None:
        click.echo(f"outside {bool(current_app)}")

    @group.group()
    def sub() -> None:
        pass

    @sub.command()
    def deep() -> None:
        click.echo(f"deep {current_app.name}")

    assert isinstance(sub, AppGroup)
    runner = CliRunner()
    obj = ScriptInfo(create_app=lambda: app)
    assert runner.invoke(group, ["inside"], obj=obj).output == "inside grouped\n"
    assert runner.invoke(group, ["outside"], obj=obj).output == "outside False\n"
    assert runner.invoke(group, ["sub", "deep"], obj=obj).output == "deep grouped\n"


def test_erlen_group_as_the_users_own_cli() -> None:
    app = Erlen("mine")

    @click.group(cls=ErlenGroup, create_app=lambda: app)
    @click.option("--verbose", is_flag=True)
    def mycli(verbose: bool) -> None:
        click.echo(f"verbose={verbose}")

    @mycli.command()
    def hello() -> None:
        click.echo(f"hello {current_app.name}")

    runner = CliRunner()
    result = runner.invoke(mycli, ["--verbose", "hello"])
    assert result.exit_code == 0, result.output
    assert result.output == "verbose=True\nhello mine\n"
    result = runner.invoke(mycli, ["routes"])
    assert "static" in result.output


def test_erlen_group_nested_in_a_plain_click_group() -> None:
    app = Erlen("nested")
    app.cli.command("ping")(lambda: click.echo(f"pong {current_app.name}"))

    @click.group()
    def outer() -> None:
        pass

    outer.add_command(ErlenGroup(name="web", create_app=lambda: app))
    result = CliRunner().invoke(outer, ["web", "ping"])
    assert result.exit_code == 0, result.output
    assert result.output == "pong nested\n"


def test_erlen_group_without_defaults() -> None:
    group = ErlenGroup(
        name="bare",
        add_default_commands=False,
        add_version_option=False,
        create_app=lambda: Erlen("bare"),
    )
    runner = CliRunner()
    assert "No such command 'run'" in runner.invoke(group, ["run"]).output
    result = runner.invoke(group, ["--version"])
    assert result.exit_code == 2
    assert "No such option" in result.output


# ----------------------------------------------------------- plugin commands


def make_plugin_dist(root: Path, group: str, name: str) -> None:
    mod = f"plugin_{name.replace('-', '_')}"
    write(
        root / f"{mod}.py",
        f"""\
        import click
        from erlen.cli import with_appcontext
        from erlen import current_app

        @click.command()
        @with_appcontext
        def command():
            click.echo("plugin {name} in " + current_app.name)
        """,
    )
    dist = root / f"{mod}-1.0.dist-info"
    write(dist / "METADATA", f"Metadata-Version: 2.1\nName: {mod}\nVersion: 1.0\n")
    write(dist / "entry_points.txt", f"[{group}]\n{name} = {mod}:command\n")


def test_flask_commands_entry_point_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_plugin_dist(tmp_path, "flask.commands", "flaskplug")
    monkeypatch.syspath_prepend(str(tmp_path))
    group = ErlenGroup(create_app=lambda: Erlen("plugged"))
    result = CliRunner().invoke(group, ["flaskplug"])
    assert result.exit_code == 0, result.output
    assert "plugin flaskplug in plugged\n" in result.output
    assert "flaskplug" in CliRunner().invoke(group, ["--help"]).output


def test_erlen_only_erlen_commands_entry_point_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_plugin_dist(tmp_path, "erlen.commands", "erlplug")
    monkeypatch.syspath_prepend(str(tmp_path))
    group = ErlenGroup(create_app=lambda: Erlen("plugged"))
    result = CliRunner().invoke(group, ["erlplug"])
    assert result.exit_code == 0, result.output
    assert "plugin erlplug in plugged\n" in result.output


def test_flask_commands_plugin_may_replace_a_builtin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_plugin_dist(tmp_path, "flask.commands", "routes")
    monkeypatch.syspath_prepend(str(tmp_path))
    group = ErlenGroup(create_app=lambda: Erlen("plugged"))
    result = CliRunner().invoke(group, ["routes"])
    assert result.exit_code == 0, result.output
    assert result.output.endswith("plugin routes in plugged\n")


def test_erlen_only_erlen_plugin_wins_over_flask_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_plugin_dist(tmp_path / "a", "flask.commands", "dup")
    make_plugin_dist(tmp_path / "b", "erlen.commands", "dup2")
    # Same command name, erlen.commands group, different module.
    write(
        tmp_path / "b" / "plugin_dup2-1.0.dist-info" / "entry_points.txt",
        "[erlen.commands]\ndup = plugin_dup2:command\n",
    )
    monkeypatch.syspath_prepend(str(tmp_path / "a"))
    monkeypatch.syspath_prepend(str(tmp_path / "b"))
    group = ErlenGroup(create_app=lambda: Erlen("plugged"))
    result = CliRunner().invoke(group, ["dup"])
    assert result.exit_code == 0, result.output
    assert result.output.endswith("plugin dup2 in plugged\n")


def test_erlen_only_broken_flask_plugin_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_plugin_dist(tmp_path, "flask.commands", "brokenplug")
    write(tmp_path / "plugin_brokenplug.py", "raise ImportError('plugin is broken')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    group = ErlenGroup(create_app=lambda: Erlen("plugged"))
    result = CliRunner().invoke(group, ["routes"])
    assert result.exit_code == 0, result.output
    assert "static" in result.stdout
    assert "could not load the Flask plugin command 'brokenplug'" in result.stderr
    assert "ImportError: plugin is broken" in result.stderr


# -------------------------------------------------------------------- dotenv


def test_load_dotenv_precedence(in_tmp: Path) -> None:
    write(in_tmp / ".flaskenv", "FOO=flaskenv\nBAZ=flaskenv\nSPAM=flaskenv\n")
    write(in_tmp / ".env", "FOO=env\nBAR=env\n")
    write(in_tmp / "custom.env", "BAR=custom\n")
    os.environ["SPAM"] = "preset"

    assert load_dotenv("custom.env") is True
    assert os.environ["FOO"] == "env"
    assert os.environ["BAR"] == "custom"
    assert os.environ["BAZ"] == "flaskenv"
    assert os.environ["SPAM"] == "preset"


def test_load_dotenv_searches_parents_and_respects_load_defaults(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(in_tmp / ".env", "FROM_PARENT=1\n")
    write(in_tmp / "only.env", "ONLY=1\n")
    child = in_tmp / "a" / "b"
    child.mkdir(parents=True)
    monkeypatch.chdir(child)
    assert load_dotenv(load_defaults=False) is False
    assert "FROM_PARENT" not in os.environ
    assert load_dotenv(in_tmp / "only.env", load_defaults=False) is True
    assert "FROM_PARENT" not in os.environ
    assert os.environ["ONLY"] == "1"
    assert load_dotenv() is True
    assert os.environ["FROM_PARENT"] == "1"
    assert load_dotenv(in_tmp / "missing.env", load_defaults=False) is False


def test_erlen_only_load_dotenv_erlenenv_between_env_and_flaskenv(in_tmp: Path) -> None:
    write(in_tmp / ".flaskenv", "A=flaskenv\nB=flaskenv\nC=flaskenv\n")
    write(in_tmp / ".erlenenv", "A=erlenenv\nB=erlenenv\n")
    write(in_tmp / ".env", "A=env\n")
    assert load_dotenv() is True
    assert (os.environ["A"], os.environ["B"], os.environ["C"]) == (
        "env",
        "erlenenv",
        "flaskenv",
    )


def test_load_dotenv_without_python_dotenv(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "dotenv", None)
    assert load_dotenv() is False
    assert capsys.readouterr().err == ""
    write(in_tmp / ".env", "X=1\n")
    assert load_dotenv() is False
    assert "Install python-dotenv" in capsys.readouterr().err
    assert "X" not in os.environ


def test_erlen_only_dotenv_tip_for_erlenenv(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "dotenv", None)
    write(in_tmp / ".erlenenv", "X=1\n")
    assert load_dotenv() is False
    assert "Install python-dotenv" in capsys.readouterr().err


ENV_APP = """\
import os
import click
from erlen import Erlen

app = Erlen(__name__)

@app.cli.command()
@click.argument("names", nargs=-1)
def env(names):
    for name in names:
        click.echo(f"{name}={os.environ.get(name)}")
"""


def test_cli_loads_dotenv_and_env_file(in_tmp: Path, runner: CliRunner) -> None:
    write(in_tmp / "envapp.py", ENV_APP)
    write(in_tmp / ".flaskenv", "FLASK_APP=envapp\nA=flaskenv\n")
    write(in_tmp / ".env", "A=env\nB=env\n")
    write(in_tmp / "extra.env", "B=extra\n")

    result = runner.invoke(cli, ["env", "A", "B"])
    assert result.exit_code == 0, result.output
    assert result.output == "A=env\nB=env\n"

    for key in ("FLASK_APP", "A", "B"):
        os.environ.pop(key, None)
    result = runner.invoke(cli, ["-e", "extra.env", "env", "A", "B"])
    assert result.output == "A=env\nB=extra\n"


def test_cli_skip_dotenv(in_tmp: Path, runner: CliRunner) -> None:
    write(in_tmp / "envapp.py", ENV_APP)
    write(in_tmp / ".env", "A=env\n")
    write(in_tmp / "extra.env", "B=extra\n")
    result = runner.invoke(
        cli,
        ["--app", "envapp", "--env-file", "extra.env", "env", "A", "B"],
        env={"FLASK_SKIP_DOTENV": "1"},
    )
    assert result.exit_code == 0, result.output
    assert result.output == "A=None\nB=extra\n"


def test_erlen_only_skip_dotenv_and_erlenenv_app(
    in_tmp: Path, runner: CliRunner
) -> None:
    write(in_tmp / "envapp.py", ENV_APP)
    write(in_tmp / ".erlenenv", "ERLEN_APP=envapp\nA=erlenenv\n")
    result = runner.invoke(cli, ["env", "A"])
    assert result.exit_code == 0, result.output
    assert result.output == "A=erlenenv\n"

    for key in ("ERLEN_APP", "A"):
        os.environ.pop(key, None)
    result = runner.invoke(
        cli, ["--app", "envapp", "env", "A"], env={"ERLEN_SKIP_DOTENV": "1"}
    )
    assert result.output == "A=None\n"


def test_env_file_must_exist(in_tmp: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--env-file", "nope.env", "routes"])
    assert result.exit_code == 2
    assert "'nope.env' does not exist" in result.output


def test_env_file_without_python_dotenv(
    in_tmp: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(in_tmp / "extra.env", "B=extra\n")
    monkeypatch.setitem(sys.modules, "dotenv", None)
    result = runner.invoke(cli, ["--env-file", "extra.env", "routes"])
    assert result.exit_code == 2
    assert "python-dotenv must be installed to load an env file." in result.output


# ------------------------------------------------------- run (no real server)


@pytest.fixture
def run_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[t.Any, ...]]:
    calls: list[tuple[t.Any, ...]] = []

    def fake_run_simple(*args: t.Any, **kwargs: t.Any) -> None:
        calls.append((args, kwargs))

    monkeypatch.setattr(erlen.cli, "run_simple", fake_run_simple)
    return calls


def test_run_defaults(
    in_tmp: Path, runner: CliRunner, run_calls: list[tuple[t.Any, ...]]
) -> None:
    write(in_tmp / "simple.py", SIMPLE_APP)
    result = runner.invoke(cli, ["--app", "simple", "run"])
    assert result.exit_code == 0, result.output
    ((args, kwargs),) = run_calls
    assert args[:2] == ("127.0.0.1", 5000)
    assert args[2].name == "simple"
    assert kwargs == {
        "use_reloader": False,
        "use_debugger": False,
        "threaded": True,
        "ssl_context": None,
        "extra_files": None,
        "exclude_patterns": None,
        "reloader_type": "auto",
    }
    word = "Flask" if UNDER_FLASK else "erlen"
    assert f" * Serving {word} app 'simple'\n * Debug mode: off\n" in result.stdout


def test_run_debug_enables_reloader_and_debugger(
    in_tmp: Path, runner: CliRunner, run_calls: list[tuple[t.Any, ...]]
) -> None:
    write(in_tmp / "simple.py", SIMPLE_APP)
    result = runner.invoke(cli, ["--app", "simple", "--debug", "run"])
    assert result.exit_code == 0, result.output
    assert run_calls[-1][0][2].debug is True
    assert run_calls[-1][1]["use_reloader"] is True
    assert run_calls[-1][1]["use_debugger"] is True
    assert " * Debug mode: on" in result.stdout

    # --debug on the run command itself, with explicit opt-outs.
    result = runner.invoke(
        cli,
        ["--app", "simple", "run", "--debug", "--no-reload", "--no-debugger"],
    )
    assert result.exit_code == 0, result.output
    assert run_calls[-1][1]["use_reloader"] is False
    assert run_calls[-1][1]["use_debugger"] is False


def test_run_options(
    in_tmp: Path, runner: CliRunner, run_calls: list[tuple[t.Any, ...]]
) -> None:
    write(in_tmp / "simple.py", SIMPLE_APP)
    write(in_tmp / "a.txt", "")
    write(in_tmp / "b.txt", "")
    sep = os.pathsep
    result = runner.invoke(
        cli,
        [
            "--app",
            "simple",
            "run",
            "-h",
            "0.0.0.0",
            "-p",
            "8123",
            "--reload",
            "--without-threads",
            "--extra-files",
            f"a.txt{sep}b.txt",
            "--exclude-patterns",
            f"*.tmp{sep}build/*",
        ],
    )
    assert result.exit_code == 0, result.output
    ((args, kwargs),) = run_calls
    assert args[:2] == ("0.0.0.0", 8123)
    assert kwargs["use_reloader"] is True
    assert kwargs["use_debugger"] is False
    assert kwargs["threaded"] is False
    assert kwargs["extra_files"] == ["a.txt", "b.txt"]
    assert kwargs["exclude_patterns"] == ["*.tmp", "build/*"]


def test_run_flask_run_env_vars(
    in_tmp: Path, runner: CliRunner, run_calls: list[tuple[t.Any, ...]]
) -> None:
    write(in_tmp / "simple.py", SIMPLE_APP)
    env = {"FLASK_RUN_PORT": "8124", "FLASK_RUN_HOST": "127.0.0.2"}
    result = runner.invoke(cli, ["--app", "simple", "run"], env=env)
    assert result.exit_code == 0, result.output
    assert run_calls[-1][0][:2] == ("127.0.0.2", 8124)


def test_erlen_only_run_env_vars_take_precedence(
    in_tmp: Path, runner: CliRunner, run_calls: list[tuple[t.Any, ...]]
) -> None:
    write(in_tmp / "simple.py", SIMPLE_APP)
    env = {
        "ERLEN_RUN_PORT": "8125",
        "FLASK_RUN_PORT": "8124",
        "ERLEN_RUN_RELOAD": "1",
        "FLASK_RUN_WITH_THREADS": "0",
    }
    result = runner.invoke(cli, ["--app", "simple", "run"], env=env)
    assert result.exit_code == 0, result.output
    args, kwargs = run_calls[-1]
    assert args[1] == 8125
    assert kwargs["use_reloader"] is True
    assert kwargs["threaded"] is False
    # Command-line options beat the environment.
    runner.invoke(cli, ["--app", "simple", "run", "-p", "9000"], env=env)
    assert run_calls[-1][0][1] == 9000


def test_erlen_only_run_debug_env_and_production_warning(
    in_tmp: Path, runner: CliRunner, run_calls: list[tuple[t.Any, ...]]
) -> None:
    write(in_tmp / "simple.py", SIMPLE_APP)
    result = runner.invoke(cli, ["--app", "simple", "run"], env={"ERLEN_DEBUG": "1"})
    assert result.exit_code == 0, result.output
    assert run_calls[-1][1]["use_debugger"] is True
    warnings = [
        line for line in result.stderr.splitlines() if "docs/deploying.md" in line
    ]
    assert len(warnings) == 1
    assert "not for production" in warnings[0]


def test_erlen_only_debugger_never_enabled_without_debug(
    in_tmp: Path, runner: CliRunner, run_calls: list[tuple[t.Any, ...]]
) -> None:
    write(in_tmp / "simple.py", SIMPLE_APP)
    result = runner.invoke(cli, ["--app", "simple", "run", "--debugger"])
    assert result.exit_code == 0, result.output
    assert run_calls[-1][1]["use_debugger"] is False
    assert "only available in debug mode" in result.stderr


def test_run_cert_and_key_validation(
    in_tmp: Path, runner: CliRunner, run_calls: list[tuple[t.Any, ...]]
) -> None:
    write(in_tmp / "simple.py", SIMPLE_APP)
    cert = write(in_tmp / "cert.pem", "cert")
    key = write(in_tmp / "key.pem", "key")
    base = ["--app", "simple", "run"]

    result = runner.invoke(cli, [*base, "--cert", str(cert)])
    assert result.exit_code == 2
    assert 'Required when using "--cert".' in result.output

    result = runner.invoke(cli, [*base, "--key", str(key)])
    assert result.exit_code == 2
    assert '"--cert" must also be specified.' in result.output

    result = runner.invoke(cli, [*base, "--cert", str(cert), "--key", str(key)])
    assert result.exit_code == 0, result.output
    assert run_calls[-1][1]["ssl_context"] == (str(cert), str(key))

    result = runner.invoke(cli, [*base, "--cert", "not_a_file_or_context"])
    assert result.exit_code == 2
    assert "'not_a_file_or_context' does not exist" in result.output


def test_run_cert_adhoc_and_ssl_context(
    in_tmp: Path,
    runner: CliRunner,
    run_calls: list[tuple[t.Any, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write(in_tmp / "simple.py", SIMPLE_APP)
    key = write(in_tmp / "key.pem", "key")
    base = ["--app", "simple", "run"]

    monkeypatch.setitem(sys.modules, "cryptography", None)
    result = runner.invoke(cli, [*base, "--cert", "adhoc"])
    assert result.exit_code == 2
    assert "Using ad-hoc certificates requires the cryptography library." in (
        result.output
    )

    monkeypatch.setitem(sys.modules, "cryptography", types.ModuleType("cryptography"))
    result = runner.invoke(cli, [*base, "--cert", "adhoc"])
    assert result.exit_code == 0, result.output
    assert run_calls[-1][1]["ssl_context"] == "adhoc"
    result = runner.invoke(cli, [*base, "--cert", "AdHoc"])
    assert result.exit_code == 0, result.output
    assert run_calls[-1][1]["ssl_context"] == "adhoc"
    result = runner.invoke(cli, [*base, "--cert", "adhoc", "--key", str(key)])
    assert result.exit_code == 2
    assert 'When "--cert" is "adhoc", "--key" is not used.' in result.output

    write(
        in_tmp / "sslmod.py",
        "import ssl\nctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n",
    )
    result = runner.invoke(cli, [*base, "--cert", "sslmod.ctx"])
    assert result.exit_code == 0, result.output
    assert isinstance(run_calls[-1][1]["ssl_context"], ssl.SSLContext)
    result = runner.invoke(cli, [*base, "--cert", "sslmod.ctx", "--key", str(key)])
    assert result.exit_code == 2
    assert 'When "--cert" is an SSLContext object, "--key" is not used.' in (
        result.output
    )


def test_erlen_only_run_cert_ssl_context_keeps_case(
    in_tmp: Path, runner: CliRunner, run_calls: list[tuple[t.Any, ...]]
) -> None:
    # flask lowercases the import path, so it cannot find these names.
    write(in_tmp / "simple.py", SIMPLE_APP)
    write(
        in_tmp / "TlsMod.py",
        "import ssl\nServerCtx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n",
    )
    prepare_import("TlsMod.py")
    result = runner.invoke(
        cli, ["--app", "simple", "run", "--cert", "TlsMod:ServerCtx"]
    )
    assert result.exit_code == 0, result.output
    assert isinstance(run_calls[-1][1]["ssl_context"], ssl.SSLContext)


# ------------------------------------------------- real `erlen run` subprocesses


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(
    url: str,
    predicate: t.Callable[[int, str], bool],
    proc: subprocess.Popen[bytes],
    log: Path,
    timeout: float = 30,
) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    last: tuple[int, str] | None = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited early:\n{log.read_text()}"
        try:
            last = http_get(url)
        except (OSError, http.client.HTTPException):
            # Connection refused or dropped while the reloader swaps processes.
            last = None
        if last is not None and predicate(*last):
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {url}; last={last}\n{log.read_text()}")


def start_server(
    cwd: Path,
    app: str,
    port: int,
    *run_args: str,
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], Path]:
    log = cwd / "server.log"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ERLEN_", "FLASK_"))
    }
    env.update(extra_env or {})
    env["PYTHONUNBUFFERED"] = "1"
    cmd = [sys.executable, "-m", CMD, "--app", app, "run", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*cmd, "--host", "127.0.0.1", *run_args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log


def stop_server(proc: subprocess.Popen[bytes], port: int) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        raise AssertionError("server did not stop on SIGTERM") from None
    assert proc.returncode is not None
    # The reloader's child (same process group) must be gone too: port closed.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.2)
    raise AssertionError("something still listens on the port after stopping")


RELOAD_APP = """\
from erlen import Erlen

app = Erlen(__name__)

@app.route("/")
def index():
    return "version {n}"
"""


def test_real_run_subprocess_serves_and_reloads(tmp_path: Path) -> None:
    src = write(tmp_path / "reloadapp.py", RELOAD_APP.format(n="one"))
    port = free_port()
    # watchdog's inotify loses events in some containers (this CI's among
    # them): the polling reloader is what this test can rely on.
    proc, log = start_server(
        tmp_path, "reloadapp", port, "--reload", "--reloader-type", "stat"
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        status, body = wait_for(url, lambda s, b: True, proc, log)
        assert (status, body) == (200, "version one")

        src.write_text(RELOAD_APP.format(n="two"))
        # Make the change visible to the stat reloader even on coarse mtimes.
        future = time.time() + 5
        os.utime(src, (future, future))
        status, body = wait_for(url, lambda s, b: b == "version two", proc, log)
        assert status == 200

        # A source change that breaks the import: the server keeps running and
        # answers 500, then recovers on the next fix.
        src.write_text("raise RuntimeError('broken on purpose')\n")
        os.utime(src, (future + 5, future + 5))
        status, body = wait_for(url, lambda s, b: s == 500, proc, log)
        assert "broken on purpose" not in body
        src.write_text(RELOAD_APP.format(n="three"))
        os.utime(src, (future + 10, future + 10))
        status, body = wait_for(url, lambda s, b: b == "version three", proc, log)
        assert status == 200
    finally:
        stop_server(proc, port)
    output = log.read_text()
    assert "Restarting with stat" in output
    assert "Detected change in" in output
    assert "reloadapp.py" in output
    assert "RuntimeError: broken on purpose" in output


BOOM_APP = """\
from erlen import Erlen

app = Erlen(__name__)

@app.route("/boom")
def boom():
    raise RuntimeError("kaboom-secret")
"""


def test_real_run_without_debug_never_exposes_debugger(tmp_path: Path) -> None:
    write(tmp_path / "boomapp.py", BOOM_APP)
    port = free_port()
    proc, log = start_server(tmp_path, "boomapp", port, "--no-reload")
    try:
        status, body = wait_for(
            f"http://127.0.0.1:{port}/boom", lambda s, b: True, proc, log
        )
    finally:
        stop_server(proc, port)
    assert status == 500
    assert "Internal Server Error" in body
    for leak in ("Traceback", "Werkzeug Debugger", "kaboom-secret", "__debugger__"):
        assert leak not in body
    output = log.read_text()
    assert "Debugger" not in output
    assert " * Debug mode: off" in output


def test_erlen_only_real_run_debugger_flag_ignored_without_debug(
    tmp_path: Path,
) -> None:
    write(tmp_path / "boomapp.py", BOOM_APP)
    port = free_port()
    proc, log = start_server(tmp_path, "boomapp", port, "--no-reload", "--debugger")
    try:
        status, body = wait_for(
            f"http://127.0.0.1:{port}/boom", lambda s, b: True, proc, log
        )
        # The debugger middleware would serve its own assets here.
        res_status, _ = http_get(
            f"http://127.0.0.1:{port}/?__debugger__=yes&cmd=resource&f=style.css"
        )
    finally:
        stop_server(proc, port)
    assert status == 500
    assert "Traceback" not in body and "kaboom-secret" not in body
    assert res_status == 404
    assert "Debugger" not in log.read_text()


def test_real_run_with_debug_shows_debugger(tmp_path: Path) -> None:
    write(tmp_path / "boomapp.py", BOOM_APP)
    port = free_port()
    # With the reloader (the --debug default), as Werkzeug prints the PIN there.
    proc, log = start_server(tmp_path, "boomapp", port, "--debug")
    try:
        status, body = wait_for(
            f"http://127.0.0.1:{port}/boom", lambda s, b: True, proc, log
        )
    finally:
        stop_server(proc, port)
    assert status == 500
    assert "Werkzeug Debugger" in body
    assert "Traceback" in body
    assert "kaboom-secret" in body
    output = log.read_text()
    assert "Debugger is active!" in output
    assert re.search(r"Debugger PIN: \d{3}-\d{3}-\d{3}", output)
    assert " * Debug mode: on" in output


def test_python_dash_m_version() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", CMD, "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"Werkzeug {importlib.metadata.version('werkzeug')}" in proc.stdout
    assert f"Python {platform.python_version()}" in proc.stdout


# ------------------------------------------ one production warning at startup


def production_warnings(output: str) -> list[str]:
    return [line for line in output.splitlines() if "production" in line.lower()]


def test_erlen_only_dev_server_banner_warns_once(tmp_path: Path) -> None:
    write(tmp_path / "simple.py", SIMPLE_APP)
    port = free_port()
    proc, log = start_server(tmp_path, "simple", port)
    try:
        assert wait_for(f"http://127.0.0.1:{port}/", lambda s, b: True, proc, log) == (
            200,
            "hello",
        )
    finally:
        stop_server(proc, port)
    output = log.read_text()
    assert production_warnings(output) == [
        " * WARNING: the development server is not for production; deploy with"
        " gunicorn, granian or waitress behind nginx, see docs/deploying.md"
    ]
    assert "This is a development server" not in output
    # The rest of Werkzeug's startup message is kept.
    assert f" * Running on http://127.0.0.1:{port}" in output


def test_erlen_only_app_run_warns_once(tmp_path: Path) -> None:
    port = free_port()
    write(
        tmp_path / "runme.py",
        SIMPLE_APP + f"\nif __name__ == '__main__':\n    app.run(port={port})\n",
    )
    log = tmp_path / "run.log"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ERLEN_", "FLASK_"))
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "runme.py"],
            cwd=tmp_path,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(f"http://127.0.0.1:{port}/", lambda s, b: s == 200, proc, log)
    finally:
        stop_server(proc, port)
    output = log.read_text()
    assert len(production_warnings(output)) == 1, output
    assert "docs/deploying.md" in production_warnings(output)[0]
    assert f" * Running on http://127.0.0.1:{port}" in output


# ------------------------- Flask plugins only for apps that use Flask's names

PURE_APP = """\
from erlen import Erlen
app = Erlen("pure")
"""

FLASK_NAMES_APP = """\
import erlen.flask_patch
from flask import Flask
app = Flask("flasky")
"""

SHOW_G = "import sys; print(repr(g)); print('flask loaded:', 'flask' in sys.modules)\n"


def run_cli_subprocess(
    cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("ERLEN_", "FLASK_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "erlen", *args],
        cwd=cwd,
        env={**clean, "PYTHONPATH": str(cwd), **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def help_commands(output: str) -> list[str]:
    listing = output.split("Commands:\n", 1)[1]
    return [line.split()[0] for line in listing.splitlines() if line.strip()]


def test_erlen_only_pure_app_gets_no_flask_plugins_or_patch(tmp_path: Path) -> None:
    make_plugin_dist(tmp_path, "flask.commands", "flaskplug")
    write(tmp_path / "pure.py", PURE_APP)
    helped = run_cli_subprocess(tmp_path, "--app", "pure", "--help")
    assert helped.returncode == 0, helped.stderr
    # Neither the test plugin nor Flask-Limiter's (installed in this venv).
    assert help_commands(helped.stdout) == ["routes", "run", "shell"]
    missing = run_cli_subprocess(tmp_path, "--app", "pure", "flaskplug")
    assert missing.returncode == 2
    assert "No such command 'flaskplug'" in missing.stderr
    shell = run_cli_subprocess(tmp_path, "--app", "pure", "shell", stdin=SHOW_G)
    assert shell.returncode == 0, shell.stderr
    assert "<erlen.g of 'pure'>" in shell.stdout
    assert "flask loaded: False" in shell.stdout


def test_erlen_only_flask_names_app_gets_flask_plugins(tmp_path: Path) -> None:
    make_plugin_dist(tmp_path, "flask.commands", "flaskplug")
    write(tmp_path / "flasky.py", FLASK_NAMES_APP)
    helped = run_cli_subprocess(tmp_path, "--app", "flasky", "--help")
    assert helped.returncode == 0, helped.stderr
    assert {"flaskplug", "limiter"} <= set(help_commands(helped.stdout))
    ran = run_cli_subprocess(tmp_path, "--app", "flasky", "flaskplug")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "plugin flaskplug in flasky\n"
    shell = run_cli_subprocess(tmp_path, "--app", "flasky", "shell", stdin=SHOW_G)
    assert "<flask.g of 'flasky'>" in shell.stdout


def test_erlen_only_flask_plugins_on_request(tmp_path: Path) -> None:
    make_plugin_dist(tmp_path, "flask.commands", "flaskplug")
    write(tmp_path / "pure.py", PURE_APP)
    asked = {"ERLEN_FLASK_PLUGINS": "1"}
    helped = run_cli_subprocess(tmp_path, "--app", "pure", "--help", env=asked)
    assert {"flaskplug", "limiter"} <= set(help_commands(helped.stdout))
    ran = run_cli_subprocess(tmp_path, "--app", "pure", "flaskplug", env=asked)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "plugin flaskplug in pure\n"
    # Without an app too (the plugin's own --help needs none).
    bare = run_cli_subprocess(tmp_path, "flaskplug", "--help", env=asked)
    assert bare.returncode == 0, bare.stderr
    off = run_cli_subprocess(
        tmp_path, "--app", "pure", "--help", env={"ERLEN_FLASK_PLUGINS": "0"}
    )
    assert "flaskplug" not in help_commands(off.stdout)


_ASGI_APP = """
from erlen import Erlen

app = Erlen(__name__)


@app.get("/")
async def index():
    return "hello over asgi"


@app.get("/boom")
def boom():
    raise ValueError("kaboom in the view")
"""


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            headers = {k.lower(): v for k, v in response.headers.items()}
            return response.status, headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            headers = {k.lower(): v for k, v in error.headers.items()}
            return error.code, headers, error.read()


@pytest.mark.parametrize("debug", [True, False])
def test_run_asgi_serves_with_uvicorn(tmp_path: Path, debug: bool) -> None:
    """`erlen run --asgi` serves app.asgi_app with uvicorn (and its reloader
    in debug mode); debug mode answers errors with a traceback page, and
    without it the page says nothing of the error."""
    (tmp_path / "asgiapp.py").write_text(_ASGI_APP)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("ERLEN_RUN_FROM_CLI", "FLASK_RUN_FROM_CLI", "ERLEN_DEBUG")
    }
    command = [
        str(Path(sys.executable).parent / "erlen"),
        "--app",
        "asgiapp.py",
        "run",
        "--asgi",
        "--port",
        str(port),
    ]
    if debug:
        command.insert(1, "--debug")
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, headers, body = _get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert (status, body) == (200, b"hello over asgi")
        assert headers["server"] == "uvicorn"
        status, headers, body = _get(f"http://127.0.0.1:{port}/boom")
        assert status == 500
        if debug:
            assert b"ValueError: kaboom in the view" in body
            assert headers["content-type"] == "text/html; charset=utf-8"
        else:
            assert b"kaboom" not in body
            assert b"Internal Server Error" in body
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    output = log.read_text()
    assert "Uvicorn running on" in output
    assert ("Started reloader process" in output) is debug
