"""erlen.config: Config loading methods, their errors, and ConfigAttribute."""

from __future__ import annotations

import json
import os
import sys
import types
import typing as t
from datetime import timedelta
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from erlen import Erlen
from erlen.config import Config, ConfigAttribute


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(tmp_path)


def test_is_a_dict_with_defaults_and_root_path(tmp_path: Path) -> None:
    defaults = {"A": 1}
    c = Config(tmp_path, defaults)
    assert isinstance(c, dict)
    assert c == {"A": 1}
    assert c.root_path == tmp_path
    c["B"] = 2
    assert defaults == {"A": 1}  # the defaults dict is copied, not shared
    assert Config(tmp_path) == {}


def test_repr(tmp_path: Path) -> None:
    c = Config(tmp_path, {"DEBUG": True})
    assert repr(c) == "<Config {'DEBUG': True}>"

    class MyConfig(Config):
        pass

    assert repr(MyConfig(tmp_path)) == "<MyConfig {}>"


# from_object


class _Settings:
    DEBUG = True
    SECRET_KEY = "dev"
    lower_case = "ignored"
    MixedCase = "ignored"
    _PRIVATE_UPPER = "kept"


def test_from_object_class_only_uppercase(config: Config) -> None:
    assert config.from_object(_Settings) is None
    assert config["DEBUG"] is True
    assert config["SECRET_KEY"] == "dev"
    assert config["_PRIVATE_UPPER"] == "kept"
    assert "lower_case" not in config
    assert "MixedCase" not in config


def test_from_object_instance_sees_properties(config: Config) -> None:
    class Prod:
        HOST = "db"

        @property
        def DATABASE_URI(self) -> str:
            return f"postgres://{self.HOST}/app"

    config.from_object(Prod())
    assert config["DATABASE_URI"] == "postgres://db/app"


def test_from_object_import_string(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    mod = types.ModuleType("erlen_test_cfg_mod")
    mod.ANSWER = 42  # type: ignore[attr-defined]
    mod.not_this = 1  # type: ignore[attr-defined]
    mod.Production = type("Production", (), {"ENV_NAME": "prod"})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "erlen_test_cfg_mod", mod)

    config.from_object("erlen_test_cfg_mod")
    assert config == {"ANSWER": 42}
    config.from_object("erlen_test_cfg_mod:Production")
    assert config["ENV_NAME"] == "prod"
    config.from_object("erlen_test_cfg_mod.Production")
    assert config["ENV_NAME"] == "prod"


def test_from_object_bad_import_string(config: Config) -> None:
    from werkzeug.utils import ImportStringError

    with pytest.raises(ImportStringError):
        config.from_object("erlen_no_such_module_xyz.settings")


def test_from_object_dict_loads_nothing(config: Config) -> None:
    config.from_object({"DEBUG": True})
    assert config == {}


# from_pyfile


def test_from_pyfile_relative_to_root_path(config: Config, tmp_path: Path) -> None:
    (tmp_path / "settings.cfg").write_text(
        "import os\nDEBUG = True\nNAME = 'x' * 3\nhelper = 5\nHERE = __file__\n"
    )
    assert config.from_pyfile("settings.cfg") is True
    assert config["DEBUG"] is True
    assert config["NAME"] == "xxx"
    assert config["HERE"] == os.path.join(tmp_path, "settings.cfg")
    assert "helper" not in config
    assert "os" not in config


def test_from_pyfile_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "abs.py"
    path.write_text("SECRET_KEY = 'abc'\n")
    c = Config("/nonexistent/root")
    assert c.from_pyfile(str(path)) is True
    assert c["SECRET_KEY"] == "abc"
    c2 = Config("/nonexistent/root")
    assert c2.from_pyfile(path) is True  # os.PathLike works too
    assert c2["SECRET_KEY"] == "abc"


def test_from_pyfile_missing_message(config: Config, tmp_path: Path) -> None:
    with pytest.raises(OSError) as exc_info:
        config.from_pyfile("missing.cfg")
    e = exc_info.value
    assert isinstance(e, FileNotFoundError)
    assert e.strerror == "Unable to load configuration file (No such file or directory)"
    assert str(e).startswith(
        "[Errno 2] Unable to load configuration file (No such file or directory):"
    )
    assert str(tmp_path / "missing.cfg") in str(e)


def test_from_pyfile_missing_silent(config: Config, tmp_path: Path) -> None:
    assert config.from_pyfile("missing.cfg", silent=True) is False
    # A directory and a path through a regular file count as missing too.
    assert config.from_pyfile(str(tmp_path), silent=True) is False
    (tmp_path / "file").write_text("")
    assert config.from_pyfile("file/inside.cfg", silent=True) is False
    assert config == {}


def test_from_pyfile_directory_not_silent(config: Config, tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError) as exc_info:
        config.from_pyfile(str(tmp_path))
    assert "Unable to load configuration file (Is a directory)" in str(exc_info.value)


def test_from_pyfile_syntax_error_propagates(config: Config, tmp_path: Path) -> None:
    (tmp_path / "bad.cfg").write_text("DEBUG = = 1\n")
    with pytest.raises(SyntaxError):
        config.from_pyfile("bad.cfg", silent=True)


def test_from_pyfile_oserror_inside_file(config: Config, tmp_path: Path) -> None:
    (tmp_path / "reads.cfg").write_text(
        f"open({str(tmp_path / 'secret.txt')!r})\nKEY = 1\n"
    )
    with pytest.raises(FileNotFoundError) as exc_info:
        config.from_pyfile("reads.cfg")
    assert "Unable to load configuration file (No such file or directory)" in str(
        exc_info.value
    )
    assert "secret.txt" in str(exc_info.value)
    assert config.from_pyfile("reads.cfg", silent=True) is False
    assert config == {}


# from_envvar


def test_from_envvar(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "env.cfg"
    path.write_text("FROM_ENV = 'yes'\n")
    monkeypatch.setenv("ERLEN_TEST_SETTINGS", str(path))
    assert config.from_envvar("ERLEN_TEST_SETTINGS") is True
    assert config["FROM_ENV"] == "yes"


def test_from_envvar_unset_message(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ERLEN_TEST_SETTINGS", raising=False)
    with pytest.raises(RuntimeError) as exc_info:
        config.from_envvar("ERLEN_TEST_SETTINGS")
    assert str(exc_info.value) == (
        "The environment variable 'ERLEN_TEST_SETTINGS' is not set and as such"
        " configuration could not be loaded. Set this variable and make it point"
        " to a configuration file"
    )
    assert config.from_envvar("ERLEN_TEST_SETTINGS", silent=True) is False


def test_from_envvar_empty_counts_as_unset(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERLEN_TEST_SETTINGS", "")
    with pytest.raises(RuntimeError, match="is not set"):
        config.from_envvar("ERLEN_TEST_SETTINGS")


def test_from_envvar_missing_file(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERLEN_TEST_SETTINGS", str(tmp_path / "nope.cfg"))
    with pytest.raises(FileNotFoundError) as exc_info:
        config.from_envvar("ERLEN_TEST_SETTINGS")
    assert "Unable to load configuration file (No such file or directory)" in str(
        exc_info.value
    )
    assert config.from_envvar("ERLEN_TEST_SETTINGS", silent=True) is False


# from_file


def test_from_file_json(config: Config, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"TEST_KEY": "foo", "SECRET_KEY": "config", "lower": 1})
    )
    assert config.from_file("config.json", load=json.load) is True
    assert config == {"TEST_KEY": "foo", "SECRET_KEY": "config"}


def test_from_file_toml_binary(config: Config, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'TEST_KEY = "foo"\nPORT = 8080\n[DATABASE]\nhost = "db"\n'
    )
    assert config.from_file("config.toml", load=tomllib.load, text=False) is True
    assert config == {"TEST_KEY": "foo", "PORT": 8080, "DATABASE": {"host": "db"}}


def test_from_file_text_mode_passes_text(config: Config, tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("X=1")
    seen: list[t.Any] = []

    def load(f: t.IO[t.Any]) -> dict[str, t.Any]:
        data = f.read()
        seen.append(data)
        text = data.decode() if isinstance(data, bytes) else data
        key, value = text.split("=")
        return {key: value}

    config.from_file("c.txt", load=load)
    config.from_file("c.txt", load=load, text=False)
    assert seen == ["X=1", b"X=1"]
    assert config["X"] == "1"


def test_from_file_missing(config: Config, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as exc_info:
        config.from_file("missing.json", load=json.load)
    assert exc_info.value.strerror == (
        "Unable to load configuration file (No such file or directory)"
    )
    assert config.from_file("missing.json", load=json.load, silent=True) is False
    assert config.from_file(str(tmp_path), load=json.load, silent=True) is False


def test_from_file_load_error_propagates(config: Config, tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(json.JSONDecodeError):
        config.from_file("bad.json", load=json.load, silent=True)


# from_mapping


def test_from_mapping(config: Config) -> None:
    assert config.from_mapping({"A": 1, "b": 2}, C=3, d=4) is True
    assert config == {"A": 1, "C": 3}
    assert config.from_mapping() is True
    config.from_mapping([("E", 5)])  # type: ignore[arg-type]
    assert config["E"] == 5
    config.from_mapping({"A": 1}, A=10)  # keyword arguments win
    assert config["A"] == 10


def test_from_mapping_too_many_arguments(config: Config) -> None:
    with pytest.raises(TypeError):
        config.from_mapping({}, {})  # type: ignore[call-arg]


# from_prefixed_env


def test_from_prefixed_env(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MYAPP_STRING", "value")
    monkeypatch.setenv("MYAPP_BOOL", "true")
    monkeypatch.setenv("MYAPP_INT", "1")
    monkeypatch.setenv("MYAPP_FLOAT", "1.2")
    monkeypatch.setenv("MYAPP_LIST", "[1, 2]")
    monkeypatch.setenv("MYAPP_DICT", '{"k": "v"}')
    monkeypatch.setenv("MYAPP_NULL", "null")
    monkeypatch.setenv("MYAPP_QUOTED", '"42"')
    monkeypatch.setenv("OTHER_KEY", "nope")
    monkeypatch.setenv("MYAPPNOUNDERSCORE", "nope")

    assert config.from_prefixed_env("MYAPP") is True
    assert config == {
        "STRING": "value",
        "BOOL": True,
        "INT": 1,
        "FLOAT": 1.2,
        "LIST": [1, 2],
        "DICT": {"k": "v"},
        "NULL": None,
        "QUOTED": "42",
    }


def test_from_prefixed_env_custom_loads(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MYAPP_A", "abc")
    monkeypatch.setenv("MYAPP_B", "boom")

    def loads(value: str) -> t.Any:
        if value == "boom":
            raise ValueError("cannot load")
        return value.upper()

    config.from_prefixed_env("MYAPP", loads=loads)
    assert config == {"A": "ABC", "B": "boom"}


def test_from_prefixed_env_nested(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MYAPP_EXIST__ok", "other")
    monkeypatch.setenv("MYAPP_EXIST__inner__ik", "2")
    monkeypatch.setenv("MYAPP_EXIST__new__more", '{"k": false}')
    monkeypatch.setenv("MYAPP_NEW__K", "v")
    config["EXIST"] = {"ok": "value", "flag": True, "inner": {"ik": 1}}

    config.from_prefixed_env("MYAPP")
    assert config["EXIST"] == {
        "ok": "other",
        "flag": True,
        "inner": {"ik": 2},
        "new": {"more": {"k": False}},
    }
    assert config["NEW"] == {"K": "v"}


def test_from_prefixed_env_sorted_order(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "DB" is set first (sorted), then "DB__HOST" writes into that dict.
    monkeypatch.setenv("MYAPP_DB__HOST", "h")
    monkeypatch.setenv("MYAPP_DB", '{"PORT": 5432}')
    config.from_prefixed_env("MYAPP")
    assert config["DB"] == {"PORT": 5432, "HOST": "h"}


def test_from_prefixed_env_nested_into_non_dict_fails(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MYAPP_NUM__X", "1")
    config["NUM"] = 5
    with pytest.raises(TypeError):
        config.from_prefixed_env("MYAPP")


def test_from_prefixed_env_default_reads_flask_then_erlen_erlen_only(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """erlen-only: without a prefix, FLASK_* is loaded, then ERLEN_* (which
    wins); Flask itself reads only FLASK_*."""
    for key in list(os.environ):
        if key.startswith(("ERLEN_", "FLASK_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("ERLEN_SECRET_KEY", "from-erlen")
    monkeypatch.setenv("FLASK_SECRET_KEY", "from-flask")
    monkeypatch.setenv("ERLEN_PORT", "5000")
    monkeypatch.setenv("FLASK_ONLY", "1")
    monkeypatch.setenv("OTHER_KEY", "x")
    config.from_prefixed_env()
    assert config == {"SECRET_KEY": "from-erlen", "PORT": 5000, "ONLY": 1}


def test_from_prefixed_env_flask_prefix(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_SECRET_KEY", "from-flask")
    monkeypatch.setenv("ERLEN_SECRET_KEY", "from-erlen")
    config.from_prefixed_env("FLASK")
    assert config["SECRET_KEY"] == "from-flask"


# get_namespace


def test_get_namespace(config: Config) -> None:
    config.update(
        FOO_OPTION_1="foo option 1",
        FOO_OPTION_2="foo option 2",
        BAR_STUFF_1="bar stuff 1",
        BAR_STUFF_2="bar stuff 2",
    )
    assert config.get_namespace("FOO_") == {
        "option_1": "foo option 1",
        "option_2": "foo option 2",
    }
    assert config.get_namespace("BAR_", lowercase=False) == {
        "STUFF_1": "bar stuff 1",
        "STUFF_2": "bar stuff 2",
    }
    assert config.get_namespace("FOO_", trim_namespace=False) == {
        "foo_option_1": "foo option 1",
        "foo_option_2": "foo option 2",
    }
    assert config.get_namespace("BAR_", lowercase=False, trim_namespace=False) == {
        "BAR_STUFF_1": "bar stuff 1",
        "BAR_STUFF_2": "bar stuff 2",
    }
    assert config.get_namespace("BAZ_") == {}


# ConfigAttribute


class _Holder:
    name = ConfigAttribute[str]("NAME")

    def __init__(self) -> None:
        self.config: dict[str, t.Any] = {"NAME": "x"}


def test_config_attribute_reads_and_writes() -> None:
    h = _Holder()
    assert h.name == "x"
    h.name = "y"
    assert h.config["NAME"] == "y"
    assert isinstance(_Holder.name, ConfigAttribute)
    assert _Holder.name.__name__ == "NAME"


def test_config_attribute_converter() -> None:
    def seconds(value: t.Any) -> timedelta:
        return value if isinstance(value, timedelta) else timedelta(seconds=value)

    class Holder:
        lifetime = ConfigAttribute[timedelta]("LIFETIME", get_converter=seconds)

        def __init__(self) -> None:
            self.config: dict[str, t.Any] = {"LIFETIME": 60}

    h = Holder()
    assert h.lifetime == timedelta(seconds=60)
    h.lifetime = 120  # type: ignore[assignment]
    assert h.config["LIFETIME"] == 120  # stored unconverted
    assert h.lifetime == timedelta(minutes=2)
    assert Holder.lifetime.get_converter is seconds


def test_config_attribute_missing_key() -> None:
    h = _Holder()
    del h.config["NAME"]
    with pytest.raises(KeyError):
        _ = h.name


def test_app_config_attributes() -> None:
    app = Erlen(__name__)
    assert isinstance(app.config, Config)
    assert app.secret_key is None
    app.secret_key = "s3"
    assert app.config["SECRET_KEY"] == "s3"
    app.config["TESTING"] = True
    assert app.testing is True
    app.testing = False
    assert app.config["TESTING"] is False

    assert app.permanent_session_lifetime == timedelta(days=31)
    app.config["PERMANENT_SESSION_LIFETIME"] = 3600
    assert app.permanent_session_lifetime == timedelta(hours=1)
    app.permanent_session_lifetime = timedelta(minutes=5)
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=5)
    assert app.permanent_session_lifetime == timedelta(minutes=5)


def test_app_config_root_path_and_from_pyfile(tmp_path: Path) -> None:
    app = Erlen(__name__, root_path=str(tmp_path))
    assert app.config.root_path == str(tmp_path)
    (tmp_path / "settings.py").write_text("SECRET_KEY = 'from-file'\nDEBUG = True\n")
    app.config.from_pyfile("settings.py")
    assert app.secret_key == "from-file"
    assert app.debug is True
